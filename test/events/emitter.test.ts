import t from 'tap'
import { looksSecret, SECURITY_EVENT_TYPE_LIST, SecurityEvents, type SecurityEventType, toStoredEvent } from '../../src/abuse/events.js'
import { StoreUnavailable } from '../../src/errors.js'
import type { EventLog, StoredSecurityEvent } from '../../src/storage/event-log.js'
import { MemoryEventLog } from '../../src/storage/memory/memory-event-log.js'

function recorder (): { lines: Array<{ level: string, obj: Record<string, unknown>, msg: string }>, log: { info: (o: object, m: string) => void, warn: (o: object, m: string) => void, error: (o: object, m: string) => void } } {
  const lines: Array<{ level: string, obj: Record<string, unknown>, msg: string }> = []
  const at = (level: string) => (obj: object, msg: string): void => { lines.push({ level, obj: obj as Record<string, unknown>, msg }) }
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } }
}

t.test('the catalogue has the types the README lists', async (t) => {
  for (const type of ['auth.failure', 'auth.ip_denied', 'auth.lockout', 'proof.replayed', 'key.created', 'key.revoked', 'key.rotated', 'key.updated',
    'signing_key.added', 'signing_key.removed', 'policy.changed', 'policy.reset', 'block.added', 'block.lifted']) {
    t.ok(SECURITY_EVENT_TYPE_LIST.includes(type as SecurityEventType), type)
  }
})

t.test('emit: one log line with the event field, and one feed entry, without waiting', async (t) => {
  const { lines, log } = recorder()
  const store = new MemoryEventLog({ max: 100 })
  const events = new SecurityEvents({ log, store, now: () => Date.parse('2026-01-02T03:04:05.678Z') })
  const returned = events.emit({ type: 'block.added', ip: '192.0.2.1', requestId: 'r-1', detail: { cidr: '192.0.2.0/24', level: 2, until: '2026-01-02T03:09:05.678Z', manual: false, reason: 'auth-failures' } })
  t.equal(returned, undefined, 'nothing to await')
  t.same(lines, [{ level: 'warn', obj: { cidr: '192.0.2.0/24', detail_level: 2, until: '2026-01-02T03:09:05.678Z', manual: false, reason: 'auth-failures', event: 'block.added', ip: '192.0.2.1', keyId: null, reqId: 'r-1' }, msg: 'client network blocked' }])
  events.emit({ type: 'policy.changed', keyId: 'abcdefghijkl', detail: { version: '7', event: 'spoofed' } })
  t.equal(lines[1]?.level, 'info')
  t.equal(lines[1]?.obj.event, 'policy.changed', 'detail cannot change the event field')
  t.equal(lines[1]?.obj.detail_event, 'spoofed', 'a detail named like a log field is logged as detail_<name> (pino\'s level stays pino\'s)')
  await events.flush()
  const { items } = await store.list(null, 10)
  t.match(items, [
    { type: 'block.added', at: '2026-01-02T03:04:05.678Z', ip: '192.0.2.1', keyId: null, requestId: 'r-1', detail: { cidr: '192.0.2.0/24', level: 2, manual: false } },
    { type: 'policy.changed', ip: null, keyId: 'abcdefghijkl', requestId: null, detail: { version: '7' } }
  ])
  t.throws(() => { events.emit({ type: 'nope' as SecurityEventType }) }, TypeError, 'an unknown type is a programming error')
})

t.test('a failing store is logged once until it recovers, never thrown', async (t) => {
  const { lines, log } = recorder()
  let fail = true
  const inner = new MemoryEventLog({ max: 10 })
  const store: EventLog = {
    append: async (e: StoredSecurityEvent) => { if (fail) throw new StoreUnavailable(); return await inner.append(e) },
    list: async (after, limit) => await inner.list(after, limit),
    close: async () => {}
  }
  const events = new SecurityEvents({ log, store })
  for (let i = 0; i < 5; i++) events.emit({ type: 'auth.failure', detail: { reason: 'x' } })
  await events.flush()
  t.equal(lines.filter(l => l.level === 'error').length, 1, 'one error line for five failures')
  fail = false
  events.emit({ type: 'auth.failure' })
  await events.flush()
  fail = true
  events.emit({ type: 'auth.failure' })
  await events.flush()
  t.equal(lines.filter(l => l.level === 'error').length, 2, 'and again after it recovered and failed again')
  const throwing = new SecurityEvents({ log, store: { ...store, append: () => { throw new Error('sync') } } })
  t.doesNotThrow(() => { throwing.emit({ type: 'key.revoked' }) }, 'a store that throws at once')
})

t.test('no secret gets through', async (t) => {
  const apiKey = 'msk_abcdefghijkl_' + 'A'.repeat(43)
  const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
  const token = 'oR0fJ3k2-_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456'
  t.equal(token.length, 43)
  for (const secret of [apiKey, jwt, token, `Bearer ${jwt}`, `key=${apiKey};`, `delete token ${token} here`]) t.ok(looksSecret(secret), secret)
  for (const plain of ['api-key', 'replayed nonce', '192.0.2.0/24', 'abcdefghijkl', '2026-01-02T03:04:05.678Z', 'a'.repeat(42), 'a'.repeat(44)]) t.notOk(looksSecret(plain), plain)
  const stored = toStoredEvent({
    type: 'auth.failure',
    ip: jwt,
    keyId: apiKey,
    requestId: token,
    detail: { reason: `bad ${apiKey}`, token, keyid: token, jkt: jwt, long: 'x'.repeat(1000), nested: { a: 1 } as unknown as string, list: ['a'] as unknown as string, n: Number.NaN, ok: true }
  }, 0)
  t.same(stored, {
    type: 'auth.failure',
    at: '1970-01-01T00:00:00.000Z',
    ip: '[redacted]',
    keyId: null,
    requestId: '[redacted]',
    detail: { reason: '[redacted]', token: '[redacted]', keyid: token, jkt: '[redacted]', long: 'x'.repeat(200), n: null, ok: true }
  }, 'secrets redacted, a thumbprint kept only as keyid/jkt, nothing structured, strings cut')
  const many = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]))
  t.equal(Object.keys(toStoredEvent({ type: 'policy.changed', detail: many }, 0).detail).length, 16, 'at most 16 detail fields')
  t.equal(toStoredEvent({ type: 'policy.changed', keyId: 'not-a-key-id' }, 0).keyId, null, 'a keyId that is not a key id')
})
