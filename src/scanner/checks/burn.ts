// MSV-BURN: API.md section 1, "returned by exactly N successful reads, even when many readers
// race"; HTML navigation and HEAD never consume a view; a read token gates reads; expiry.
import { type Check, type Finding, fail, pass, Skip, skip } from '../check.js'
import type { ScanResponse } from '../client.js'
import type { RunKey, ScanContext } from '../context.js'
import { bodyEvidence } from './util.js'

/** Through the API when the run has a writer key (the anonymous create budget is small), else anonymously. */
export async function writer (ctx: ScanContext): Promise<RunKey | null> {
  const operator = ctx.operator
  if (operator === null) return null
  if (ctx.isAdmin) return await ctx.key(['messages:read', 'messages:write', 'messages:delete'], 'owner-a')
  return operator.scopes.includes('messages:write') ? operator : null
}

const read = (ctx: ScanContext, id: string, headers: Record<string, string> = {}): Promise<ScanResponse> =>
  ctx.request({ method: 'GET', path: `/msg/${id}`, headers: { accept: 'application/json', ...headers } })

export const RACE_VIEWS = 3
export const RACE_READERS = 10

/** K readers at once on a maxViews N message: exactly N × 200, remainingViews N-1 … 0 once each, then 404. */
async function race (ctx: ScanContext, via: RunKey | null, path: (id: string) => string, headers: Record<string, string>, route: string): Promise<Finding> {
  const message = await ctx.createMessage({ content: 'missive-security race', maxViews: RACE_VIEWS }, via)
  const request = { method: 'GET', path: path(message.id), headers: { accept: 'application/json', ...headers } }
  const answers = await ctx.http.burst(Array.from({ length: RACE_READERS }, () => request))
  const after = await ctx.request(request)
  const ok = answers.filter((r) => r.status === 200)
  const remaining = ok.map((r) => (r.json as { remainingViews?: unknown } | undefined)?.remainingViews).sort()
  const expected = Array.from({ length: RACE_VIEWS }, (_, i) => i)
  const others = answers.filter((r) => r.status !== 200 && r.status !== 404)
  if (others.length > 0) return { status: 'error', seen: `readers got ${others.map((r) => r.status).join(', ')} (rate limited?)`, route }
  const summary = `${ok.length} × 200 (remainingViews ${remaining.join(', ')}), ${answers.length - ok.length} × 404, then ${after.status}`
  if (ok.length === RACE_VIEWS && JSON.stringify(remaining) === JSON.stringify(expected) && after.status === 404) return pass(summary, route)
  return fail(`expected exactly ${RACE_VIEWS} views: ${summary}`, { route, evidence: answers.map((r) => `${r.status} ${ctx.redact(r.text.slice(0, 120))}`).join('\n'), curl: ctx.curl(request) })
}

/** Remembered by BURN-004 for ORACLE-001 (full profile): the 404 of an expired message. */
export const expiredAnswers = new WeakMap<ScanContext, ScanResponse>()

const base = { family: 'BURN', owasp: 'API6:2023', profile: 'safe' as const, source: 'routes/public.ts' }

export const burnChecks: Check[] = [
  {
    ...base,
    id: 'MSV-BURN-001',
    title: `Burn after reading holds under a race (${RACE_READERS} readers, ${RACE_VIEWS} views)`,
    cwe: 362,
    severity: 'high',
    order: 40,
    budget: 36,
    fix: 'the view count must be taken in one atomic step in the store (one Redis, or the Cluster with hash tags); never read then delete',
    plan: [`create a message with maxViews ${RACE_VIEWS}`, `${RACE_READERS} GET /msg/:id (and, with a key, GET /api/v1/messages/:id) at once → exactly ${RACE_VIEWS} × 200 with remainingViews ${RACE_VIEWS - 1}…0 once each, the rest 404`, 'one more read → 404'],
    run: async (ctx) => {
      const via = await writer(ctx)
      const findings = [await race(ctx, via, (id) => `/msg/${id}`, {}, 'GET /msg/{id}')]
      // The API read counts views the same way (API.md section 2): race it too when the run has a reader key.
      if (via?.scopes.includes('messages:read') === true) findings.push(await race(ctx, via, (id) => `/api/v1/messages/${id}`, { 'x-api-key': via.key }, 'GET /api/v1/messages/{id}'))
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-BURN-002',
    title: 'HTML navigation and HEAD never consume a view',
    cwe: 840,
    severity: 'high',
    order: 41,
    budget: 10,
    fix: 'a read for Accept: text/html must serve the page without counting a view; HEAD must not count either (routes/public.ts)',
    plan: ['create a message with maxViews 1', 'GET /msg/:id as a browser (Accept: text/html) twice, HEAD /msg/:id', 'GET /msg/:id as JSON → 200 with remainingViews 0 and the content'],
    run: async (ctx) => {
      const message = await ctx.createMessage({ content: 'missive-security preview', maxViews: 1 }, await writer(ctx))
      const browser = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }
      await ctx.request({ method: 'GET', path: `/msg/${message.id}`, headers: browser })
      await ctx.request({ method: 'GET', path: `/msg/${message.id}`, headers: browser })
      await ctx.request({ method: 'HEAD', path: `/msg/${message.id}`, headers: { accept: 'application/json' } })
      const res = await read(ctx, message.id)
      const body = res.json as { content?: unknown, remainingViews?: unknown } | undefined
      if (res.status === 200 && body?.content === 'missive-security preview' && body.remainingViews === 0) return [pass('two HTML navigations and a HEAD left the one view for the reader', 'GET /msg/{id}')]
      return [fail(`after two HTML navigations and a HEAD the reader got ${res.status}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, res), curl: ctx.curl({ method: 'GET', path: `/msg/${message.id}`, headers: browser }) })]
    }
  },
  {
    ...base,
    id: 'MSV-BURN-003',
    title: 'A read token gates reads; a missing or wrong one consumes no view',
    cwe: 639,
    severity: 'high',
    order: 42,
    budget: 10,
    fix: 'check X-Read-Token inside the atomic consume step; a wrong or missing token is the uniform 404 and counts no view',
    plan: ['create a message with maxViews 1 and a readToken (skip when the target does not support readToken)', 'GET /msg/:id without it and with a wrong one → 404', 'with it → 200, remainingViews 0'],
    run: async (ctx) => {
      const readToken = 'missive-security-read-token-0123456789'
      const via = await writer(ctx)
      const res = await ctx.request({
        method: 'POST',
        path: via === null ? '/' : '/api/v1/messages',
        creates: true,
        headers: { 'content-type': 'application/json', ...(via === null ? {} : { 'x-api-key': via.key }) },
        body: JSON.stringify({ content: 'missive-security gated', maxViews: 1, ttl: 300, readToken })
      })
      if (res.status === 400) throw new Skip('the target does not support readToken (400 for the property)')
      const message = ctx.recordCreated(res, {}, via)
      ctx.keep(readToken)
      const findings: Finding[] = []
      for (const [label, headers] of [['no read token', {}], ['a wrong read token', { 'x-read-token': 'missive-security-wrong-token-000000000' }]] as const) {
        const r = await read(ctx, message.id, headers)
        findings.push(r.status === 404 ? pass(`${label}: 404`, 'GET /msg/{id}') : fail(`${label}: ${r.status}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, r), curl: ctx.curl(r.request) }))
      }
      const ok = await read(ctx, message.id, { 'x-read-token': readToken })
      const views = (ok.json as { remainingViews?: unknown } | undefined)?.remainingViews
      findings.push(ok.status === 200 && views === 0
        ? pass('the right token still had the one view', 'GET /msg/{id}')
        : fail(`with the right token after two refused reads: ${ok.status}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, ok) }))
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-BURN-004',
    title: 'An expired message is gone',
    cwe: 613,
    severity: 'medium',
    profile: 'full',
    order: 43,
    budget: 6,
    fix: 'expiry must be kept by the store (a TTL on the key), not by a sweeper that may lag',
    plan: ['create a message with ttl 60, wait until its expiresAt has passed (about 62 s), GET /msg/:id → 404'],
    run: async (ctx) => {
      const message = await ctx.createMessage({ content: 'missive-security expiry', ttl: 60 }, await writer(ctx))
      const expiresAt = Date.parse(String(message.response.expiresAt))
      if (Number.isNaN(expiresAt)) throw new Error('the create answer has no expiresAt')
      await ctx.sleep(Math.max(0, expiresAt - Date.now()) + 2000)
      const res = await read(ctx, message.id)
      if (res.status === 404) { expiredAnswers.set(ctx, res); return [pass('404 two seconds after expiresAt', 'GET /msg/{id}')] }
      return [res.status === 429 ? skip('rate limited') : fail(`read after expiresAt answered ${res.status}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, res) })]
    }
  }
]
