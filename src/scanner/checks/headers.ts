// MSV-HDR: API.md section 4, "headers on every response (errors included)", judged on every
// kind of response the run saw, not on one URL. The active part provokes the kinds no other
// check makes; the verdicts come after every check ran (429s come from the rate checks).
import { type Check, type Finding, fail, pass } from '../check.js'
import type { ScanResponse } from '../client.js'
import { randomMessageId, type ScanContext } from '../context.js'
import { headerEvidence, judged, jsonBody, routeOf } from './util.js'

const SOURCE = 'plugins/security-headers.ts'
const EXPECTED_KINDS = ['200 JSON', '201', '204', '400', '401', '403', '404', '405', '413', '415', '429', 'text/plain read', 'HTML page', '/docs', '/metrics']

/** The kinds a response belongs to (a 200 text/plain read is both "200 …" and "text/plain read"). */
export function kindsOf (res: ScanResponse): string[] {
  const kinds: string[] = []
  const type = res.headers['content-type'] ?? ''
  const path = res.request.path.split('?')[0] ?? ''
  if (res.status === 200 && /json/.test(type)) kinds.push('200 JSON')
  else kinds.push(String(res.status))
  if (res.status === 200 && /^text\/plain/.test(type) && path.startsWith('/msg/')) kinds.push('text/plain read')
  if (/^text\/html/.test(type)) kinds.push('HTML page')
  if (path.startsWith('/docs')) kinds.push('/docs')
  if (path === '/metrics') kinds.push('/metrics')
  if (path.startsWith('/.well-known/')) kinds.push('well-known')
  if (path.startsWith('/oauth/')) kinds.push('OAuth')
  return kinds
}

/** Every response of the run, except raw TLS probes (there are none in observed) and HEAD bodies. */
const responses = (ctx: ScanContext): ScanResponse[] => ctx.observed.filter(judged)

const everything = (): boolean => true
/** The headers these checks judge: the evidence shows these, not the whole answer. */
const JUDGED = ['content-type', 'content-security-policy', 'strict-transport-security', 'x-content-type-options', 'x-frame-options', 'referrer-policy',
  'cross-origin-opener-policy', 'cross-origin-resource-policy', 'x-powered-by', 'server', 'cache-control']

function judge (ctx: ScanContext, verdict: (res: ScanResponse) => string | null, only: (res: ScanResponse) => boolean = everything, shown: string[] = JUDGED): Finding[] {
  const seen = responses(ctx).filter(only)
  const failures = new Map<string, { res: ScanResponse, why: string, count: number }>()
  for (const res of seen) {
    const why = verdict(res)
    if (why === null) continue
    const route = `${routeOf(ctx, res)} → ${res.status}`
    const known = failures.get(route)
    if (known === undefined) failures.set(route, { res, why, count: 1 })
    else known.count++
  }
  const kinds = new Set(seen.flatMap(kindsOf))
  const missing = only === everything ? EXPECTED_KINDS.filter((k) => !kinds.has(k)) : []
  if (failures.size === 0) {
    const judged = pass(`${seen.length} responses of ${kinds.size} kinds (${[...kinds].join(', ')})`)
    return missing.length > 0 ? [judged, { status: 'skip', seen: `not seen, so not judged: ${missing.join(', ')}` }] : [judged]
  }
  return [...failures.entries()].map(([route, { res, why, count }]) => fail(`${why} (${count} response${count > 1 ? 's' : ''}, ${kindsOf(res).join(', ')})`, {
    route: routeOf(ctx, res),
    evidence: headerEvidence(ctx, res, shown),
    curl: ctx.curl(res.request)
  }))
}

/** The directive of a CSP header, or null. */
function directive (csp: string, name: string): string | null {
  for (const part of csp.split(';')) {
    const [key, ...values] = part.trim().split(/\s+/)
    if (key?.toLowerCase() === name) return values.join(' ')
  }
  return null
}

function cspVerdict (res: ScanResponse): string | null {
  const csp = res.headers['content-security-policy']
  if (csp === undefined) return 'no Content-Security-Policy'
  const script = directive(csp, 'script-src') ?? directive(csp, 'default-src')
  if (script === null) return 'the CSP restricts no scripts (no script-src, no default-src)'
  // CSP3: 'unsafe-inline' is ignored by browsers when a nonce or a hash is present.
  if (/'unsafe-inline'/i.test(script) && !/'(nonce-|sha256-|sha384-|sha512-)/i.test(script)) return `script-src allows 'unsafe-inline': ${script}`
  return null
}

/** Requests no other check makes, so every kind of response is seen at least once. */
async function provokeKinds (ctx: ScanContext): Promise<void> {
  const get = async (path: string, headers: Record<string, string> = {}): Promise<void> => { await ctx.request({ method: 'GET', path, headers }) }
  // Every open GET route without parameters (/, /health, /ready, /docs, assets, well-known…).
  for (const route of ctx.routes.filter((r) => r.method === 'GET' && r.auth === null && !r.path.includes('{'))) {
    if (route.path !== '/docs/json') await get(route.path)
  }
  await get('/', { accept: 'text/html' })
  await get('/docs', { accept: 'text/html' })
  await get(`/msg/${randomMessageId()}`)
  await get(`/msg/${randomMessageId()}`, { accept: 'text/html' })
  await ctx.request({ method: 'PUT', path: `/msg/${randomMessageId()}` })
  await get('/missive-security-not-a-route')
  const operator = ctx.operator
  const metrics = ctx.routes.find((r) => r.path === '/metrics')
  if (metrics !== undefined) await get('/metrics', operator?.scopes.includes('metrics:read') === true ? { 'x-api-key': operator.key } : {})
  await get('/api/v1/keys')
  if (operator !== null) {
    // 415 through the API (the anonymous create budget is small); 403 with a key lacking the scope.
    await ctx.request({ method: 'POST', path: '/api/v1/messages', headers: { 'x-api-key': operator.key, 'content-type': 'text/xml' }, body: '<x/>' })
    const narrow = ctx.isAdmin ? await ctx.key(['metrics:read'], 'headers') : null
    if (narrow !== null) await get('/api/v1/keys', { 'x-api-key': narrow.key })
  } else {
    await ctx.request({ method: 'POST', path: '/', ...jsonBody({}), headers: { 'content-type': 'text/xml' } })
  }
}

const memo = new WeakMap<ScanContext, Promise<void>>()
async function provokeOnce (ctx: ScanContext): Promise<Finding[]> {
  let pending = memo.get(ctx)
  if (pending === undefined) {
    pending = provokeKinds(ctx)
    memo.set(ctx, pending)
  }
  await pending
  return []
}

const base = {
  family: 'HDR',
  owasp: 'API8:2023',
  profile: 'safe' as const,
  order: 80,
  source: SOURCE,
  run: provokeOnce
}
const PLAN = ['GET every open route without parameters, / and /docs as HTML, a 404, a 405, a 401, a 403 and a 415', 'then judges every response of the run (no request of its own)']

export const headerChecks: Check[] = [
  {
    ...base,
    id: 'MSV-HDR-001',
    title: 'Content-Security-Policy without script unsafe-inline on every response',
    cwe: 1021,
    severity: 'medium',
    budget: 30,
    fix: 'send the security headers on every response (plugins/security-headers.ts); a proxy must not strip or replace Content-Security-Policy',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, cspVerdict, everything, ['content-security-policy'])
  },
  {
    ...base,
    id: 'MSV-HDR-002',
    title: 'Strict-Transport-Security on every response',
    cwe: 319,
    severity: 'medium',
    budget: 30,
    fix: 'keep Strict-Transport-Security (max-age ≥ 15552000) on every response, at the proxy too',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => {
      const hsts = res.headers['strict-transport-security']
      if (hsts === undefined) return 'no Strict-Transport-Security'
      const maxAge = /max-age=(\d+)/i.exec(hsts)
      if (maxAge === null) return `Strict-Transport-Security without max-age: ${hsts}`
      if (ctx.options.url.protocol === 'https:' && Number(maxAge[1]) < 15_552_000) return `HSTS max-age ${maxAge[1]} is under 180 days`
      return null
    }, everything, ['strict-transport-security'])
  },
  {
    ...base,
    id: 'MSV-HDR-003',
    title: 'X-Content-Type-Options: nosniff on every response',
    cwe: 693,
    severity: 'medium',
    budget: 30,
    fix: 'send X-Content-Type-Options: nosniff on every response (plugins/security-headers.ts, and the proxy)',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => (res.headers['x-content-type-options'] ?? '').trim().toLowerCase() === 'nosniff' ? null : `X-Content-Type-Options is ${res.headers['x-content-type-options'] ?? 'missing'}`, everything, ['x-content-type-options'])
  },
  {
    ...base,
    id: 'MSV-HDR-004',
    title: "Framing refused: frame-ancestors 'none' or X-Frame-Options: DENY",
    cwe: 1021,
    severity: 'medium',
    budget: 30,
    fix: "send CSP frame-ancestors 'none' (or X-Frame-Options: DENY) on every response",
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => {
      const ancestors = directive(res.headers['content-security-policy'] ?? '', 'frame-ancestors')
      if (ancestors !== null && ancestors.trim().toLowerCase() === "'none'") return null
      if ((res.headers['x-frame-options'] ?? '').trim().toUpperCase() === 'DENY') return null
      return `framing is not refused (frame-ancestors ${ancestors ?? 'absent'}, X-Frame-Options ${res.headers['x-frame-options'] ?? 'absent'})`
    }, everything, ['content-security-policy', 'x-frame-options'])
  },
  {
    ...base,
    id: 'MSV-HDR-005',
    title: 'Referrer-Policy: no-referrer (message URLs never leak through Referer)',
    cwe: 200,
    severity: 'medium',
    budget: 30,
    fix: 'send Referrer-Policy: no-referrer on every response; a proxy must not override it',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => {
      const policies = (res.headers['referrer-policy'] ?? '').split(',').map((p) => p.trim().toLowerCase()).filter(Boolean)
      // Browsers apply the last policy they understand.
      return policies.at(-1) === 'no-referrer' ? null : `Referrer-Policy is ${res.headers['referrer-policy'] ?? 'missing'}`
    }, everything, ['referrer-policy'])
  },
  {
    ...base,
    id: 'MSV-HDR-006',
    title: 'Cross-Origin-Opener-Policy on every response',
    cwe: 1021,
    severity: 'low',
    budget: 30,
    fix: 'send Cross-Origin-Opener-Policy: same-origin on every response',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => res.headers['cross-origin-opener-policy'] === undefined ? 'no Cross-Origin-Opener-Policy' : null, everything, ['cross-origin-opener-policy'])
  },
  {
    ...base,
    id: 'MSV-HDR-007',
    title: 'Cross-Origin-Resource-Policy on every response',
    cwe: 1021,
    severity: 'low',
    budget: 30,
    fix: 'send Cross-Origin-Resource-Policy: same-origin on every response',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => res.headers['cross-origin-resource-policy'] === undefined ? 'no Cross-Origin-Resource-Policy' : null, everything, ['cross-origin-resource-policy'])
  },
  {
    ...base,
    id: 'MSV-HDR-008',
    title: 'No X-Powered-By, no Server version',
    cwe: 200,
    severity: 'low',
    budget: 30,
    fix: 'remove X-Powered-By and the Server version at the proxy (nginx: server_tokens off)',
    plan: PLAN,
    finalize: (ctx) => judge(ctx, (res) => {
      if (res.headers['x-powered-by'] !== undefined) return `X-Powered-By: ${res.headers['x-powered-by']}`
      const server = res.headers.server
      if (server !== undefined && /\d/.test(server)) return `Server: ${server} names a version`
      return null
    }, everything, ['x-powered-by', 'server'])
  },
  {
    ...base,
    id: 'MSV-HDR-009',
    title: 'Cache-Control: no-store on every message read',
    cwe: 524,
    severity: 'high',
    budget: 30,
    fix: 'every message read must carry Cache-Control: no-store; a proxy or CDN must not cache /msg/* or /api/v1/messages/*',
    plan: ['judges every message read of the run (JSON, text/plain, HTML, API), no request of its own'],
    finalize: (ctx) => {
      const reads = (res: ScanResponse): boolean => res.request.method === 'GET' && res.status === 200 && /^\/(msg|api\/v1\/messages)\/[^/?]+$/.test(res.request.path.split('?')[0] ?? '')
      if (!responses(ctx).some(reads)) return [{ status: 'skip', seen: 'no message was read during the run' }]
      return judge(ctx, (res) => /(^|,)\s*no-store\s*(,|$)/i.test(res.headers['cache-control'] ?? '') ? null : `Cache-Control is ${res.headers['cache-control'] ?? 'missing'}`, reads, ['cache-control', 'content-type'])
    }
  }
]
