import t from 'tap'
import { runKeyTool } from '../helpers/key-tool.js'
import { build, sleep, testRedis } from '../helper.js'
import { withKey } from '../api/api-helper.js'

const keys = runKeyTool

t.test('create makes the first admin key against the server\'s store; stdout is one JSON object', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const created = await keys(['create', '--name', 'first admin', '--scopes', 'keys:admin,messages:read', '--expires-in-days', '7'], env)
  t.equal(created.code, 0, created.err.join('\n'))
  t.equal(created.stray, '', 'nothing else on stdout')
  t.equal(created.out.length, 1)
  const key = JSON.parse(created.out[0] ?? '{}')
  // Key items now carry rateLimit, allowedIps and requireSignature too (API.md section 2).
  t.same(Object.keys(key).sort(), ['allowedIps', 'createdAt', 'expiresAt', 'id', 'key', 'name', 'rateLimit', 'requireSignature', 'scopes'])
  t.match(key, { id: /^[a-z0-9]{12}$/, key: /^msk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/, name: 'first admin', scopes: ['keys:admin', 'messages:read'] })
  t.strictSame({ rateLimit: key.rateLimit, allowedIps: key.allowedIps, requireSignature: key.requireSignature }, { rateLimit: null, allowedIps: [], requireSignature: false }, 'the defaults')
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

t.test('create --allowed-ips and --require-signature: the JSON shows them, the server applies them', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const created = await keys(['create', '--name', 'edge', '--scopes', 'messages:read', '--rate-limit', '12', '--allowed-ips', '192.0.2.0/24, 2001:db8::1', '--require-signature'], env)
  t.equal(created.code, 0, created.err.join('\n'))
  t.equal(created.stray, '')
  t.equal(created.out.length, 1)
  const key = JSON.parse(created.out[0] ?? '{}')
  t.match(key, { name: 'edge', scopes: ['messages:read'] })
  t.strictSame({ rateLimit: key.rateLimit, allowedIps: key.allowedIps, requireSignature: key.requireSignature }, { rateLimit: 12, allowedIps: ['192.0.2.0/24', '2001:db8::/64'], requireSignature: true }, 'canonical CIDRs')
  t.match(await app.apiKeys.get(key.id), { rateLimit: 12, allowedIps: ['192.0.2.0/24', '2001:db8::/64'], requireSignature: true }, 'stored')

  const plain = JSON.parse((await keys(['create', '--name', 'plain', '--scopes', 'messages:read', '--allowed-ips', '198.51.100.7'], env)).out[0] ?? '{}')
  t.strictSame({ allowedIps: plain.allowedIps, requireSignature: plain.requireSignature }, { allowedIps: ['198.51.100.7/32'], requireSignature: false }, 'without --require-signature: false')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(plain.key), remoteAddress: '198.51.100.7' })).statusCode, 200, 'the server accepts it from its address')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(plain.key), remoteAddress: '198.51.100.8' })).statusCode, 401, 'and from no other')

  const bad = await keys(['create', '--name', 'x', '--scopes', 'messages:read', '--allowed-ips', '192.0.2.0/24,10.0.0.1/8'], env)
  t.equal(bad.code, 2, 'a bad CIDR is a usage error')
  t.same(bad.out, [])
  t.match(bad.err.join('\n'), /"10\.0\.0\.1\/8": host bits set beyond \/8 \(the network is 10\.0\.0\.0\/8\)/, 'the message names the entry')
  t.equal((await app.apiKeys.list()).length, 2, 'no key was made')
})

t.test('update changes each field; its JSON is the updated item', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const { id } = await app.apiKeys.create({ name: 'svc', scopes: ['messages:read', 'messages:write'] })
  const before = await app.apiKeys.get(id)
  const update = async (...args: string[]): Promise<Record<string, unknown>> => {
    const res = await keys(['update', id, ...args], env)
    t.equal(res.code, 0, `${args.join(' ')}: ${res.err.join('\n')}`)
    t.equal(res.stray, '')
    t.equal(res.out.length, 1)
    t.notMatch(res.out[0], /msk_|argon2/, 'never a secret or a hash')
    const item = JSON.parse(res.out[0] ?? '{}')
    t.strictSame(item, await app.apiKeys.get(id), `${args.join(' ')}: the stored item`)
    return item
  }

  t.strictSame(await update('--name', 'billing'), { ...before, name: 'billing' })
  t.strictSame((await update('--scopes', 'messages:read')).scopes, ['messages:read'])
  t.equal((await update('--rate-limit', '40')).rateLimit, 40)
  t.equal((await update('--rate-limit', 'default')).rateLimit, null, '--rate-limit default: back to RATE_LIMIT_API_MAX')
  t.strictSame((await update('--allowed-ips', '203.0.113.0/24,2001:db8::1')).allowedIps, ['203.0.113.0/24', '2001:db8::/64'])
  t.strictSame((await update('--allowed-ips', 'any')).allowedIps, [], '--allowed-ips any: any address')
  t.equal((await update('--require-signature')).requireSignature, true)
  t.equal((await update('--no-require-signature')).requireSignature, false)
  const several = await update('--name', 'svc', '--scopes', 'messages:read,messages:delete', '--rate-limit', '3', '--allowed-ips', '10.0.0.0/8')
  t.strictSame(several, { ...before, scopes: ['messages:read', 'messages:delete'], rateLimit: 3, allowedIps: ['10.0.0.0/8'] })

  // Mistakes: exit 2, nothing on stdout, nothing written.
  for (const argv of [
    ['update', id, '--require-signature', '--no-require-signature'],
    ['update', id],
    ['update', id, '--allowed-ips', '10.0.0.1/8'],
    ['update', id, '--allowed-ips', ''],
    ['update', id, '--rate-limit', '0'],
    ['update', id, '--rate-limit', 'none'],
    ['update', id, '--scopes', 'root'],
    ['update', id, '--name', ''],
    ['update', id, '--expires-in-days-typo', '1'],
    // a key keeps its expiry: refused rather than silently ignored
    ['update', id, '--name', 'x', '--expires-in-days', '5'],
    ['update', '--name', 'x'],
    ['update', 'BAD', '--name', 'x']
  ]) {
    const res = await keys(argv, env)
    t.equal(res.code, 2, argv.join(' '))
    t.same(res.out, [])
    t.match(res.err.join('\n'), /usage:/)
  }
  t.match((await keys(['update', id, '--require-signature', '--no-require-signature'], env)).err.join('\n'), /contradict/)
  t.match((await keys(['update', id], env)).err.join('\n'), /at least one field/)
  t.match((await keys(['update', id, '--allowed-ips', '192.0.2.0/24,10.0.0.1/8'], env)).err.join('\n'), /"10\.0\.0\.1\/8": host bits set beyond \/8/, 'a bad CIDR: the message names the entry')
  t.strictSame(await app.apiKeys.get(id), several, 'nothing refused was written')

  const unknown = await keys(['update', 'aaaaaaaaaaaa', '--name', 'x'], env)
  t.equal(unknown.code, 1, 'unknown id')
  t.same(unknown.out, [])
  t.equal(unknown.err.join('\n'), 'no key with that id')

  await app.apiKeys.revoke(id)
  const revoked = await keys(['update', id, '--name', 'x'], env)
  t.equal(revoked.code, 1, 'a revoked key')
  t.same(revoked.out, [])
  t.equal(revoked.err.join('\n'), 'the key is revoked or expired')
})
