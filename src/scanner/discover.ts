// Routes from the target's own OpenAPI document (/docs/json), so routes added later are
// covered without new code; the contract table when the document is not served.
import { type AuthKind, CONTRACT_ROUTES, contractRoute } from './contract.js'
import { randomKeyId, randomMessageId } from './context.js'

export interface DiscoveredRoute {
  method: string
  path: string
  /** null: open to anyone */
  auth: AuthKind | null
  /** patterns of the path parameters, when the document gives them */
  paramPatterns: Record<string, string>
  /** protected by the contract although the document names no security for it */
  undocumented?: true
}

/**
 * A route that forgets its authentication would also forget to declare it: every /api/v1
 * route, and every route the contract gives a scope or a credential, is treated as protected
 * whatever the document says.
 */
export function withContractAuth (routes: DiscoveredRoute[]): DiscoveredRoute[] {
  return routes.map((r) => {
    if (r.auth !== null) return r
    const known = contractRoute(r.method, r.path)
    if (known === undefined && !r.path.startsWith('/api/v1/')) return r
    return { ...r, auth: known?.auth ?? 'any', undocumented: true }
  })
}

interface OpenApiOperation {
  security?: Array<Record<string, unknown>>
  parameters?: Array<{ in?: string, name?: string, schema?: { pattern?: string } }>
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete']

/** Reads an OpenAPI 3 document: every operation, and what credential its `security` names. */
export function routesFromOpenApi (doc: unknown): DiscoveredRoute[] {
  const paths = (doc as { paths?: Record<string, Record<string, OpenApiOperation>> } | null)?.paths
  if (paths === undefined || paths === null || typeof paths !== 'object') throw new Error('no paths in the OpenAPI document')
  const routes: DiscoveredRoute[] = []
  for (const [path, operations] of Object.entries(paths)) {
    for (const method of METHODS) {
      const op = operations[method]
      if (op === undefined) continue
      const schemes = new Set((op.security ?? []).flatMap((requirement) => Object.keys(requirement)))
      let auth: AuthKind | null = null
      if (schemes.size > 0) {
        const key = [...schemes].some((s) => /key/i.test(s))
        const bearer = [...schemes].some((s) => /bearer|oauth|dpop|token/i.test(s))
        auth = key && !bearer ? 'api-key' : bearer && !key ? 'bearer' : 'any'
      }
      const paramPatterns: Record<string, string> = {}
      for (const p of op.parameters ?? []) {
        if (p.in === 'path' && typeof p.name === 'string' && typeof p.schema?.pattern === 'string') paramPatterns[p.name] = p.schema.pattern
      }
      routes.push({ method: method.toUpperCase(), path, auth, paramPatterns })
    }
  }
  return routes
}

/** The contract's protected routes (used when /docs/json is not served). */
export function contractRoutes (): DiscoveredRoute[] {
  return CONTRACT_ROUTES.filter((r) => r.source !== undefined).map((r) => ({ method: r.method, path: r.path, auth: r.auth, paramPatterns: {} }))
}

/**
 * A concrete path for a template: each parameter gets a random value of its pattern, or
 * `values[name]` when given. A random value names nothing that exists, so probes are harmless.
 */
export function concretePath (route: Pick<DiscoveredRoute, 'path' | 'paramPatterns'>, values: Record<string, string> = {}): string {
  return route.path.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? sample(route.paramPatterns[name], route.path, name)))
}

function sample (pattern: string | undefined, path: string, name: string): string {
  const simple = pattern === undefined ? null : /^\^\[([^\]]+)\]\{(\d+)\}\$$/.exec(pattern)
  if (simple !== null) {
    const alphabet = expandClass(simple[1] ?? '')
    if (alphabet.length > 0) return Array.from({ length: Number(simple[2]) }, () => alphabet.charAt(Math.floor(Math.random() * alphabet.length))).join('')
  }
  if (name === 'id' && /\/keys\/\{id\}/.test(path)) return randomKeyId()
  return randomMessageId()
}

function expandClass (cls: string): string {
  let out = ''
  for (let i = 0; i < cls.length; i++) {
    if (cls[i + 1] === '-' && i + 2 < cls.length) {
      for (let c = cls.charCodeAt(i); c <= cls.charCodeAt(i + 2); c++) out += String.fromCharCode(c)
      i += 2
    } else out += cls.charAt(i)
  }
  return out
}
