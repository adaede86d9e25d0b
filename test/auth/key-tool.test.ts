import t from 'tap'
import { main } from '../../scripts/keys.js'
import { build, sleep, testRedis } from '../helper.js'
import { withKey } from '../api/api-helper.js'

/** Runs the tool in-process; stdout must be written only through `out`. */
async function keys (argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, out: string[], err: string[], stray: string }> {
  const out: string[] = []
  const err: string[] = []
  let stray = ''
  const write = process.stdout.write.bind(process.stdout)
  process.stdout.write = ((chunk: string | Uint8Array) => { stray += String(chunk); return true }) as typeof process.stdout.write
  try {
    const code = await main(argv, env, { out: (line) => out.push(line), err: (line) => err.push(line) })
    return { code, out, err, stray }
  } finally {
    process.stdout.write = write
  }
}

t.test('create makes the first admin key against the server\'s store; stdout is one JSON object', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const created = await keys(['create', '--name', 'first admin', '--scopes', 'keys:admin,messages:read', '--expires-in-days', '7'], env)
  t.equal(created.code, 0, created.err.join('\n'))
  t.equal(created.stray, '', 'nothing else on stdout')
  t.equal(created.out.length, 1)
  const key = JSON.parse(created.out[0] ?? '{}')
  t.same(Object.keys(key).sort(), ['createdAt', 'expiresAt', 'id', 'key', 'name', 'scopes'])
  t.match(key, { id: /^[a-z0-9]{12}$/, key: /^msk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/, name: 'first admin', scopes: ['keys:admin', 'messages:read'] })
  t.notOk(created.err.join('\n').includes(key.key), 'stderr never shows the key')

  const res = await app.inject({ url: '/api/v1/keys', headers: withKey(key.key) })
  t.equal(res.statusCode, 200, 'the server accepts it')

  const listed = await keys(['list'], env)
  t.equal(listed.code, 0)
  const { items } = JSON.parse(listed.out[0] ?? '{}')
  t.same(items.map((k: { id: string }) => k.id), [key.id])
  t.notMatch(listed.out[0], /msk_|argon2/)

  const revoked = await keys(['revoke', key.id], env)
  t.equal(revoked.code, 0)
  t.type(JSON.parse(revoked.out[0] ?? '{}').revokedAt, 'string')
  let status = 200
  for (let waited = 0; waited < 5000 && status === 200; waited += 100) {
    await sleep(100)
    status = (await app.inject({ url: '/api/v1/keys', headers: withKey(key.key) })).statusCode
  }
  t.equal(status, 401, 'the running server refuses it within 5 s')
  t.equal((await keys(['revoke', 'aaaaaaaaaaaa'], env)).code, 1, 'unknown id')
})

t.test('without REDIS_URL the tool says why it cannot work and fails', async (t) => {
  const res = await keys(['create', '--name', 'x', '--scopes', 'keys:admin'], {})
  t.equal(res.code, 2)
  t.same(res.out, [])
  t.equal(res.stray, '')
  t.match(res.err.join('\n'), /REDIS_URL is not set.*in-memory store.*cannot be shared/s)
})

t.test('usage mistakes exit 2 with nothing on stdout', async (t) => {
  const env = { REDIS_URL: (await testRedis()).url }
  for (const argv of [[], ['frobnicate'], ['create', '--scopes', 'keys:admin'], ['create', '--name', 'x'], ['create', '--name', 'x', '--scopes', 'root'],
    ['create', '--name', 'x', '--scopes', 'keys:admin', '--expires-in-days', '0'], ['create', '--name', 'x', '--scopes', 'keys:admin', '--bogus'], ['revoke'], ['revoke', 'BAD']]) {
    const res = await keys(argv, env)
    t.equal(res.code, 2, argv.join(' '))
    t.same(res.out, [])
    t.match(res.err.join('\n'), /usage:/)
  }
})
