import t from 'tap'
import { freePort } from './helpers/redis-server.js'
import { runServerToExit, startServer } from './helpers/server-process.js'
import { makeKey } from './api/api-helper.js'
import { build, testRedis } from './helper.js'

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
  t.notMatch(server.stdout(), /JWT_SECRET/, 'no word about JWT_SECRET when it is not set (tokens are signed with the issuer keys)')
  t.match(server.stdout(), /"msg":"request completed"/, 'one access-log line per request')
})

t.test('a bad variable stops the start with one line naming it, before anything listens', async (t) => {
  for (const [env, variable] of [
    [{ PORT: 'abc' }, 'PORT'],
    [{ NODE_ENV: 'production' }, 'PUBLIC_URL'],
    [{ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }, 'PUBLIC_URL'],
    [{ JWT_ALG: 'HS256' }, 'JWT_ALG'],
    [{ JWT_KEY_ROTATION_DAYS: '0' }, 'JWT_KEY_ROTATION_DAYS'],
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

t.test('JWT_SECRET, now unused, no longer stops the start (even a short one): one warning line, and tokens still work', async (t) => {
  const secret = 'too-short'
  // A key made in this process, on the Redis the server uses (as the key tool would).
  const app = await build(t, { store: 'redis' })
  const { key } = await makeKey(app, ['messages:read'])
  const server = await startServer({ NODE_ENV: 'production', PUBLIC_URL: 'https://missive.example.com', REDIS_URL: app.config.REDIS_URL ?? '', JWT_SECRET: secret }, await freePort())
  t.teardown(async () => { await server.stop('SIGKILL') })
  t.equal((await fetch(`${server.url}/health`)).status, 200, 'it started, in production')
  const issued = await fetch(`${server.url}/api/v1/auth/token`, { method: 'POST', headers: { 'x-api-key': key } })
  t.equal(issued.status, 200)
  const token = (await issued.json() as { access_token: string }).access_token
  const header = JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as Record<string, unknown>
  t.match(header, { alg: 'ES256', typ: 'at+jwt', kid: String }, 'signed with an issuer key, not with JWT_SECRET')
  t.equal((await fetch(`${server.url}/api/v1/messages`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the token works')
  t.equal(await server.stop('SIGTERM'), 0, 'SIGTERM: a clean exit')
  t.equal(server.stderr(), '', 'nothing on stderr')
  const lines = server.stdout().split('\n').filter((line) => line.includes('JWT_SECRET'))
  t.equal(lines.length, 1, 'one line mentions JWT_SECRET')
  const warning = JSON.parse(lines[0] ?? '{}') as { level?: number, msg?: string }
  t.equal(warning.level, 40, 'at warn level')
  t.match(warning.msg, /JWT_SECRET is set but no longer used/)
  t.notMatch(server.stdout(), /JWT_SECRET is not set/)
  t.notOk(server.stdout().includes(`"${secret}"`) || server.stdout().includes(`=${secret}`), 'the value is not echoed')
})

t.test('two server processes on one Redis share messages and rate-limit counters', async (t) => {
  const redis = await testRedis()
  const env = { REDIS_URL: redis.url, RATE_LIMIT_CREATE_MAX: '3' }
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
