import { randomBytes } from 'node:crypto'
import t from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'
import { testCluster } from './cluster.js'

// The penalty ladder and blocks (API.md section 8) on a real 3-master Redis Cluster, two instances.

async function onCluster (t: Parameters<typeof build>[0], flush: boolean): Promise<App> {
  const cluster = await testCluster()
  if (flush) await cluster.flushAll()
  return await build(t, { store: 'redis', config: { REDIS_CLUSTER_NODES: cluster.nodes } })
}

const miss = async (app: App, ip: string): Promise<number> =>
  (await app.inject({ method: 'GET', url: `/msg/${randomBytes(16).toString('base64url')}`, remoteAddress: ip })).statusCode

async function blockedWithin (app: App, ip: string, ms: number): Promise<number> {
  const started = Date.now()
  while (app.abuse.blocks.blockedFor(ip) === 0 && Date.now() - started < ms) await sleep(50)
  return app.abuse.blocks.blockedFor(ip) > 0 ? Date.now() - started : -1
}

t.test('an enumerator spread over two instances is blocked on both; a manual block and its lift reach the other', async (t) => {
  const a = await onCluster(t, true)
  const b = await onCluster(t, false)
  for (let i = 0; i < 25; i++) {
    t.equal(await miss(a, '203.0.113.21'), 404)
    t.equal(await miss(b, '203.0.113.21'), 404)
  }
  await a.abuse.scores.flush()
  await b.abuse.scores.flush()
  t.ok(await blockedWithin(a, '203.0.113.21', 5000) >= 0, 'blocked on a')
  t.ok(await blockedWithin(b, '203.0.113.21', 5000) >= 0, 'blocked on b')

  const headers = withKey((await makeKey(a, ['security:admin'])).key)
  const created = await a.inject({ method: 'POST', url: '/api/v1/security/blocks', headers, payload: { cidr: '2001:db8:77::/48', durationSeconds: 120, reason: 'r' } })
  t.equal(created.statusCode, 201)
  t.ok(await blockedWithin(b, '2001:db8:77:1::5', 5000) >= 0, 'the manual block holds on b')
  const list = (await b.inject({ method: 'GET', url: '/api/v1/security/blocks', headers })).json()
  t.equal(list.items.length, 2)
  t.equal((await b.inject({ method: 'DELETE', url: `/api/v1/security/blocks/${created.json().id as string}`, headers })).statusCode, 204)
  const started = Date.now()
  while (a.abuse.blocks.blockedFor('2001:db8:77:1::5') > 0 && Date.now() - started < 5000) await sleep(50)
  t.equal(a.abuse.blocks.blockedFor('2001:db8:77:1::5'), 0, 'lifted on a')
})
