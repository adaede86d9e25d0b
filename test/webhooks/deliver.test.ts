import { randomBytes } from 'node:crypto'
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'
import t, { type Test } from 'tap'
import { deliver, DELIVERY_TIMEOUT_MS, MAX_RESPONSE_BYTES, type DeliveryRequest } from '../../src/webhooks/deliver.js'
import { webhookPayload } from '../../src/webhooks/payloads.js'
import { version } from '../../src/version.js'
import { testCertificate } from './receiver.js'

/**
 * One delivery attempt (API.md section 9, issue 19) against real HTTPS receivers on 127.0.0.1.
 * The receivers' certificate is made for this run by the openssl CLI (as test/deploy/tls.test.ts
 * does), so no private key sits in the repository and none expires; the attempts trust it
 * through the `ca` option. Every receiver listens on 127.0.0.1 only, so these tests pass
 * allowPrivate: true, except those that check that without it nothing is connected to.
 */

// a one-day certificate for localhost and 127.0.0.1, made by openssl for this process (receiver.ts)
const { cert, key } = testCertificate()

interface Received { method: string, url: string, headers: IncomingHttpHeaders, body: string }
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void
interface Receiver { port: number, received: Received[], connections: () => number }

/** An HTTPS receiver on 127.0.0.1 that records each request (its body read) and hands it to `handler`. */
async function receiver (t: Test, handler: Handler, tls = true): Promise<Receiver> {
  const received: Received[] = []
  let connections = 0
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      handler(req, res, body)
    })
  }
  const server: Server = tls ? createHttpsServer({ key, cert }, onRequest) : createHttpServer(onRequest)
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port: (server.address() as AddressInfo).port, received, connections: () => connections }
}

const secret = `whsec_${randomBytes(32).toString('base64')}`
const body = webhookPayload('message.viewed', Date.now(), { id: 'Yb9kq3VxT2', owner: 'key_7f3a', state: 'live', views: 1, remainingViews: 2 })
const request = (port: number, path = '/hook', more: Partial<DeliveryRequest> = {}): DeliveryRequest =>
  ({ url: `https://127.0.0.1:${port}${path}`, eventId: 'evt_01J9Z', body, secrets: [secret], ...more })
const trusted = { allowPrivate: true, ca: cert }

t.test('a 2xx acknowledges; the receiver verifies the signature with the standardwebhooks verifier', async (t) => {
  const oldSecret = `whsec_${randomBytes(32).toString('base64')}`
  const verified: string[] = []
  const r = await receiver(t, (req, res, received) => {
    for (const [name, s] of [['new', secret], ['old', oldSecret]] as const) {
      try {
        new Webhook(s).verify(received, req.headers as Record<string, string>)
        verified.push(name)
      } catch {}
    }
    res.writeHead(204).end()
  })
  const outcome = await deliver(request(r.port, '/hook?tenant=7', { secrets: [secret, oldSecret] }), trusted)
  t.match(outcome, { ok: true, status: 204, error: null, responseBody: '' })
  t.type(outcome.durationMs, 'number')
  t.same(verified, ['new', 'old'], 'both secrets of a rotation verify')
  const got = r.received[0] as Received
  t.equal(got.method, 'POST')
  t.equal(got.url, '/hook?tenant=7', 'path and query as registered')
  t.equal(got.body, body, 'the body byte for byte')
  t.equal(got.headers['content-type'], 'application/json')
  t.equal(got.headers['user-agent'], `Missive-Webhooks/${version}`)
  t.equal(got.headers['webhook-id'], 'evt_01J9Z')
  t.match(got.headers['webhook-signature'], /^v1,\S+ v1,\S+$/)
  t.ok(Math.abs(Number(got.headers['webhook-timestamp']) - Date.now() / 1000) < 5, 'signed at the attempt')

  const ok = await receiver(t, (_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}') })
  t.match(await deliver(request(ok.port), trusted), { ok: true, status: 200, error: null, responseBody: '{"received":true}' }, 'any 2xx, its body kept')
})

t.test('each attempt is signed with its own time, under the same webhook-id', async (t) => {
  const r = await receiver(t, (_req, res) => { res.writeHead(500).end() })
  const first = Date.UTC(2026, 0, 1)
  await deliver(request(r.port), { ...trusted, now: () => first })
  await deliver(request(r.port), { ...trusted, now: () => first + 30_000 })
  t.same(r.received.map((x) => x.headers['webhook-id']), ['evt_01J9Z', 'evt_01J9Z'])
  t.same(r.received.map((x) => x.headers['webhook-timestamp']), [String(first / 1000), String(first / 1000 + 30)])
  t.not(r.received[0]?.headers['webhook-signature'], r.received[1]?.headers['webhook-signature'])
})

t.test('a 500 is a failure with its status and the start of its body', async (t) => {
  const r = await receiver(t, (_req, res) => { res.writeHead(500).end('database down') })
  t.match(await deliver(request(r.port), trusted), { ok: false, status: 500, error: 'http_status', responseBody: 'database down' })
  const notFound = await receiver(t, (_req, res) => { res.writeHead(404).end() })
  t.match(await deliver(request(notFound.port), trusted), { ok: false, status: 404, error: 'http_status' })
})

t.test('a redirect is not followed: a failure recorded with its status', async (t) => {
  const r = await receiver(t, (req, res) => {
    if (req.url === '/hook') res.writeHead(301, { location: '/second' }).end()
    else res.writeHead(200).end('followed')
  })
  for (const status of [301, 302, 307, 308]) {
    const hop = await receiver(t, (_req, res) => { res.writeHead(status, { location: `https://127.0.0.1:${r.port}/second` }).end() })
    t.match(await deliver(request(hop.port), trusted), { ok: false, status, error: 'redirect' }, String(status))
  }
  t.match(await deliver(request(r.port), trusted), { ok: false, status: 301, error: 'redirect' })
  t.same(r.received.map((x) => x.url), ['/hook'], 'the second path was never requested')
})

t.test('a receiver that never answers: timeout at the deadline', async (t) => {
  t.equal(DELIVERY_TIMEOUT_MS, 10_000, '10 s in production')
  const r = await receiver(t, () => {})
  const outcome = await deliver(request(r.port), { ...trusted, timeoutMs: 300 })
  t.match(outcome, { ok: false, status: null, error: 'timeout', responseBody: '' })
  t.ok(outcome.durationMs >= 250 && outcome.durationMs < 2000, `${outcome.durationMs} ms`)
  t.equal(r.received.length, 1, 'the request did arrive')
})

t.test('a 2xx whose body then stalls still acknowledges: the status decides', async (t) => {
  const r = await receiver(t, (_req, res) => { res.writeHead(200, { 'content-length': '100' }); res.write('partial') })
  const outcome = await deliver(request(r.port), { ...trusted, timeoutMs: 300 })
  t.match(outcome, { ok: true, status: 200, error: null, responseBody: 'partial' })
})

t.test('at most 1 KB of a response is kept, and reading stops there', async (t) => {
  t.equal(MAX_RESPONSE_BYTES, 1024)
  const big = await receiver(t, (_req, res) => { res.writeHead(200).end(Buffer.alloc(1024 * 1024, 'x')) })
  const outcome = await deliver(request(big.port), trusted)
  t.match(outcome, { ok: true, status: 200, error: null })
  t.equal(outcome.responseBody, 'x'.repeat(1024), '1 MB sent, 1 KB kept')

  // A receiver streaming without end: the attempt ends at 1 KB, long before the deadline.
  let closedByClient = false
  const endless = await receiver(t, (_req, res) => {
    res.writeHead(500)
    const timer = setInterval(() => res.write(Buffer.alloc(2048, 'y')), 5)
    res.on('close', () => { clearInterval(timer); closedByClient = true })
  })
  const streamed = await deliver(request(endless.port), { ...trusted, timeoutMs: 5000 })
  t.match(streamed, { ok: false, status: 500, error: 'http_status' })
  t.equal(streamed.responseBody.length, 1024)
  t.ok(streamed.durationMs < 2000, `ended after ${streamed.durationMs} ms, not at the 5 s deadline`)
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(closedByClient, 'the connection was closed')

  // A character cut at the 1 KB boundary is dropped, not mangled.
  const cut = await receiver(t, (_req, res) => { res.writeHead(200).end(`${'a'.repeat(1023)}é and more`) })
  t.equal((await deliver(request(cut.port), trusted)).responseBody, 'a'.repeat(1023))
})

t.test('plain http is refused without connecting', async (t) => {
  const r = await receiver(t, (_req, res) => { res.end('reached') }, false)
  const outcome = await deliver(request(r.port, '/hook', { url: `http://127.0.0.1:${r.port}/hook` }), { allowPrivate: true })
  t.match(outcome, { ok: false, status: null, error: 'invalid_url' })
  t.equal(r.connections(), 0)
  t.match(await deliver(request(r.port, '/', { url: 'not a url' }), trusted), { ok: false, error: 'invalid_url' })
})

t.test('without allowPrivate, 127.0.0.1 and a name resolving to it are refused before connecting', async (t) => {
  const r = await receiver(t, (_req, res) => { res.end('reached') })
  t.match(await deliver(request(r.port), { allowPrivate: false, ca: cert }), { ok: false, status: null, error: 'refused_destination' }, 'an IP literal')
  t.match(await deliver(request(r.port, '/', { url: `https://localhost:${r.port}/hook` }), { allowPrivate: false, ca: cert }),
    { ok: false, status: null, error: 'refused_destination' }, 'localhost, refused at its lookup')
  t.match(await deliver(request(r.port, '/', { url: `https://[::ffff:127.0.0.1]:${r.port}/hook` }), { allowPrivate: false, ca: cert }),
    { ok: false, error: 'refused_destination' }, 'an IPv4-mapped IPv6 literal')
  t.equal(r.connections(), 0, 'nothing reached the receiver')
  t.match(await deliver(request(r.port, '/', { url: `https://localhost:${r.port}/hook` }), trusted), { ok: true }, 'the same name with allowPrivate')
})

t.test('an untrusted certificate, a closed port, a dropped connection: short codes, never a throw', async (t) => {
  const r = await receiver(t, (_req, res) => { res.end() })
  t.match(await deliver(request(r.port), { allowPrivate: true }), { ok: false, status: null, error: 'tls' }, 'a self-signed certificate not trusted')

  const closed = await receiver(t, () => {})
  const port = closed.port
  const server = createHttpServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const freePort = (server.address() as AddressInfo).port
  await new Promise((resolve) => server.close(resolve))
  t.match(await deliver(request(freePort), trusted), { ok: false, status: null, error: 'connect_failed' }, 'nothing listening')

  const dropper = await receiver(t, (req) => { req.socket.destroy() })
  t.match(await deliver(request(dropper.port), trusted), { ok: false, status: null, error: 'connection_closed' }, 'closed without an answer')

  t.match(await deliver(request(port, '/hook', { secrets: [] }), trusted), { ok: false, error: 'invalid_secret' }, 'no secret')
  t.match(await deliver(request(port, '/hook', { secrets: ['whsec_not*base64!'] }), trusted), { ok: false, error: 'invalid_secret' }, 'a broken secret')
  t.equal(closed.connections(), 0, 'nothing sent unsigned')
})
