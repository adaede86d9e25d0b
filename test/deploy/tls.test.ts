import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, type SecureVersion } from 'node:tls'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'
import { build } from '../helper.js'

// A self-signed certificate for localhost / 127.0.0.1, made for this run only.
const dir = mkdtempSync(join(tmpdir(), 'missive-tls-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const certFile = join(dir, 'cert.pem')
const keyFile = join(dir, 'key.pem')
execFileSync('openssl', [
  'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '1',
  '-keyout', keyFile, '-out', certFile,
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'
], { stdio: 'ignore' })
const ca = readFileSync(certFile)

// One HTTPS server for the whole file, built by the production factory.
let port = 0
t.before(async () => {
  const app = await build(t, { config: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  port = address.port
})

interface HttpsAnswer { status: number, headers: Record<string, string | string[] | undefined>, body: string, protocol: string | null }

async function httpsGet (port: number, path: string, options: { ca?: Buffer, rejectUnauthorized?: boolean } = {}): Promise<HttpsAnswer> {
  return await new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', servername: 'localhost', agent: false, ...options }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => { body += chunk })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, protocol: (res.socket as import('node:tls').TLSSocket).getProtocol?.() ?? null }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A bare TLS handshake pinned to one protocol version: resolves with the version agreed, or the error. */
async function handshake (port: number, version: SecureVersion): Promise<{ protocol: string | null } | { error: string }> {
  return await new Promise((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca,
      servername: 'localhost',
      minVersion: version,
      maxVersion: version,
      // OpenSSL 3 refuses to even offer TLS 1.0/1.1 at its default security level; lower the
      // client's, so that the refusal measured below is the server's.
      ciphers: 'DEFAULT@SECLEVEL=0'
    })
    socket.once('secureConnect', () => { resolve({ protocol: socket.getProtocol() }); socket.destroy() })
    socket.once('error', (err: NodeJS.ErrnoException) => { resolve({ error: err.code ?? err.message }); socket.destroy() })
  })
}

t.test('TLS_CERT_FILE and TLS_KEY_FILE turn on HTTPS with the given certificate', async (t) => {
  const verified = await httpsGet(port, '/health', { ca })
  t.equal(verified.status, 200, 'a client that trusts the certificate gets through')
  t.same(JSON.parse(verified.body), { status: 'ok' })
  t.match(verified.headers['strict-transport-security'], /max-age=\d+/, 'HSTS is sent over HTTPS')

  const root = await httpsGet(port, '/', { rejectUnauthorized: false })
  t.equal(root.status, 200)
  t.equal(JSON.parse(root.body).name, 'missive')

  await t.rejects(httpsGet(port, '/health', { rejectUnauthorized: true }), 'a client that does not trust the self-signed certificate refuses it')

  const plain = await fetch(`http://127.0.0.1:${port}/health`).then((res) => res.status, (err: Error) => err)
  t.not(plain, 200, 'plain HTTP is not served on the HTTPS port')
})

t.test('TLS 1.2 and 1.3 are accepted, TLS 1.0 and 1.1 are refused by the server', async (t) => {
  t.same(await handshake(port, 'TLSv1.3'), { protocol: 'TLSv1.3' })
  t.same(await handshake(port, 'TLSv1.2'), { protocol: 'TLSv1.2' })

  for (const old of ['TLSv1.1', 'TLSv1'] as const) {
    const result = await handshake(port, old)
    t.notOk('protocol' in result, `${old} gets no connection`)
    // The server answers the ClientHello with a protocol_version alert: it is the one refusing.
    t.match(result, { error: /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL|WRONG_VERSION/ }, `${old} is refused by the server: ${JSON.stringify(result)}`)
  }
})

t.test('a TLS file that cannot be read stops the start with one line naming the variable', async (t) => {
  const cases: Array<{ env: Record<string, string>, variable: string }> = [
    { env: { TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: keyFile }, variable: 'TLS_CERT_FILE' },
    { env: { TLS_CERT_FILE: dir, TLS_KEY_FILE: keyFile }, variable: 'TLS_CERT_FILE' },
    { env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: join(dir, 'missing-key.pem') }, variable: 'TLS_KEY_FILE' },
    { env: { TLS_CERT_FILE: certFile }, variable: 'TLS_KEY_FILE' },
    { env: { TLS_KEY_FILE: keyFile }, variable: 'TLS_CERT_FILE' }
  ]
  for (const { env, variable } of cases) {
    let caught: unknown
    try {
      loadConfig(env)
    } catch (err) {
      caught = err
    }
    t.type(caught, ConfigError, `${JSON.stringify(env)} is a configuration error`)
    const message = (caught as Error).message
    t.match(message, new RegExp(`\\b${variable}\\b`), `it names ${variable}: ${message}`)
    t.notMatch(message, /\n/, 'on one line')
    t.notMatch(message, /BEGIN|PRIVATE KEY/, 'without any file content')
  }
})
