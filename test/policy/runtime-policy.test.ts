import t from 'tap'
import { defaultPolicy, ENV_VERSION, parseIfMatch, parsePolicyValues, perPolicy, type PolicyDefaults, RuntimePolicy } from '../../src/abuse/policy.js'
import type { SecurityEvent } from '../../src/abuse/events.js'
import { InvalidPolicy, PolicyVersionMismatch, StoreUnavailable } from '../../src/errors.js'
import { MemoryPolicyStore } from '../../src/storage/memory/memory-policy-store.js'
import type { PolicyStore, StoredPolicy } from '../../src/storage/policy-store.js'
import { sleep } from '../helper.js'

const DEFAULTS: PolicyDefaults = {
  corsOrigins: ['https://env.example.com'],
  RATE_LIMIT_WINDOW_MS: 60_000,
  RATE_LIMIT_CREATE_MAX: 30,
  RATE_LIMIT_READ_MAX: 300,
  RATE_LIMIT_API_MAX: 6000,
  MESSAGE_MAX_TTL_SECONDS: 2_592_000,
  MESSAGE_DEFAULT_TTL_SECONDS: 86_400
}

const VALUES = {
  corsOrigins: ['https://*.example.com'],
  rateLimits: { windowMs: 1000, create: 1, read: 2, api: 3 },
  maxTtlSeconds: 86_400,
  anonymousCreate: false
}

/** A store that can be made to fail, and whose reads can be held back. */
class FlakyStore implements PolicyStore {
  down = false
  readDelayMs = 0
  constructor (readonly inner: PolicyStore = new MemoryPolicyStore()) {}
  private check (): void { if (this.down) throw new StoreUnavailable() }
  async read (): Promise<StoredPolicy | null> {
    this.check()
    const found = await this.inner.read()
    if (this.readDelayMs > 0) await sleep(this.readDelayMs)
    return found
  }

  async version (): Promise<string | null> { this.check(); return await this.inner.version() }
  async compareAndSet (next: StoredPolicy, expected: string | null | undefined): Promise<boolean> { this.check(); return await this.inner.compareAndSet(next, expected) }
  async close (): Promise<void> {}
}

function logger (): { lines: Array<[string, string]>, log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void } } {
  const lines: Array<[string, string]> = []
  return { lines, log: { info: (_o, m) => { lines.push(['info', m]) }, warn: (_o, m) => { lines.push(['warn', m]) } } }
}

t.test('parseIfMatch: absent and * are unconditional; tags bare or quoted; weak tags never match', async (t) => {
  t.equal(parseIfMatch(undefined), undefined)
  t.equal(parseIfMatch(null), undefined)
  t.equal(parseIfMatch('*'), undefined)
  t.same(parseIfMatch('"abc"'), ['abc'])
  t.same(parseIfMatch('abc'), ['abc'])
  t.same(parseIfMatch(' "a" , b ,W/"c"'), ['a', 'b'])
  t.same(parseIfMatch('W/"c"'), [])
  t.same(parseIfMatch(''), [])
})

t.test('parsePolicyValues: a copy of a valid policy; InvalidPolicy naming the first bad field', async (t) => {
  const parsed = parsePolicyValues(VALUES, DEFAULTS)
  t.same(parsed, VALUES)
  t.not(parsed.corsOrigins, VALUES.corsOrigins, 'a copy')
  const invalid = (input: unknown): string => {
    try {
      parsePolicyValues(input, DEFAULTS)
    } catch (err) {
      t.type(err, InvalidPolicy)
      return (err as Error).message
    }
    return 'accepted'
  }
  t.match(invalid(null), /must be an object/)
  t.match(invalid({ ...VALUES, rateLimits: { ...VALUES.rateLimits, windowMs: 999 } }), 'body/rateLimits/windowMs: must be an integer from 1000 to')
  t.match(invalid({ ...VALUES, rateLimits: { ...VALUES.rateLimits, create: 0 } }), 'body/rateLimits/create: must be an integer from 1 to 1000000000')
  t.match(invalid({ ...VALUES, rateLimits: { ...VALUES.rateLimits, api: 1e10 } }), 'body/rateLimits/api:')
  t.match(invalid({ ...VALUES, maxTtlSeconds: 86_399 }), /^body\/maxTtlSeconds: must be at least MESSAGE_DEFAULT_TTL_SECONDS \(86400\)/)
  t.match(invalid({ ...VALUES, corsOrigins: ['https://ok.example.com', 'https://*.github.io'] }), /^body\/corsOrigins\/1: "https:\/\/\*\.github\.io"/)
  t.match(invalid({ ...VALUES, corsOrigins: ['https://ok.example.com', 42] }), 'body/corsOrigins/1: must be a string')
  t.match(invalid({ ...VALUES, corsOrigins: 'https://a.example.com' }), 'body/corsOrigins: must be an array')
  t.match(invalid({ ...VALUES, anonymousCreate: 1 }), 'body/anonymousCreate: must be true or false')
  t.match(invalid({ ...VALUES, more: true }), 'body/more: is not a field of the policy')
  const { maxTtlSeconds: _, ...missing } = VALUES
  t.match(invalid(missing), 'body/maxTtlSeconds: is required')
  t.match(invalid({ ...VALUES, rateLimits: { windowMs: 1000, create: 1, read: 1 } }), 'body/rateLimits/api: is required')
})

t.test('snapshots are frozen and replaced, never mutated; current() is the same object while nothing changes', async (t) => {
  const policy = new RuntimePolicy(new MemoryPolicyStore(), DEFAULTS, { pollMs: 0 })
  await policy.start()
  const first = policy.current()
  t.same(first, defaultPolicy(DEFAULTS))
  t.equal(first.version, ENV_VERSION)
  t.ok(Object.isFrozen(first) && Object.isFrozen(first.corsOrigins) && Object.isFrozen(first.rateLimits))
  t.equal(policy.current(), first)
  await policy.refresh()
  t.equal(policy.current(), first, 'a refresh that finds nothing new keeps the object')
  const replaced = await policy.replace(VALUES, null, 'kid000000001')
  t.not(replaced, first)
  t.equal(policy.current(), replaced)
  t.same(first, defaultPolicy(DEFAULTS), 'the old snapshot is untouched')
  t.match(replaced, { ...VALUES, updatedBy: 'kid000000001' })
  let made = 0
  const derived = perPolicy(policy, (p) => { made++; return p.maxTtlSeconds })
  t.equal(derived(), 86_400)
  t.equal(derived(), 86_400)
  t.equal(made, 1, 'derived once per snapshot')
  await policy.reset(undefined, 'key-tool')
  t.equal(derived(), 2_592_000)
  t.equal(made, 2)
})

t.test('a change on one instance reaches another within a poll; a reset too', async (t) => {
  const store = new MemoryPolicyStore()
  const a = new RuntimePolicy(store, DEFAULTS, { pollMs: 0 })
  const b = new RuntimePolicy(store, DEFAULTS, { pollMs: 50 })
  t.teardown(() => { b.close() })
  await a.start()
  await b.start()
  const changed = await a.replace(VALUES, '"env"', 'kid000000001')
  await sleep(200)
  t.equal(b.current().version, changed.version)
  t.same(b.current(), changed)
  const reset = await a.reset(`"${changed.version}"`, 'kid000000001')
  await sleep(200)
  t.equal(b.current().version, reset.version)
  t.match(b.current(), { corsOrigins: ['https://env.example.com'], anonymousCreate: true, updatedBy: 'kid000000001' })
  await t.rejects(b.replace(VALUES, changed.version, 'x'), PolicyVersionMismatch)
  await t.rejects(b.replace({ ...VALUES, maxTtlSeconds: 1 }, undefined, 'x'), InvalidPolicy, 'validated before any write')
  t.equal(b.current().version, reset.version)
})

t.test('a store outage keeps the policy in force, warns once, and catches up when it is back', async (t) => {
  const store = new FlakyStore()
  const writer = new RuntimePolicy(store.inner, DEFAULTS, { pollMs: 0 })
  const { lines, log } = logger()
  const changed = await writer.replace(VALUES, undefined, 'kid000000001')
  const policy = new RuntimePolicy(store, DEFAULTS, { pollMs: 30, log })
  t.teardown(() => { policy.close() })
  await policy.start()
  t.equal(policy.current().version, changed.version)
  store.down = true
  await sleep(200)
  t.equal(policy.current().version, changed.version, 'kept during the outage')
  t.same(lines.filter(([level]) => level === 'warn').length, 1, 'one warning for the outage, not one per poll')
  await t.rejects(policy.replace(VALUES, undefined, 'x'), StoreUnavailable, 'a change during the outage is a 503')
  const next = await writer.replace({ ...VALUES, anonymousCreate: true }, undefined, 'kid000000001')
  store.down = false
  await sleep(200)
  t.equal(policy.current().version, next.version, 'followed once the store answers')
  t.match(lines.at(-1), ['info', /answers again/])
})

t.test('an instance that starts during an outage serves the environment\'s policy, then the stored one', async (t) => {
  const store = new FlakyStore()
  const changed = await new RuntimePolicy(store.inner, DEFAULTS, { pollMs: 0 }).replace(VALUES, undefined, 'k')
  store.down = true
  const policy = new RuntimePolicy(store, DEFAULTS, { pollMs: 30 })
  t.teardown(() => { policy.close() })
  await policy.start()
  t.equal(policy.current().version, ENV_VERSION)
  store.down = false
  await sleep(150)
  t.equal(policy.current().version, changed.version)
})

t.test('a poll that raced a change made here does not undo it', async (t) => {
  const store = new FlakyStore()
  const policy = new RuntimePolicy(store, DEFAULTS, { pollMs: 0 })
  await policy.start()
  const other = new RuntimePolicy(store.inner, DEFAULTS, { pollMs: 0 })
  await other.replace(VALUES, undefined, 'elsewhere')
  store.readDelayMs = 100
  const slowRefresh = policy.refresh() // reads the other instance's version, slowly
  await sleep(20)
  store.readDelayMs = 0
  const mine = await policy.replace({ ...VALUES, maxTtlSeconds: 90_000 }, undefined, 'here')
  await slowRefresh
  t.equal(policy.current(), mine, 'the newer change made here stays')
})

t.test('a stored policy this instance cannot enforce is not applied (warned once)', async (t) => {
  const store = new MemoryPolicyStore()
  const { lines, log } = logger()
  await new RuntimePolicy(store, { ...DEFAULTS, MESSAGE_DEFAULT_TTL_SECONDS: 3600 }, { pollMs: 0 }).replace({ ...VALUES, maxTtlSeconds: 7200 }, undefined, 'k')
  const policy = new RuntimePolicy(store, DEFAULTS, { pollMs: 0, log })
  await policy.start()
  await policy.refresh()
  t.equal(policy.current().version, ENV_VERSION, 'a max below this instance\'s default TTL would refuse every create without ttl')
  t.equal(lines.length, 1)
  t.match(lines[0], ['warn', /cannot be applied/])
})

t.test('the service emits each change\'s security event, whoever makes it; a refused change emits none', async (t) => {
  const events: SecurityEvent[] = []
  const policy = new RuntimePolicy(new MemoryPolicyStore(), DEFAULTS, { pollMs: 0, events: { emit: (event) => { events.push(event) } } })
  t.teardown(() => { policy.close() })
  await policy.start()
  const changed = await policy.replace(VALUES, null, 'adminkey0001', { ip: '192.0.2.1', requestId: 'req-1' })
  await t.rejects(policy.replace(VALUES, '"stale"', 'adminkey0001'), PolicyVersionMismatch)
  await t.rejects(policy.replace({ ...VALUES, maxTtlSeconds: -1 }, null, 'adminkey0001'), InvalidPolicy)
  const reset = await policy.reset(null, 'key-tool')
  t.same(events, [
    { type: 'policy.changed', keyId: 'adminkey0001', ip: '192.0.2.1', requestId: 'req-1', detail: { version: changed.version, by: 'adminkey0001' } },
    { type: 'policy.reset', keyId: null, ip: null, requestId: null, detail: { version: reset.version, by: 'key-tool' } }
  ])
})
