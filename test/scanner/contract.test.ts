// The scanner's contract table (src/scanner/contract.ts) must say what API.md's tables say:
// the scope matrix takes its expected answers from it.
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { CONTRACT_ROUTES, CONTRACT_SCOPES, sourceOf } from '../../src/scanner/contract.js'

const apiMd = fileURLToPath(new URL('../../../shared/API.md', import.meta.url))

/** Rows such as "| `GET /api/v1/keys/:id` | `keys:admin` | …", with OpenAPI-style paths. */
function scopedRows (text: string): Array<{ method: string, path: string, scope: string | null }> {
  const rows: Array<{ method: string, path: string, scope: string | null }> = []
  for (const line of text.split('\n')) {
    const cells = line.split('|').map((c) => c.trim())
    if (cells.length < 4) continue
    const routes = [...(cells[1] ?? '').matchAll(/`(GET|POST|PUT|PATCH|DELETE) (\/api\/v1\/[^`]*)`/g)]
    if (routes.length === 0) continue
    const scopeCell = cells[2] ?? ''
    const scope = /`([a-z]+:[a-z]+)`/.exec(scopeCell)?.[1] ?? null
    for (const [, method = '', path = ''] of routes) rows.push({ method, path: path.replace(/:(\w+)/g, '{$1}'), scope })
  }
  return rows
}

t.test('every scoped /api/v1 route of API.md is in the table, with its scope, and nothing else is', { skip: existsSync(apiMd) ? false : 'API.md is not beside this checkout' }, async (t) => {
  const text = readFileSync(apiMd, 'utf8')
  const documented = scopedRows(text)
  t.ok(documented.length >= 20, `${documented.length} rows read`)
  for (const row of documented) {
    const known = CONTRACT_ROUTES.find((r) => r.method === row.method && r.path === row.path)
    t.ok(known, `${row.method} ${row.path} is in the table`)
    if (known !== undefined) t.equal(known.scope, row.scope, `${row.method} ${row.path} needs ${row.scope ?? 'no scope (a credential kind)'}`)
  }
  for (const route of CONTRACT_ROUTES.filter((r) => r.path.startsWith('/api/v1/'))) {
    t.ok(documented.some((d) => d.method === route.method && d.path === route.path), `${route.method} ${route.path} is in API.md`)
  }
  const scopes = /Scopes: ([^.]+)\./.exec(text)?.[1] ?? ''
  t.same([...scopes.matchAll(/`([a-z]+:[a-z]+)`/g)].map((m) => m[1]), [...CONTRACT_SCOPES], 'the scopes of section 2, in order')
  t.match(text, /`GET \/metrics` \| Prometheus text format; needs a credential with `metrics:read`/, '/metrics needs metrics:read')
})

t.test('every route the table names a source for points at a file of this repository', async (t) => {
  for (const route of CONTRACT_ROUTES) {
    const file = sourceOf(route.method, route.path)
    t.ok(existsSync(fileURLToPath(new URL(`../../${file}`, import.meta.url))), `${route.method} ${route.path} → ${file}`)
  }
})
