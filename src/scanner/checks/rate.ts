// MSV-RATE: API.md section 4, "rate limits answer 429 with Retry-After and x-ratelimit-*".
// Each check reads the advertised limit, spends what remains plus one, and expects the 429;
// when the limit is above the check's budget it is a skip that says so, never a pass. They
// run after the cleanup checkpoint (the runner undoes everything first), since they leave
// this address without anonymous budget for the rest of the window.
import { type Check, type Finding, fail, pass, skip } from '../check.js'
import type { ScanRequest, ScanResponse } from '../client.js'
import type { ScanContext } from '../context.js'
import { headerEvidence } from './util.js'

const RATE_HEADERS = ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset']

function missingHeaders (res: ScanResponse): string[] {
  return RATE_HEADERS.filter((h) => !/^\d+$/.test(res.headers[h] ?? ''))
}

/**
 * Sends `make()` until a 429, at most `remaining + 1` times after the first answer.
 * `cost` requests are needed per attempt (a create and its delete).
 */
async function spend (ctx: ScanContext, label: string, route: string, make: () => ScanRequest, after: (res: ScanResponse) => Promise<void>, cost: number, knob: string): Promise<Finding[]> {
  const first = await ctx.request({ ...make(), expectLimit: true })
  await after(first)
  const missing = missingHeaders(first)
  if (first.status === 429) return [skip(`${label}: already limited when the check began (run it alone: --only RATE)`, route)]
  if (missing.length > 0) return [fail(`${label}: an allowed answer lacks ${missing.join(', ')}`, { route, evidence: headerEvidence(ctx, first), curl: ctx.curl(first.request) })]
  const limit = Number(first.headers['x-ratelimit-limit'])
  const remaining = Number(first.headers['x-ratelimit-remaining'])
  if (!ctx.http.canAfford((remaining + 1) * cost)) {
    return [skip(`${label}: the limit (${limit}, ${remaining} remaining) is above this check's budget; not tested (${knob})`, route)]
  }
  let last: ScanResponse = first
  for (let i = 0; i <= remaining && last.status !== 429; i++) {
    last = await ctx.request({ ...make(), expectLimit: true })
    await after(last)
  }
  if (last.status !== 429) {
    return [fail(`${label}: ${remaining + 1} requests past the advertised remaining ${remaining} and still no 429 (${last.status})`, { route, evidence: headerEvidence(ctx, last), curl: ctx.curl(last.request) })]
  }
  const problems = [...missingHeaders(last), ...(/^\d+$/.test(last.headers['retry-after'] ?? '') ? [] : ['retry-after'])]
  if (problems.length > 0) return [fail(`${label}: the 429 lacks ${problems.join(', ')}`, { route, evidence: headerEvidence(ctx, last), curl: ctx.curl(last.request) })]
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
    plan: ['POST / (ttl 60) until 429: x-ratelimit-remaining + 1 creates, each deleted at once', 'expects 429 with Retry-After and x-ratelimit-*; skip when the limit is above the budget'],
    run: async (ctx) => await spend(ctx, 'create limit', 'POST /',
      () => ({ method: 'POST', path: '/', creates: true, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'missive-security rate', ttl: 60, maxViews: 1 }) }),
      async (res) => {
        if (res.status !== 201) return
        const message = ctx.recordCreated(res, {}, null)
        const del = await ctx.request({ method: 'DELETE', path: `/msg/${message.id}`, headers: { 'x-delete-token': message.deleteToken } })
        if (del.status === 204) ctx.ledger.settle((e) => e.kind === 'message' && e.id === message.id)
      }, 2, 'RATE_LIMIT_CREATE_MAX')
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
    plan: ['GET /msg/:id of a random id until 429: x-ratelimit-remaining + 1 reads (at most 319)', 'skip when the limit is above the budget'],
    run: async (ctx) => await spend(ctx, 'read limit', 'GET /msg/{id}', () => ({ method: 'GET', path: '/msg/AAAAAAAAAAAAAAAAAAAAAA', headers: { accept: 'application/json' } }), async () => {}, 1, 'RATE_LIMIT_READ_MAX')
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
