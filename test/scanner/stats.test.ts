import { randomBytes } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { type Check, type Finding, Skip } from '../../src/scanner/check.js'
import { randChecks } from '../../src/scanner/checks/rand.js'
import { CheckHttp, ScanClient } from '../../src/scanner/client.js'
import { ScanContext, type ScanOptions } from '../../src/scanner/context.js'
import {
  DELETE_TOKEN_FORMAT, MESSAGE_ID_FORMAT, MIN_SAMPLES, randomnessTests, type TestResult, zBound, zTestCount
} from '../../src/scanner/stats.js'
import { build } from '../helper.js'
import { ALL_SCOPES, makeKey } from '../api/api-helper.js'
import { scanOptions } from './scan-helper.js'

const b64 = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64url')
const ids = (n: number, make: (i: number) => Uint8Array): string[] => Array.from({ length: n }, (_, i) => b64(make(i)))
const failed = (results: TestResult[]): string[] => results.filter((r) => !r.ok).map((r) => r.name)
const explain = (results: TestResult[]): string => results.map((r) => `${r.ok ? 'ok' : 'FAIL'} ${r.name}: ${r.detail}`).join('\n')

t.test('the Bonferroni bounds', async (t) => {
  t.equal(zTestCount(16), 132)
  t.ok(Math.abs(zBound(1) - 4.89) < 0.01, 'one test at 1e-6: |z| > 4.89')
  t.ok(Math.abs(zBound(132) - 5.78) < 0.01, `ids: 132 tests → ${zBound(132)}`)
  t.ok(Math.abs(zBound(260) - 5.89) < 0.01, `tokens: 260 tests → ${zBound(260)}`)
  t.throws(() => randomnessTests(ids(MIN_SAMPLES - 1, () => randomBytes(16)), MESSAGE_ID_FORMAT), RangeError)
})

t.test('crypto.randomBytes passes every test', async (t) => {
  for (const n of [30, 200, 2000]) {
    const results = randomnessTests(ids(n, () => randomBytes(16)), MESSAGE_ID_FORMAT)
    t.same(failed(results), [], `ids n=${n}\n${explain(results)}`)
    t.equal(results.length, 8, 'all eight tests ran')
    const tokens = randomnessTests(ids(n, () => randomBytes(32)), DELETE_TOKEN_FORMAT)
    t.same(failed(tokens), [], `tokens n=${n}\n${explain(tokens)}`)
  }
  for (let run = 0; run < 20; run++) {
    const results = randomnessTests(ids(200, () => randomBytes(16)), MESSAGE_ID_FORMAT)
    if (failed(results).length > 0) t.fail(`run ${run}\n${explain(results)}`)
  }
  t.pass('20 runs of n=200 pass')
})

t.test('each bad generator fails the test meant for it', async (t) => {
  const n = 200

  // A 128-bit counter from a random start: neighbours share 120 bits, the first 6 bytes never move.
  const start = randomBytes(16).readBigUInt64BE(8)
  const counter = ids(n, (i) => {
    const out = randomBytes(16)
    out.fill(7, 0, 8)
    out.writeBigUInt64BE((start + BigInt(i)) % (1n << 64n), 8)
    return out
  })
  let r = randomnessTests(counter, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('shared prefix'), `counter: shared prefix\n${explain(r)}`)
  t.ok(failed(r).includes('time correlation'), 'counter: time correlation')

  // A millisecond timestamp in the first 6 bytes, then 10 random bytes; a few per millisecond.
  const now = Date.now()
  const stamped = ids(n, (i) => {
    const out = randomBytes(16)
    out.writeUIntBE(now + Math.floor(i / 3), 0, 6)
    return out
  })
  r = randomnessTests(stamped, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('time correlation'), `timestamp: time correlation\n${explain(r)}`)
  t.ok(failed(r).includes('shared prefix'), 'timestamp: shared prefix (same millisecond)')

  // A counter in the first 6 bytes after a random start: no shared 48-bit prefix, but ordered.
  const base = randomBytes(6).readUIntBE(0, 6) % 2 ** 40
  const ordered = ids(n, (i) => {
    const out = randomBytes(16)
    out.writeUIntBE(base + i * 1000, 0, 6)
    return out
  })
  r = randomnessTests(ordered, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('time correlation'), `ordered prefix: time correlation\n${explain(r)}`)

  // Math.random() bytes with the top bit of every byte stuck at 0.
  const stuck = ids(n, () => Uint8Array.from({ length: 16 }, () => Math.floor(Math.random() * 128)))
  r = randomnessTests(stuck, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('bit frequency'), `stuck top bit: bit frequency\n${explain(r)}`)
  t.ok(failed(r).includes('monobit'), 'stuck top bit: monobit')

  // One stuck bit only (bit 5 of byte 9): the per-position test, even at n=30.
  const oneBit = ids(30, () => { const out = randomBytes(16); out[9] = (out[9] as number) | 0x04; return out })
  r = randomnessTests(oneBit, MESSAGE_ID_FORMAT)
  t.same(failed(r), ['bit frequency'], `one stuck bit at n=30\n${explain(r)}`)
  t.match(r.find((x) => x.name === 'bit frequency')?.detail, /^bit 77 frequency z=[\d.]+ > 5\.78/)

  // A low-entropy byte: byte 0 always in 0..15 (n=1000: the chi-square sees 1 byte in 16 at 16 values).
  const lowByte = ids(1000, () => { const out = randomBytes(16); out[0] = (out[0] as number) & 0x0f; return out })
  r = randomnessTests(lowByte, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('byte chi-square'), `low-entropy byte: chi-square\n${explain(r)}`)
  t.ok(failed(r).includes('bit frequency'), 'low-entropy byte: bit frequency')

  // Every byte from 16 values whose bits are balanced: only the chi-square can see it.
  const balanced = [0x00, 0xff, 0x55, 0xaa, 0x0f, 0xf0, 0x33, 0xcc, 0x3c, 0xc3, 0x5a, 0xa5, 0x69, 0x96, 0x66, 0x99]
  const sixteen = ids(n, () => Uint8Array.from(randomBytes(16), (b) => balanced[b & 15] as number))
  r = randomnessTests(sixteen, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('byte chi-square'), `16 byte values: chi-square\n${explain(r)}`)
  t.notOk(failed(r).includes('bit frequency'), 'each bit is balanced')

  // Duplicates.
  const dup = ids(n, () => randomBytes(16))
  dup[150] = dup[20] as string
  dup[199] = dup[3] as string
  r = randomnessTests(dup, MESSAGE_ID_FORMAT)
  t.ok(failed(r).includes('collision'), `duplicates: collision\n${explain(r)}`)
  t.match(r.find((x) => x.name === 'collision'), { detail: /^2 duplicate/, examples: [20, 150, 3, 199] })

  // Non-canonical base64url: the last char carries 4 padding bits, which must be zero.
  const nonCanonical = ids(n, () => randomBytes(16))
  const last = nonCanonical[7] as string
  nonCanonical[7] = last.slice(0, 21) + ({ A: 'B', Q: 'R', g: 'h', w: 'x' } as Record<string, string>)[last.slice(21)]
  t.equal(Buffer.from(nonCanonical[7] as string, 'base64url').toString('base64url'), last, 'decodes to the same bytes')
  r = randomnessTests(nonCanonical, MESSAGE_ID_FORMAT)
  t.same(failed(r), ['format'], `non-canonical: format only\n${explain(r)}`)
  t.match(r[0], { detail: /#7: not canonical/, examples: [7] })

  // Wrong length: 15 or 20 bytes, and padding.
  for (const [label, sample] of [['15 bytes', ids(n, () => randomBytes(15))], ['20 bytes', ids(n, () => randomBytes(20))], ['padded', ids(n, () => randomBytes(16)).map((s) => `${s}==`)]] as const) {
    r = randomnessTests(sample, MESSAGE_ID_FORMAT)
    t.ok(failed(r).includes('format'), `${label}: format\n${explain(r)}`)
  }
  const shortTokens = randomnessTests(ids(n, () => randomBytes(16)), DELETE_TOKEN_FORMAT)
  t.ok(failed(shortTokens).includes('format'), '16-byte delete tokens: format (22 chars < 32)')
})

const options = (url: URL, apiKey?: string): ScanOptions => scanOptions(url, apiKey === undefined ? {} : { apiKey })

async function scan (t: Test, url: URL, operator: { key: string, scopes: string[] } | null): Promise<{ ctx: ScanContext, client: ScanClient, findings: Map<Check, Finding[]>, used: Map<Check, number> }> {
  const runId = `test-${randomBytes(4).toString('hex')}`
  const client = new ScanClient({ baseUrl: url, userAgent: 'missive-security/test', runId, rate: 1000, timeoutMs: 5000, maxRequests: 2000, signal: new AbortController().signal })
  t.teardown(() => client.close())
  const ctx = new ScanContext(options(url, operator?.key), client, runId)
  if (operator !== null) ctx.operator = { id: null, key: ctx.keep(operator.key), scopes: operator.scopes, minted: false }
  const findings = new Map<Check, Finding[]>()
  const used = new Map<Check, number>()
  for (const check of randChecks) {
    ctx.http = new CheckHttp(client, check.id, check.budget)
    try {
      findings.set(check, await check.run(ctx))
    } catch (err) {
      findings.set(check, [{ status: err instanceof Skip ? 'skip' : 'error', seen: (err as Error).message }])
    }
    used.set(check, ctx.http.used)
  }
  return { ctx, client, findings, used }
}

/** The ids the run created, seen from its responses. */
const createdIds = (ctx: ScanContext): string[] => ctx.observed
  .filter((res) => res.request.method === 'POST' && res.request.path.endsWith('/messages') && res.status === 201)
  .map((res) => (res.json as { id: string }).id)

t.test('a target with counter ids and Math.random() tokens fails both checks, with redacted evidence', async (t) => {
  let next = BigInt(`0x${randomBytes(8).toString('hex')}`) << 64n
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.method === 'POST' && req.url === '/api/v1/messages') {
        next++
        const id = Buffer.from(next.toString(16).padStart(32, '0'), 'hex').toString('base64url')
        // Math.random() bytes: a float never fills the top bit here (a common truncation bug).
        const deleteToken = Buffer.from(Array.from({ length: 32 }, () => Math.floor(Math.random() * 128))).toString('base64url')
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ id, url: `/msg/${id}`, deleteToken }))
      } else res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const address = server.address() as AddressInfo
  const { ctx, findings } = await scan(t, new URL(`http://127.0.0.1:${address.port}`), { key: 'msk_test_operator_key_0123456789', scopes: ['messages:write', 'messages:delete'] })
  const [ids, tokens] = randChecks as [Check, Check]
  const idFails = (findings.get(ids) ?? []).filter((f) => f.status === 'fail')
  t.ok(idFails.some((f) => /^message ids: shared prefix: #\d+ and #\d+ share a 1\d\d-bit prefix/.test(f.seen)), 'ids: shared prefix')
  t.ok(idFails.some((f) => /^message ids: time correlation/.test(f.seen)), 'ids: time correlation')
  t.notOk((findings.get(ids) ?? []).some((f) => /consistent with a CSPRNG/.test(f.seen)), 'no CSPRNG summary on a failure')
  const tokenFails = (findings.get(tokens) ?? []).filter((f) => f.status === 'fail')
  t.ok(tokenFails.some((f) => /^delete tokens: bit frequency: bit 0 frequency z=[\d.]+ > 5\.89/.test(f.seen)), 'tokens: bit frequency')
  const evidence = tokenFails.map((f) => f.evidence ?? '').join('\n')
  t.match(evidence, /#0 [A-Za-z0-9_-]{4}…\*\*\*/, 'tokens shown redacted')
  t.notOk([...ctx.secrets].some((secret) => evidence.includes(secret)), 'no delete token in the evidence')
  t.match(tokenFails[0]?.curl, /-H 'x-api-key: \$API_KEY'/, 'the curl hides the key')
  await ctx.ledger.undo()
  t.same(ctx.ledger.leftBehind, [])
})

t.test('end to end against a real Missive on Redis', async (t) => {
  const app = await build(t, { store: 'redis' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const url = new URL(`http://127.0.0.1:${address.port}`)

  t.test('with an admin key: a minted key, one shared sample, every test passes, nothing left', async (t) => {
    const { key } = await makeKey(app, ALL_SCOPES)
    const { ctx, client, findings, used } = await scan(t, url, { key, scopes: ALL_SCOPES })
    const [ids, tokens] = randChecks as [Check, Check]
    for (const check of randChecks) {
      const list = findings.get(check) ?? []
      t.same(list.filter((f) => f.status !== 'pass'), [], `${check.id} passes`)
      t.match(list[0]?.seen, /consistent with a CSPRNG \(n=200\)/, `${check.id} summary`)
      t.notMatch(list.map((f) => f.seen).join('\n'), /proven/)
      t.equal(list.length, 9, 'a summary and eight tests')
    }
    t.equal(used.get(ids), 201, 'MSV-RAND-001 paid: a key and 200 creates')
    t.equal(used.get(tokens), 0, 'MSV-RAND-002 shares the sample')
    t.ok(used.get(ids) as number <= ids.budget)
    const created = createdIds(ctx)
    t.equal(created.length, 200)
    t.equal(ctx.ledger.size, 201, '200 messages and the minted key in the ledger')
    await ctx.ledger.undo()
    t.equal(ctx.ledger.size, 0)
    t.same(ctx.ledger.leftBehind, [], 'left behind: 0')
    t.equal(client.reserved, 0)
    for (const id of created.slice(0, 20)) t.equal((await app.inject(`/msg/${id}`)).statusCode, 404, `${id} is gone`)
  })

  t.test('with a key that may write and delete: the operator key, deleted through the API', async (t) => {
    const { key } = await makeKey(app, ['messages:write', 'messages:delete'])
    const { ctx, findings, used } = await scan(t, url, { key, scopes: ['messages:write', 'messages:delete'] })
    for (const check of randChecks) t.same((findings.get(check) ?? []).filter((f) => f.status !== 'pass'), [], `${check.id} passes`)
    t.equal(used.get(randChecks[0] as Check), 200, 'no key minted')
    const created = createdIds(ctx)
    await ctx.ledger.undo()
    t.same(ctx.ledger.leftBehind, [])
    for (const id of created.slice(0, 20)) t.equal((await app.inject(`/msg/${id}`)).statusCode, 404, `${id} is gone`)
  })

  const reason = 'needs --api-key with messages:write and messages:delete, or keys:admin (anonymous creates are limited to 30/min)'
  t.test('anonymous: skipped with the reason, nothing sent', async (t) => {
    const { client, findings } = await scan(t, url, null)
    for (const check of randChecks) t.same(findings.get(check), [{ status: 'skip', seen: reason }])
    t.equal(client.sent, 0)
  })

  t.test('a key that may write but not delete: skipped (200 anonymous deletes would spend the read limit)', async (t) => {
    const { key } = await makeKey(app, ['messages:write'])
    const { client, findings } = await scan(t, url, { key, scopes: ['messages:write'] })
    for (const check of randChecks) t.same(findings.get(check), [{ status: 'skip', seen: reason }])
    t.equal(client.sent, 0)
  })
})
