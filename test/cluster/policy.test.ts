import t from 'tap'
import { build } from '../helper.js'
import { assertPolicyReachesEveryInstance } from '../policy/two-instances.js'
import { testCluster } from './cluster.js'

t.test('two instances on a 3-master Redis Cluster: a policy change reaches the other within 5 s', async (t) => {
  const cluster = await testCluster()
  await cluster.flushAll()
  const config = { REDIS_CLUSTER_NODES: cluster.nodes }
  const a = await build(t, { store: 'redis', config })
  const b = await build(t, { store: 'redis', config })
  await assertPolicyReachesEveryInstance(t, a, b)
})
