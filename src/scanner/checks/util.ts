// Small helpers the check families share.
import type { ScanResponse } from '../client.js'
import type { ScanContext } from '../context.js'

/** The route template of a concrete path ("/msg/{id}"), from the discovered routes, else by shape. */
export function templateOf (ctx: ScanContext, method: string, path: string): string {
  const segments = (path.split('?')[0] ?? '').split('/')
  const matches = (template: string): boolean => {
    const parts = template.split('/')
    return parts.length === segments.length && parts.every((p, i) => /^\{[^}]+\}$/.test(p) ? segments[i] !== '' : p === segments[i])
  }
  // Prefer a literal route (/api/v1/keys) over a template that also matches, and the same method.
  const candidates = ctx.routes.filter((r) => matches(r.path)).sort((a, b) =>
    Number(b.method === method) - Number(a.method === method) || Number(a.path.includes('{')) - Number(b.path.includes('{')))
  if (candidates[0] !== undefined) return candidates[0].path
  const bare = segments.join('/')
  if (/^\/msg\/[^/]+\/receipt$/.test(bare)) return '/msg/{id}/receipt'
  if (/^\/msg\/[^/]+$/.test(bare)) return '/msg/{id}'
  return bare.replace(/\/[A-Za-z0-9_-]{22}(?=\/|$)/g, '/{id}')
}

export const routeOf = (ctx: ScanContext, res: ScanResponse): string => `${res.request.method} ${templateOf(ctx, res.request.method, res.request.path)}`

/** Response headers as a short, redacted text block for evidence. */
export function headerEvidence (ctx: ScanContext, res: ScanResponse, names?: string[]): string {
  const lines = [`${res.request.method} ${res.request.path} → ${res.status}`]
  for (const [name, value] of Object.entries(res.headers)) {
    if (names === undefined || names.includes(name)) lines.push(`${name}: ${value}`)
  }
  for (const name of names ?? []) if (res.headers[name] === undefined) lines.push(`${name}: (absent)`)
  return ctx.redact(lines.join('\n'))
}

export function bodyEvidence (ctx: ScanContext, res: ScanResponse, max = 300): string {
  const text = res.text.length > max ? `${res.text.slice(0, max)}…` : res.text
  return ctx.redact(`${res.request.method} ${res.request.path} → ${res.status}\n${text}`)
}

/** The protected GET route most checks probe: the caller's message list. */
export function representativeRoute (ctx: ScanContext): { method: string, path: string } {
  const list = ctx.routes.find((r) => r.method === 'GET' && r.path === '/api/v1/messages' && r.auth !== null)
  if (list !== undefined) return list
  const any = ctx.routes.find((r) => r.method === 'GET' && r.auth === 'any' && !r.path.includes('{'))
  return any ?? { method: 'GET', path: '/api/v1/messages' }
}

/** Groups items by a key, keeping the first of each group and the count. */
export function groupBy<T> (items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const k = key(item)
    const list = groups.get(k)
    if (list === undefined) groups.set(k, [item])
    else list.push(item)
  }
  return groups
}

/** A 401 as the contract wants it: a WWW-Authenticate challenge. */
export const isChallenge = (res: ScanResponse): boolean => res.status === 401 && (res.headers['www-authenticate'] ?? '') !== ''

export const jsonBody = (body: unknown): { headers: Record<string, string>, body: string } => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

/** Missive puts X-Request-Id on every answer; a page without it came from something in front (a WAF, a proxy). */
export const fromMissive = (res: ScanResponse): boolean => res.headers['x-request-id'] !== undefined

/**
 * What the passive checks judge: every answer, except a hostile probe answered by something in
 * front of Missive (a WAF's block page is the WAF's business, not a breach of the contract).
 */
export const judged = (res: ScanResponse): boolean => res.request.hostile !== true || fromMissive(res)

/**
 * What a failure about one answer carries: the route, the answer as redacted evidence (its body,
 * or the named headers) and the curl that reproduces it.
 */
export function about (ctx: ScanContext, res: ScanResponse, route?: string, headers?: string[]): { route?: string, evidence: string, curl: string } {
  return {
    ...(route === undefined ? {} : { route }),
    evidence: headers === undefined ? bodyEvidence(ctx, res) : headerEvidence(ctx, res, headers.length === 0 ? undefined : headers),
    curl: ctx.curl(res.request)
  }
}
