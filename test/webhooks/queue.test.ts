import { Redis } from 'ioredis'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { buildApp } from '../../src/app.js'
import { type ConfigOverrides, loadConfig } from '../../src/config.js'
import { MAX_ATTEMPTS } from '../../src/webhooks/retry.js'
import { endpointLeaseKey, endpointWaitersKey, QUEUE_PREFIX } from '../../src/webhooks/bullmq-queue.js'
import { deliveryJobId } from '../../src/webhooks/queue.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { flushRedis, sleep, testRedis } from '../helper.js'
import { RedisServer } from '../helpers/redis-server.js'
import { eventually, harness, type QueueKind } from './queue-harness.js'
import { testCertificate, WebhookReceiver } from './receiver.js'

/**
 * The delivery queues (API.md section 9, issue 19): the in-process one (memory store) and BullMQ
 * on a real Redis run the same tests; then what only the durable one promises: two instances,
 * a restart of the server, a restart of Redis with AOF, retention. Every receiver is a real HTTPS
 * server on 127.0.0.1 verifying each delivery with the standardwebhooks verifier. The schedule is
 * scaled down (Config.webhookTiming in the app) so that eleven attempts take a second or two.
 */

async function bullmqOnTestRedis (): Promise<QueueKind> {
  const redis = await testRedis()
  await flushRedis(redis.url)
  return { kind: 'bullmq', redis: { REDIS_URL: redis.url, redisClusterNodes: [] } }
}

const kinds: Array<[string, () => Promise<QueueKind>]> = [
  ['memory', async () => ({ kind: 'memory' })],
  ['bullmq', bullmqOnTestRedis]
]

for (const [name, kindOf] of kinds) {
  t.test(`${name} queue`, async (t) => {
    t.test('an event is delivered once, signed; enqueueing it again queues nothing', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-3 })
      const a = await h.endpoint()
      const queue = h.open()
      const job = h.job(a, 'evt_once')
      await queue.enqueue([job, job])
      await queue.enqueue([job])
      const [got] = await a.receiver.waitFor(1)
      t.equal(got?.webhookId, 'evt_once')
      t.equal(got?.body, job.body, 'the body byte for byte')
      t.same(got?.verifiedBy, [a.secret], 'verified by the standardwebhooks verifier')
      await eventually('logged as delivered', async () => (await h.logOf(a, 'evt_once'))?.state === 'delivered')
      t.match(await h.logOf(a, 'evt_once'), { attempts: 1, lastStatus: 204, nextAttemptAt: null })
      await queue.enqueue([job])
      await sleep(300)
      t.equal(a.receiver.received.length, 1, 'once, also when enqueued again after its delivery')
    })

    t.test('a receiver that fails twice then recovers gets the event, with the same webhook-id', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-3 })
      const a = await h.endpoint({ statuses: [500, 503] })
      const queue = h.open()
      await queue.enqueue([h.job(a, 'evt_flaky')])
      const attempts = await a.receiver.waitFor(3)
      t.same(attempts.map((d) => d.webhookId), ['evt_flaky', 'evt_flaky', 'evt_flaky'])
      t.same(attempts.map((d) => d.status), [500, 503, 204])
      t.ok(attempts.every((d) => d.verifiedBy.length === 1), 'each attempt verifies')
      t.ok(attempts.every((d) => d.body === attempts[0]?.body), 'the same body each time')
      await eventually('logged as delivered', async () => (await h.logOf(a, 'evt_flaky'))?.state === 'delivered')
      t.match(await h.logOf(a, 'evt_flaky'), { attempts: 3, lastStatus: 204, nextAttemptAt: null })
      t.equal((await h.endpoints.find(h.job(a, '').owner, a.id))?.failingSince, null, 'the run of failures ended')
    })

    t.test('a receiver down past the whole budget: every attempt made, then failed', async (t) => {
      // 1e-5: the 24 h delay is 864 ms, all ten delays about 1.7 s
      const h = harness(t, await kindOf(), { scale: 1e-5 })
      const a = await h.endpoint({ respond: () => 503 })
      const queue = h.open()
      await queue.enqueue([h.job(a, 'evt_down')])
      await eventually('logged as failed', async () => (await h.logOf(a, 'evt_down'))?.state === 'failed', 15_000)
      t.match(await h.logOf(a, 'evt_down'), { attempts: MAX_ATTEMPTS, lastStatus: 503, nextAttemptAt: null })
      await sleep(200)
      t.equal(a.receiver.of('evt_down').length, MAX_ATTEMPTS, `${MAX_ATTEMPTS} attempts, no more`)
      t.equal((await h.endpoints.find(h.job(a, '').owner, a.id))?.disabledAt, null, 'one event\'s budget is shorter than the 5 days: not disabled')
    })

    t.test('the endpoint cannot be read at the last attempt (a store blip): failed, not left pending', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-5 })
      const a = await h.endpoint({ respond: () => 503 })
      const queue = h.open()
      await queue.enqueue([h.job(a, 'evt_store_down')])
      await eventually('all attempts but the last made', async () => (await h.logOf(a, 'evt_store_down'))?.attempts === MAX_ATTEMPTS - 1, 15_000)
      // the last attempt comes about 0.7-1 s later: its read of the endpoint fails
      const get = h.store.get.bind(h.store)
      let failures = 1
      h.store.get = async (owner, id) => {
        if (failures-- > 0) throw new Error('store down')
        return await get(owner, id)
      }
      await eventually('logged as failed', async () => (await h.logOf(a, 'evt_store_down'))?.state === 'failed', 15_000)
      t.match(await h.logOf(a, 'evt_store_down'), { attempts: MAX_ATTEMPTS - 1, lastStatus: 503, nextAttemptAt: null }, 'what the attempts made said')
      t.equal(a.receiver.of('evt_store_down').length, MAX_ATTEMPTS - 1, 'the last one was not sent')
    })

    t.test('an endpoint failing for the scaled 5 days is disabled, with one webhook.disabled event', async (t) => {
      // 2e-6: 5 days are 864 ms, an event's whole budget about 0.35 s: events keep coming, each failing
      const h = harness(t, await kindOf(), { scale: 2e-6 })
      const a = await h.endpoint({ respond: () => 500 })
      const queue = h.open()
      const started = Date.now()
      let n = 0
      await eventually('disabled', async () => {
        await queue.enqueue([h.job(a, `evt_dis_${n++}`)])
        await sleep(80)
        return (await h.endpoints.find(h.job(a, '').owner, a.id))?.disabledAt !== null
      }, 15_000)
      const endpoint = await h.endpoints.find(h.job(a, '').owner, a.id)
      t.ok((endpoint?.disabledAt ?? 0) - (endpoint?.failingSince ?? Infinity) >= h.worker.schedule.disableAfterMs, 'after failing for disableAfterMs')
      t.ok(Date.now() - started >= h.worker.schedule.disableAfterMs)
      await sleep(300)
      const disabled = h.events.filter((e) => e.type === 'webhook.disabled')
      t.equal(disabled.length, 1, 'one security event')
      t.match(disabled[0]?.detail, { webhookId: a.id })
      const sent = a.receiver.received.length
      await queue.enqueue([h.job(a, 'evt_after')])
      await eventually('the later event logged as failed', async () => (await h.logOf(a, 'evt_after'))?.state === 'failed')
      t.equal(a.receiver.received.length, sent, 'nothing more sent')
    })

    t.test('during a rotation\'s overlap both secrets sign each delivery', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-3 })
      const a = await h.endpoint()
      const rotated = await h.endpoints.rotateSecret(h.job(a, '').owner, a.id)
      a.receiver.verifyWith([a.secret, rotated.secret])
      const queue = h.open()
      await queue.enqueue([h.job(a, 'evt_rotated')])
      const [got] = await a.receiver.waitFor(1)
      t.same(got?.verifiedBy, [a.secret, rotated.secret], 'the old and the new secret both verify')
    })

    t.test('at most 2 deliveries in flight per endpoint; other endpoints are not held up', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-3 })
      const a = await h.endpoint({ holdMs: 150 })
      const b = await h.endpoint({ holdMs: 150 })
      const queue = h.open()
      const jobs = [
        ...Array.from({ length: 8 }, (_, i) => h.job(a, `evt_a_${i}`)),
        ...Array.from({ length: 4 }, (_, i) => h.job(b, `evt_b_${i}`))
      ]
      await queue.enqueue(jobs)
      await a.receiver.waitFor(8)
      await b.receiver.waitFor(4)
      t.equal(a.receiver.maxInFlight, 2, 'endpoint a: 2 at a time, never more')
      t.equal(b.receiver.maxInFlight, 2, 'endpoint b: 2 at a time beside a\'s')
      await sleep(200)
      t.same(new Set(a.receiver.received.map((d) => d.webhookId)).size, 8, 'each event once')
      t.equal(a.receiver.received.length, 8)
    })

    t.test('jobs are checked at enqueue: an event id that cannot be a webhook-id is refused', async (t) => {
      const h = harness(t, await kindOf(), { scale: 1e-3 })
      const a = await h.endpoint()
      const queue = h.open()
      await t.rejects(queue.enqueue([h.job(a, 'evt.with.dots')]), TypeError)
      await t.rejects(queue.enqueue([{ ...h.job(a, 'evt_x'), endpointId: 'wh_a:b' }]), TypeError)
      await queue.enqueue([])
      t.equal(deliveryJobId({ endpointId: 'wh_1', eventId: 'a:b' }), 'wh_1.a%3Ab', 'no ":" in a job id')
    })
  })
}

t.test('memory queue: close stops the retry timers; a later enqueue is refused', async (t) => {
  const h = harness(t, { kind: 'memory' }, { scale: 1e-2 })
  const a = await h.endpoint({ statuses: [500] })
  const queue = h.open()
  await queue.enqueue([h.job(a, 'evt_closed')])
  await a.receiver.waitFor(1)
  await queue.close()
  await sleep(300) // the retry would be due after 40-60 ms
  t.equal(a.receiver.received.length, 1, 'the pending retry was dropped (lost, as the memory store is on restart)')
  await t.rejects(queue.enqueue([h.job(a, 'evt_late')]), /closed/)
})

t.test('bullmq: two instances on one Redis deliver each event once', async (t) => {
  const h = harness(t, await bullmqOnTestRedis(), { scale: 1e-3 })
  const a = await h.endpoint()
  const b = await h.endpoint()
  const first = h.open()
  const second = h.open()
  const jobs = Array.from({ length: 20 }, (_, i) => h.job(i % 2 === 0 ? a : b, `evt_two_${i}`))
  // both instances see every event (as two relays might): still one job each
  await Promise.all([first.enqueue(jobs), second.enqueue(jobs)])
  await a.receiver.waitFor(10)
  await b.receiver.waitFor(10)
  await sleep(500)
  t.equal(a.receiver.received.length + b.receiver.received.length, 20, 'each event once')
  t.equal(new Set([...a.receiver.received, ...b.receiver.received].map((d) => d.webhookId)).size, 20)
  t.ok(a.receiver.maxInFlight <= 2 && b.receiver.maxInFlight <= 2, 'the cap holds across instances')
})

t.test('bullmq: the cap holds across instances (leases in Redis)', async (t) => {
  const h = harness(t, await bullmqOnTestRedis(), { scale: 1e-3 })
  const a = await h.endpoint({ holdMs: 150 })
  const queues = [h.open(), h.open(), h.open()]
  await (queues[0]?.enqueue(Array.from({ length: 9 }, (_, i) => h.job(a, `evt_cap_${i}`))))
  await a.receiver.waitFor(9)
  t.equal(a.receiver.maxInFlight, 2, '2 at a time across three instances')
})

t.test('bullmq: a busy endpoint\'s waiting jobs are woken as its deliveries end, not by their delay', async (t) => {
  const h = harness(t, await bullmqOnTestRedis(), { scale: 1e-3 })
  const a = await h.endpoint({ holdMs: 100 })
  // a minute's safety-net delay: only the wake-ups can deliver 12 events in a few seconds
  const queues = [h.open({ busyDelayMs: 60_000 }), h.open({ busyDelayMs: 60_000 })]
  const started = Date.now()
  await queues[0]?.enqueue(Array.from({ length: 12 }, (_, i) => h.job(a, `evt_wake_${i}`)))
  await a.receiver.waitFor(12, 15_000)
  t.ok(Date.now() - started < 10_000, `delivered in ${Date.now() - started} ms`)
  t.equal(a.receiver.maxInFlight, 2, 'the cap holds')
  t.same(new Set(a.receiver.received.map((d) => d.webhookId)).size, 12, 'each once')
  const client = new Redis((await testRedis()).url)
  t.teardown(async () => { await client.quit() })
  await eventually('no waiter left', async () => await client.zcard(endpointWaitersKey(a.id)) === 0)
})

/**
 * For the wake-up tests: a harness whose first retry comes 2 s (±20%) after a failure (scale
 * 0.4), an endpoint that holds `held` for `holdMs` and fails `fails` once, and a client to look
 * at the queue's keys.
 */
async function wakeSetup (t: Test, held: string, holdMs: number, fails: string): Promise<{ h: ReturnType<typeof harness>, a: Awaited<ReturnType<ReturnType<typeof harness>['endpoint']>>, client: Redis }> {
  const h = harness(t, await bullmqOnTestRedis(), { scale: 0.4 })
  let failed = false
  const a = await h.endpoint({
    respond: (request) => {
      if (request.webhookId === held) return { status: 204, delayMs: holdMs }
      if (request.webhookId === fails && !failed) { failed = true; return 500 }
      return 204
    }
  })
  const client = new Redis((await testRedis()).url)
  t.teardown(async () => { await client.quit() })
  return { h, a, client }
}

t.test('bullmq: a wake-up never cuts a retry short, and a waiting job is one entry however often it looks', async (t) => {
  // evt_hold holds the endpoint's one lease while evt_retry comes back by itself to look, again and again
  const { h, a, client } = await wakeSetup(t, 'evt_hold', 1500, 'evt_retry')
  let mostWaiting = 0
  const probe = setInterval(() => {
    // (its entries whatever its type: a list, before, held one per look)
    const key = endpointWaitersKey(a.id)
    client.type(key).then(async (type) => type === 'list' ? await client.llen(key) : await client.zcard(key))
      .then((n) => { mostWaiting = Math.max(mostWaiting, n) }, () => {})
  }, 10)
  t.teardown(() => { clearInterval(probe) })
  // a short safety-net delay: evt_retry looks about every 100 ms while evt_hold runs
  const queue = h.open({ perEndpoint: 1, busyDelayMs: 100 })
  await queue.enqueue([h.job(a, 'evt_hold')])
  await a.receiver.waitFor(1)
  await queue.enqueue([h.job(a, 'evt_retry')])
  await a.receiver.waitFor(2, 5000)
  // evt_retry failed and waits for its retry; the next delivery's end must not wake it
  await queue.enqueue([h.job(a, 'evt_next')])
  await a.receiver.waitFor(4, 10_000)
  const tries = a.receiver.received.filter((d) => d.webhookId === 'evt_retry')
  t.equal(tries.length, 2)
  const gap = (tries[1]?.at ?? 0) - (tries[0]?.at ?? 0)
  t.ok(gap >= 1500, `the retry waited its 2 s (±20%): ${gap} ms`)
  t.equal(mostWaiting, 1, 'one entry for the one waiting job')
  t.equal(await client.zcard(endpointWaitersKey(a.id)), 0, 'none left once it had its lease')
})

t.test('bullmq: a waiter\'s entry goes when it takes a lease, and an entry left from before a retry wakes nothing', async (t) => {
  const { h, a, client } = await wakeSetup(t, 'evt_held', 500, 'evt_fails')
  const waiters = endpointWaitersKey(a.id)
  const queue = h.open({ perEndpoint: 1 })

  // an entry for a job that then finds the endpoint free: taking the lease removes it
  const held = h.job(a, 'evt_held')
  await client.zadd(waiters, Date.now(), `${deliveryJobId(held)}|0`)
  await queue.enqueue([held])
  await a.receiver.waitFor(1)
  t.equal(await client.zcard(waiters), 0, 'gone while its delivery runs')
  await eventually('its lease given back', async () => await client.zcard(endpointLeaseKey(a.id)) === 0)

  // an entry left for a job that has since been attempted and waits for its retry
  const fails = h.job(a, 'evt_fails')
  await queue.enqueue([fails])
  await a.receiver.waitFor(2)
  await eventually('the retry waits in the delayed set', async () => await client.zscore(`${QUEUE_PREFIX}:deliveries:delayed`, deliveryJobId(fails)) !== null)
  await client.zadd(waiters, Date.now(), `${deliveryJobId(fails)}|0`)
  await queue.enqueue([h.job(a, 'evt_next')])
  await a.receiver.waitFor(4, 10_000)
  const tries = a.receiver.received.filter((d) => d.webhookId === 'evt_fails')
  const gap = (tries[1]?.at ?? 0) - (tries[0]?.at ?? 0)
  t.ok(gap >= 1500, `the next delivery's end did not wake the retry: ${gap} ms`)
})

t.test('bullmq: close while jobs wait (and one waits for its retry); a new queue delivers them', async (t) => {
  const kind = await bullmqOnTestRedis()
  // 0.06: the first retry waits 5 s × 0.06 = 240-360 ms, the second 1.4-2.2 s
  const h = harness(t, kind, { scale: 0.06 })
  const a = await h.endpoint({ statuses: [500] })
  const producer = h.open({ start: false })
  const running = h.open()
  await running.enqueue([h.job(a, 'evt_retrying')])
  await a.receiver.waitFor(1)
  await running.close()
  await producer.enqueue([h.job(a, 'evt_w1'), h.job(a, 'evt_w2'), h.job(a, 'evt_w3')])
  await producer.close()
  await sleep(100)
  t.equal(a.receiver.received.length, 1, 'nothing runs while no worker does')

  const restarted = h.open()
  await a.receiver.waitFor(5)
  await sleep(200)
  t.same(a.receiver.received.map((d) => d.webhookId).sort(), ['evt_retrying', 'evt_retrying', 'evt_w1', 'evt_w2', 'evt_w3'])
  await eventually('the retried event logged as delivered', async () => (await h.logOf(a, 'evt_retrying'))?.state === 'delivered')
  t.match(await h.logOf(a, 'evt_retrying'), { attempts: 2, lastStatus: 204 }, 'its attempt count survived')
  await restarted.close()
})

t.test('bullmq: Redis with AOF restarted in the middle loses no queued event', async (t) => {
  const redis = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always'])
  t.teardown(async () => { await redis.destroy() })
  // 0.06: each first retry waits 240-360 ms
  const h = harness(t, { kind: 'bullmq', redis: { REDIS_URL: redis.url, redisClusterNodes: [] } }, { scale: 0.06 })
  const a = await h.endpoint({ statuses: [500, 500, 500] })
  const running = h.open()
  const producer = h.open({ start: false })
  await running.enqueue(['evt_aof_1', 'evt_aof_2', 'evt_aof_3'].map((id) => h.job(a, id)))
  await a.receiver.waitFor(3) // each failed once: their retries wait in Redis

  // SIGKILL (no shutdown save), then the same port and directory: only what the AOF holds comes back
  await redis.stop()
  await sleep(300) // the retries fall due while Redis is away
  await redis.start()
  await a.receiver.waitFor(6, 15_000)
  await producer.enqueue([h.job(a, 'evt_aof_after')])
  await a.receiver.waitFor(7, 15_000)
  await sleep(200)
  t.same(a.receiver.received.map((d) => d.webhookId).sort(),
    ['evt_aof_1', 'evt_aof_1', 'evt_aof_2', 'evt_aof_2', 'evt_aof_3', 'evt_aof_3', 'evt_aof_after'],
    'the worker and the producer carry on after reconnecting; each retry once, nothing lost')
  t.ok(a.receiver.received.every((d) => d.verifiedBy.length === 1))
  for (const id of ['evt_aof_1', 'evt_aof_2', 'evt_aof_3']) {
    await eventually(`${id} logged as delivered`, async () => (await h.logOf(a, id))?.state === 'delivered')
    t.match(await h.logOf(a, id), { attempts: 2 }, `${id}: its attempt count came back from the AOF`)
  }
})

t.test('bullmq: closing during a Redis outage returns at once; the queued retry is delivered once Redis is back', async (t) => {
  const redis = await RedisServer.start(['--appendonly', 'yes', '--appendfsync', 'always'])
  t.teardown(async () => { await redis.destroy() })
  const h = harness(t, { kind: 'bullmq', redis: { REDIS_URL: redis.url, redisClusterNodes: [] } }, { scale: 0.06 })
  const a = await h.endpoint({ statuses: [500] })
  const before = h.open()
  await before.enqueue([h.job(a, 'evt_outage')])
  await a.receiver.waitFor(1)
  const client = new Redis(redis.url)
  await eventually('the retry waits in the delayed set', async () => await client.zcard(`${QUEUE_PREFIX}:deliveries:delayed`) === 1)
  client.disconnect()
  await redis.stop()
  await sleep(300) // the connections notice
  const started = Date.now()
  await before.close()
  t.ok(Date.now() - started < 4000, `closed in ${Date.now() - started} ms, not waiting for Redis`)

  await redis.start()
  h.open()
  const attempts = await a.receiver.waitFor(2, 15_000)
  t.same(attempts.map((d) => [d.webhookId, d.status]), [['evt_outage', 500], ['evt_outage', 204]])
})

t.test('bullmq: every key in one hash tag; finished jobs kept for dedupe, then dropped', async (t) => {
  const kind = await bullmqOnTestRedis()
  const h = harness(t, kind, { scale: 1e-3 })
  const a = await h.endpoint()
  const queue = h.open({ retentionMs: 1000 })
  const first = h.job(a, 'evt_kept')
  await queue.enqueue([first])
  await a.receiver.waitFor(1)
  const client = new Redis(kind.kind === 'bullmq' ? kind.redis.REDIS_URL ?? '' : '')
  t.teardown(() => { client.disconnect() })
  const jobKey = `${QUEUE_PREFIX}:deliveries:${deliveryJobId(first)}`
  await eventually('the job finished', async () => (await client.hget(jobKey, 'finishedOn')) !== null)
  const keys = await client.keys('*')
  t.ok(keys.length > 0 && keys.every((key) => key.startsWith(`${QUEUE_PREFIX}:`)), 'every key under {missive-webhooks}: one Cluster slot')

  await queue.enqueue([first])
  await sleep(300)
  t.equal(a.receiver.received.length, 1, 'retained: enqueueing it again adds nothing')

  // past the retention, the next finished job sweeps it away, and the id is free again
  await sleep(1100)
  await queue.enqueue([h.job(a, 'evt_sweeper')])
  await a.receiver.waitFor(2)
  await eventually('the old job removed', async () => (await client.exists(jobKey)) === 0)
  await queue.enqueue([first])
  await a.receiver.waitFor(3)
  t.same(a.receiver.received.map((d) => d.webhookId), ['evt_kept', 'evt_sweeper', 'evt_kept'])
})

/** The app with fast webhook timings, trusting the test receivers' certificate. */
async function appWith (t: Test, store: 'memory' | 'redis', options: { flush?: boolean, autoClose?: boolean } = {}): Promise<App> {
  const overrides: ConfigOverrides = { LOG_LEVEL: 'silent', WEBHOOK_ALLOW_PRIVATE: 'true', PENALTY_EXEMPT_IPS: '127.0.0.1' }
  if (store === 'redis') {
    const redis = await testRedis()
    if (options.flush !== false) await flushRedis(redis.url)
    overrides.REDIS_URL = redis.url
  }
  const app = await buildApp({ ...loadConfig({}, overrides), webhookTiming: { scale: 0.06, timeoutMs: 3000, pollMs: 30 }, webhookTls: { ca: testCertificate().cert } })
  if (options.autoClose !== false) t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

async function registerAt (app: App, receiver: WebhookReceiver): Promise<{ key: string, keyId: string, id: string, secret: string }> {
  const { id: keyId, key } = await makeKey(app)
  const res = await app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: withKey(key), payload: { url: receiver.url(), events: ['message.viewed'] } })
  if (res.statusCode !== 201) throw new Error(`register: ${res.statusCode} ${res.body}`)
  const { id, secret } = res.json()
  receiver.verifyWith([secret])
  return { key, keyId, id, secret }
}

const appJob = (keyId: string, endpointId: string, eventId: string): Parameters<App['deliveryQueue']['enqueue']>[0][number] =>
  ({ eventId, owner: keyId, endpointId, type: 'message.viewed', body: `{"type":"message.viewed","id":"${eventId}"}`, createdAt: Date.now() })

for (const store of ['memory', 'redis'] as const) {
  t.test(`the app (${store}): app.deliveryQueue delivers to an endpoint registered over HTTP; the log shows it`, async (t) => {
    const app = await appWith(t, store)
    const receiver = await WebhookReceiver.start(t, { statuses: [500] })
    const { key, keyId, id } = await registerAt(app, receiver)
    await app.deliveryQueue.enqueue([appJob(keyId, id, 'evt_app')])
    const attempts = await receiver.waitFor(2)
    t.same(attempts.map((d) => [d.webhookId, d.status, d.verifiedBy.length]), [['evt_app', 500, 1], ['evt_app', 204, 1]])
    await eventually('logged as delivered', async () =>
      (await app.inject({ url: `/api/v1/webhooks/${id}/deliveries`, headers: withKey(key) })).json().items[0]?.state === 'delivered')
    const { items } = (await app.inject({ url: `/api/v1/webhooks/${id}/deliveries`, headers: withKey(key) })).json()
    t.match(items, [{ eventId: 'evt_app', type: 'message.viewed', attempts: 2, lastStatus: 204, nextAttemptAt: null, state: 'delivered' }])
  })
}

t.test('the app on Redis: a restart of the server loses no queued event', async (t) => {
  const first = await appWith(t, 'redis', { autoClose: false })
  const receiver = await WebhookReceiver.start(t, { statuses: [500] })
  const { keyId, id } = await registerAt(first, receiver)
  await first.deliveryQueue.enqueue([appJob(keyId, id, 'evt_restart')])
  await receiver.waitFor(1)
  await first.close() // the retry (240-360 ms away) waits in Redis

  const second = await appWith(t, 'redis', { flush: false })
  const attempts = await receiver.waitFor(2)
  t.same(attempts.map((d) => [d.webhookId, d.status]), [['evt_restart', 500], ['evt_restart', 204]])
  await eventually('logged as delivered', async () => (await second.webhookEndpoints.deliveries(keyId, id))[0]?.state === 'delivered')
})
