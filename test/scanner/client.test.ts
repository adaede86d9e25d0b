// The scanner's HTTP client keeps the promises an operator relies on: its headers on every
// request, the pace of --rate, Retry-After honoured (not hammered), the hard cap with room kept
// for cleanup, per-check budgets, and Ctrl-C.
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { Aborted, CapReached, CheckBudgetExceeded, CheckHttp, retryAfterSeconds, ScanClient, Throttled } from '../../src/scanner/client.js'

interface Seen { at: number, headers: http.IncomingHttpHeaders, url: string }

/** A loopback server whose answer the test chooses; records every request. */
async function server (t: Test, answer: (n: number, req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ url: URL, seen: Seen[] }> {
  const seen: Seen[] = []
  const s = http.createServer((req, res) => { seen.push({ at: Date.now(), headers: req.headers, url: req.url ?? '' }); answer(seen.length, req, res) })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { s.closeAllConnections(); s.close() })
  return { url: new URL(`http://127.0.0.1:${(s.address() as AddressInfo).port}`), seen }
}

const ok = (_n: number, _req: http.IncomingMessage, res: http.ServerResponse): void => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"ok":true}') }

function client (t: Test, url: URL, extra: Partial<ConstructorParameters<typeof ScanClient>[0]> = {}): ScanClient {
  const c = new ScanClient({ baseUrl: url, userAgent: 'missive-security/9.9.9', runId: 'run123', rate: 1000, timeoutMs: 2000, maxRequests: 100, signal: new AbortController().signal, ...extra })
  t.teardown(() => c.close())
  return c
}

t.test('every request names the scanner and the run', async (t) => {
  const target = await server(t, ok)
  const c = client(t, target.url)
  const res = await c.request({ method: 'GET', path: '/x', headers: { accept: 'application/json' } })
  t.same(res.json, { ok: true })
  await c.burst([{ method: 'GET', path: '/a' }, { method: 'GET', path: '/b' }])
  t.equal(target.seen.length, 3)
  for (const s of target.seen) {
    t.equal(s.headers['user-agent'], 'missive-security/9.9.9')
    t.equal(s.headers['x-missive-scan'], 'run123')
  }
})

t.test('--rate paces requests', async (t) => {
  const target = await server(t, ok)
  const c = client(t, target.url, { rate: 20 })
  const started = Date.now()
  for (let i = 0; i < 6; i++) await c.request({ method: 'GET', path: '/' })
  t.ok(Date.now() - started >= 240, `6 requests at 20/s took ${Date.now() - started} ms (≥ 250 ms minus timer slack)`)
})

t.test('an unexpected 429 is retried only after its Retry-After, at most twice', async (t) => {
  const target = await server(t, (n, _req, res) => {
    if (n === 1) { res.writeHead(429, { 'retry-after': '1' }); res.end('{}'); return }
    ok(n, _req, res)
  })
  const c = client(t, target.url)
  const check = new CheckHttp(c, 'MSV-TEST-001', 5)
  const res = await check.request({ method: 'GET', path: '/' })
  t.equal(res.status, 200)
  t.equal(target.seen.length, 2)
  t.ok((target.seen[1]?.at ?? 0) - (target.seen[0]?.at ?? 0) >= 1000, 'waited the Retry-After second')
  t.equal(check.used, 2, 'the retry counts against the check budget')

  const always = await server(t, (_n, _req, res) => { res.writeHead(503, { 'retry-after': '0' }); res.end('{}') })
  const c2 = client(t, always.url)
  t.equal((await c2.request({ method: 'GET', path: '/' })).status, 503)
  t.equal(always.seen.length, 3, 'one request and two retries, no more')
  const expected = await c2.request({ method: 'GET', path: '/', expectLimit: true })
  t.equal(expected.status, 503)
  t.equal(always.seen.length, 4, 'a check that wants to see the limit gets it at once')
  const far = await server(t, (_n, _req, res) => { res.writeHead(429, { 'retry-after': '3600' }); res.end('{}') })
  const c3 = client(t, far.url)
  await t.rejects(c3.request({ method: 'GET', path: '/' }), Throttled, 'a Retry-After beyond what the run waits stops the run (a lockout): no hammering')
  t.equal(far.seen.length, 1, 'and nothing more is sent')
  t.equal((await c3.request({ method: 'DELETE', path: '/', cleanup: true })).status, 429, 'cleanup still tries, once')
})

t.test('the cap is never exceeded and keeps room for cleanup', async (t) => {
  const target = await server(t, ok)
  const c = client(t, target.url, { maxRequests: 5 })
  await c.request({ method: 'GET', path: '/' })
  await c.request({ method: 'POST', path: '/', creates: true })
  c.reserved++ // the ledger holds one thing to undo
  await c.request({ method: 'GET', path: '/' })
  await t.rejects(c.request({ method: 'POST', path: '/', creates: true }), CapReached, 'a create needs room for its own cleanup too')
  await c.request({ method: 'GET', path: '/' })
  await t.rejects(c.request({ method: 'GET', path: '/' }), CapReached, 'the last request is kept for cleanup')
  await c.request({ method: 'DELETE', path: '/', cleanup: true })
  await t.rejects(c.request({ method: 'DELETE', path: '/', cleanup: true }), CapReached)
  t.equal(target.seen.length, 5, 'exactly --max-requests reached the target')
})

t.test('a check over its budget is stopped before sending', async (t) => {
  const target = await server(t, ok)
  const check = new CheckHttp(client(t, target.url), 'MSV-TEST-002', 2)
  await check.request({ method: 'GET', path: '/' })
  t.ok(check.canAfford(1))
  t.notOk(check.canAfford(2))
  await t.rejects(check.burst([{ method: 'GET', path: '/' }, { method: 'GET', path: '/' }]), CheckBudgetExceeded)
  t.equal(target.seen.length, 1)
})

t.test('after Ctrl-C only cleanup requests go out', async (t) => {
  const target = await server(t, ok)
  const controller = new AbortController()
  const c = client(t, target.url, { signal: controller.signal, rate: 2 })
  await c.request({ method: 'GET', path: '/' })
  const waiting = c.request({ method: 'GET', path: '/' })
  controller.abort()
  await t.rejects(waiting, Aborted, 'a request waiting for its slot is dropped')
  await t.rejects(c.request({ method: 'GET', path: '/' }), Aborted)
  t.equal((await c.request({ method: 'DELETE', path: '/', cleanup: true })).status, 200)
  t.equal(target.seen.length, 2)
})

t.test('Retry-After as seconds or as an HTTP date', async (t) => {
  t.equal(retryAfterSeconds('12'), 12)
  t.equal(retryAfterSeconds(undefined), null)
  t.equal(retryAfterSeconds('soon'), null)
  const date = new Date(Date.now() + 5000).toUTCString()
  t.ok([4, 5, 6].includes(retryAfterSeconds(date) ?? -1))
})
