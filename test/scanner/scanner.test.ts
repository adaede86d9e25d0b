// The scanner against a real Missive on real Redis: a clean pass, the CLI's promises (dry run,
// request cap, Ctrl-C cleanup, usage errors, exit codes, baseline, SARIF).
import { readFileSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ajvDraft04 from 'ajv-draft-04'
import ajvFormats from 'ajv-formats'
import t, { type Test } from 'tap'
import { allChecks } from '../../src/scanner/checks/index.js'
import { makeKey } from '../api/api-helper.js'
import { build } from '../helper.js'
import { spawnNode } from '../helpers/node-process.js'
import { DEFAULT_LIMITS, failedIds, leftovers, scan, startProxy, startTarget, statusOf } from './scan-helper.js'

const FAST = ['--rate', '1000']
const securityEntry = fileURLToPath(new URL('../../dist/scripts/security.js', import.meta.url))

t.test('a correct deployment passes cleanly, leaves nothing behind, and every check ran', async (t) => {
  const target = await startTarget(t, { AUTH_FAILURE_MAX: 2000 })
  const json = join(t.testdir(), 'report.json')
  const sarif = join(t.testdir(), 'report.sarif')
  // enough for every forged-token probe on every protected route (the security routes of issue 17 and the webhook routes of issue 19 included)
  const run = await scan(['--url', target.url, '--api-key', target.adminKey, ...FAST, '--auth-failures', '900', '--sarif', sarif], { json })
  const report = run.report
  t.equal(run.code, 0, run.out)
  t.same(failedIds(report), [], 'no failure')
  t.same(report?.checks.filter((c) => c.status === 'error').map((c) => `${c.id}: ${c.findings[0]?.seen ?? ''}`), [], 'no error')
  t.equal(report?.score.score, 100)
  t.ok((report?.requests ?? Infinity) <= 2000, `within the default budget (${report?.requests ?? 0} requests)`)
  // Skips only where the target lacks the feature (TLS on http) — never an auth probe.
  const skipped = report?.checks.filter((c) => c.status === 'skip').map((c) => c.id) ?? []
  t.same(skipped.filter((id) => !/^MSV-TLS-/.test(id)), [], 'only TLS (http) is skipped')
  t.equal(report?.checks.find((c) => c.id === 'MSV-BURN-003')?.status, 'pass', 'the read-token check ran and passed')
  const auth3 = report?.checks.find((c) => c.id === 'MSV-AUTH-003')
  t.notOk(auth3?.findings.some((f) => f.status === 'skip'), 'with a large --auth-failures every forged-token probe ran on every route')
  t.match(run.out, /left behind: 0\s*$/)
  t.same(report?.leftBehind, [])
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 }, 'every minted key revoked, every message deleted')
  const doc = JSON.parse(readFileSync(sarif, 'utf8')) as { runs: Array<{ results: unknown[] }> }
  t.same(doc.runs[0]?.results, [], 'a clean SARIF has no results')
})

t.test('on the default AUTH_FAILURE_MAX, a default run passes and leaves the address usable', async (t) => {
  const target = await startTarget(t)
  const json = join(t.testdir(), 'report.json')
  const run = await scan(['--url', target.url, '--api-key', target.adminKey, ...FAST], { json })
  t.equal(run.code, 0, run.out)
  t.same(failedIds(run.report), [])
  const auth = run.report?.checks.filter((c) => c.family === 'AUTH' && c.id !== 'MSV-AUTH-009').map((c) => `${c.id} ${c.status}`)
  t.same(auth?.filter((s) => !s.endsWith('pass')), [], 'every AUTH check tested something within 8 failures')
  const after = await target.app.inject({ method: 'GET', url: '/api/v1/keys', headers: { 'x-api-key': target.adminKey } })
  t.equal(after.statusCode, 200, 'the scanner did not lock its own address out')
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 })
})

/** A loopback server that counts what reaches it (and answers 404). */
async function counter (t: Test): Promise<{ url: string, count: () => number }> {
  let n = 0
  const server = http.createServer((req, res) => { n++; res.writeHead(404, { 'content-type': 'application/json' }); res.end('{}') })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n }
}

t.test('--dry-run prints the plan and sends nothing', async (t) => {
  const target = await counter(t)
  const run = await scan(['--url', target.url, '--api-key', 'msk_aaaaaaaaaaaa_x', '--dry-run', '--profile', 'full'])
  t.equal(run.code, 0)
  t.equal(target.count(), 0, 'no request reached the target')
  for (const check of allChecks) t.match(run.out, new RegExp(`${check.id}\\s+budget ${check.budget}\\b`), `${check.id} and its budget`)
  t.match(run.out, /at most \d+ requests by the budgets/)
  const safe = await scan(['--url', target.url, '--dry-run', '--only', 'AUTH'])
  t.notMatch(safe.out, /MSV-AUTH-009/, 'the lockout is in the full profile only')
  t.notMatch(safe.out, /MSV-HDR-/, '--only keeps to the family')
})

t.test('--max-requests is a hard cap: never exceeded, the run is incomplete, cleanup still done', async (t) => {
  const target = await startTarget(t, { AUTH_FAILURE_MAX: 1000 })
  let seen = 0
  const proxy = await startProxy(t, target.url, { request: () => { seen++ } })
  const json = join(t.testdir(), 'report.json')
  const run = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST, '--max-requests', '150'], { json })
  t.ok(seen <= 150, `${seen} requests reached the target`)
  t.equal(run.code, 3, 'incomplete')
  t.match(run.report?.incomplete.join(' '), /--max-requests 150 reached/)
  t.ok(run.report?.checks.some((c) => c.status === 'skip' && c.findings.some((f) => /max-requests/.test(f.seen))), 'the rest is skip, not pass')
  t.same(run.report?.leftBehind, [])
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 })
})

t.test('Ctrl-C during a run stops the checks and still cleans up', async (t) => {
  const target = await startTarget(t)
  let keysMinted = 0
  let interrupt: () => void = () => {}
  const minted = new Promise<void>((resolve) => { interrupt = resolve })
  const proxy = await startProxy(t, target.url, {
    response: (req, res) => {
      if (req.method === 'POST' && req.url === '/api/v1/keys' && res.status === 201 && ++keysMinted === 3) interrupt()
      return res
    }
  })
  const child = spawnNode([securityEntry, '--url', proxy, '--api-key', target.adminKey, '--rate', '40'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  await minted
  child.kill('SIGINT')
  const code = await exited
  t.equal(code, 3, 'interrupted is incomplete')
  t.match(out, /incomplete: .*interrupted/)
  t.match(out, /left behind: 0\s*$/)
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 }, 'keys revoked and messages deleted after Ctrl-C')
})

t.test('usage errors and an unreachable target exit 2', async (t) => {
  const usage = async (...argv: string[]): Promise<void> => {
    const run = await scan(argv)
    t.equal(run.code, 2, argv.join(' '))
    t.match(run.err, /usage: missive-security/)
  }
  await usage()
  await usage('--url', 'ftp://x')
  await usage('--url', 'http://127.0.0.1:1/api')
  await usage('--url', 'http://user:secret@127.0.0.1:1')
  await usage('--url', 'http://127.0.0.1:1', '--profile', 'fast')
  await usage('--url', 'http://127.0.0.1:1', '--only', 'NOPE')
  await usage('--url', 'http://127.0.0.1:1', '--rate', '0')
  await usage('--url', 'http://127.0.0.1:1', '--allowed-origin', 'https://a.example/path')
  const dir = t.testdir({ 'no-reason.json': JSON.stringify({ version: 1, accepted: [{ check: 'MSV-HDR-002', expires: '2099-01-01' }] }) })
  await usage('--url', 'http://127.0.0.1:1', '--baseline', join(dir, 'no-reason.json'))
  const unreachable = await scan(['--url', 'http://127.0.0.1:1', '--timeout', '2'])
  t.equal(unreachable.code, 2)
  t.match(unreachable.err, /unreachable/)
})

t.test('a refused --api-key is a usage problem (exit 2), not a scan', async (t) => {
  const target = await startTarget(t)
  const run = await scan(['--url', target.url, '--api-key', 'msk_aaaaaaaaaaaa_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', ...FAST])
  t.equal(run.code, 2)
  t.match(run.err, /--api-key was refused/)
})

t.test('exit codes with a baseline; the SARIF of a failing run validates against the SARIF 2.1.0 schema', async (t) => {
  const target = await startTarget(t)
  // A CDN that caches reads: no Cache-Control on anything.
  const proxy = await startProxy(t, target.url, {
    response: (_req, res) => { delete res.headers['cache-control']; return res }
  })
  const dir = t.testdir({
    accepted: JSON.stringify({ version: 1, accepted: [{ check: 'MSV-HDR-009', reason: 'the CDN is being fixed (TICKET-1)', expires: '2099-12-31' }] }),
    expired: JSON.stringify({ version: 1, accepted: [{ check: 'MSV-HDR-009', reason: 'was being fixed', expires: '2020-01-01' }] })
  })
  const argv = ['--url', proxy, '--api-key', target.adminKey, ...FAST, '--only', 'HDR,BURN']
  const sarif = join(dir, 'out.sarif')
  const failing = await scan([...argv, '--sarif', sarif], { json: join(dir, 'a.json') })
  t.equal(failing.code, 1, 'a high failure exits 1')
  t.equal(statusOf(failing.report, 'MSV-HDR-009'), 'fail')
  t.match(failing.out, /FAIL\s+high\s+MSV-HDR-009/)
  t.match(failing.out, /reproduce: curl -i -X GET/)
  t.notMatch(failing.out, new RegExp(target.adminKey), 'the key never appears in the report')
  const accepted = await scan([...argv, '--baseline', join(dir, 'accepted')])
  t.equal(accepted.code, 0, 'accepted by the baseline')
  t.match(accepted.out, /\[accepted by baseline\]/)
  const expired = await scan([...argv, '--baseline', join(dir, 'expired')])
  t.equal(expired.code, 1, 'an expired acceptance fails again')

  const AjvDraft04 = ajvDraft04.default
  const addFormats = ajvFormats.default
  const ajv = new AjvDraft04({ strict: false, allErrors: true })
  addFormats(ajv)
  const schema = JSON.parse(readFileSync(new URL('../fixtures/sarif-schema-2.1.0.json', import.meta.url), 'utf8')) as object
  const doc = JSON.parse(readFileSync(sarif, 'utf8')) as { runs: Array<{ results: Array<{ ruleId: string, locations: unknown[] }> }> }
  const valid = ajv.validate(schema, doc)
  t.ok(valid, JSON.stringify(ajv.errors?.slice(0, 3)))
  t.ok(doc.runs[0]?.results.some((r) => r.ruleId === 'MSV-HDR-009'))
})

t.test('a second run inside the lockout window stops at the lockout instead of hammering', async (t) => {
  const target = await startTarget(t)
  const first = await scan(['--url', target.url, '--api-key', target.adminKey, ...FAST, '--only', 'AUTH'])
  t.equal(first.code, 0, first.out)
  let afterLockout = 0
  let locked = false
  const proxy = await startProxy(t, target.url, {
    response: (_req, res) => {
      if (locked) afterLockout++
      if (res.status === 429 && Number(res.headers['retry-after']) > 65) locked = true
      return res
    }
  })
  const json = join(t.testdir(), 'second.json')
  const second = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST], { json })
  t.not(second.code, 0)
  t.match(second.report?.incomplete.join(' '), /locked out or rate limited for longer than the run waits/)
  t.ok(locked, 'the target locked the address out')
  t.ok(afterLockout <= 12, `only cleanup attempts after the lockout (${afterLockout})`)
  t.match(second.out, /left behind: \d+/)
})

t.test('the create limit cannot be dodged with a forged X-Forwarded-For', async (t) => {
  const trusting = await startTarget(t, { TRUST_PROXY: 'true' })
  const run = await scan(['--url', trusting.url, ...FAST, '--only', 'RATE-001'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-RATE-001'), 'fail')
  t.match(run.out, /forged X-Forwarded-For .* escaped the limit .*TRUST_PROXY/)
})

t.test('a short rate-limit window resetting during the check is not a failure', async (t) => {
  const target = await startTarget(t, { RATE_LIMIT_WINDOW_MS: 10_000 })
  const run = await scan(['--url', target.url, '--rate', '200', '--only', 'RATE-001,RATE-002'], { json: join(t.testdir(), 'r.json') })
  t.same(failedIds(run.report), [], run.out)
  t.equal(statusOf(run.report, 'MSV-RATE-002'), 'pass', 'waited for a fresh window, then spent it')
})

t.test('behind a CDN, per-response headers do not make an existence oracle', async (t) => {
  const target = await startTarget(t)
  let n = 0
  const proxy = await startProxy(t, target.url, {
    response: (_req, res) => {
      n++
      res.headers['x-amz-cf-id'] = `cf-${n}-${Math.random()}`
      res.headers['set-cookie'] = `AWSALB=${n}${Math.random()}; Path=/`
      return res
    }
  })
  const run = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST, '--only', 'ORACLE'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-ORACLE-001'), 'pass', run.out)
})

t.test('a route that forgets both its authentication and its OpenAPI security is still probed', async (t) => {
  const target = await startTarget(t)
  const proxy = await startProxy(t, target.url, {
    // The document stops declaring security for GET /api/v1/keys, and the route answers anyone.
    request: (req) => {
      if (req.url === '/api/v1/keys' && req.headers['x-api-key'] === undefined && req.headers.authorization === undefined) req.headers['x-api-key'] = target.adminKey
    },
    response: (req, res) => {
      if (req.url !== '/docs/json') return res
      const doc = JSON.parse(res.body.toString()) as { paths: Record<string, Record<string, { security?: unknown }>> }
      const op = doc.paths['/api/v1/keys']?.get
      if (op !== undefined) delete op.security
      return { ...res, body: Buffer.from(JSON.stringify(doc)) }
    }
  })
  const run = await scan(['--url', proxy, ...FAST, '--only', 'AUTH-001'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-AUTH-001'), 'fail')
  t.match(run.out, /GET \/api\/v1\/keys: no credential: answered 200, not 401 \(\/docs\/json names no security for this route; the contract protects it\)/)
  t.equal(run.code, 1)
})

t.test('an owner-only route that lets another owner delete fails MSV-OWNER-001', async (t) => {
  const target = await startTarget(t)
  // The double: a route that looks messages up by id alone. It remembers every message made
  // through the API and deletes any of them for any caller (with the delete token it saw).
  const tokens = new Map<string, string>()
  const proxy = await startProxy(t, target.url, {
    response: async (req, res, send) => {
      if (req.method === 'POST' && req.url === '/api/v1/messages' && res.status === 201) {
        const made = JSON.parse(res.body.toString()) as { id: string, deleteToken: string }
        tokens.set(made.id, made.deleteToken)
      }
      const id = /^\/api\/v1\/messages\/([^/?]+)$/.exec(req.url)?.[1]
      const token = id === undefined ? undefined : tokens.get(id)
      if (req.method !== 'DELETE' || res.status !== 404 || token === undefined) return res
      return await send({ method: 'DELETE', url: `/msg/${id ?? ''}`, headers: { 'x-delete-token': token }, body: Buffer.alloc(0) })
    }
  })
  const run = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST, '--only', 'OWNER'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-OWNER-001'), 'fail')
  t.match(run.out, /B deletes A's message: 204, not 404/)
  t.match(run.out, /after B's attempts, A's list no longer shows the message/)
  t.equal(run.code, 1)
  t.same(run.report?.leftBehind, [])
})

t.test('behind a balancer, two instances that learn of a revocation within their epoch poll pass the revocation check', async (t) => {
  // Three runs in a row here: failures allowed well above what they make, the subject is the balancer.
  const first = await startTarget(t, { AUTH_FAILURE_MAX: 1000 })
  const second = await build(t, { store: 'redis', flush: false, config: { ...DEFAULT_LIMITS, AUTH_FAILURE_MAX: 1000 } })
  await second.listen({ port: 0, host: '127.0.0.1' })
  const balancer = await startProxy(t, [first.url, `http://127.0.0.1:${(second.server.address() as AddressInfo).port}`])
  for (let i = 0; i < 3; i++) {
    const run = await scan(['--url', balancer, '--api-key', first.adminKey, ...FAST, '--only', 'AUTH-007'], { json: join(t.testdir(), `r${i}.json`) })
    t.equal(statusOf(run.report, 'MSV-AUTH-007'), 'pass', run.out)
  }
})

t.test('a WAF that blocks attack probes with its own page is not a failure of the API', async (t) => {
  const target = await startTarget(t)
  const attack = /script|DROP|%3C|passwd|\$gt|__proto__|constructor|7\*7/i
  const proxy = await startProxy(t, target.url, {
    response: (req, res) => {
      const auth = req.headers.authorization ?? ''
      const forged = /^Bearer ey/.test(auth) && /"alg":"(none|None|NONE)"/.test(Buffer.from(auth.slice(7).split('.')[0] ?? '', 'base64url').toString())
      if (!forged && !attack.test(req.url) && !attack.test(req.body.toString('latin1'))) return res
      return { status: 403, headers: { 'content-type': 'text/html' }, body: Buffer.from('<html><body>Request blocked by the WAF</body></html>') }
    }
  })
  const run = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST, '--only', 'INPUT,AUTH-003,HDR,ERR'], { json: join(t.testdir(), 'r.json') })
  t.same(failedIds(run.report), [], run.out)
  t.match(run.out, /refused in front of the API \(403/)
})

t.test('a cleanup that fails makes the run incomplete (exit 3) and is listed', async (t) => {
  const target = await startTarget(t)
  const proxy = await startProxy(t, target.url, {
    response: (req, res) => req.method === 'DELETE' && req.url.startsWith('/api/v1/keys/')
      ? { status: 500, headers: { 'content-type': 'application/json' }, body: Buffer.from('{"statusCode":500,"error":"Internal Server Error","message":"x"}') }
      : res
  })
  const run = await scan(['--url', proxy, '--api-key', target.adminKey, ...FAST, '--only', 'scope-002,clean'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-SCOPE-002'), 'pass', '--only takes ids in any case')
  t.equal(statusOf(run.report, 'MSV-CLEAN-001'), 'fail')
  t.equal(run.code, 3)
  t.match(run.out, /left behind: key [a-z0-9]{12} \(answered 500\)/)
  t.match(run.out, /left behind: 1\s*$/)
})

t.test('a key that may write but not delete does not sample ids (their cleanup would spend the anonymous read limit)', async (t) => {
  const target = await startTarget(t)
  const { key } = await makeKey(target.app, ['messages:read', 'messages:write'])
  const run = await scan(['--url', target.url, '--api-key', key, ...FAST, '--only', 'RAND,CLEAN'], { json: join(t.testdir(), 'r.json') })
  t.equal(statusOf(run.report, 'MSV-RAND-001'), 'skip')
  t.equal(run.code, 0)
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 })
})
