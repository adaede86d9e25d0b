// MSV-SCOPE: API.md section 2's table, route by route: a key per scope, and each /api/v1 route
// answers 403 to every key whose scope it does not name. The expected answer comes from the
// contract table (src/scanner/contract.ts), never from what the target happens to do. Probes
// are harmless: random ids that name nothing, and `{}` bodies that fail validation.
import { type Check, type Finding, fail, pass, Skip, skip } from '../check.js'
import type { ScanContext, RunKey } from '../context.js'
import { CONTRACT_ROUTES, CONTRACT_SCOPES } from '../contract.js'
import { concretePath } from '../discover.js'
import { about, bodyEvidence } from './util.js'

async function scopeKeys (ctx: ScanContext): Promise<{ keys: Map<string, RunKey>, refused: string[] }> {
  const keys = new Map<string, RunKey>()
  const refused: string[] = []
  for (const scope of CONTRACT_SCOPES) {
    try {
      keys.set(scope, await ctx.key([scope], `scope ${scope}`))
    } catch (err) {
      if (err instanceof Skip) refused.push(scope)
      else throw err
    }
  }
  return { keys, refused }
}

export const scopeChecks: Check[] = [
  {
    id: 'MSV-SCOPE-001',
    family: 'SCOPE',
    title: 'Scope matrix: each /api/v1 route answers 403 to a key without its scope',
    owasp: 'API5:2023',
    cwe: 285,
    severity: 'critical',
    profile: 'safe',
    order: 30,
    budget: 220,
    needs: 'admin',
    source: 'plugins/auth.ts',
    fix: 'every route must name its scope (routes/api/v1/*.ts) and the auth plugin must enforce it; a proxy must not retry or rewrite 403s',
    plan: ['mint one key per scope of the contract (messages:read … security:admin)', 'each key against each protected route of the contract table that the target serves: random ids, {} bodies → the contract\'s 2xx/4xx for its scope, 403 for every other'],
    run: async (ctx) => {
      const served = CONTRACT_ROUTES.filter((r) => r.scope !== null && r.noProbe === undefined && ctx.routes.some((d) => d.method === r.method && d.path === r.path))
      if (served.length === 0) throw new Skip('none of the contract\'s scoped routes is served')
      const { keys, refused } = await scopeKeys(ctx)
      const findings: Finding[] = []
      if (refused.length > 0) findings.push(skip(`the target does not issue keys with ${refused.join(', ')} (scope not known there): those rows are not tested`))
      const unknown = ctx.routes.filter((d) => d.auth !== null && !CONTRACT_ROUTES.some((r) => r.method === d.method && r.path === d.path))
      if (unknown.length > 0) findings.push(skip(`not in the scanner's contract table, scope unknown: ${unknown.map((r) => `${r.method} ${r.path}`).join(', ')}`))
      for (const route of served) {
        const discovered = ctx.routes.find((d) => d.method === route.method && d.path === route.path)
        const wrong: string[] = []
        let evidence: Finding | null = null
        for (const [scope, key] of keys) {
          const allowed = route.scope === scope
          const res = await ctx.request({
            method: route.method,
            path: concretePath({ path: route.path, paramPatterns: discovered?.paramPatterns ?? {} }),
            headers: { 'x-api-key': key.key, ...(['POST', 'PUT', 'PATCH'].includes(route.method) ? { 'content-type': 'application/json' } : {}) },
            ...(['POST', 'PUT', 'PATCH'].includes(route.method) ? { body: '{}' } : {})
          })
          if (res.status === 429 || res.status === 503) { findings.push(skip(`${scope} → ${res.status}: not judged`, `${route.method} ${route.path}`)); continue }
          const ok = allowed ? res.status !== 401 && res.status !== 403 && res.status < 500 : res.status === 403
          if (!ok) {
            wrong.push(`${scope} → ${res.status} (expected ${allowed ? 'not 401/403' : '403'})`)
            evidence ??= fail('', { evidence: bodyEvidence(ctx, res), curl: ctx.curl(res.request) })
          }
        }
        const name = `${route.method} ${route.path}`
        if (wrong.length === 0) findings.push(pass(`needs ${route.scope ?? ''}: ${keys.size} keys answered as the contract says`, name))
        else findings.push({ ...(evidence ?? fail('')), status: 'fail', seen: `needs ${route.scope ?? ''}, but ${wrong.join(', ')}`, route: name })
      }
      return findings
    }
  },
  {
    id: 'MSV-SCOPE-002',
    family: 'SCOPE',
    title: 'A narrowed token keeps only the scopes it asked for; a key cannot get scopes it lacks',
    owasp: 'API5:2023',
    cwe: 285,
    severity: 'high',
    profile: 'safe',
    order: 31,
    budget: 12,
    needs: 'admin',
    source: 'routes/api/v1/auth.ts',
    fix: 'POST /api/v1/auth/token must issue exactly the scopes asked for, a subset of the key\'s (routes/api/v1/auth.ts)',
    plan: ['mint a messages:read+messages:write key; a token narrowed to messages:read → POST /api/v1/messages answers 403', 'the same key asking for keys:admin → 403'],
    run: async (ctx) => {
      const key = await ctx.key(['messages:read', 'messages:write'], 'narrowed')
      const token = await ctx.token(key, ['messages:read'])
      const findings: Finding[] = []
      const write = await ctx.request({ method: 'POST', path: '/api/v1/messages', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' })
      findings.push(write.status === 403
        ? pass('a token narrowed to messages:read is refused messages:write (403)', 'POST /api/v1/messages')
        : fail(`a token narrowed to messages:read got ${write.status} on POST /api/v1/messages`, about(ctx, write, 'POST /api/v1/messages')))
      const wider = await ctx.request({ method: 'POST', path: '/api/v1/auth/token', headers: { 'x-api-key': key.key, 'content-type': 'application/json' }, body: JSON.stringify({ scopes: ['keys:admin'] }) })
      if (wider.status === 200) {
        const leaked = (wider.json as { access_token?: string } | undefined)?.access_token
        if (typeof leaked === 'string') { ctx.keep(leaked); ctx.ledger.add({ kind: 'token', token: leaked, keyId: key.id }) }
      }
      findings.push(wider.status === 403
        ? pass('asking for a scope the key lacks → 403', 'POST /api/v1/auth/token')
        : fail(`asking for a scope the key lacks got ${wider.status}`, about(ctx, wider, 'POST /api/v1/auth/token')))
      return findings
    }
  }
]
