import { randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { makeKey, withKey, withToken } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'
import { assertOAuthError, basic, decodeJwt, oauthToken, postForm } from './oauth-helper.js'

/** POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662): API.md section 6. */

const REVOKE = '/oauth/revoke'
const INTROSPECT = '/oauth/introspect'

interface Client { id: string, key: string, auth: { authorization: string } }

async function client (app: App, scopes: Parameters<typeof makeKey>[1]): Promise<Client> {
  const { id, key } = await makeKey(app, scopes)
  return { id, key, auth: { authorization: basic(id, key) } }
}

async function introspect (app: App, by: Client, token: string): Promise<Record<string, unknown>> {
  const res = await postForm(app, INTROSPECT, { token }, by.auth)
  if (res.statusCode !== 200) throw new Error(`introspection failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

async function apiStatus (app: App, token: string): Promise<number> {
  return (await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode
}

/** A token of this issuer that expired a minute ago: signed with the app's own signing key. */
async function expiredToken (app: App, clientId: string): Promise<string> {
  const { kid, alg, privateKey } = await app.issuerKeys.signing()
  const now = Math.floor(Date.now() / 1000)
  return await new SignJWT({ client_id: clientId, scope: 'messages:read', jti: randomBytes(16).toString('base64url') })
    .setProtectedHeader({ alg, typ: 'at+jwt', kid })
    .setIssuer(app.config.publicUrl).setAudience('missive-api').setSubject(clientId)
    .setIssuedAt(now - 1000).setExpirationTime(now - 60)
    .sign(privateKey)
}

/** A well-formed token signed by a key the server never had. */
async function foreignToken (clientId: string, issuer: string): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  const kid = String((await exportJWK(publicKey)).x)
  const now = Math.floor(Date.now() / 1000)
  return await new SignJWT({ client_id: clientId, scope: 'messages:read', jti: randomBytes(16).toString('base64url') })
    .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid })
    .setIssuer(issuer).setAudience('missive-api').setSubject(clientId)
    .setIssuedAt(now).setExpirationTime(now + 600)
    .sign(privateKey)
}

function assertRevokeOk (t: Test, res: Awaited<ReturnType<typeof postForm>>, what: string): void {
  t.equal(res.statusCode, 200, `${what}: 200`)
  t.equal(res.headers['www-authenticate'], undefined, `${what}: no challenge`)
  t.ok(res.body === '' || res.body === 'null' || res.body === '{}', `${what}: nothing to read in the body (${JSON.stringify(res.body)})`)
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: a client sees and revokes its own tokens only; keys:admin any`, async (t) => {
    const app = await build(t, { store })
    const a = await client(app, ['messages:read'])
    const b = await client(app, ['messages:read', 'messages:write'])
    const admin = await client(app, ['keys:admin'])
    const tokenB = (await oauthToken(app, b.id, b.key)).access_token

    // A, on B's token: nothing learnt, nothing done.
    t.strictSame(await introspect(app, a, tokenB), { active: false }, 'A introspecting B\'s token: exactly {active:false}')
    assertRevokeOk(t, await postForm(app, REVOKE, { token: tokenB }, a.auth), 'A revoking B\'s token')
    assertRevokeOk(t, await postForm(app, REVOKE, { token: tokenB, client_id: a.id, client_secret: a.key }), 'A revoking B\'s token, client_secret_post')
    t.equal(await apiStatus(app, tokenB), 200, 'B\'s token still works')
    const own = await introspect(app, b, tokenB)
    t.match(own, { active: true, sub: b.id, client_id: b.id, scope: 'messages:read messages:write', aud: 'missive-api', token_type: 'Bearer' }, 'B sees its own token')

    // keys:admin sees and revokes any token.
    const seen = await introspect(app, admin, tokenB)
    t.strictSame(Object.keys(seen).sort(), ['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub', 'token_type'])
    const claims = decodeJwt(tokenB).payload
    t.strictSame(seen, {
      active: true,
      scope: claims.scope,
      client_id: b.id,
      sub: b.id,
      iss: claims.iss,
      aud: 'missive-api',
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer'
    }, 'the admin gets the whole description, as the token says')
    assertRevokeOk(t, await postForm(app, REVOKE, { token: tokenB, token_type_hint: 'access_token' }, admin.auth), 'the admin revoking B\'s token')
    const refused = await app.inject({ url: '/api/v1/messages', headers: withToken(tokenB) })
    t.equal(refused.statusCode, 401, 'B\'s token is refused from then on')
    t.match(refused.headers['www-authenticate'], /Bearer realm="missive", error="invalid_token"/)
    t.strictSame(await introspect(app, b, tokenB), { active: false }, 'B\'s own introspection: inactive')
    t.strictSame(await introspect(app, admin, tokenB), { active: false }, 'the admin\'s too')

    // A client revokes its own token; the hint is only a hint.
    const tokenA = (await oauthToken(app, a.id, a.key)).access_token
    const otherA = (await oauthToken(app, a.id, a.key)).access_token
    assertRevokeOk(t, await postForm(app, REVOKE, { token: tokenA, token_type_hint: 'refresh_token' }, a.auth), 'A revoking its own token with a wrong hint')
    t.equal(await apiStatus(app, tokenA), 401, 'revoked')
    t.equal(await apiStatus(app, otherA), 200, 'only that token: A\'s other token still works')
    assertRevokeOk(t, await postForm(app, REVOKE, { token: tokenA }, a.auth), 'revoking it again')
  })

  t.test(`${store}: revoking what is not a live token is 200; introspecting it is {active:false}`, async (t) => {
    const app = await build(t, { store })
    const a = await client(app, ['messages:read'])
    const expired = await expiredToken(app, a.id)
    const foreign = await foreignToken(a.id, app.config.publicUrl)
    const cases: Array<[string, string]> = [
      ['garbage', 'not-a-token'],
      ['a JWT-looking string', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.'],
      ['a token signed by an unknown key', foreign],
      ['an expired token of this issuer', expired],
      ['the client\'s own API key', a.key],
      ['a very long token', 'x'.repeat(4000)]
    ]
    for (const [what, token] of cases) {
      assertRevokeOk(t, await postForm(app, REVOKE, { token }, a.auth), `revoke ${what}`)
      t.strictSame(await introspect(app, a, token), { active: false }, `introspect ${what}`)
    }
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(a.key) })).statusCode, 200, 'the key is untouched')
  })

  t.test(`${store}: the errors of both endpoints`, async (t) => {
    const app = await build(t, { store })
    const a = await client(app, ['messages:read'])
    const token = (await oauthToken(app, a.id, a.key)).access_token
    for (const path of [REVOKE, INTROSPECT]) {
      assertOAuthError(t, await postForm(app, path, {}, a.auth), 400, 'invalid_request', `${path}: missing token`)
      assertOAuthError(t, await postForm(app, path, { token_type_hint: 'access_token' }, a.auth), 400, 'invalid_request', `${path}: only a hint`)
      // RFC 6749 §3.1: a parameter without a value is one that was not sent.
      assertOAuthError(t, await postForm(app, path, { token: '' }, a.auth), 400, 'invalid_request', `${path}: an empty token`)
      assertOAuthError(t, await postForm(app, path, `token=${token}&token=${token}`, a.auth), 400, 'invalid_request', `${path}: token repeated`)
      assertOAuthError(t, await postForm(app, path, { token }), 401, 'invalid_client', `${path}: no client authentication`)
      assertOAuthError(t, await postForm(app, path, { token }, { authorization: basic(a.id, `${a.key.slice(0, -2)}xx`) }), 401, 'invalid_client', `${path}: wrong secret`)
      assertOAuthError(t, await postForm(app, path, { token, client_id: a.id, client_secret: a.key }, a.auth), 400, 'invalid_request', `${path}: two authentication methods`)
      const json = await app.inject({ method: 'POST', url: path, headers: { ...a.auth, 'content-type': 'application/json' }, payload: JSON.stringify({ token }) })
      assertOAuthError(t, json, 400, 'invalid_request', `${path}: a JSON body`)
      assertOAuthError(t, await postForm(app, path, { token, padding: 'p'.repeat(9000) }, a.auth), 413, 'invalid_request', `${path}: over 8192 bytes`)
    }
    t.equal(await apiStatus(app, token), 200, 'none of that revoked the token')
  })

  t.test(`${store}: a token whose key was revoked is inactive`, async (t) => {
    const app = await build(t, { store })
    const admin = await client(app, ['keys:admin'])
    const b = await client(app, ['messages:read'])
    const token = (await oauthToken(app, b.id, b.key)).access_token
    t.match(await introspect(app, admin, token), { active: true })
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${b.id}`, headers: withKey(admin.key) })).statusCode, 204)
    t.strictSame(await introspect(app, admin, token), { active: false }, 'exactly {active:false}')
    assertOAuthError(t, await postForm(app, INTROSPECT, { token }, b.auth), 401, 'invalid_client', 'the revoked client cannot introspect')
    assertRevokeOk(t, await postForm(app, REVOKE, { token }, admin.auth), 'revoking it anyway')
    t.equal(await apiStatus(app, token), 401)
  })
}

t.test('revocation takes effect on another instance on the same Redis', async (t) => {
  const one = await build(t, { store: 'redis' })
  const two = await build(t, { store: 'redis', flush: false })
  const a = await client(one, ['messages:read'])
  const admin = await client(one, ['keys:admin'])

  const token = (await oauthToken(one, a.id, a.key)).access_token
  t.equal(await apiStatus(two, token), 200, 'the second instance takes the token (and has it cached)')
  t.match(await introspect(two, a, token), { active: true, sub: a.id }, 'and describes it')
  assertRevokeOk(t, await postForm(one, REVOKE, { token }, a.auth), 'revoked on the first instance')
  t.equal(await apiStatus(two, token), 401, 'refused at once on the second')
  t.equal(await apiStatus(one, token), 401, 'and on the first')
  t.strictSame(await introspect(two, a, token), { active: false })
  t.strictSame(await introspect(two, admin, token), { active: false })

  // the other way round, by the admin
  const second = (await oauthToken(two, a.id, a.key)).access_token
  t.equal(await apiStatus(one, second), 200)
  assertRevokeOk(t, await postForm(two, REVOKE, { token: second }, admin.auth), 'the admin revokes on the second instance')
  t.equal(await apiStatus(one, second), 401, 'refused on the first')
  t.strictSame(await introspect(one, a, second), { active: false })

  // a key revoked on one instance: its tokens are inactive on the other within 5 s (API.md section 2)
  const b = await client(one, ['messages:read'])
  const tokenB = (await oauthToken(one, b.id, b.key)).access_token
  t.equal(await apiStatus(two, tokenB), 200)
  t.match(await introspect(two, admin, tokenB), { active: true })
  t.equal((await one.inject({ method: 'DELETE', url: `/api/v1/keys/${b.id}`, headers: withKey(admin.key) })).statusCode, 204)
  const deadline = Date.now() + 5000
  let view = await introspect(two, admin, tokenB)
  while (view.active !== false && Date.now() < deadline) {
    await sleep(100)
    view = await introspect(two, admin, tokenB)
  }
  t.strictSame(view, { active: false }, 'inactive on the second instance within 5 s')
  t.equal(await apiStatus(two, tokenB), 401)
  assertOAuthError(t, await postForm(two, '/oauth/token', { grant_type: 'client_credentials' }, b.auth), 401, 'invalid_client', 'and the key gets no more tokens there')
})
