import t from 'tap'
import { formatKey, newSecret } from '../../src/api-keys.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { testCluster } from '../cluster/cluster.js'
import { runKeyTool } from '../helpers/key-tool.js'
import { settledBuild } from '../proof/proof-helper.js'
import { feedPage, ofType, wholeFeed } from './events-helper.js'

// The feed of the whole service on a real 3-master Redis Cluster (REDIS_CLUSTER_NODES): two
// instances and the key tool share one stream.
t.test('two instances and the key tool on a Cluster share one feed', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const config = { REDIS_CLUSTER_NODES: cluster.nodes }
  const a = await settledBuild(t, { store: 'redis', config })
  const b = await settledBuild(t, { store: 'redis', config, flush: false })
  const security = await makeKey(a, ['security:admin'])
  const svc = await makeKey(b, ['messages:read'])
  const failed = await b.inject({ url: '/api/v1/messages', headers: withKey(formatKey(svc.id, newSecret())), remoteAddress: '192.0.2.9' })
  t.equal(failed.statusCode, 401)
  const tool = await runKeyTool(['create', '--name', 'tool', '--scopes', 'messages:read'], { REDIS_CLUSTER_NODES: cluster.nodes })
  t.equal(tool.code, 0, tool.err.join('\n'))
  const toolKey = JSON.parse(tool.out[0] ?? '{}') as { id: string }
  await b.securityEvents.flush()

  const events = await wholeFeed(a, security.key)
  t.same(ofType(events, 'key.created').map(e => e.keyId), [security.id, svc.id, toolKey.id], 'from both instances and the tool, in order')
  t.match(ofType(events, 'auth.failure'), [{ keyId: svc.id, ip: '192.0.2.9', requestId: failed.headers['x-request-id'] }])
  const page = (await feedPage(b, security.key, '?limit=2')).json()
  t.equal(page.next, page.items[1].id)
  t.same((await feedPage(b, security.key, `?after=${page.next as string}`)).json().items.map((e: { id: string }) => e.id), events.slice(2).map(e => e.id))
  t.equal((await feedPage(a, security.key, '?after=1-x')).statusCode, 400)
})
