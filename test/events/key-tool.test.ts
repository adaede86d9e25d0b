import t from 'tap'
import { makeKey } from '../api/api-helper.js'
import { testRedis } from '../helper.js'
import { runKeyTool } from '../helpers/key-tool.js'
import { settledBuild } from '../proof/proof-helper.js'
import { ofType, wholeFeed } from './events-helper.js'

t.test('changes made with the key tool reach the feed of a server on the same Redis', async (t) => {
  const app = await settledBuild(t, { store: 'redis' })
  const security = await makeKey(app, ['security:admin'])
  const env = { REDIS_URL: (await testRedis()).url }

  const created = await runKeyTool(['create', '--name', 'from a shell', '--scopes', 'messages:read,keys:admin', '--allowed-ips', '10.0.0.0/8'], env)
  t.equal(created.code, 0, created.err.join('\n'))
  const key = JSON.parse(created.out[0] ?? '{}') as { id: string, key: string }
  const updated = await runKeyTool(['update', key.id, '--name', 'renamed', '--require-signature'], env)
  t.equal(updated.code, 0, updated.err.join('\n'))
  const revoked = await runKeyTool(['revoke', key.id], env)
  t.equal(revoked.code, 0, revoked.err.join('\n'))
  t.equal(created.stray + updated.stray + revoked.stray, '', 'nothing else on stdout')

  const events = (await wholeFeed(app, security.key)).filter(e => e.keyId === key.id)
  t.match(events.map(e => e.type), ['key.created', 'key.updated', 'key.revoked'], 'in order')
  t.match(ofType(events, 'key.created'), [{ ip: null, requestId: null, detail: { name: 'from a shell', scopes: 'messages:read keys:admin', allowedIps: '10.0.0.0/8', by: 'key-tool' } }])
  t.match(ofType(events, 'key.updated'), [{ detail: { fields: 'name requireSignature', name: 'renamed', requireSignature: true, by: 'key-tool' } }])
  t.match(ofType(events, 'key.revoked'), [{ detail: { by: 'key-tool' } }])
  t.notOk(JSON.stringify(events).includes(key.key.slice(-43)), 'never the key\'s secret')
})
