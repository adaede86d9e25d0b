import { randomBytes } from 'node:crypto'
import t from 'tap'
import { createMessage, redisCommandsDuring, sleep, stopBackgroundWork, testRedis } from '../helper.js'
import { redisCallsDuring, settledBuild } from '../proof/proof-helper.js'

/**
 * The abuse defence costs a clean client nothing (issue 17): no store command on its requests,
 * no hook work beyond a field read while no block exists. Offences below half the threshold
 * are gathered in memory and sent once a second, not on the request's path.
 *
 * The background work (API keys' epoch, the blocks' and the runtime policy's version polls, the
 * webhook relay and queue) is stopped once the app is warm, so that the command lists are exact.
 */
/** past the rate limiter's 100 ms sync, so its counts land in the window every time */
const SYNC_WAIT_MS = 250

t.test('redis: a clean client\'s create and read run the commands they ran before the abuse defence', async (t) => {
  const app = await settledBuild(t, { store: 'redis', config: { PENALTY_EXEMPT_IPS: '' } })
  const { url } = await testRedis()
  const { id } = await createMessage(app, { content: 'hello', maxViews: 100 })
  await app.inject({ method: 'GET', url: `/msg/${id}` })
  await sleep(1200)
  await stopBackgroundWork(app)

  const create = await redisCommandsDuring(t, url, async () => {
    t.equal((await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode, 201)
    await sleep(SYNC_WAIT_MS)
  })
  // (the create is one script since receipts, issue 19: the message and its receipt together)
  t.same(create.filter((c) => c !== 'evalsha'), [], `POST /: the message's create script (and the limiter's sync): ${create.join(' ')}`)
  t.ok(create.includes('evalsha'))
  const read = await redisCallsDuring(t, url, async () => {
    t.equal((await app.inject({ method: 'GET', url: `/msg/${id}` })).statusCode, 200)
    await sleep(SYNC_WAIT_MS)
  })
  const keys = read.map((call) => (call[0] === 'evalsha' ? call[3] : call[1]) ?? '')
  t.ok(keys.length > 0 && keys.every((key) => key.startsWith('msg:') || key.startsWith('rl:')), `GET /msg/:id: the message and the limiter only (${keys.join(' ')})`)
})

t.test('redis: an offence below half the threshold costs no command on its request; the next sync sends it', async (t) => {
  const app = await settledBuild(t, { store: 'redis' })
  const { url } = await testRedis()
  await sleep(1200)
  await stopBackgroundWork(app)
  const miss = async (): Promise<void> => {
    const response = await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: '203.0.113.50' })
    t.equal(response.statusCode, 404)
  }
  const during = await redisCommandsDuring(t, url, miss)
  t.notOk(during.includes('evalsha') && during.filter((c) => c === 'evalsha').length > 1, `at most the limiter's sync: ${during.join(' ')}`)
  t.equal(app.abuse.scores.estimate('203.0.113.50'), 2)
  // The next sync sends it: this flush, or (on a loaded machine, when the test took over a
  // second since the miss) the once-a-second sync that came first; either way one script.
  const synced = await redisCommandsDuring(t, url, async () => { await app.abuse.scores.flush() })
  t.ok(synced.filter((c) => c === 'evalsha' || c === 'eval').length <= 1, `the sync: at most one script (${synced.join(' ')})`)
  t.equal(await app.abuseStore.score('203.0.113.50', Date.now(), { threshold: 100, halfLifeMs: 600_000, memoryMs: 86_400_000, durationsMs: [60_000] }), 2)
})
