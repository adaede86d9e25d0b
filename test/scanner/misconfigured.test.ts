// Issue #14: "against deliberately misconfigured targets, each of which must make the matching
// check fail, and only that family". Each target is the real app on real Redis, misconfigured
// by a small test double (a proxy in front of it, or a patched store), never by a switch in the
// product. Every subtest runs a full scan (not --only) through the double, so a double that
// also trips another family shows up here.
import { join } from 'node:path'
import t, { type Test } from 'tap'
import type { ConsumedMessage } from '../../src/storage/message-store.js'
import { tokenFor } from '../api/api-helper.js'
import { sleep } from '../helper.js'
import { failedFamilies, failedIds, type ProxyAnswer, type ScanReport, scan, startProxy, startTarget, statusOf } from './scan-helper.js'

interface Outcome { code: number, report: ScanReport }

/** A full scan of `url` with the operator's admin key; the exit code and the parsed --json report. */
async function fullScan (t: Test, url: string, adminKey: string): Promise<Outcome> {
  const json = join(t.testdir(), 'report.json')
  const run = await scan(['--url', url, '--api-key', adminKey, '--rate', '1000'], { json })
  if (run.report === undefined) throw new Error(`no JSON report (exit ${run.code}):\n${run.err}\n${run.out}`)
  return { code: run.code, report: run.report }
}

type Check = ScanReport['checks'][number]
const checkOf = (report: ScanReport, id: string): Check => {
  const check = report.checks.find((c) => c.id === id)
  if (check === undefined) throw new Error(`${id} is not in the report`)
  return check
}
/** What the failing findings saw, check by check (shown when an assertion fails). */
const failures = (report: ScanReport): Record<string, string[]> => Object.fromEntries(report.checks
  .filter((c) => c.status === 'fail' || c.status === 'error')
  .map((c) => [`${c.id} (${c.status})`, c.findings.filter((f) => f.status === 'fail' || f.status === 'error').map((f) => `${f.route ?? ''} ${f.seen}`.trim())]))
const failedSeen = (report: ScanReport, id: string): string[] => checkOf(report, id).findings.filter((f) => f.status === 'fail').map((f) => f.seen)

/**
 * The verdict every double must give: `ids` fail, nothing outside `family` fails, the exit code
 * says whether a high or critical check failed, nothing errored, nothing was left behind.
 */
function expectOnly (t: Test, { code, report }: Outcome, family: string, ids: string[]): void {
  const diagnostics = { failures: failures(report), incomplete: report.incomplete }
  for (const id of ids) t.equal(statusOf(report, id), 'fail', `${id} fails`, diagnostics)
  t.same(failedFamilies(report), [family], `only ${family} fails`, diagnostics)
  t.same(report.checks.filter((c) => c.status === 'error').map((c) => c.id), [], 'no check ended in error', diagnostics)
  const blocking = report.checks.some((c) => c.status === 'fail' && (c.severity === 'high' || c.severity === 'critical'))
  t.equal(code, blocking ? 1 : 0, `exit ${blocking ? 1 : 0}: ${blocking ? 'a' : 'no'} high or critical failure`, diagnostics)
  t.equal(report.exitCode, code, 'the report has the same exit code')
  t.same(report.leftBehind, [], 'left behind: 0')
}

const decoded = (segment: string): Record<string, unknown> | null => {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null ? value as Record<string, unknown> : null
  } catch {
    return null
  }
}

t.test('CORS reflecting any origin: MSV-CORS-001 fails, only CORS', async (t) => {
  const target = await startTarget(t)
  // A proxy "configured" to allow every origin with credentials, in front of a correct app.
  const proxy = await startProxy(t, target.url, {
    response: (req, res) => {
      const origin = req.headers.origin
      if (typeof origin !== 'string') return res
      return { ...res, headers: { ...res.headers, 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true' } }
    }
  })
  const outcome = await fullScan(t, proxy, target.adminKey)
  expectOnly(t, outcome, 'CORS', ['MSV-CORS-001'])
  t.equal(checkOf(outcome.report, 'MSV-CORS-001').severity, 'high')
  const seen = failedSeen(outcome.report, 'MSV-CORS-001')
  t.ok(seen.some((s) => s.includes('https://evil.example got access-control-allow-origin: https://evil.example')), 'names the reflected foreign origin', { seen })
  t.ok(seen.some((s) => s.startsWith('null got access-control-allow-origin: null')), 'and the null origin', { seen })
  t.ok(seen.some((s) => s.includes('access-control-allow-credentials: true')), 'and the credentials', { seen })
})

t.test('security headers off at the proxy: every MSV-HDR check fails, only HDR', async (t) => {
  const target = await startTarget(t)
  const stripped = ['content-security-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'referrer-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy', 'cache-control']
  const proxy = await startProxy(t, target.url, {
    response: (_req, res) => {
      const headers = { ...res.headers }
      for (const name of stripped) delete headers[name]
      return { ...res, headers: { ...headers, 'x-powered-by': 'Express', server: 'nginx/1.18.0' } }
    }
  })
  const outcome = await fullScan(t, proxy, target.adminKey)
  const hdr = outcome.report.checks.filter((c) => c.family === 'HDR').map((c) => c.id)
  t.same(hdr.slice(0, 9), Array.from({ length: 9 }, (_, i) => `MSV-HDR-00${i + 1}`), 'every header check ran')
  expectOnly(t, outcome, 'HDR', hdr)
  const seen = (id: string): string => failedSeen(outcome.report, id).join('\n')
  t.match(seen('MSV-HDR-001'), 'no Content-Security-Policy')
  t.match(seen('MSV-HDR-002'), 'no Strict-Transport-Security')
  t.match(seen('MSV-HDR-003'), 'X-Content-Type-Options is missing')
  t.match(seen('MSV-HDR-004'), 'framing is not refused')
  t.match(seen('MSV-HDR-005'), 'Referrer-Policy is missing')
  t.match(seen('MSV-HDR-006'), 'no Cross-Origin-Opener-Policy')
  t.match(seen('MSV-HDR-007'), 'no Cross-Origin-Resource-Policy')
  t.match(seen('MSV-HDR-008'), 'X-Powered-By: Express')
  t.match(seen('MSV-HDR-009'), 'Cache-Control is missing')
})

t.test('a rate limit far above the budget: MSV-RATE-001 and -002 skip with the reason, never pass', async (t) => {
  const target = await startTarget(t, { RATE_LIMIT_CREATE_MAX: 100_000, RATE_LIMIT_READ_MAX: 100_000 })
  const outcome = await fullScan(t, target.url, target.adminKey)
  const { report } = outcome
  t.same(failedIds(report), [], 'no failure at all', { failures: failures(report) })
  t.same(report.checks.filter((c) => c.status === 'error').map((c) => c.id), [], 'no check ended in error', { failures: failures(report) })
  t.equal(outcome.code, 0, 'exit 0')
  t.equal(report.exitCode, 0)
  t.same(report.leftBehind, [], 'left behind: 0')
  const budgets: Array<[string, string]> = [['MSV-RATE-001', 'RATE_LIMIT_CREATE_MAX'], ['MSV-RATE-002', 'RATE_LIMIT_READ_MAX']]
  for (const [id, knob] of budgets) {
    const check = checkOf(report, id)
    t.equal(check.status, 'skip', `${id} is a skip, not a pass`)
    const seen = check.findings.map((f) => f.seen).join('\n')
    t.match(seen, /the limit \(100000, \d+ remaining\) is above this check's budget; not tested/, `${id} says why`)
    t.match(seen, knob, `${id} names ${knob}`)
  }
  t.equal(statusOf(report, 'MSV-RATE-003'), 'pass', "the key's own limit (5) is still tested")
})

t.test('an instance that answers a stack trace: MSV-ERR-002 fails, only ERR', async (t) => {
  const target = await startTarget(t)
  // Every 400 carries the stack of the error, as a handler that serializes the whole Error
  // would. The app's own statusCode, error and message stay: a leaky instance still says what
  // was wrong (the scanner reads "unknown scope" from a 400's message when it mints keys).
  const stack = 'TypeError: x is not a function\n    at Object.handler (/srv/missive/dist/routes/public.js:42:17)'
  const proxy = await startProxy(t, target.url, {
    response: (_req, res) => {
      if (res.status !== 400) return res
      let body: Record<string, unknown> | null = null
      try { body = JSON.parse(res.body.toString('utf8')) as Record<string, unknown> } catch {}
      body ??= { statusCode: 400, error: 'Bad Request', message: 'body/content must be string' }
      return { ...res, headers: { ...res.headers, 'content-type': 'application/json; charset=utf-8' }, body: Buffer.from(JSON.stringify({ ...body, stack })) }
    }
  })
  const outcome = await fullScan(t, proxy, target.adminKey)
  expectOnly(t, outcome, 'ERR', ['MSV-ERR-002', 'MSV-ERR-001'])
  t.equal(outcome.code, 0, 'medium and low only: exit 0')
  t.match(failedSeen(outcome.report, 'MSV-ERR-002').join('\n'), '400: the body holds a stack trace')
  t.match(failedSeen(outcome.report, 'MSV-ERR-001').join('\n'), '400: unexpected field(s) stack')
})

t.test('a token verifier that accepts alg none: MSV-AUTH-003 fails, only AUTH', async (t) => {
  const target = await startTarget(t)
  // What a permissive verifier does with an unsigned token: treats it as a valid one (here, the
  // admin key's own token, obtained before the scan).
  const real = await tokenFor(target.app, target.adminKey)
  const proxy = await startProxy(t, target.url, {
    request: (req) => {
      const match = /^Bearer\s+([^.\s]+)\./.exec(String(req.headers.authorization ?? ''))
      const alg = match === null ? null : decoded(match[1] ?? '')?.alg
      if (typeof alg === 'string' && alg.toLowerCase() === 'none') req.headers.authorization = `Bearer ${real}`
    }
  })
  const outcome = await fullScan(t, proxy, target.adminKey)
  expectOnly(t, outcome, 'AUTH', ['MSV-AUTH-003'])
  t.equal(outcome.code, 1, 'a critical failure: exit 1')
  const seen = failedSeen(outcome.report, 'MSV-AUTH-003')
  t.ok(seen.some((s) => s.startsWith('alg none: answered 200')), 'says alg none got in', { seen })
  t.notOk(seen.some((s) => s.startsWith('HS256')), 'the HMAC forgeries are still refused', { seen })
})

t.test('a route that ignores scopes: MSV-SCOPE-001 fails, only SCOPE', async (t) => {
  const target = await startTarget(t)
  // A proxy that "retries" every 403 with a privileged key: no request is ever refused for its scope.
  const proxy = await startProxy(t, target.url, {
    response: async (req, res, send): Promise<ProxyAnswer> => {
      if (res.status !== 403) return res
      const headers = { ...req.headers, 'x-api-key': target.adminKey }
      delete headers.authorization
      return await send({ ...req, headers })
    }
  })
  const outcome = await fullScan(t, proxy, target.adminKey)
  expectOnly(t, outcome, 'SCOPE', ['MSV-SCOPE-001'])
  t.equal(outcome.code, 1, 'a critical failure: exit 1')
  const seen = failedSeen(outcome.report, 'MSV-SCOPE-001')
  t.ok(seen.some((s) => /^needs keys:admin, but messages:read → \d+ \(expected 403\)/.test(s)), 'names the scope that got through and the 403 it should have been', { seen })
})

t.test('a racy burn-after-read (read, then deleted): MSV-BURN-001 fails, only BURN', async (t) => {
  const target = await startTarget(t)
  // Reads that arrive within 30 ms of each other see the same message before any of them
  // counts the view: the read-then-delete race the atomic consume exists to prevent.
  const store = target.app.messageStore
  const consume = store.consume.bind(store)
  const inFlight = new Map<string, Promise<ConsumedMessage | null>>()
  store.consume = async (id: string): Promise<ConsumedMessage | null> => {
    let pending = inFlight.get(id)
    if (pending === undefined) {
      pending = sleep(30).then(async () => await consume(id)).finally(() => inFlight.delete(id))
      inFlight.set(id, pending)
    }
    return await pending
  }
  const outcome = await fullScan(t, target.url, target.adminKey)
  expectOnly(t, outcome, 'BURN', ['MSV-BURN-001'])
  t.equal(outcome.code, 1, 'a high failure: exit 1')
  const seen = failedSeen(outcome.report, 'MSV-BURN-001').join('\n')
  t.match(seen, /^expected exactly 3 views: ([4-9]|10) × 200/, 'more readers than views got the message', { seen })
})
