import t from 'tap'
import { PortTakenError, RedisServer } from './redis-server.js'

// Test files run in parallel, each starting its own redis-servers on free ports: a port found
// free can be taken by another file's server before this one binds it. That server must not be
// taken for this one (a cluster was once built from another file's node: "not empty").

t.test('a redis-server whose port another one holds is refused, not mistaken for it', async (t) => {
  const first = await RedisServer.start()
  t.teardown(async () => { await first.destroy() })
  const refused = await RedisServer.startOn(first.port).then(() => null, (err: unknown) => err)
  t.ok(refused instanceof PortTakenError, String(refused))
})

t.test('start() finds a port of its own, answering as itself', async (t) => {
  const [a, b] = await Promise.all([RedisServer.start(), RedisServer.start()])
  t.teardown(async () => { await Promise.all([a.destroy(), b.destroy()]) })
  t.not(a.port, b.port)
})
