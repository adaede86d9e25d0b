// MSV-AUTH: API.md section 2, "missing or invalid credentials → 401 with WWW-Authenticate",
// on every protected route found in /docs/json. Failed authentications are counted by the
// target (AUTH_FAILURE_MAX per IP per 15 min), so each probe with a bad credential spends one
// unit of --auth-failures: first one probe per kind on one route, in order of danger; the
// rest of the budget spreads the kinds over the other routes. What the budget leaves
// untried is reported as skip, never as pass. A missing credential is not a failed
// authentication, so MSV-AUTH-001 covers every protected route whatever the budget.
import { createHmac } from 'node:crypto'
import { type Check, type Finding, fail, pass, Skip, skip } from '../check.js'
import type { ScanRequest, ScanResponse } from '../client.js'
import type { ScanContext } from '../context.js'
import { concretePath, type DiscoveredRoute } from '../discover.js'
import { about, fromMissive, headerEvidence, isChallenge, representativeRoute, routeOf } from './util.js'

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

/** A JWT from a header and claims, signed with HS256 and the key, or unsigned. */
export function craftJwt (header: Record<string, unknown>, claims: Record<string, unknown>, hmacKey?: string | Buffer): string {
  const input = `${b64(header)}.${b64(claims)}`
  if (hmacKey === undefined) return `${input}.`
  return `${input}.${createHmac('sha256', hmacKey).update(input).digest('base64url')}`
}

export function decodeJwt (token: string): { header: Record<string, unknown>, claims: Record<string, unknown>, signature: string } {
  const [h = '', c = '', s = ''] = token.split('.')
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), claims: JSON.parse(Buffer.from(c, 'base64url').toString()), signature: s }
}

/** The real token's header and signature around different claims: a tampered payload. */
function tamper (token: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [h = '', c = '', s = ''] = token.split('.')
  const claims = JSON.parse(Buffer.from(c, 'base64url').toString()) as Record<string, unknown>
  return `${h}.${b64(change({ ...claims }))}.${s}`
}

const protectedRoutes = (ctx: ScanContext): DiscoveredRoute[] => ctx.routes.filter((r) => r.auth !== null)

function probe (route: Pick<DiscoveredRoute, 'method' | 'path'> & { paramPatterns?: Record<string, string> }, headers: Record<string, string>): ScanRequest {
  const req: ScanRequest = { method: route.method, path: concretePath({ path: route.path, paramPatterns: route.paramPatterns ?? {} }), headers: { ...headers } }
  if (['POST', 'PUT', 'PATCH'].includes(route.method)) {
    req.headers = { ...req.headers, 'content-type': 'application/json' }
    req.body = '{}'
  }
  return req
}

/** A refused credential: 401 with a challenge; anything else is a bypass. */
function judge (ctx: ScanContext, label: string, res: ScanResponse): Finding {
  const route = routeOf(ctx, res)
  if (isChallenge(res)) return pass(`${label}: 401 with WWW-Authenticate`, route)
  // Refused before it reached Missive (a WAF's own page, no X-Request-Id): not a bypass.
  if (res.request.hostile === true && !fromMissive(res) && res.status >= 400 && res.status < 500 && res.status !== 429) return pass(`${label}: refused in front of the API (${res.status}, not Missive's answer)`, route)
  const why = res.status === 401 ? '401 without WWW-Authenticate' : res.status === 429 ? '429: rate limited, not judged' : `answered ${res.status}, not 401`
  if (res.status === 429) return skip(`${label}: ${why}`, route)
  return fail(`${label}: ${why}`, about(ctx, res, route))
}

interface Variant { label: string, headers: (ctx: ScanContext) => Promise<Record<string, string>> }

/**
 * Runs bad-credential variants: each once on the representative route (in the order given),
 * then over the other protected routes while the auth-failure budget lasts.
 */
async function counted (ctx: ScanContext, variants: Variant[], essential: number): Promise<Finding[]> {
  const findings: Finding[] = []
  const main = representativeRoute(ctx)
  const routes = protectedRoutes(ctx).filter((r) => r.auth !== 'api-key' && !(r.method === main.method && r.path === main.path))
  const untried: string[] = []
  const attempt = async (variant: Variant, route: Pick<DiscoveredRoute, 'method' | 'path'>, isEssential = false): Promise<void> => {
    if (!ctx.http.canAfford(2) || !ctx.spendAuthFailure(ctx.http.checkId, isEssential)) { untried.push(`${variant.label} on ${route.method} ${route.path}`); return }
    const headers = await variant.headers(ctx)
    // Forged and tampered tokens, and Basic values, carry parts of real secrets: mask them too.
    for (const value of Object.values(headers)) ctx.keep(value.replace(/^(Bearer|Basic|DPoP)\s+/i, ''))
    findings.push(judge(ctx, variant.label, await ctx.request({ ...probe(route, headers), hostile: true })))
  }
  for (const variant of variants.slice(0, essential)) await attempt(variant, main, true)
  for (const variant of variants.slice(essential)) await attempt(variant, main)
  for (const route of routes) for (const variant of variants) await attempt(variant, route)
  if (untried.length > 0) {
    findings.push(skip(`not tried, the --auth-failures budget (${ctx.options.authFailures}) is spent: ${untried.length} probe(s), e.g. ${untried.slice(0, 3).join('; ')}`))
  }
  return findings
}

/** A real token of the operator's key (to copy its claims), or null without a key. */
async function realToken (ctx: ScanContext): Promise<string | null> {
  if (ctx.operator === null) return null
  return await ctx.operatorToken()
}

/**
 * Claims a forger would write without a real token: the issuer is the target's base URL (the
 * contract's PUBLIC_URL), so a verifier that checks iss but not the signature is still caught.
 */
const syntheticClaims = (ctx: ScanContext): Record<string, unknown> => {
  const now = Math.floor(Date.now() / 1000)
  return { iss: `${ctx.options.url.origin}${ctx.options.url.pathname.replace(/\/+$/, '')}`, aud: 'missive-api', sub: 'aaaaaaaaaaaa', client_id: 'aaaaaaaaaaaa', scope: 'messages:read messages:write messages:delete keys:admin metrics:read security:admin', jti: 'missive-security', iat: now, exp: now + 600 }
}

async function claimsToForge (ctx: ScanContext): Promise<Record<string, unknown>> {
  const token = await realToken(ctx)
  if (token === null) return syntheticClaims(ctx)
  const claims = decodeJwt(token).claims
  return { ...claims, scope: syntheticClaims(ctx).scope }
}

const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

const base = { family: 'AUTH', owasp: 'API2:2023', profile: 'safe' as const, source: 'plugins/auth.ts' }

export const authChecks: Check[] = [
  {
    ...base,
    id: 'MSV-AUTH-001',
    title: 'Every protected route refuses a request without credentials',
    cwe: 306,
    severity: 'critical',
    order: 20,
    budget: 80,
    fix: 'every /api/v1 route and /metrics must authenticate (plugins/auth.ts); a proxy must not add credentials or answer for the API',
    plan: ['each protected route of /docs/json once without any credential → 401 + WWW-Authenticate', 'key-only routes with a Bearer token and Bearer-only routes with an API key (not counted as failed authentications) → 401'],
    run: async (ctx) => {
      const findings: Finding[] = []
      const routes = protectedRoutes(ctx)
      if (routes.length === 0) throw new Skip('no protected route found')
      for (const route of routes) {
        if (!ctx.http.canAfford(1)) { findings.push(skip('check budget spent', `${route.method} ${route.path}`)); continue }
        const f = judge(ctx, 'no credential', await ctx.request(probe(route, {})))
        const note = route.undocumented === true ? ' (/docs/json names no security for this route; the contract protects it)' : ''
        findings.push({ ...f, seen: `${f.seen}${note}`, route: `${route.method} ${route.path}` })
      }
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-003',
    title: 'Forged tokens refused: alg none, HS256 with an empty or guessed key',
    cwe: 347,
    severity: 'critical',
    order: 21,
    // every variant on every protected route: 36 of them with the webhook and receipt routes of issue 19
    budget: 320,
    authFailures: 2,
    fix: 'verify tokens with the server\'s own key and algorithm only; never accept alg none or a symmetric algorithm (plugins/auth.ts)',
    plan: ['GET /api/v1/messages with Bearer alg:none, alg:None, alg:NONE tokens, HS256 signed with "" and common secrets (each a counted failed authentication)', 'then the same over the other protected routes while --auth-failures lasts'],
    run: async (ctx) => {
      const claims = await claimsToForge(ctx)
      const none = (alg: string): Variant => ({ label: `alg ${alg}`, headers: async () => bearer(craftJwt({ alg, typ: 'JWT' }, claims)) })
      const hs = (label: string, key: string): Variant => ({ label, headers: async () => bearer(craftJwt({ alg: 'HS256', typ: 'JWT' }, claims, key)) })
      const variants: Variant[] = [none('none'), hs('HS256 with an empty key', ''), hs('HS256 with "secret"', 'secret'), none('None'), none('NONE'), hs('HS256 with "missive"', 'missive'), hs('HS256 with "changeme"', 'changeme')]
      // Key confusion: the published public key used as an HMAC secret.
      if (ctx.routes.some((r) => r.path === '/.well-known/jwks.json')) {
        variants.splice(2, 0, {
          label: 'HS256 with the JWKS public key as secret',
          headers: async () => {
            const jwks = await ctx.request({ method: 'GET', path: '/.well-known/jwks.json' })
            return bearer(craftJwt({ alg: 'HS256', typ: 'at+jwt' }, claims, jwks.text))
          }
        })
      }
      return await counted(ctx, variants, 2)
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-004',
    title: 'A real token with a tampered payload is refused (scope, iss, aud, exp, nbf)',
    cwe: 345,
    severity: 'critical',
    order: 22,
    budget: 100,
    authFailures: 1,
    fix: 'verify the token signature over the whole payload and check iss, aud, exp and nbf (plugins/auth.ts)',
    needs: 'api-key',
    plan: ['a token of the operator key, payload changed and signature kept: scope widened, wrong iss, wrong aud, exp in the past, nbf in the future (counted failed authentications)'],
    run: async (ctx) => {
      const token = await realToken(ctx)
      if (token === null) throw new Skip('needs --api-key')
      const now = Math.floor(Date.now() / 1000)
      const variant = (label: string, change: (c: Record<string, unknown>) => Record<string, unknown>): Variant => ({ label, headers: async () => bearer(tamper(token, change)) })
      // Black-box, without the signing key, a wrong iss/aud or a past exp can only be a changed
      // claim under the old signature; a truly expired token would take JWT_TTL_SECONDS to wait for.
      return await counted(ctx, [
        // every scope of the contract; for an operator key that has them all already, one more
        // (the payload must change, or the 'tampered' token is the real one)
        variant('scope widened', (c) => ({ ...c, scope: syntheticClaims(ctx).scope === c.scope ? `${String(c.scope)} admin` : syntheticClaims(ctx).scope })),
        variant('wrong iss', (c) => ({ ...c, iss: 'https://attacker.example' })),
        variant('wrong aud', (c) => ({ ...c, aud: 'another-api' })),
        variant('exp in the past', (c) => ({ ...c, exp: now - 3600 })),
        variant('nbf in the future', (c) => ({ ...c, nbf: now + 3600 }))
      ], 1)
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-007',
    title: 'A revoked key and its tokens are refused within 5 s',
    cwe: 613,
    severity: 'high',
    order: 23,
    budget: 30,
    authFailures: 2,
    needs: 'admin',
    fix: 'revocation must reach every instance within 5 s: one shared store (REDIS_URL / REDIS_CLUSTER_NODES) for all instances',
    plan: ['mint a messages:read key and a token for it, revoke the key (DELETE /api/v1/keys/:id)', 'then GET /api/v1/messages with the key every 500 ms until refused (≤ 5 s, several requests so every instance is hit), and with its token'],
    run: async (ctx) => {
      const key = await ctx.key(['messages:read'], 'revoked')
      const token = await ctx.token(key)
      const before = await ctx.request({ method: 'GET', path: '/api/v1/messages', headers: { 'x-api-key': key.key } })
      if (before.status !== 200) throw new Error(`the fresh key was refused before revocation (${before.status})`)
      const revoked = await ctx.request({ method: 'DELETE', path: `/api/v1/keys/${key.id ?? ''}`, headers: { 'x-api-key': ctx.operator?.key ?? '' } })
      if (revoked.status !== 204) throw new Error(`revoking the key answered ${revoked.status}`)
      ctx.ledger.settle((e) => (e.kind === 'key' && e.id === key.id) || (e.kind === 'token' && e.token === token))
      // Until every instance has seen the revocation (5 s), the key may still work there: poll,
      // and give back the failure unit of any answer that was not a refusal (the target counts
      // only refusals). The first refusal of each credential comes from this check's
      // reservation; two more in a row (every instance behind a balancer) from what is left.
      const poll = async (label: string, headers: Record<string, string>): Promise<Finding> => {
        const started = Date.now()
        let refusedAt: number | null = null
        let confirmations = 0
        let last: ScanResponse | null = null
        while (Date.now() - started <= 5500 && confirmations < 3) {
          const essential = confirmations === 0
          if (!ctx.spendAuthFailure(ctx.http.checkId, essential)) break
          last = await ctx.request({ method: 'GET', path: '/api/v1/messages', headers })
          if (isChallenge(last)) { refusedAt ??= Date.now(); confirmations++ } else {
            ctx.refundAuthFailure(ctx.http.checkId, essential)
            refusedAt = null
            confirmations = 0
            await ctx.sleep(500)
          }
        }
        if (last === null) return skip(`${label}: not tried, the --auth-failures budget is spent`)
        if (confirmations === 0) {
          return fail(`${label} still worked ${Math.round((Date.now() - started) / 1000)} s after the revocation (${last.status})`, about(ctx, last, 'GET /api/v1/messages'))
        }
        return pass(`${label} was refused ${Math.max(0, (refusedAt ?? started) - started)} ms after the revocation (${confirmations} refusal(s) in a row${confirmations < 3 ? '; more need a larger --auth-failures' : ''})`, 'GET /api/v1/messages')
      }
      const findings: Finding[] = [
        await poll('the revoked key', { 'x-api-key': key.key }),
        await poll('a token of the revoked key', bearer(token))
      ]
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-006',
    title: 'A revoked token is refused',
    cwe: 613,
    severity: 'high',
    order: 24,
    budget: 10,
    authFailures: 1,
    needs: 'api-key',
    fix: 'POST /api/v1/auth/revoke must deny the token on every instance (one shared store)',
    plan: ['POST /api/v1/auth/token, POST /api/v1/auth/revoke, then GET /api/v1/messages with that token (a counted failed authentication)'],
    run: async (ctx) => {
      const token = await ctx.token(ctx.requireApiKey())
      const revoke = await ctx.request({ method: 'POST', path: '/api/v1/auth/revoke', headers: bearer(token) })
      if (revoke.status !== 204 && revoke.status !== 200) throw new Error(`POST /api/v1/auth/revoke answered ${revoke.status}`)
      ctx.ledger.settle((e) => e.kind === 'token' && e.token === token)
      if (!ctx.spendAuthFailure(ctx.http.checkId, true)) return [skip('the --auth-failures budget is spent')]
      return [judge(ctx, 'revoked token', await ctx.request({ method: 'GET', path: '/api/v1/messages', headers: bearer(token) }))]
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-002',
    title: 'Malformed credentials refused: empty and garbage Bearer, Basic, both at once',
    cwe: 287,
    severity: 'high',
    order: 25,
    budget: 80,
    authFailures: 2,
    fix: 'accept exactly one credential: X-API-Key or Authorization: Bearer (plugins/auth.ts)',
    plan: ['GET /api/v1/messages with "Bearer ", "Bearer garbage", "Basic …", and a valid key plus a valid token together (counted failed authentications)'],
    run: async (ctx) => {
      const variants: Variant[] = [
        { label: 'garbage Bearer', headers: async () => bearer('not.a.jwt') }
      ]
      const operator = ctx.operator
      if (operator !== null) variants.push({ label: 'API key and Bearer token together', headers: async () => ({ 'x-api-key': operator.key, ...bearer(await ctx.operatorToken()) }) })
      variants.push(
        { label: 'empty Bearer', headers: async () => ({ authorization: 'Bearer ' }) },
        { label: 'Basic', headers: async () => ({ authorization: `Basic ${Buffer.from(`${operator?.key ?? 'missive'}:`).toString('base64')}` }) }
      )
      return await counted(ctx, variants, 2)
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-005',
    title: 'A credential on a route that does not take it is refused',
    cwe: 287,
    severity: 'high',
    order: 26,
    budget: 10,
    needs: 'api-key',
    fix: 'POST /api/v1/auth/token takes an API key only, POST /api/v1/auth/revoke a Bearer token only (plugins/auth.ts)',
    plan: ['POST /api/v1/auth/token with a Bearer token and POST /api/v1/auth/revoke with an API key → 401'],
    run: async (ctx) => {
      const findings: Finding[] = []
      const operator = ctx.requireApiKey()
      for (const route of protectedRoutes(ctx)) {
        if (route.auth === 'api-key') {
          findings.push({ ...judge(ctx, 'a Bearer token on a key-only route', await ctx.request(probe(route, bearer(await ctx.operatorToken())))), route: `${route.method} ${route.path}` })
        } else if (route.auth === 'bearer') {
          findings.push({ ...judge(ctx, 'an API key on a token-only route', await ctx.request(probe(route, { 'x-api-key': operator.key }))), route: `${route.method} ${route.path}` })
        }
      }
      if (findings.length === 0) throw new Skip('no key-only or token-only route found')
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-008',
    title: 'Every 401 has WWW-Authenticate and the same body',
    cwe: 204,
    severity: 'medium',
    order: 82,
    budget: 0,
    fix: 'answer every authentication failure with the one uniform 401 (plugins/auth.ts); never say which part was wrong',
    plan: ['no request of its own: judges every 401 of the run'],
    run: async () => [],
    finalize: (ctx) => {
      const all = ctx.observed.filter((r) => r.status === 401 && !r.request.path.startsWith('/oauth/') && r.request.method !== 'HEAD')
      if (all.length === 0) return [skip('no 401 was seen')]
      const findings: Finding[] = []
      const bare = all.find((r) => !isChallenge(r))
      if (bare !== undefined) findings.push(fail('a 401 without WWW-Authenticate', { evidence: headerEvidence(ctx, bare), curl: ctx.curl(bare.request) }))
      const bodies = new Map<string, ScanResponse>()
      for (const r of all) if (!bodies.has(r.text)) bodies.set(r.text, r)
      if (bodies.size > 1) {
        findings.push(fail(`${bodies.size} different 401 bodies: the answer tells the kinds of failure apart`, {
          evidence: ctx.redact([...bodies.values()].slice(0, 4).map((r) => `${r.request.method} ${r.request.path}: ${r.text}`).join('\n'))
        }))
      }
      return findings.length > 0 ? findings : [pass(`${all.length} 401s, one body, each with WWW-Authenticate`)]
    }
  },
  {
    ...base,
    id: 'MSV-AUTH-009',
    title: 'Repeated failed authentications lock the address out, valid key included',
    cwe: 307,
    severity: 'high',
    profile: 'full',
    order: 99,
    budget: 60,
    needs: 'api-key',
    fix: 'keep AUTH_FAILURE_MAX (default 10) and one shared store, so every instance counts the failures of an address together',
    plan: ['last, after cleanup: garbage Bearer tokens until 429 (at most 50), then the operator key → 429 with Retry-After', 'locks this address out of the target for up to 15 minutes'],
    run: async (ctx) => {
      const operator = ctx.requireApiKey()
      let locked: ScanResponse | null = null
      for (let i = 0; i < 50 && locked === null; i++) {
        const res = await ctx.request({ method: 'GET', path: '/api/v1/messages', headers: bearer(`not.a.jwt.${i}`), expectLimit: true })
        if (res.status === 429) locked = res
      }
      if (locked === null) return [skip('no lockout after 50 failed authentications (AUTH_FAILURE_MAX above the check budget)')]
      const valid = await ctx.request({ method: 'GET', path: '/api/v1/messages', headers: { 'x-api-key': operator.key }, expectLimit: true })
      if (valid.status === 429 && valid.headers['retry-after'] !== undefined) return [pass(`locked out after the failures; the valid key gets 429, Retry-After ${valid.headers['retry-after']} s`, 'GET /api/v1/messages')]
      return [fail(`after the lockout a valid key got ${valid.status}${valid.headers['retry-after'] === undefined ? ' without Retry-After' : ''}`, about(ctx, valid, 'GET /api/v1/messages', []))]
    }
  }
]
