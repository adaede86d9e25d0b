import t from 'tap'
import { RedisServer } from '../helpers/redis-server.js'
import { countByStatus, serverForLoad, steadyLoad } from './load.js'

// The drill: a real server process under a steady load loses its Redis (SIGKILL, as a
// crash would) and gets it back. Users see 2xx, 404 or 503, never a 500 or a hang; the
// process stays up; service is back within 5 s of Redis returning.
t.test('Redis killed and restarted under load: 503s only, no crash, recovery within 5 s', async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  const server = await serverForLoad(t, redis.url)

  const KILL_AT = 2000
  const RESTART_AT = 4000
  let killed = false
  let restarted: Promise<void> | null = null
  let returnedAt = Infinity
  const startedAt = Date.now()
  const outcomes = await steadyLoad({
    url: server.url,
    ratePerSecond: 100,
    durationMs: 10_500,
    onTick: (elapsed) => {
      if (!killed && elapsed >= KILL_AT) {
        killed = true
        redis.stop().catch(() => {})
      }
      if (restarted === null && elapsed >= RESTART_AT) {
        restarted = redis.start().then(() => { returnedAt = Date.now() - startedAt })
      }
    }
  })
  await restarted
  t.comment(`statuses: ${JSON.stringify(countByStatus(outcomes))}, Redis back at ${returnedAt} ms`)

  const unexpected = outcomes.filter(({ status }) => !(status >= 200 && status < 300) && status !== 404 && status !== 503)
  t.same(unexpected, [], 'only 2xx, 404 and 503 (no 500, no timeout, no reset)')
  t.ok(outcomes.some(({ status }) => status === 503), 'the outage was seen (503s)')
  t.equal(server.child.exitCode, null, 'the process is still running')

  // Recovered: no 503 later than 5 s after Redis returned, and requests served after it.
  const last503 = Math.max(...outcomes.filter(({ status }) => status === 503).map(({ at }) => at))
  t.ok(last503 < returnedAt + 5000, `last 503 sent ${last503 - returnedAt} ms after Redis returned`)
  const firstCreate = outcomes.find(({ at, status }) => at >= returnedAt && status === 201)
  t.ok(firstCreate !== undefined && firstCreate.at - returnedAt < 5000, `first create after the return served (sent ${(firstCreate?.at ?? Infinity) - returnedAt} ms after)`)
  const after = outcomes.filter(({ at }) => at >= returnedAt + 5000)
  t.ok(after.length > 100, `${after.length} requests sent from 5 s after the return`)
  t.ok(after.filter(({ status }) => status === 200 || status === 201).length > after.length * 0.7, 'mostly served (404 only for messages lost with the unpersisted Redis)')
  const ready = await fetch(`${server.url}/ready`)
  t.equal(ready.status, 200, '/ready is 200 again')
  t.notMatch(server.stdout() + server.stderr(), /"level":60|uncaught|unhandled/i, 'no fatal error, nothing unhandled')
})
