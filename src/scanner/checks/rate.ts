// MSV-RATE: API.md section 4, "rate limits answer 429 with Retry-After and x-ratelimit-*".
// Each check reads the advertised limit, spends what remains plus one, and expects the 429;
// when the limit is above the check's budget it is a skip that says so, never a pass. They
// run after the cleanup checkpoint (the runner undoes everything first), since they leave
// this address without anonymous budget for the rest of the window.
import { type Check, type Finding, fail, pass, skip } from '../check.js'
import type { ScanRequest, ScanResponse } from '../client.js'
import type { ScanContext } from '../context.js'
import { about, headerEvidence } from './util.js'

const RATE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']

function missingHeaders (res: ScanResponse): string[] {
  return RATE_HEADERS.filter((h) => !/^\d+$/.test(res.headers[h] ?? ''))
}

/**
 * Sends `make()` until a 429, at most `remaining + 1` times after the first answer.
 * `cost` requests are needed per attempt (a create and its delete).
 */
async function spend (ctx: ScanContext, label: string, route: string, make: () => ScanRequest, after: (res: ScanResponse) => Promise<void>, cost: number, knob: string): Promise<Finding[]> {
  let first = await ctx.request({ ...make(), expectLimit: true })
  await after(first)
  if (first.status === 429) return [skip(`${label}: already limited when the check began (run it alone: --only RATE)`, route)]
  const missing = missingHeaders(first)
  if (missing.length > 0) return [fail(`${label}: an allowed answer lacks ${missing.join(', ')}`, about(ctx, first, route, []))]
  const limit = Number(first.headers['x-ratelimit-limit'])
  let remaining = Number(first.headers['x-ratelimit-remaining'])
  const needed = (remaining + 2) * cost + 3
  if (!ctx.http.canAfford(needed)) {
    const why = ctx.http.used + needed <= ctx.http.budget
      ? `not tested: --max-requests leaves too few requests for it (${needed} needed)`
      : `the limit (${limit}, ${remaining} remaining) is above this check's budget; not tested (${knob})`
    return [skip(`${label}: ${why}`, route)]
  }
  // The spend must fit in the current window: if the window would reset before the scanner
  // (at --rate) could spend it, wait for the next window (a reset mid-way is not a failure).
  const needSeconds = ((remaining + 1) * cost) / ctx.options.rate + 2
  let reset = Number(first.headers['x-ratelimit-reset'])
  if (reset < needSeconds) {
    if (reset > 65) return [skip(`${label}: the window resets in ${reset} s, later than this check waits`, route)]
    await ctx.sleep((reset + 1) * 1000)
    first = await ctx.request({ ...make(), expectLimit: true })
    await after(first)
    remaining = Number(first.headers['x-ratelimit-remaining'])
    reset = Number(first.headers['x-ratelimit-reset'])
    if (first.status === 429 || Number.isNaN(remaining)) return [skip(`${label}: limited again right after the window reset`, route)]
    if (reset < ((remaining + 1) * cost) / ctx.options.rate + 2) return [skip(`${label}: the window (${reset} s left) is shorter than spending ${remaining + 1} requests takes at --rate ${ctx.options.rate}; not judged`, route)]
  }
  const windowEnds = Date.now() + reset * 1000
  let last: ScanResponse = first
  let before = remaining
  for (let i = 0; i <= remaining && last.status !== 429; i++) {
    last = await ctx.request({ ...make(), expectLimit: true })
    await after(last)
    const now = Number(last.headers['x-ratelimit-remaining'])
    // remaining went up: the window reset after all (clock skew, several counters): not judged.
    if (last.status !== 429 && now > before) return [skip(`${label}: the window reset during the check (remaining ${before} → ${now}); not judged`, route)]
    if (!Number.isNaN(now)) before = now
  }
  if (last.status !== 429 && Date.now() >= windowEnds) return [skip(`${label}: the window reset before the spend ended; not judged`, route)]
  if (last.status !== 429) {
    return [fail(`${label}: ${remaining + 1} requests past the advertised remaining ${remaining} and still no 429 (${last.status})`, about(ctx, last, route, []))]
  }
  const problems = [...missingHeaders(last), ...(/^\d+$/.test(last.headers['retry-after'] ?? '') ? [] : ['retry-after'])]
  if (problems.length > 0) return [fail(`${label}: the 429 lacks ${problems.join(', ')}`, about(ctx, last, route, []))]
  return [pass(`${label}: limit ${limit}, 429 after ${remaining + 1} more with Retry-After ${last.headers['retry-after']} s`, route)]
}

const base = { family: 'RATE', owasp: 'API4:2023', profile: 'safe' as const, source: 'plugins/rate-limit.ts' }

export const rateChecks: Check[] = [
  {
    ...base,
    id: 'MSV-RATE-001',
    title: 'The anonymous create limit holds as advertised',
    cwe: 770,
    severity: 'medium',
    order: 90,
    budget: 130,
    fix: 'keep RATE_LIMIT_CREATE_MAX, one shared store for every instance, and TRUST_PROXY set to your proxy so clients are told apart by their own address',
    plan: ['POST / (ttl 60) until 429: x-ratelimit-remaining + 1 creates, each deleted at once', 'expects 429 with Retry-After and x-ratelimit-*; skip when the limit is above the budget', 'then one create with a forged X-Forwarded-For, X-Real-IP and Forwarded: still 429'],
    run: async (ctx) => {
      const make = (extra: Record<string, string> = {}): ScanRequest => ({ method: 'POST', path: '/', creates: true, headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify({ content: 'missive-security rate', ttl: 60, maxViews: 1 }) })
      const cleanup = async (res: ScanResponse): Promise<void> => {
        if (res.status !== 201) return
        const message = ctx.recordCreated(res, {}, null)
        const del = await ctx.request({ method: 'DELETE', path: `/msg/${message.id}`, headers: { 'x-delete-token': message.deleteToken } })
        if (del.status === 204) ctx.ledger.settle((e) => e.kind === 'message' && e.id === message.id)
      }
      const findings = await spend(ctx, 'create limit', 'POST /', make, cleanup, 2, 'RATE_LIMIT_CREATE_MAX')
      if (findings[0]?.status !== 'pass') return findings
      // Limited now: a client that names another address must still be limited, unless the
      // deployment trusts any X-Forwarded-For (TRUST_PROXY=true behind nothing, or a proxy that passes it on).
      const forged = `203.0.113.${1 + Math.floor(Math.random() * 254)}`
      const spoofed = await ctx.request({ ...make({ 'x-forwarded-for': forged, 'x-real-ip': forged, forwarded: `for=${forged}` }), expectLimit: true })
      await cleanup(spoofed)
      // The control: the same request without the forged headers, right after. Only when it is
      // still limited does the forged one's success mean the headers were believed (not a
      // window that rolled over, or another instance's counter that had not caught up).
      const control = await ctx.request({ ...make(), expectLimit: true })
      await cleanup(control)
      if (spoofed.status !== 429 && control.status !== 429) {
        findings.push(skip(`the limit lifted between the 429 and the forged request (${spoofed.status}, then ${control.status}): not judged`, 'POST /'))
        return findings
      }
      findings.push(spoofed.status === 429
        ? pass(`a forged X-Forwarded-For (${forged}) is still limited`, 'POST /')
        : fail(`a forged X-Forwarded-For (${forged}) escaped the limit (${spoofed.status}): TRUST_PROXY trusts addresses it should not (set it to your proxy's address; a false alarm only if this scanner runs on an address TRUST_PROXY lists)`, about(ctx, spoofed, 'POST /', [])))
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-RATE-003',
    title: 'A key\'s own rate limit holds',
    cwe: 770,
    severity: 'medium',
    order: 91,
    budget: 12,
    needs: 'admin',
    fix: 'per-key limits (rateLimit, RATE_LIMIT_API_MAX) must be counted in the shared store',
    plan: ['mint a key with rateLimit 5; GET /api/v1/messages until 429 (at most 7)'],
    run: async (ctx) => {
      const key = await ctx.key(['messages:read'], 'rate', { rateLimit: 5 })
      return await spend(ctx, 'per-key limit', 'GET /api/v1/messages', () => ({ method: 'GET', path: '/api/v1/messages', headers: { 'x-api-key': key.key } }), async () => {}, 1, 'the key\'s rateLimit')
    }
  },
  {
    ...base,
    id: 'MSV-RATE-002',
    title: 'The anonymous read limit holds as advertised',
    cwe: 770,
    severity: 'medium',
    order: 92,
    budget: 320,
    fix: 'keep RATE_LIMIT_READ_MAX, one shared store for every instance, and TRUST_PROXY set to your proxy',
    plan: ['GET / (JSON, counted as a read) until 429: x-ratelimit-remaining + 1 reads (at most 317)', 'skip when the limit is above the budget'],
    run: async (ctx) => await spend(ctx, 'read limit', 'GET /', () => ({ method: 'GET', path: '/', headers: { accept: 'application/json' } }), async () => {}, 1, 'RATE_LIMIT_READ_MAX')
  },
  {
    ...base,
    id: 'MSV-RATE-004',
    title: '/health and /ready are never rate-limited',
    cwe: 770,
    severity: 'low',
    order: 93,
    budget: 6,
    source: 'routes/health.ts',
    fix: '/health and /ready must stay outside the rate limits (plugins/rate-limit.ts), so orchestrators never see a 429',
    plan: ['after the read limit is spent: GET /health and GET /ready three times each → 200 without x-ratelimit headers'],
    run: async (ctx) => {
      const findings: Finding[] = []
      for (const path of ['/health', '/ready']) {
        const answers: ScanResponse[] = []
        for (let i = 0; i < 3; i++) answers.push(await ctx.request({ method: 'GET', path, expectLimit: true }))
        const bad = answers.find((r) => r.status === 429 || r.headers['x-ratelimit-limit'] !== undefined)
        findings.push(bad === undefined
          ? pass(`${answers.map((r) => r.status).join(', ')}, no rate-limit headers`, `GET ${path}`)
          : fail(`${path} is rate-limited (${bad.status}, x-ratelimit-limit ${bad.headers['x-ratelimit-limit'] ?? 'absent'})`, { route: `GET ${path}`, evidence: headerEvidence(ctx, bad), curl: ctx.curl(bad.request) }))
      }
      return findings
    }
  }
]
