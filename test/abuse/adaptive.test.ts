import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'

/** Makes the app's pressure sampler see an event loop lagging `ms` (under-pressure's own measure). */
function simulateLag (app: App, ms: number): void {
  const real = app.memoryUsage.bind(app)
  Object.assign(app, { memoryUsage: () => ({ ...real(), eventLoopDelay: ms }) })
}

async function factorBecomes (app: App, factor: number): Promise<void> {
  const started = Date.now()
  while (app.adaptiveLimits.factor() !== factor && Date.now() - started < 3000) await sleep(50)
}

t.test('simulated pressure shrinks the anonymous budgets, not a key\'s; the metric shows the factor', async (t) => {
  const app = await build(t, { config: { RATE_LIMIT_READ_MAX: 40, RATE_LIMIT_CREATE_MAX: 8, RATE_LIMIT_API_MAX: 12, PENALTY_EXEMPT_IPS: '0.0.0.0/0' } })
  const service = await makeKey(app, ['messages:write'])
  const calm = await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: '198.51.100.1' })
  t.equal(calm.headers['x-ratelimit-limit'], '40', 'calm: the policy\'s read budget')

  simulateLag(app, 600) // 0.6 of the 1000 ms at which it sheds load: a quarter
  await factorBecomes(app, 0.25)
  t.equal(app.adaptiveLimits.factor(), 0.25)
  const reads = []
  for (let i = 0; i < 11; i++) reads.push(await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: '198.51.100.2' }))
  t.equal(reads[0]?.headers['x-ratelimit-limit'], '10', 'reads: 40 × 0.25')
  t.same(reads.map((r) => r.statusCode), [...Array(10).fill(404), 429], 'the 11th read is limited')
  const creates = []
  for (let i = 0; i < 3; i++) creates.push((await app.inject({ method: 'POST', url: '/', remoteAddress: '198.51.100.3', payload: { content: 'x' } })).statusCode)
  t.same(creates, [201, 201, 429], 'creates: 8 × 0.25')

  const api = []
  for (let i = 0; i < 12; i++) api.push(await app.inject({ method: 'POST', url: '/api/v1/messages', remoteAddress: '198.51.100.4', headers: withKey(service.key), payload: { content: 'x' } }))
  t.ok(api.every((r) => r.statusCode === 201), 'a key keeps its whole budget')
  t.equal(api[0]?.headers['x-ratelimit-limit'], '12')

  const reader = await makeKey(app, ['metrics:read'])
  const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: withKey(reader.key) })).body
  t.match(metrics, /^missive_adaptive_limit_factor 0\.25$/m)

  simulateLag(app, 300) // between a quarter and a half: halved
  await factorBecomes(app, 0.5)
  t.equal((await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: '198.51.100.5' })).headers['x-ratelimit-limit'], '20')
  simulateLag(app, 10)
  await factorBecomes(app, 1)
  t.equal((await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: '198.51.100.6' })).headers['x-ratelimit-limit'], '40', 'calm again: the whole budget')
})
