// MSV-ERR: API.md's error rule, judged on every 4xx/5xx the run saw: exactly the contract's
// shape; no stack trace, file path, store name or store error; no credential echoed back.
import { STATUS_CODES } from 'node:http'
import { type Check, type Finding, fail, pass } from '../check.js'
import type { ScanResponse } from '../client.js'
import type { ScanContext } from '../context.js'
import { about, judged, routeOf } from './util.js'

/** OAuth endpoints answer RFC 6749 §5.2 bodies ({"error","error_description"}), not the API's shape. */
const isOAuth = (res: ScanResponse): boolean => res.request.path.startsWith('/oauth/')
const errors = (ctx: ScanContext): ScanResponse[] => ctx.observed.filter((r) => r.status >= 400 && r.request.method !== 'HEAD' && judged(r))

/** Why a body is not exactly {"statusCode","error","message"[,"code"]}, or null. */
export function shapeProblem (res: ScanResponse): string | null {
  if (!/^application\/json/i.test(res.headers['content-type'] ?? '')) return `the body is ${res.headers['content-type'] ?? 'untyped'}, not JSON`
  const body = res.json as Record<string, unknown> | undefined
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) return 'the body is not a JSON object'
  const extra = Object.keys(body).filter((k) => !['statusCode', 'error', 'message', 'code'].includes(k))
  if (extra.length > 0) return `unexpected field(s) ${extra.join(', ')}`
  if (body.statusCode !== res.status) return `statusCode ${String(body.statusCode)} is not the status ${res.status}`
  if (body.error !== STATUS_CODES[res.status]) return `error ${JSON.stringify(body.error)} is not the reason phrase ${JSON.stringify(STATUS_CODES[res.status])}`
  if (typeof body.message !== 'string') return 'no message string'
  if (body.code !== undefined && (typeof body.code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(body.code))) return `code ${JSON.stringify(body.code)} is not UPPER_SNAKE`
  return null
}

const LEAKS: Array<[RegExp, string]> = [
  // A raw newline (text bodies) or an escaped one (the same trace inside a JSON string).
  [/(?:\n|\\n)\s+at \S.*\(?\S+:\d+:\d+\)?/, 'a stack trace'],
  [/"stack"\s*:/, 'a stack field'],
  [/(?:\/(?:home|usr|app|srv|opt|var|work|tmp|root)\/[\w.@/-]+|[A-Z]:\\[\w\\.-]+)\.(?:[cm]?js|ts)\b/, 'a file path'],
  [/node_modules/, 'a node_modules path'],
  [/\b(?:ioredis|redis|ECONNREFUSED|ETIMEDOUT|CLUSTERDOWN|MOVED \d+|WRONGTYPE|NOSCRIPT|READONLY|OOM command)\b/i, 'the store or its error'],
  [/\b(?:TypeError|ReferenceError|SyntaxError|RangeError): /, 'a JavaScript error']
]

export function leakIn (text: string): string | null {
  for (const [pattern, what] of LEAKS) if (pattern.test(text)) return what
  return null
}

/** Credentials the request carried that the answer repeats. */
function echoedSecret (res: ScanResponse): string | null {
  const sent = Object.entries(res.request.headers ?? {})
    .filter(([name]) => /^(x-api-key|authorization|x-delete-token|x-read-token|dpop|signature)$/i.test(name))
    .map(([name, value]): [string, string] => [name, value.replace(/^(Bearer|DPoP|Basic)\s+/i, '')])
    .filter(([, value]) => value.length >= 16)
  const answer = `${JSON.stringify(res.headers)}\n${res.text}`
  for (const [name, value] of sent) if (answer.includes(value)) return name
  return null
}

function perRoute (ctx: ScanContext, list: ScanResponse[], why: (res: ScanResponse) => string | null, summary: string): Finding[] {
  const failures = new Map<string, Finding>()
  for (const res of list) {
    const problem = why(res)
    if (problem === null) continue
    const key = `${routeOf(ctx, res)} ${res.status}`
    if (!failures.has(key)) failures.set(key, fail(`${res.status}: ${problem}`, about(ctx, res, routeOf(ctx, res))))
  }
  if (failures.size > 0) return [...failures.values()]
  if (list.length === 0) return [{ status: 'skip', seen: 'no error response was seen' }]
  return [pass(`${list.length} ${summary}`)]
}

const base = { family: 'ERR', owasp: 'API8:2023', profile: 'safe' as const, order: 81, budget: 0, source: 'plugins/error-handler.ts', run: async (): Promise<Finding[]> => [] }
const PLAN = ['no request of its own: judges every 4xx/5xx of the run']

export const errorChecks: Check[] = [
  {
    ...base,
    id: 'MSV-ERR-001',
    title: 'Every error body has exactly the contract shape',
    cwe: 209,
    severity: 'low',
    fix: 'errors must be {"statusCode","error","message"[,"code"]} (plugins/error-handler.ts); a proxy must not replace them with its own pages',
    plan: PLAN,
    finalize: (ctx) => perRoute(ctx, errors(ctx).filter((r) => !isOAuth(r)), shapeProblem, 'error bodies of the contract shape')
  },
  {
    ...base,
    id: 'MSV-ERR-002',
    title: 'No stack trace, file path, store name or store error in any error',
    cwe: 209,
    severity: 'medium',
    fix: 'answer errors through the error handler only (plugins/error-handler.ts); never return err.stack or err.message of an internal error; run with NODE_ENV=production',
    plan: PLAN,
    finalize: (ctx) => perRoute(ctx, errors(ctx), (res) => {
      const what = leakIn(res.text)
      return what === null ? null : `the body holds ${what}`
    }, 'error bodies without stack, path or store detail')
  },
  {
    ...base,
    id: 'MSV-ERR-003',
    title: 'No credential echoed back in an error',
    cwe: 200,
    severity: 'high',
    fix: 'never copy request headers or credentials into error messages or response headers',
    plan: PLAN,
    finalize: (ctx) => perRoute(ctx, errors(ctx), (res) => {
      const name = echoedSecret(res)
      return name === null ? null : `the answer repeats the ${name} that was sent`
    }, 'error answers checked for echoed credentials')
  }
]
