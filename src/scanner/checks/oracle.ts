// MSV-ORACLE: API.md section 1, "404 with the same body for an id that never existed, has
// expired, was burned or was deleted", and the wrong delete token. Compared byte for byte,
// with the same header names (values that differ per response, like dates, left out).
import { type Check, type Finding, fail, pass } from '../check.js'
import type { ScanResponse } from '../client.js'
import { randomMessageId } from '../context.js'
import { expiredAnswers, writer } from './burn.js'

/** Headers whose values legitimately differ from one response to the next. */
const VOLATILE = new Set(['date', 'x-request-id', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'x-ratelimit-limit', 'retry-after', 'keep-alive', 'connection', 'etag', 'age', 'x-amzn-trace-id', 'cf-ray'])

export function fingerprint (res: ScanResponse, alsoVolatile: ReadonlySet<string> = new Set()): string {
  const headers = Object.entries(res.headers)
    .filter(([name]) => !VOLATILE.has(name) && !alsoVolatile.has(name))
    .map(([name, value]) => name === 'content-length' ? `${name}` : `${name}: ${value}`)
    .sort()
  return `${res.status}\n${headers.join('\n')}\n\n${res.body.toString('base64')}`
}

export const oracleChecks: Check[] = [{
  id: 'MSV-ORACLE-001',
  family: 'ORACLE',
  title: 'No existence oracle: never existed, burned, deleted and a wrong delete token answer the same 404',
  owasp: 'API3:2023',
  cwe: 204,
  severity: 'medium',
  profile: 'safe',
  order: 45,
  budget: 18,
  source: 'routes/public.ts',
  fix: 'answer every "not there" case with the one 404 (same body, same headers); never a 403, 410 or a different message',
  plan: ['GET /msg/:id for a random id; for a burned message (maxViews 1, read once); for a deleted message', 'DELETE /msg/:id with a wrong, an empty and a missing X-Delete-Token on a live message, and DELETE of a random id', 'the expired case too in --profile full (from MSV-BURN-004)'],
  run: async (ctx) => {
    const via = await writer(ctx)
    const cases: Array<[string, ScanResponse]> = []
    const get = async (id: string): Promise<ScanResponse> => await ctx.request({ method: 'GET', path: `/msg/${id}`, headers: { accept: 'application/json' } })
    cases.push(['never existed', await get(randomMessageId())])
    // The same case twice: headers that differ between two identical requests (a balancer's
    // cookie, a CDN's trace id) say nothing about the message and are left out.
    const again = await get(randomMessageId())
    const first = cases[0]?.[1] as ScanResponse
    const noisy = new Set(Object.keys({ ...first.headers, ...again.headers }).filter((name) => first.headers[name] !== again.headers[name]))
    const burned = await ctx.createMessage({ content: 'missive-security oracle', maxViews: 1 }, via)
    await get(burned.id)
    cases.push(['burned', await get(burned.id)])
    const deleted = await ctx.createMessage({ content: 'missive-security oracle' }, via)
    const del = await ctx.request({ method: 'DELETE', path: `/msg/${deleted.id}`, headers: { 'x-delete-token': deleted.deleteToken } })
    if (del.status !== 204) throw new Error(`deleting with the right token answered ${del.status}`)
    ctx.ledger.settle((e) => e.kind === 'message' && e.id === deleted.id)
    cases.push(['deleted', await get(deleted.id)])
    const expired = expiredAnswers.get(ctx)
    if (expired !== undefined) cases.push(['expired', expired])
    const live = await ctx.createMessage({ content: 'missive-security oracle' }, via)
    const deletes: Array<[string, ScanResponse]> = [
      ['DELETE of a random id', await ctx.request({ method: 'DELETE', path: `/msg/${randomMessageId()}`, headers: { 'x-delete-token': 'A'.repeat(43) } })],
      ['DELETE with a wrong token', await ctx.request({ method: 'DELETE', path: `/msg/${live.id}`, headers: { 'x-delete-token': 'A'.repeat(43) } })],
      ['DELETE with an empty token', await ctx.request({ method: 'DELETE', path: `/msg/${live.id}`, headers: { 'x-delete-token': '' } })],
      ['DELETE without a token', await ctx.request({ method: 'DELETE', path: `/msg/${live.id}` })]
    ]
    const findings: Finding[] = []
    for (const [list, route] of [[cases, 'GET /msg/{id}'], [deletes, 'DELETE /msg/{id}']] as const) {
      const [referenceName, reference] = list[0] as [string, ScanResponse]
      const different = list.filter(([, res]) => res.status !== 404 || fingerprint(res, noisy) !== fingerprint(reference, noisy))
      if (different.length === 0) findings.push(pass(`${list.map(([name]) => name).join(', ')}: one 404, byte-identical`, route))
      else {
        findings.push(fail(`${different.map(([name, res]) => `${name} (${res.status})`).join(', ')} differ from ${referenceName}`, {
          route,
          evidence: ctx.redact([reference, ...different.map(([, r]) => r)].map((r) => `${r.request.method} ${r.request.path} → ${r.status} ${r.text.slice(0, 160)}`).join('\n')),
          curl: ctx.curl((different[0] as [string, ScanResponse])[1].request)
        }))
      }
    }
    return findings
  }
}]
