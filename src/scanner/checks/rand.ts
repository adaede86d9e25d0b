// MSV-RAND: message ids and delete tokens are consistent with a CSPRNG (issue #14, item 7).
// Both checks judge ONE sample: the 201 answers of creates sent in sequence, collected once per
// run by whichever check runs first (so its budget pays) and shared through a WeakMap.
import { type Check, type Finding, fail, pass, Skip } from '../check.js'
import type { ScanRequest } from '../client.js'
import type { RunKey, ScanContext } from '../context.js'
import { DELETE_TOKEN_FORMAT, FAMILY_ALPHA, MESSAGE_ID_FORMAT, MIN_SAMPLES, randomnessTests, type SampleFormat } from '../stats.js'

/** Static, so --dry-run can show it: each sample is a create plus its delete at cleanup, and a key. */
const RAND_BUDGET = 420
/** The most samples that fit the budget at two requests each (--samples above it is cut down). */
export const MAX_SAMPLES = Math.floor((RAND_BUDGET - 10) / 2)
/** Anonymous creates are limited to 30 per minute per address: a run may take at most 20 of them. */
const ANONYMOUS_MAX = 20

const CREATE_BODY = { content: 'x', ttl: 60 }

interface SampleSet {
  /** in creation order (the creates are sent one after the other) */
  ids: string[]
  tokens: string[]
  /** the create request, for the curl of a failure */
  request: ScanRequest
  /** why sampling stopped short of the target, if it did */
  short: string | null
  target: number
}

const collected = new WeakMap<ScanContext, Promise<SampleSet>>()

/** The run's one sample, collected on first use. */
async function samplesOf (ctx: ScanContext): Promise<SampleSet> {
  let pending = collected.get(ctx)
  if (pending === undefined) {
    pending = collect(ctx)
    collected.set(ctx, pending)
  }
  return await pending
}

/** A key that may create through the API: minted (messages:write + messages:delete) or the operator's. */
async function writer (ctx: ScanContext): Promise<RunKey | null> {
  if (ctx.operator === null) return null
  try {
    return await ctx.key(['messages:write', 'messages:delete'], 'rand')
  } catch (err) {
    if (!(err instanceof Skip)) throw err
  }
  // The samples are deleted by their owner through the API (the per-key limit); without
  // messages:delete they would be deleted anonymously, 200 deletes against the read limit.
  return ctx.operator.scopes.includes('messages:write') && ctx.operator.scopes.includes('messages:delete') ? ctx.operator : null
}

async function collect (ctx: ScanContext): Promise<SampleSet> {
  if (ctx.options.samples < MIN_SAMPLES) throw new Skip(`--samples ${ctx.options.samples} is below ${MIN_SAMPLES}, the fewest these tests judge`)
  const key = await writer(ctx)
  const target = Math.min(ctx.options.samples, key === null ? ANONYMOUS_MAX : MAX_SAMPLES)
  if (target < MIN_SAMPLES) throw new Skip('needs --api-key with messages:write and messages:delete, or keys:admin (anonymous creates are limited to 30/min)')
  const body = JSON.stringify(CREATE_BODY)
  const request: ScanRequest = {
    method: 'POST',
    path: key === null ? '/' : '/api/v1/messages',
    creates: true,
    // A 429 ends the sampling at once: no waiting out Retry-After.
    expectLimit: true,
    headers: { 'content-type': 'application/json', ...(key === null ? {} : { 'x-api-key': key.key }) },
    body
  }
  const ids: string[] = []
  const tokens: string[] = []
  let short: string | null = null
  // One at a time, so the order of the answers is the order of creation. Each message goes to
  // the cleanup ledger (recordCreated) and is deleted at the runner's next checkpoint.
  while (ids.length < target) {
    if (!ctx.http.canAfford(2)) { short = 'the request budget ran out'; break }
    const res = await ctx.request(request)
    if (res.status === 429 || res.status === 503) { short = `${request.method} ${request.path} answered ${res.status}`; break }
    const made = ctx.recordCreated(res, CREATE_BODY, key)
    ids.push(made.id)
    tokens.push(made.deleteToken)
  }
  if (ids.length < MIN_SAMPLES) throw new Skip(`only ${ids.length} samples (${short ?? 'stopped'}); the tests need ${MIN_SAMPLES}`)
  return { ids, tokens, request, short, target }
}

/** The findings for one kind of value: a summary, then one per test. */
async function judge (ctx: ScanContext, which: 'ids' | 'tokens', format: SampleFormat): Promise<Finding[]> {
  const set = await samplesOf(ctx)
  const samples = set[which]
  const n = samples.length
  const results = randomnessTests(samples, format)
  const failed = results.filter((r) => !r.ok)
  const show = (i: number): string => `#${i} ${ctx.redact(samples[i] ?? '?')}`
  const curl = ctx.curl(set.request)
  const findings: Finding[] = results.map((r) => r.ok
    ? pass(`${format.label}: ${r.name}: ${r.detail}`)
    : fail(ctx.redact(`${format.label}: ${r.name}: ${r.detail}`), {
      evidence: `${n} ${format.label} in creation order; ${(r.examples ?? [0, 1, 2, 3, 4]).filter((i) => i < n).map(show).join(', ')}`,
      curl
    }))
  const short = set.short === null ? '' : `; stopped at ${n} of ${set.target}: ${set.short}`
  const cut = ctx.options.samples > MAX_SAMPLES ? `; --samples ${ctx.options.samples} cut to the budget's ${MAX_SAMPLES}` : ''
  if (failed.length === 0) {
    findings.unshift(pass(`${format.label}: consistent with a CSPRNG (n=${n}): ${results.length} tests within bounds, family-wise false-alarm rate ${FAMILY_ALPHA}${short}${cut}`))
  }
  return findings
}

const common = {
  family: 'RAND',
  owasp: 'API2:2023',
  cwe: 330,
  severity: 'high',
  profile: 'safe',
  budget: RAND_BUDGET,
  order: 40,
  source: 'src/ids.ts'
} as const

export const randChecks: Check[] = [
  {
    ...common,
    id: 'MSV-RAND-001',
    title: 'Message ids: the 128-bit format, statistically consistent with a CSPRNG',
    fix: 'Message ids must be 16 bytes from crypto.randomBytes (src/ids.ts newMessageId), base64url: never a counter, a timestamp, Math.random() or a hash of the content.',
    plan: [
      'POST /api/v1/keys: mint a messages:write + messages:delete key (with keys:admin; else the --api-key itself when it has messages:write; anonymous creates are too few: skip)',
      `POST /api/v1/messages {"content":"x","ttl":60} × --samples (default 200, at most ${MAX_SAMPLES}), one after the other; stops early on a 429 or when the budget runs out`,
      'judge the ids: format, collision, bit frequency, monobit, runs, byte chi-square, shared prefix, time correlation (shared with MSV-RAND-002)',
      'the messages are deleted by the cleanup ledger'
    ],
    run: async (ctx) => await judge(ctx, 'ids', MESSAGE_ID_FORMAT)
  },
  {
    ...common,
    id: 'MSV-RAND-002',
    title: 'Delete tokens: at least 192 bits, statistically consistent with a CSPRNG',
    fix: 'Delete tokens must come from crypto.randomBytes (src/ids.ts newDeleteToken, 32 bytes), base64url: never derived from the id, the time or Math.random().',
    plan: [
      'no requests of its own: judges the delete tokens of the sample MSV-RAND-001 collects (collects it itself, with the same requests, when run alone)',
      'judge the tokens: format, collision, bit frequency, monobit, runs, byte chi-square, shared prefix, time correlation'
    ],
    run: async (ctx) => await judge(ctx, 'tokens', DELETE_TOKEN_FORMAT)
  }
]
