import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:https'
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, createServer as createTlsServer, type TlsOptions } from 'node:tls'
import t, { type Test } from 'tap'
import { type Finding, overallStatus, skip, Skip, type Status } from '../../src/scanner/check.js'
import { hstsMaxAge, isPrivateHost, tlsChecks, tlsHandshake } from '../../src/scanner/checks/tls.js'
import { CheckBudgetExceeded, CheckHttp, ScanClient, Unreachable } from '../../src/scanner/client.js'
import { ScanContext, type ScanOptions } from '../../src/scanner/context.js'
import { spawnNode } from '../helpers/node-process.js'
import { freePort } from '../helpers/redis-server.js'
import { serverEntry } from '../helpers/server-process.js'
import { scanOptions } from './scan-helper.js'

// Certificates for localhost / 127.0.0.1, made for this run only.
const dir = mkdtempSync(join(tmpdir(), 'missive-scan-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))

interface CertFiles { certFile: string, keyFile: string, cert: Buffer, key: Buffer }
function makeCert (name: string, days: number, host = 'localhost'): CertFiles {
  const certFile = join(dir, `${name}.cert.pem`)
  const keyFile = join(dir, `${name}.key.pem`)
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', String(days),
    '-keyout', keyFile, '-out', certFile,
    '-subj', `/CN=${host}`, '-addext', `subjectAltName=DNS:${host}${host === 'localhost' ? ',IP:127.0.0.1' : ''}`
  ], { stdio: 'ignore' })
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) }
}
const good = makeCert('good', 90)
const soon = makeCert('soon', 5)
const otherName = makeCert('other', 90, 'other.example')

// --- the scan harness: the runner's loop for the TLS family, one CheckHttp per check ---------

function context (url: string, ca?: Buffer, timeoutMs = 5000): { ctx: ScanContext, client: ScanClient } {
  const options: ScanOptions = scanOptions(new URL(url), { maxRequests: 200, timeoutMs, ...(ca === undefined ? {} : { ca }) })
  const client = new ScanClient({
    baseUrl: options.url,
    userAgent: 'missive-security/test',
    runId: 'tls-test',
    rate: options.rate,
    timeoutMs,
    maxRequests: options.maxRequests,
    ...(ca === undefined ? {} : { ca }),
    signal: new AbortController().signal
  })
  return { ctx: new ScanContext(options, client, 'tls-test'), client }
}

interface Run { findings: Record<string, Finding[]>, status: Record<string, Status>, sent: number, budgets: number }

async function scan (t: Test, url: string, ca?: Buffer): Promise<Run> {
  const { ctx, client } = context(url, ca)
  const run: Run = { findings: {}, status: {}, sent: 0, budgets: 0 }
  try {
    for (const check of tlsChecks) {
      ctx.http = new CheckHttp(client, check.id, check.budget)
      let list: Finding[]
      try {
        list = await check.run(ctx)
      } catch (err) {
        list = [err instanceof Skip ? skip(err.message) : { status: 'error', seen: (err as Error).message }]
      }
      t.ok(ctx.http.used <= check.budget, `${check.id} used ${ctx.http.used} of its budget of ${check.budget}`)
      run.findings[check.id] = list
      run.status[check.id] = overallStatus(list)
      run.budgets += check.budget
    }
  } finally {
    client.close()
  }
  run.sent = client.sent
  t.ok(run.sent <= run.budgets, `the client sent ${run.sent}, within the sum of the budgets (${run.budgets})`)
  return run
}

const seen = (run: Run, id: string): string => (run.findings[id] ?? []).map((f) => `${f.status}: ${f.seen}`).join(' | ')

// --- targets -----------------------------------------------------------------------------

async function httpsGet (port: number, path: string, ca: Buffer): Promise<number> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, servername: 'localhost', ca, agent: false, timeout: 1000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/** The built Missive, as its own process, serving HTTPS (startServer polls plain HTTP, so this polls HTTPS). */
async function startMissive (t: Test, files: CertFiles): Promise<number> {
  const port = await freePort()
  const child = spawnNode([serverEntry], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), TLS_CERT_FILE: files.certFile, TLS_KEY_FILE: files.keyFile },
    stdio: ['ignore', 'ignore', 'pipe']
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.teardown(async () => {
    if (child.exitCode === null) child.kill('SIGKILL')
    await exited
  })
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline && child.exitCode === null) {
    if (await httpsGet(port, '/health', files.cert).then((s) => s === 200, () => false)) return port
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the HTTPS server did not start: ${stderr}`)
}

/** A bare TLS server that answers any request with a minimal HTTP response (no HSTS). */
async function startTls (t: Test, options: TlsOptions): Promise<number> {
  const server = createTlsServer({ cert: good.cert, key: good.key, ...options }, (socket) => {
    socket.on('error', () => {})
    socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{"status":"ok"}'))
  })
  server.on('tlsClientError', () => {})
  return await listen(t, server)
}

async function listen (t: Test, server: NetServer): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => await new Promise<void>((resolve) => server.close(() => resolve())))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  return address.port
}

/** Whether this Node/OpenSSL can complete a TLS 1.0/1.1 handshake at all (with a server that allows it). */
async function clientOffersOldTls (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' })
    socket.once('secureConnect', () => { resolve(true); socket.destroy() })
    socket.once('error', () => { resolve(false); socket.destroy() })
  })
}

const failure = async (promise: Promise<unknown>): Promise<unknown> => await promise.then(() => null, (err: unknown) => err)

const LOCAL_OLD_TLS = /this Node\/OpenSSL cannot offer TLS 1\.0\/1\.1/

// --- tests ---------------------------------------------------------------------------------

t.test('Missive over HTTPS, its CA given: every testable TLS check passes', async (t) => {
  const port = await startMissive(t, good)
  const run = await scan(t, `https://localhost:${port}`, good.cert)
  t.equal(run.status['MSV-TLS-001'], 'pass', seen(run, 'MSV-TLS-001'))
  const old = run.findings['MSV-TLS-002']?.[0]
  if (old?.status === 'skip') t.match(old.seen, LOCAL_OLD_TLS, 'skip only when this OpenSSL cannot offer TLS 1.0/1.1')
  else t.equal(old?.status, 'pass', `TLS 1.0/1.1 refused: ${seen(run, 'MSV-TLS-002')}`)
  t.equal(run.status['MSV-TLS-003'], 'pass', seen(run, 'MSV-TLS-003'))
  t.match(seen(run, 'MSV-TLS-003'), /TLS 1\.2 accepted \(TLSv1\.2.*TLS 1\.3 accepted \(TLSv1\.3/, 'both 1.2 and 1.3 are reported')
  const [agreed, rsaOnly] = run.findings['MSV-TLS-004'] ?? []
  t.equal(agreed?.status, 'pass', `the 1.2 suite agreed is forward secret: ${agreed?.seen}`)
  t.equal(rsaOnly?.status, 'pass', `RSA key exchange refused (server-options.ts TLS_CIPHERS): ${rsaOnly?.seen}`)
  t.equal(run.status['MSV-TLS-005'], 'pass', seen(run, 'MSV-TLS-005'))
  t.equal(run.findings['MSV-TLS-005']?.length, 3, 'trust, name and dates')
  t.match(seen(run, 'MSV-TLS-005'), /expires in (89|90) days/, 'the days to expiry are reported')
  t.equal(run.status['MSV-TLS-006'], 'pass', seen(run, 'MSV-TLS-006'))
  t.match(seen(run, 'MSV-TLS-006'), /max-age=31536000/)
  const untestable = run.findings['MSV-TLS-007'] ?? []
  t.equal(untestable.length, 4, 'one finding per thing Node cannot test')
  for (const f of untestable) {
    t.equal(f.status, 'skip', f.seen)
    t.match(f.seen, /not testable here, use testssl\.sh$/)
  }
  t.ok(Object.values(run.status).every((s) => s !== 'error'), 'no error')

  t.test('the same server by IP (no SNI): the certificate names 127.0.0.1 too', async (t) => {
    const byIp = await scan(t, `https://127.0.0.1:${port}`, good.cert)
    t.equal(byIp.status['MSV-TLS-005'], 'pass', seen(byIp, 'MSV-TLS-005'))
  })

  t.test('without its CA: the certificate is not trusted (and HSTS cannot be read)', async (t) => {
    const untrusted = await scan(t, `https://localhost:${port}`)
    t.equal(untrusted.status['MSV-TLS-005'], 'fail', seen(untrusted, 'MSV-TLS-005'))
    const [trust, name, dates] = untrusted.findings['MSV-TLS-005'] ?? []
    t.equal(trust?.status, 'fail')
    t.match(trust?.seen, /not trusted .*SELF_SIGNED/)
    t.match(trust?.evidence, /subject CN=localhost/)
    t.equal(name?.status, 'pass', 'the name still matches')
    t.equal(dates?.status, 'pass')
    t.equal(untrusted.status['MSV-TLS-006'], 'skip', seen(untrusted, 'MSV-TLS-006'))
    t.match(seen(untrusted, 'MSV-TLS-006'), /MSV-TLS-005/)
    t.equal(untrusted.status['MSV-TLS-003'], 'pass', 'the protocol checks do not depend on trust')
  })
})

t.test('a certificate that expires in 5 days fails MSV-TLS-005', async (t) => {
  const port = await startTls(t, { cert: soon.cert, key: soon.key, minVersion: 'TLSv1.2' })
  const run = await scan(t, `https://localhost:${port}`, soon.cert)
  t.equal(run.status['MSV-TLS-005'], 'fail', seen(run, 'MSV-TLS-005'))
  const dates = run.findings['MSV-TLS-005']?.[2]
  t.equal(dates?.status, 'fail')
  t.match(dates?.seen, /expires in [45] days .*under 14/)
  t.equal(run.findings['MSV-TLS-005']?.[0]?.status, 'pass', 'trusted with the CA given')
  t.equal(run.status['MSV-TLS-006'], 'fail', 'no HSTS from a bare server')
  t.match(seen(run, 'MSV-TLS-006'), /no Strict-Transport-Security/)
})

t.test('a certificate for another name fails MSV-TLS-005 on the name only', async (t) => {
  const port = await startTls(t, { cert: otherName.cert, key: otherName.key })
  const run = await scan(t, `https://localhost:${port}`, otherName.cert)
  const [trust, name, dates] = run.findings['MSV-TLS-005'] ?? []
  t.equal(trust?.status, 'pass', trust?.seen ?? '')
  t.match(name, { status: 'fail', seen: /does not name localhost/, evidence: /DNS:other\.example/ })
  t.equal(dates?.status, 'pass')
})

t.test('a server that accepts TLS 1.0/1.1 fails MSV-TLS-002', async (t) => {
  const port = await startTls(t, { minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' })
  const canOffer = await clientOffersOldTls(port)
  const run = await scan(t, `https://localhost:${port}`, good.cert)
  if (canOffer) {
    t.equal(run.status['MSV-TLS-002'], 'fail', seen(run, 'MSV-TLS-002'))
    t.match(seen(run, 'MSV-TLS-002'), /accepted \(TLSv1(\.1)?,/)
  } else {
    t.equal(run.status['MSV-TLS-002'], 'skip')
    t.match(seen(run, 'MSV-TLS-002'), LOCAL_OLD_TLS)
  }
  t.equal(run.status['MSV-TLS-003'], 'pass', 'it offers 1.2 and 1.3 too')
})

t.test('a server with only AES128-GCM-SHA256 (RSA key exchange), TLS 1.2 at most, fails MSV-TLS-004', async (t) => {
  const port = await startTls(t, { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' })
  const run = await scan(t, `https://localhost:${port}`, good.cert)
  t.equal(run.status['MSV-TLS-004'], 'fail', seen(run, 'MSV-TLS-004'))
  const [agreed, rsaOnly] = run.findings['MSV-TLS-004'] ?? []
  t.match(agreed, { status: 'fail', seen: /AES128-GCM-SHA256, without forward secrecy/ })
  t.match(rsaOnly, { status: 'fail', seen: /only RSA key exchange was accepted/ })
  t.equal(run.status['MSV-TLS-003'], 'pass')
  t.match(seen(run, 'MSV-TLS-003'), /TLS 1\.2 accepted .*TLS 1\.3 refused/, 'only 1.2')
  t.equal(run.status['MSV-TLS-002'], 'pass', 'it refuses 1.0/1.1')
})

t.test('a server that offers TLS 1.3 only: no 1.2 to judge, forward secrecy by construction', async (t) => {
  const port = await startTls(t, { minVersion: 'TLSv1.3' })
  const run = await scan(t, `https://localhost:${port}`, good.cert)
  t.equal(run.status['MSV-TLS-004'], 'pass', seen(run, 'MSV-TLS-004'))
  t.equal(run.findings['MSV-TLS-004']?.length, 1, 'no second handshake')
  t.equal(run.status['MSV-TLS-003'], 'pass')
})

t.test('plain HTTP on a loopback address: MSV-TLS-001 is a skip, the rest are not an https URL', async (t) => {
  const run = await scan(t, 'http://127.0.0.1:9', undefined)
  t.equal(run.status['MSV-TLS-001'], 'skip')
  t.match(seen(run, 'MSV-TLS-001'), /plain HTTP on a private address/)
  for (const check of tlsChecks.slice(1)) {
    t.same(run.findings[check.id], [{ status: 'skip', seen: 'not an https URL' }], check.id)
  }
  t.equal(run.sent, 0, 'nothing sent')
})

t.test('plain HTTP on a public host fails MSV-TLS-001 without a connection', async (t) => {
  const run = await scan(t, 'http://example.com', undefined)
  t.equal(run.status['MSV-TLS-001'], 'fail', seen(run, 'MSV-TLS-001'))
  t.equal(run.sent, 0, 'nothing sent')
  t.match(tlsChecks[0]?.fix, /TLS_CERT_FILE\/TLS_KEY_FILE/)
})

t.test('a handshake tells the server\'s refusal from our own, and network failures from both', async (t) => {
  const port = await startTls(t, { minVersion: 'TLSv1.2' })
  const { ctx, client } = context(`https://localhost:${port}`, undefined, 500)
  t.teardown(() => client.close())
  ctx.http = new CheckHttp(client, 'probe', 5)

  // SECLEVEL=5 leaves this client no protocol it may offer: OpenSSL stops before a ClientHello.
  const local = await tlsHandshake(ctx, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=5' })
  t.match(local, { kind: 'local', reason: /NO_PROTOCOLS_AVAILABLE|NO_CIPHERS_AVAILABLE/ })

  const refused = await tlsHandshake(ctx, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' })
  t.match(refused, { kind: 'refused', reason: /PROTOCOL_VERSION/ }, 'the server\'s alert')

  // A server that resets the connection on the ClientHello refuses too.
  const sockets = new Set<Socket>()
  const resetter = createNetServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.once('data', () => socket.resetAndDestroy())
  })
  const resetPort = await listen(t, resetter)
  const resetCtx = context(`https://localhost:${resetPort}`, undefined, 500)
  t.teardown(() => resetCtx.client.close())
  resetCtx.ctx.http = new CheckHttp(resetCtx.client, 'probe', 3)
  t.match(await tlsHandshake(resetCtx.ctx, {}), { kind: 'refused', reason: 'ECONNRESET' })

  // A server that never answers: an Unreachable after timeoutMs, and the socket is closed.
  let open = 0
  const silent = createNetServer((socket) => {
    open++
    socket.on('error', () => {})
    socket.resume() // reads (and drops) the ClientHello, so it sees the client's close
    socket.once('close', () => { open-- })
  })
  const silentPort = await listen(t, silent)
  const silentCtx = context(`https://localhost:${silentPort}`, undefined, 300)
  t.teardown(() => silentCtx.client.close())
  silentCtx.ctx.http = new CheckHttp(silentCtx.client, 'probe', 1)
  t.type(await failure(tlsHandshake(silentCtx.ctx, {})), Unreachable, 'no answer: unreachable')
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(open, 0, 'the socket was closed')
  t.type(await failure(tlsHandshake(silentCtx.ctx, {})), CheckBudgetExceeded, 'a handshake over the budget is refused before it is made')
  t.equal(silentCtx.client.sent, 1, 'each handshake counts once on the client')

  // Nothing listens: unreachable, not a refusal.
  const closedPort = await freePort()
  const closedCtx = context(`https://localhost:${closedPort}`, undefined, 500)
  closedCtx.ctx.http = new CheckHttp(closedCtx.client, 'probe', 1)
  t.type(await failure(tlsHandshake(closedCtx.ctx, {})), Unreachable, 'nothing listens: unreachable')
  closedCtx.client.close()
})

t.test('private hosts and HSTS parsing', async (t) => {
  for (const host of ['127.0.0.1', '127.8.9.10', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'localhost', 'api.localhost', '[::1]', '::1', 'fd12:3456::1']) {
    t.ok(isPrivateHost(host), `${host} is private`)
  }
  for (const host of ['example.com', '8.8.8.8', '172.32.0.1', '172.15.0.1', '192.169.0.1', '11.0.0.1', '2001:db8::1', 'localhost.example.com']) {
    t.notOk(isPrivateHost(host), `${host} is public`)
  }
  t.equal(hstsMaxAge('max-age=31536000; includeSubDomains'), 31536000)
  t.equal(hstsMaxAge('includeSubDomains; max-age="600"'), 600)
  t.equal(hstsMaxAge('max-age=100, max-age=200'), 100, 'the first header wins')
  t.equal(hstsMaxAge('includeSubDomains'), null)
  t.equal(hstsMaxAge(undefined), null)
})

t.test('every TLS check is described for --dry-run and the report', async (t) => {
  t.same(tlsChecks.map((c) => c.id), ['MSV-TLS-001', 'MSV-TLS-002', 'MSV-TLS-003', 'MSV-TLS-004', 'MSV-TLS-005', 'MSV-TLS-006', 'MSV-TLS-007'])
  for (const check of tlsChecks) {
    t.match(check, { family: 'TLS', profile: 'safe', order: 10, owasp: 'API8:2023' }, check.id)
    t.ok(check.plan.length > 0, `${check.id} has a plan`)
    t.ok(check.budget >= 0 && check.budget <= 2, `${check.id} has a small budget`)
  }
})
