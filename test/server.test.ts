import t from 'tap'
import { freePort } from './helpers/redis-server.js'
import { runServerToExit, startServer } from './helpers/server-process.js'
import { testRedis } from './helper.js'

t.test('with no configuration: the memory store, a warning, and a working round trip', async (t) => {
  const server = await startServer({}, await freePort())
  t.teardown(async () => { await server.stop('SIGKILL') })
  const created = await fetch(`${server.url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: 'round trip', maxViews: 1 }) })
  t.equal(created.status, 201)
  const { id } = await created.json() as { id: string }
  const read = await fetch(`${server.url}/msg/${id}`)
  t.equal(read.status, 200)
  t.equal((await read.json() as { content: string }).content, 'round trip')
  t.equal((await fetch(`${server.url}/msg/${id}`)).status, 404)

  t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: a clean exit')
  // Log lines are batched (flushed within a second, and at exit).
  t.match(server.stdout(), /in-memory store/, 'warns about the memory store')
  t.match(server.stdout(), /JWT_SECRET is not set/, 'warns about the random JWT secret')
  t.match(server.stdout(), /"msg":"request completed"/, 'one access-log line per request')
})

t.test('a bad variable stops the start with one line naming it, before anything listens', async (t) => {
  for (const [env, variable] of [
    [{ PORT: 'abc' }, 'PORT'],
    [{ JWT_SECRET: 'too-short' }, 'JWT_SECRET'],
    [{ NODE_ENV: 'production' }, 'JWT_SECRET'],
    [{ TLS_CERT_FILE: '/nonexistent/cert.pem', TLS_KEY_FILE: '/nonexistent/key.pem' }, 'TLS_CERT_FILE']
  ] as const) {
    const port = await freePort()
    const result = await runServerToExit({ ...env, PORT: env.PORT ?? String(port) })
    t.equal(result.code, 1, `${variable}: exit code 1`)
    t.equal(result.stderr.trim().split('\n').length, 1, `${variable}: one line`)
    t.match(result.stderr, new RegExp(`^Invalid configuration: ${variable} `))
    t.equal(result.stdout, '', 'nothing logged: nothing started')
  }
})

t.test('two server processes on one Redis share messages and rate-limit counters', async (t) => {
  const redis = await testRedis()
  const env = { REDIS_URL: redis.url, RATE_LIMIT_CREATE_MAX: '3', JWT_SECRET: 'x'.repeat(32) }
  const [a, b] = await Promise.all([startServer(env, await freePort()), startServer(env, await freePort())])
  t.teardown(async () => { await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]) })
  const post = async (url: string) => await fetch(`${url}/`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'shared' })
  const codes = []
  let id = ''
  for (const server of [a, b, a, b]) {
    const res = await post(server.url)
    codes.push(res.status)
    if (res.status === 201) id = (await res.json() as { id: string }).id
  }
  t.same(codes, [201, 201, 201, 429], 'one budget across both instances')
  const read = await fetch(`${a.url}/msg/${id}`, { headers: { accept: 'text/plain' } })
  t.equal(await read.text(), 'shared', 'created on b, read on a')
})
