import t from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'
import { basic, postForm } from '../oauth/oauth-helper.js'
import { assertUniform401, events, learnUniformMessage, patchKey, settledBuild, STORES, within } from './proof-helper.js'

/**
 * Per-key client-address allow-lists (API.md section 2, `allowedIps`) through HTTP, on the
 * memory store and on Redis: for the key and for its tokens, IPv4 and IPv6 (the /64 rule),
 * X-Forwarded-For with and without TRUST_PROXY, the refusal (401, counted, logged, before any
 * hash), PATCH on this instance and another, and the OAuth token endpoint.
 */

const CONFIG = { AUTH_FAILURE_MAX: 10_000 }
const SCOPES = ['messages:read', 'messages:write']

interface Limited { admin: string, id: string, key: string, allowedIps: string[] }

/** A key made through POST /api/v1/keys with an allow-list; the answer's allowedIps too. */
async function limitedKey (app: App, allowedIps: string[], admin?: string): Promise<Limited> {
  const adminKey = admin ?? (await makeKey(app, ['keys:admin'], { name: 'admin' })).key
  const res = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(adminKey), payload: { name: 'limited', scopes: SCOPES, allowedIps } })
  if (res.statusCode !== 201) throw new Error(`create: ${res.statusCode} ${res.body}`)
  const body = res.json()
  return { admin: adminKey, id: body.id, key: body.key, allowedIps: body.allowedIps }
}

const list = async (app: App, headers: Record<string, string>, remoteAddress?: string, extra: Record<string, string> = {}): Promise<number> =>
  (await app.inject({ url: '/api/v1/messages', headers: { ...headers, ...extra }, ...(remoteAddress === undefined ? {} : { remoteAddress }) })).statusCode

/** A token for the key, asked for from an allowed address. */
const tokenFrom = async (app: App, key: string, remoteAddress: string): Promise<string> => {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), remoteAddress })
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`)
  return res.json().access_token
}

for (const store of STORES) {
  t.test(`${store}: IPv4 CIDRs, for the key and its tokens`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    await learnUniformMessage(app)
    const svc = await limitedKey(app, ['10.20.0.0/16', '203.0.113.7'])
    t.same(svc.allowedIps, ['10.20.0.0/16', '203.0.113.7/32'], 'canonical form in the answer')
    const item = await app.inject({ url: `/api/v1/keys/${svc.id}`, headers: withKey(svc.admin) })
    t.same(item.json().allowedIps, ['10.20.0.0/16', '203.0.113.7/32'], 'and in the key item')
    t.equal(item.json().requireSignature, false)

    for (const ip of ['10.20.0.1', '10.20.255.254', '203.0.113.7', '::ffff:10.20.1.1']) {
      t.equal(await list(app, withKey(svc.key), ip), 200, `key from ${ip}: allowed`)
    }
    for (const ip of ['10.21.0.1', '10.19.255.255', '203.0.113.8', '127.0.0.1', '2001:db8::1', '::ffff:10.21.0.1']) {
      assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: ip }), undefined, `key from ${ip}`)
    }
    const posted = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withKey(svc.key), payload: { content: 'x' }, remoteAddress: '10.20.9.9' })
    t.equal(posted.statusCode, 201, 'a POST from inside')

    // its tokens: issued inside, refused outside (a token first seen outside, and one seen inside before)
    const unseen = await tokenFrom(app, svc.key, '10.20.0.1')
    const seen = await tokenFrom(app, svc.key, '10.20.0.1')
    t.equal(await list(app, withToken(seen), '10.20.0.2'), 200, 'a token from inside')
    for (const [what, token] of [['a token first used outside', unseen], ['a token used inside before', seen]] as const) {
      const res = await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: '192.0.2.1' })
      assertUniform401(t, res, undefined, what)
      t.match(res.headers['www-authenticate'], /Bearer realm="missive", error="invalid_token"/, `${what}: invalid_token`)
    }
    t.equal(await list(app, withToken(unseen), '10.20.0.3'), 200, 'the token refused outside still works inside')
    const tokenOutside = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key), remoteAddress: '192.0.2.1' })
    assertUniform401(t, tokenOutside, undefined, 'asking for a token from outside', ['ApiKey'])

    // an empty list is any address
    const open = await limitedKey(app, [], svc.admin)
    t.same(open.allowedIps, [], 'no list: []')
    t.equal(await list(app, withKey(open.key), '192.0.2.99'), 200, 'no list: any address')

    // what is not a CIDR list
    for (const [what, allowedIps] of [
      ['host bits set', ['10.0.0.1/8']], ['not an address', ['intranet']], ['a prefix too long', ['10.0.0.0/33']],
      ['a range', ['10.0.0.1-10.0.0.9']], ['33 entries', Array.from({ length: 33 }, (_, i) => `10.0.${i}.0/24`)], ['a zone id', ['fe80::1%eth0']]
    ] as const) {
      const created = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(svc.admin), payload: { name: 'bad', scopes: SCOPES, allowedIps } })
      t.equal(created.statusCode, 400, `create, ${what}: 400`)
      const patched = await app.inject({ method: 'PATCH', url: `/api/v1/keys/${svc.id}`, headers: withKey(svc.admin), payload: { allowedIps } })
      t.equal(patched.statusCode, 400, `PATCH, ${what}: 400`)
    }
    t.same((await app.inject({ url: `/api/v1/keys/${svc.id}`, headers: withKey(svc.admin) })).json().allowedIps, ['10.20.0.0/16', '203.0.113.7/32'], 'the refused PATCHes changed nothing')
  })

  t.test(`${store}: IPv6 entries and the /64 rule`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    await learnUniformMessage(app)
    const svc = await limitedKey(app, ['2001:db8::7', '2001:db8:42::/48', '2001:DB8:1:2:3::/80'])
    t.same(svc.allowedIps, ['2001:db8::/64', '2001:db8:42::/48', '2001:db8:1:2::/64'], 'a bare address and a /80 are widened to their /64; RFC 5952 text')
    const token = await tokenFrom(app, svc.key, '2001:db8::7')
    const inside = ['2001:db8::5', '2001:db8::7', '2001:db8:0:0:ffff:ffff:ffff:ffff', '2001:db8:42::1', '2001:db8:42:ffff:1::9', '2001:db8:1:2:ffff::1']
    const outside = ['2001:db8:0:1::7', '2001:db8:43::1', '2001:db8:1:3::1', '2001:db9::7', '127.0.0.1', '10.0.0.1']
    for (const ip of inside) {
      t.equal(await list(app, withKey(svc.key), ip), 200, `key from ${ip}: allowed`)
      t.equal(await list(app, withToken(token), ip), 200, `token from ${ip}: allowed`)
    }
    for (const ip of outside) {
      assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: ip }), undefined, `key from ${ip}`)
      assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: ip }), undefined, `token from ${ip}`)
    }
    // an IPv6 entry never matches an IPv4 client, even ::/0
    const v6only = await limitedKey(app, ['::/0'], svc.admin)
    t.equal(await list(app, withKey(v6only.key), '2001:db8:ffff::1'), 200, '::/0: any IPv6 client')
    t.equal(await list(app, withKey(v6only.key), '198.51.100.1'), 401, '::/0: not an IPv4 client')
  })

  t.test(`${store}: X-Forwarded-For counts only with TRUST_PROXY`, async (t) => {
    const direct = await settledBuild(t, { store, config: CONFIG })
    const svc = await limitedKey(direct, ['10.20.0.0/16'])
    const local = await limitedKey(direct, ['127.0.0.1'], svc.admin)
    t.equal(await list(direct, withKey(svc.key), '127.0.0.1', { 'x-forwarded-for': '10.20.0.1' }), 401, 'TRUST_PROXY off: a claimed inside address does not let it in')
    t.equal(await list(direct, withKey(local.key), '127.0.0.1', { 'x-forwarded-for': '192.0.2.1' }), 200, 'TRUST_PROXY off: a claimed outside address does not shut it out')
    const token = await tokenFrom(direct, svc.key, '10.20.0.1')
    t.equal(await list(direct, withToken(token), '127.0.0.1', { 'x-forwarded-for': '10.20.0.1' }), 401, 'TRUST_PROXY off: the same for a token')

    const proxied = await settledBuild(t, { store, flush: false, config: { ...CONFIG, TRUST_PROXY: 'true' } })
    const behind = store === 'redis' ? svc : await limitedKey(proxied, ['10.20.0.0/16'])
    const behindToken = store === 'redis' ? token : await tokenFrom(proxied, behind.key, '10.20.0.1')
    t.equal(await list(proxied, withKey(behind.key), '127.0.0.1', { 'x-forwarded-for': '10.20.0.1' }), 200, 'TRUST_PROXY=true: X-Forwarded-For inside: allowed')
    t.equal(await list(proxied, withKey(behind.key), '10.20.0.1', { 'x-forwarded-for': '192.0.2.1' }), 401, 'TRUST_PROXY=true: X-Forwarded-For outside: refused, whatever the socket')
    // true trusts every hop: the client is the leftmost address
    t.equal(await list(proxied, withKey(behind.key), '127.0.0.1', { 'x-forwarded-for': '10.20.0.1, 192.0.2.1' }), 200, 'TRUST_PROXY=true: the leftmost address decides (inside)')
    t.equal(await list(proxied, withKey(behind.key), '127.0.0.1', { 'x-forwarded-for': '192.0.2.1, 10.20.0.1' }), 401, 'TRUST_PROXY=true: the leftmost address decides (outside)')
    t.equal(await list(proxied, withToken(behindToken), '127.0.0.1', { 'x-forwarded-for': '10.20.0.5' }), 200, 'a token too: inside')
    t.equal(await list(proxied, withToken(behindToken), '127.0.0.1', { 'x-forwarded-for': '192.0.2.5' }), 401, 'a token too: outside')
  })

  t.test(`${store}: the refusal is counted, logged without the key, and costs no hash`, async (t) => {
    const logs: string[] = []
    const app = await settledBuild(t, { store, config: { AUTH_FAILURE_MAX: 3 }, logs })
    const svc = await limitedKey(app, ['10.20.0.0/16'])
    const attacker = '192.0.2.66'

    // a fresh key, first used from a refused address: argon2 never runs
    const before = app.apiKeys.verifications
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: attacker }), undefined, '1st from outside')
    t.equal(app.apiKeys.verifications, before, 'no argon2 run for the refused address')
    const token = await tokenFrom(app, svc.key, '10.20.0.1')
    t.equal(app.apiKeys.verifications, before + 1, 'one from inside (the check counts)')
    // once verified and cached, a refused address still costs nothing and is still refused
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: attacker }), undefined, '2nd from outside (the key cached)')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: attacker }), undefined, '3rd from outside (its token)')
    t.equal(app.apiKeys.verifications, before + 1, 'still one')
    const fourth = await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: attacker })
    t.equal(fourth.statusCode, 429, 'over AUTH_FAILURE_MAX: 429')
    t.equal(await list(app, withKey(svc.key), '10.20.0.1'), 200, 'the key itself still works from inside')

    const denied = events(logs, 'auth.ip_denied')
    t.ok(denied.length >= 3, `auth.ip_denied logged (${denied.length})`)
    for (const line of denied) t.match(line, { keyId: svc.id, ip: attacker }, 'with the key id and the address')
    const secret = svc.key.slice(`msk_${svc.id}_`.length)
    t.notOk(logs.some((line) => line.includes(secret)), 'the key\'s secret is in no log line')
    t.notOk(logs.some((line) => line.includes(token)), 'nor the token')
  })

  t.test(`${store}: a PATCH of the list is in force at once`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    const svc = await limitedKey(app, ['10.20.0.0/16'])
    const token = await tokenFrom(app, svc.key, '10.20.0.1')
    t.equal(await list(app, withKey(svc.key), '192.0.2.1'), 401, 'outside: refused')
    t.equal(await list(app, withToken(token), '192.0.2.1'), 401, 'its token outside: refused')

    const widened = await patchKey(app, svc.admin, svc.id, { allowedIps: ['10.20.0.0/16', '192.0.2.0/24'] })
    t.same(widened.allowedIps, ['10.20.0.0/16', '192.0.2.0/24'], 'the answer shows the new list')
    t.equal(await list(app, withKey(svc.key), '192.0.2.1'), 200, 'widened: the key, at once')
    t.equal(await list(app, withToken(token), '192.0.2.1'), 200, 'widened: its token, at once')

    await patchKey(app, svc.admin, svc.id, { allowedIps: ['192.0.2.0/24'] })
    t.equal(await list(app, withKey(svc.key), '10.20.0.1'), 401, 'narrowed: the key, at once')
    t.equal(await list(app, withToken(token), '10.20.0.1'), 401, 'narrowed: its token, at once')

    await patchKey(app, svc.admin, svc.id, { allowedIps: [] })
    t.equal(await list(app, withKey(svc.key), '198.51.100.200'), 200, '[]: any address again')
    t.equal(await list(app, withToken(token), '198.51.100.200'), 200, '[]: its token too')
    await patchKey(app, svc.admin, svc.id, { name: 'renamed' })
    t.same((await app.inject({ url: `/api/v1/keys/${svc.id}`, headers: withKey(svc.admin) })).json().allowedIps, [], 'a PATCH without allowedIps leaves it as it is')
  })

  t.test(`${store}: /oauth/token from a refused address`, async (t) => {
    const logs: string[] = []
    const app = await settledBuild(t, { store, config: CONFIG, logs })
    const svc = await limitedKey(app, ['10.20.0.0/16'])
    const before = app.apiKeys.verifications
    const grant = { grant_type: 'client_credentials' }
    const refused = await postForm(app, '/oauth/token', grant, { authorization: basic(svc.id, svc.key), remoteAddress: '192.0.2.1' })
    t.equal(refused.statusCode, 401, 'outside: 401')
    t.equal(refused.json().error, 'invalid_client')
    t.equal(app.apiKeys.verifications, before, 'no argon2 run')
    const post = await postForm(app, '/oauth/token', { ...grant, client_id: svc.id, client_secret: svc.key }, { remoteAddress: '192.0.2.1' })
    t.equal(post.json().error, 'invalid_client', 'client_secret_post too')
    t.match(events(logs, 'auth.ip_denied'), [{ keyId: svc.id, ip: '192.0.2.1' }], 'logged as auth.ip_denied')
    const ok = await postForm(app, '/oauth/token', grant, { authorization: basic(svc.id, svc.key), remoteAddress: '10.20.0.1' })
    t.equal(ok.statusCode, 200, 'inside: 200')
    const token = ok.json().access_token as string
    t.equal(await list(app, withToken(token), '10.20.0.2'), 200, 'its token inside')
    t.equal(await list(app, withToken(token), '192.0.2.1'), 401, 'its token outside')
  })
}

t.test('redis: a PATCH that widens the list is in force on a second instance within 5 s', async (t) => {
  const one = await settledBuild(t, { store: 'redis', config: CONFIG })
  const two = await settledBuild(t, { store: 'redis', flush: false, config: CONFIG })
  const svc = await limitedKey(one, ['10.20.0.0/16'])
  const token = await tokenFor(two, svc.key).catch(() => null)
  t.equal(token, null, 'a token asked for from 127.0.0.1 is refused')
  const inside = await tokenFrom(two, svc.key, '10.20.0.1')
  // both instances know the key and the token, and refuse the outside address
  for (const app of [one, two]) {
    t.equal(await list(app, withKey(svc.key), '10.20.0.1'), 200)
    t.equal(await list(app, withToken(inside), '10.20.0.1'), 200)
    t.equal(await list(app, withKey(svc.key), '192.0.2.1'), 401)
    t.equal(await list(app, withToken(inside), '192.0.2.1'), 401)
  }
  await patchKey(one, svc.admin, svc.id, { allowedIps: ['10.20.0.0/16', '192.0.2.0/24'] })
  const patchedAt = Date.now()
  t.equal(await list(one, withKey(svc.key), '192.0.2.1'), 200, 'in force at once where it was made')
  // The key and its tokens are cached apart: each is polled on its own, from the PATCH.
  const key = await within(5000, async () => await list(two, withKey(svc.key), '192.0.2.1') === 200)
  t.ok(key !== null && Date.now() - patchedAt < 5000, `the key, on the other instance within 5 s (${key ?? 'never'} ms)`)
  const tokenThere = await within(5000, async () => await list(two, withToken(inside), '192.0.2.1') === 200)
  t.ok(tokenThere !== null && Date.now() - patchedAt < 5000, `its token there too within 5 s (${Date.now() - patchedAt} ms after the PATCH)`)

  // and narrowing, for a token the other instance has cached
  await patchKey(one, svc.admin, svc.id, { allowedIps: ['192.0.2.0/24'] })
  const narrowedAt = Date.now()
  const narrowed = await within(5000, async () => await list(two, withToken(inside), '10.20.0.1') === 401)
  t.ok(narrowed !== null && Date.now() - narrowedAt < 5000, `narrowed: its token refused on the other instance within 5 s (${narrowed ?? 'never'} ms)`)
  const keyNarrowed = await within(5000, async () => await list(two, withKey(svc.key), '10.20.0.1') === 401)
  t.ok(keyNarrowed !== null && Date.now() - narrowedAt < 5000, `and the key (${Date.now() - narrowedAt} ms after the PATCH)`)
})
