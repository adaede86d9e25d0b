// MSV-CORS: API.md section 4: only origins listed in CORS_ORIGINS get any
// Access-Control-Allow-* header (preflight or not), never "*" with credentials, Vary: Origin
// where the answer varies by origin. Look-alikes of an allowed origin (--allowed-origin) are
// the ones a reflecting or regex-based configuration lets through.
import { type Check, type Finding, fail, pass, skip } from '../check.js'
import type { ScanResponse } from '../client.js'
import { randomMessageId, type ScanContext } from '../context.js'
import { headerEvidence } from './util.js'

/** Origins that must never be allowed, derived from the allowed ones. */
export function hostileOrigins (allowed: readonly string[]): string[] {
  const out = ['https://evil.example', 'null', 'http://localhost:1', 'https://missive-security.invalid']
  for (const origin of allowed) {
    const u = new URL(origin)
    const host = u.hostname
    out.push(
      `${u.protocol}//${host}.evil.example${u.port === '' ? '' : `:${u.port}`}`, // suffix
      `${u.protocol}//evil${host}${u.port === '' ? '' : `:${u.port}`}`, // prefix
      `${u.protocol}//evil.${host}${u.port === '' ? '' : `:${u.port}`}`, // subdomain
      `${u.protocol === 'https:' ? 'http:' : 'https:'}//${u.host}`, // other scheme
      `${u.protocol}//${host}:${u.port === '8443' ? '8444' : '8443'}`, // other port
      `${u.protocol}//${host.replace(/\./g, '-')}.evil.example` // dots replaced (unescaped regex)
    )
  }
  return [...new Set(out)].filter((o) => !allowed.includes(o))
}

const CORS_HEADERS = ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-methods', 'access-control-allow-headers', 'vary']
const allowHeaders = (res: ScanResponse): string[] => Object.keys(res.headers).filter((h) => h.startsWith('access-control-allow-'))
const PATHS = (): string[] => ['/', `/msg/${randomMessageId()}`, '/api/v1/messages']

async function preflight (ctx: ScanContext, path: string, origin: string): Promise<ScanResponse> {
  return await ctx.request({ method: 'OPTIONS', path, headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, x-api-key' } })
}

const memo = new WeakMap<ScanContext, ScanResponse[]>()

export const corsChecks: Check[] = [
  {
    id: 'MSV-CORS-001',
    family: 'CORS',
    title: 'Foreign, null and look-alike origins get no Access-Control-Allow-* header',
    owasp: 'API8:2023',
    cwe: 942,
    severity: 'high',
    profile: 'safe',
    order: 60,
    budget: 120,
    source: 'plugins/cors.ts',
    fix: 'list exact origins in CORS_ORIGINS; a proxy must not add Access-Control-Allow-Origin or reflect the Origin header',
    plan: ['for a foreign origin, null, and look-alikes of each --allowed-origin (suffix, prefix, subdomain, scheme, port): a preflight OPTIONS and a simple GET on /, /msg/:id and /api/v1/messages → no Access-Control-Allow-* header', 'each --allowed-origin once (positive control)'],
    run: async (ctx) => {
      const findings: Finding[] = []
      const seen: ScanResponse[] = []
      for (const origin of hostileOrigins(ctx.options.allowedOrigins)) {
        for (const path of PATHS()) {
          if (!ctx.http.canAfford(2)) { findings.push(skip('check budget spent before every origin was tried')); break }
          for (const res of [await preflight(ctx, path, origin), await ctx.request({ method: 'GET', path, headers: { origin } })]) {
            seen.push(res)
            const allowed = allowHeaders(res)
            if (allowed.length > 0) {
              findings.push(fail(`${origin} got ${allowed.map((h) => `${h}: ${res.headers[h]}`).join(', ')}`, { route: `${res.request.method} ${path.startsWith('/msg/') ? '/msg/{id}' : path}`, evidence: headerEvidence(ctx, res, CORS_HEADERS), curl: ctx.curl(res.request) }))
            }
          }
        }
      }
      for (const origin of ctx.options.allowedOrigins) {
        const res = await preflight(ctx, '/', origin)
        seen.push(res)
        if (res.headers['access-control-allow-origin'] !== origin) findings.push(skip(`the --allowed-origin ${origin} was not allowed by the target (${res.headers['access-control-allow-origin'] ?? 'no header'}): check CORS_ORIGINS`))
      }
      memo.set(ctx, seen)
      if (!findings.some((f) => f.status === 'fail')) findings.push(pass(`${seen.length} cross-origin requests from ${hostileOrigins(ctx.options.allowedOrigins).length} foreign origins: none allowed`))
      return findings
    }
  },
  {
    id: 'MSV-CORS-002',
    family: 'CORS',
    title: 'Never "*" with credentials; Vary: Origin where the answer varies by origin',
    owasp: 'API8:2023',
    cwe: 942,
    severity: 'medium',
    profile: 'safe',
    order: 61,
    budget: 0,
    source: 'plugins/cors.ts',
    fix: 'never send Access-Control-Allow-Credentials with "*"; send Vary: Origin whenever Access-Control-Allow-Origin names an origin (a cache must not serve one origin\'s answer to another)',
    plan: ['no request of its own: judges every cross-origin answer of MSV-CORS-001 and the run'],
    run: async () => [],
    finalize: (ctx) => {
      const all = [...(memo.get(ctx) ?? []), ...ctx.observed.filter((r) => r.headers['access-control-allow-origin'] !== undefined)]
      const findings: Finding[] = []
      const star = all.find((r) => r.headers['access-control-allow-origin'] === '*' && /true/i.test(r.headers['access-control-allow-credentials'] ?? ''))
      if (star !== undefined) findings.push(fail('"*" together with Access-Control-Allow-Credentials: true', { evidence: headerEvidence(ctx, star, CORS_HEADERS), curl: ctx.curl(star.request) }))
      const named = all.filter((r) => { const o = r.headers['access-control-allow-origin']; return o !== undefined && o !== '*' })
      const noVary = named.find((r) => !/(^|,)\s*origin\s*(,|$)/i.test(r.headers.vary ?? ''))
      if (noVary !== undefined) findings.push(fail(`Access-Control-Allow-Origin: ${noVary.headers['access-control-allow-origin'] ?? ''} without Vary: Origin`, { evidence: headerEvidence(ctx, noVary, CORS_HEADERS), curl: ctx.curl(noVary.request) }))
      if (findings.length > 0) return findings
      if (named.length === 0) return [pass(`no answer allowed an origin (${all.length} cross-origin answers)${ctx.options.allowedOrigins.length === 0 ? '; pass --allowed-origin to check Vary on allowed ones' : ''}`)]
      return [pass(`${named.length} answers allowing an origin, each with Vary: Origin; never "*" with credentials`)]
    }
  }
]
