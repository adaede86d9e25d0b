// MSV-INPUT: API.md sections 1 and 4 on bad input: limits (413), unknown properties (400),
// prototype keys (400), wrong content types (415), deep nesting and invalid UTF-8 (4xx), and
// injection payloads either refused or stored and returned byte for byte as data, never
// reflected into HTML or headers. Creates go through the API when the run has a writer key
// (the anonymous create budget is 30 a minute); what is created is in the cleanup ledger.
import { type Check, type Finding, fail, pass, skip } from '../check.js'
import type { ScanRequest, ScanResponse } from '../client.js'
import { randomMessageId, type RunKey, type ScanContext } from '../context.js'
import { writer } from './burn.js'
import { about, bodyEvidence, fromMissive } from './util.js'

interface Target { path: string, headers: Record<string, string>, via: RunKey | null, route: string }

async function createTarget (ctx: ScanContext): Promise<Target> {
  const via = await writer(ctx)
  return via === null
    ? { path: '/', headers: {}, via: null, route: 'POST /' }
    : { path: '/api/v1/messages', headers: { 'x-api-key': via.key }, via, route: 'POST /api/v1/messages' }
}

/** Sends a create that should be refused; a 201 is recorded in the ledger (and is the failure). */
async function refusedCreate (ctx: ScanContext, target: Target, body: string | Buffer, contentType: string, query = ''): Promise<ScanResponse> {
  const res = await ctx.request({ method: 'POST', path: `${target.path}${query}`, creates: true, hostile: true, headers: { ...target.headers, 'content-type': contentType }, body })
  if (res.status === 201) ctx.recordCreated(res, {}, target.via)
  return res
}

function expectStatus (ctx: ScanContext, label: string, res: ScanResponse, ok: (status: number) => boolean, want: string, route: string): Finding {
  if (ok(res.status)) return pass(`${label}: ${res.status}`, route)
  // Refused before it reached Missive (a WAF's own page, no X-Request-Id): refused all the same.
  if (res.request.hostile === true && !fromMissive(res) && res.status >= 400 && res.status < 500 && res.status !== 429) return pass(`${label}: refused in front of the API (${res.status}, not Missive's answer)`, route)
  if (res.status === 429) return skip(`${label}: rate limited`, route)
  return fail(`${label}: ${res.status}, expected ${want}`, about(ctx, res, route))
}

export const PAYLOADS: Array<[string, string]> = [
  ['SQL', "' OR '1'='1'; DROP TABLE messages; --"],
  ['NoSQL', '{"$gt": ""}'],
  ['XSS', '<script>alert(document.domain)</script><img src=x onerror=alert(1)>'],
  ['path traversal', '../../../../etc/passwd%00'],
  ['CRLF', 'line\r\nSet-Cookie: missive-security=1\r\n\r\n<html>'],
  // eslint-disable-next-line no-template-curly-in-string -- the payload is the point
  ['template', '{{7*7}} ${7*7} <%= 7*7 %> #{7*7}'],
  ['control characters', 'nul\u0000 bell\u0007 rlo\u202E esc\u001B[31m']
]

const base = { family: 'INPUT', owasp: 'API8:2023', profile: 'safe' as const, source: 'plugins/json-body.ts' }

export const inputChecks: Check[] = [
  {
    ...base,
    id: 'MSV-INPUT-001',
    title: 'Content over the limit gets 413',
    cwe: 770,
    severity: 'medium',
    order: 50,
    budget: 8,
    source: 'src/messages.ts',
    fix: 'keep MESSAGE_MAX_BYTES / API_MESSAGE_MAX_BYTES, and a proxy body limit (nginx client_max_body_size) above them so the API answers 413 itself',
    plan: ['POST / with content of --max-bytes + 1 bytes (JSON and text/plain) → 413', 'POST /api/v1/messages with --api-max-bytes + 1 bytes → 413 (with --api-key)'],
    run: async (ctx) => {
      const findings: Finding[] = []
      const over = (n: number): string => 'a'.repeat(n + 1)
      const judge = (label: string, res: ScanResponse, route: string, knob: string): Finding => {
        if (res.status === 201) return skip(`${label}: accepted (201): the target's limit is above ${knob}; pass the target's value`, route)
        return expectStatus(ctx, label, res, (s) => s === 413, '413', route)
      }
      const anon: Target = { path: '/', headers: {}, via: null, route: 'POST /' }
      findings.push(judge(`JSON content of ${ctx.options.maxBytes + 1} bytes`, await refusedCreate(ctx, anon, JSON.stringify({ content: over(ctx.options.maxBytes), ttl: 60 }), 'application/json'), 'POST /', '--max-bytes'))
      findings.push(judge(`text/plain content of ${ctx.options.maxBytes + 1} bytes`, await refusedCreate(ctx, anon, over(ctx.options.maxBytes), 'text/plain', '?ttl=60'), 'POST /', '--max-bytes'))
      const via = await writer(ctx)
      if (via !== null) {
        const target = await createTarget(ctx)
        findings.push(judge(`API content of ${ctx.options.apiMaxBytes + 1} bytes`, await refusedCreate(ctx, target, JSON.stringify({ content: over(ctx.options.apiMaxBytes), ttl: 60 }), 'application/json'), target.route, '--api-max-bytes'))
      }
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-INPUT-002',
    title: 'Unknown properties and prototype keys are refused (400)',
    cwe: 915,
    severity: 'high',
    order: 51,
    budget: 8,
    fix: 'validate bodies with additionalProperties: false and never strip unknown properties (ajv removeAdditional off); refuse __proto__ and constructor.prototype (plugins/json-body.ts)',
    plan: ['POST a create with an unknown property, with "__proto__", with "constructor": {"prototype"} → 400 each'],
    run: async (ctx) => {
      const target = await createTarget(ctx)
      const cases: Array<[string, string]> = [
        ['unknown property', '{"content":"missive-security","ttl":60,"missiveSecurityUnknown":true}'],
        ['__proto__', '{"content":"missive-security","ttl":60,"__proto__":{"maxViews":1000,"isAdmin":true}}'],
        ['constructor.prototype', '{"content":"missive-security","ttl":60,"constructor":{"prototype":{"isAdmin":true}}}'],
        ['nested __proto__', '{"content":"missive-security","ttl":60,"maxViews":{"__proto__":{"valueOf":1}}}']
      ]
      const findings: Finding[] = []
      for (const [label, body] of cases) findings.push(expectStatus(ctx, label, await refusedCreate(ctx, target, body, 'application/json'), (s) => s === 400, '400', target.route))
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-INPUT-003',
    title: 'Unsupported content types get 415',
    cwe: 436,
    severity: 'low',
    order: 52,
    budget: 6,
    fix: 'accept only application/json and text/plain on creates (plugins/json-body.ts)',
    plan: ['POST a create as text/xml, application/x-www-form-urlencoded and multipart/form-data → 415'],
    run: async (ctx) => {
      const target = await createTarget(ctx)
      const findings: Finding[] = []
      const types: Array<[string, string]> = [['text/xml', '<content>x</content>'], ['application/x-www-form-urlencoded', 'content=x'], ['multipart/form-data; boundary=b', '--b\r\nContent-Disposition: form-data; name="content"\r\n\r\nx\r\n--b--\r\n']]
      for (const [type, body] of types) {
        findings.push(expectStatus(ctx, type, await refusedCreate(ctx, target, body, type), (s) => s === 415, '415', target.route))
      }
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-INPUT-004',
    title: 'Deep nesting, invalid UTF-8 and malformed JSON get a 4xx',
    cwe: 20,
    severity: 'medium',
    order: 53,
    budget: 8,
    fix: 'parse bodies with a depth-safe parser and refuse invalid UTF-8 with 400 (plugins/json-body.ts, src/body-encoding.ts)',
    plan: ['POST a create with 100 000 nested arrays, with invalid UTF-8 in JSON and in text/plain, and truncated JSON → 4xx, never 201 or 5xx'],
    run: async (ctx) => {
      const target = await createTarget(ctx)
      const deep = `{"content":"x","ttl":60,"maxViews":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
      const badUtf8 = Buffer.concat([Buffer.from('{"content":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('","ttl":60}')])
      const findings: Finding[] = []
      const cases: Array<[string, string | Buffer, string, string]> = [
        ['deep nesting', deep, 'application/json', ''],
        ['invalid UTF-8 in JSON', badUtf8, 'application/json', ''],
        ['invalid UTF-8 in text/plain', Buffer.from([0x61, 0xc3, 0x28, 0xff]), 'text/plain; charset=utf-8', '?ttl=60'],
        ['truncated JSON', '{"content":"x","ttl":6', 'application/json', '']
      ]
      for (const [label, body, type, query] of cases) {
        findings.push(expectStatus(ctx, label, await refusedCreate(ctx, target, body, type, query), (s) => s >= 400 && s < 500, '4xx', target.route))
      }
      return findings
    }
  },
  {
    ...base,
    id: 'MSV-INPUT-005',
    title: 'Injection payloads are data: refused or returned byte for byte, never in HTML or headers',
    cwe: 79,
    severity: 'high',
    order: 54,
    budget: 60,
    source: 'routes/public.ts',
    fix: 'store and return content byte for byte; serve it as JSON or text/plain with nosniff, never interpolated into HTML; refuse malformed ids and fields with 400/404',
    plan: ['SQL, NoSQL, XSS, path traversal, CRLF, template and control-character payloads as content (one create each with a key, one combined anonymously) → read back as JSON and text/plain: byte for byte, no HTML', 'the same payloads in the ttl and maxViews fields → 400, and as the id of GET/DELETE /msg/:id → 400/404, never reflected'],
    run: async (ctx) => {
      const findings: Finding[] = []
      const target = await createTarget(ctx)
      const contents: Array<[string, string]> = target.via === null ? [['all payloads', PAYLOADS.map(([, p]) => p).join('\n')]] : PAYLOADS
      const reflected = (res: ScanResponse, payload: string): string | null => {
        const headerText = Object.entries(res.headers).map(([n, v]) => `${n}: ${v}`).join('\n')
        // A payload that reached a header (CRLF injection) shows up as its own header or cookie.
        if (/missive-security=1/.test(res.headers['set-cookie'] ?? '')) return 'a Set-Cookie header (CRLF injection)'
        if (payload.length > 6 && headerText.includes(payload.split(/[\r\n]/)[0] ?? payload)) return 'a response header'
        if (/html/i.test(res.headers['content-type'] ?? '') && res.text.includes(payload)) return 'an HTML page'
        return null
      }
      for (const [label, payload] of contents) {
        const create = await ctx.request({ method: 'POST', path: target.path, creates: true, hostile: true, headers: { ...target.headers, 'content-type': 'application/json' }, body: JSON.stringify({ content: payload, ttl: 60 }) })
        if (create.status !== 201) {
          findings.push(create.status >= 400 && create.status < 500 ? pass(`${label} content refused (${create.status})`, target.route) : fail(`${label} content: ${create.status}`, { route: target.route, evidence: bodyEvidence(ctx, create) }))
          continue
        }
        const message = ctx.recordCreated(create, {}, target.via)
        const json = await ctx.request({ method: 'GET', path: `/msg/${message.id}`, headers: { accept: 'application/json' } })
        const text = await ctx.request({ method: 'GET', path: `/msg/${message.id}`, headers: { accept: 'text/plain' } })
        const page = await ctx.request({ method: 'GET', path: `/msg/${message.id}`, headers: { accept: 'text/html' } })
        const problems: string[] = []
        if ((json.json as { content?: unknown } | undefined)?.content !== payload) problems.push(`JSON read ${json.status} did not return it byte for byte`)
        if (text.status === 200 && !text.body.equals(Buffer.from(payload))) problems.push('the text/plain read did not return it byte for byte')
        if (text.status === 200 && !/^text\/plain/i.test(text.headers['content-type'] ?? '')) problems.push(`the text/plain read came as ${text.headers['content-type'] ?? 'untyped'}`)
        for (const res of [json, text, page]) {
          const where = reflected(res, payload)
          if (where !== null) problems.push(`reflected into ${where} (${res.request.headers?.accept ?? ''})`)
        }
        findings.push(problems.length === 0
          ? pass(`${label}: stored and returned as data`, 'GET /msg/{id}')
          : fail(`${label}: ${problems.join('; ')}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, text), curl: ctx.curl(text.request) }))
      }
      // Payloads where a number belongs, and in the id.
      for (const [label, payload] of PAYLOADS.slice(0, 4)) {
        const res = await refusedCreate(ctx, target, JSON.stringify({ content: 'missive-security', ttl: payload, maxViews: { $gt: 0 } }), 'application/json')
        findings.push(expectStatus(ctx, `${label} in ttl/maxViews`, res, (s) => s === 400, '400', target.route))
      }
      for (const [label, payload] of PAYLOADS.slice(0, 6)) {
        const req: ScanRequest = { method: 'GET', path: `/msg/${encodeURIComponent(payload)}`, hostile: true, headers: { accept: 'application/json' } }
        const res = await ctx.request(req)
        const where = reflected(res, payload)
        // Any 4xx is a refusal (a WAF in front may answer 403); a 2xx or 5xx is not.
        if (res.status < 400 || res.status >= 500) findings.push(fail(`${label} as the id: ${res.status}, expected a 4xx`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, res), curl: ctx.curl(req) }))
        else if (where !== null) findings.push(fail(`${label} as the id: reflected into ${where}`, { route: 'GET /msg/{id}', evidence: bodyEvidence(ctx, res), curl: ctx.curl(req) }))
        else findings.push(pass(`${label} as the id: ${res.status}`, 'GET /msg/{id}'))
      }
      const del = await ctx.request({ method: 'DELETE', path: `/msg/${randomMessageId()}`, hostile: true, headers: { 'x-delete-token': "' OR '1'='1'; DROP TABLE messages; --" } })
      findings.push(expectStatus(ctx, 'SQL payload as the delete token', del, (s) => s === 404, '404', 'DELETE /msg/{id}'))
      return findings
    }
  }
]
