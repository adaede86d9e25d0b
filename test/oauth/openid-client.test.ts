import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose'
import * as client from 'openid-client'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import type { Scope } from '../../src/api-keys.js'
import { makeKey } from '../api/api-helper.js'
import { build } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'

/**
 * A stock OAuth 2.0 client (openid-client v6, on oauth4webapi) and a stock JWT verifier
 * (jose) against a listening server, with no Missive-specific code: API.md section 6.
 */

const SCOPES: Scope[] = ['messages:read', 'messages:write']

interface Listening { app: App, issuer: string }

/** The app listening on 127.0.0.1, with PUBLIC_URL its exact origin (the issuer). */
async function listening (t: Test, store: 'memory' | 'redis'): Promise<Listening> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await build(t, { store, config: { HOST: '127.0.0.1', PORT: port, PUBLIC_URL: issuer } })
  await app.listen({ host: '127.0.0.1', port })
  return { app, issuer }
}

type Method = 'client_secret_basic' | 'client_secret_post'

async function discover (issuer: string, clientId: string, secret: string, method: Method): Promise<client.Configuration> {
  const auth = method === 'client_secret_basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret)
  return await client.discovery(new URL(issuer), clientId, secret, auth, {
    algorithm: 'oauth2', // RFC 8414's /.well-known/oauth-authorization-server, not OIDC's
    execute: [client.allowInsecureRequests]
  })
}

async function apiGet (issuer: string, token: string): Promise<Response> {
  return await fetch(`${issuer}/api/v1/messages`, { headers: { authorization: `Bearer ${token}` } })
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: discovery finds the RFC 8414 metadata`, async (t) => {
    const { app, issuer } = await listening(t, store)
    const { id, key } = await makeKey(app, SCOPES)
    const config = await discover(issuer, id, key, 'client_secret_basic')
    const metadata = config.serverMetadata()
    t.equal(metadata.issuer, issuer)
    t.equal(metadata.token_endpoint, `${issuer}/oauth/token`)
    t.equal(metadata.jwks_uri, `${issuer}/.well-known/jwks.json`)
    t.equal(metadata.revocation_endpoint, `${issuer}/oauth/revoke`)
    t.equal(metadata.introspection_endpoint, `${issuer}/oauth/introspect`)
    t.same(metadata.grant_types_supported, ['client_credentials'])
    t.same(metadata.token_endpoint_auth_methods_supported, ['client_secret_basic', 'client_secret_post'])
  })

  for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
    t.test(`${store}, ${method}: token, use, introspection, revocation`, async (t) => {
      const { app, issuer } = await listening(t, store)
      const { id, key } = await makeKey(app, SCOPES)
      const config = await discover(issuer, id, key, method)

      const before = Math.floor(Date.now() / 1000)
      const tokens = await client.clientCredentialsGrant(config, { scope: 'messages:read' })
      t.type(tokens.access_token, 'string')
      t.equal(tokens.token_type, 'bearer', 'Bearer (oauth4webapi lowercases it)')
      t.equal(tokens.scope, 'messages:read', 'the narrowed scope')
      t.equal(tokens.expires_in, 900)
      t.equal(tokens.refresh_token, undefined, 'no refresh token')
      const token = tokens.access_token

      const use = await apiGet(issuer, token)
      t.equal(use.status, 200, 'the token works on the API')
      t.same(await use.json(), { items: [], nextCursor: null })

      const info = await client.tokenIntrospection(config, token)
      t.equal(info.active, true)
      t.equal(info.scope, 'messages:read')
      t.equal(info.client_id, id)
      t.equal(info.sub, id)
      t.equal(info.iss, issuer)
      t.equal(info.aud, 'missive-api')
      t.equal(info.token_type, 'Bearer')
      t.type(info.jti, 'string')
      t.ok(typeof info.iat === 'number' && info.iat >= before - 1 && info.iat <= before + 5, 'iat is now')
      t.equal(info.exp, (info.iat as number) + 900)
      t.strictSame(Object.keys(info).sort(), ['active', 'aud', 'client_id', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub', 'token_type'])

      // A gateway: only the JWKS, no secret.
      const remote = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))
      const { payload, protectedHeader } = await jwtVerify(token, remote, { issuer, audience: 'missive-api', typ: 'at+jwt' })
      t.equal(protectedHeader.typ, 'at+jwt')
      t.equal(protectedHeader.alg, 'ES256')
      t.type(protectedHeader.kid, 'string')
      t.equal(payload.sub, id)
      t.equal(payload.client_id, id)
      t.equal(payload.scope, 'messages:read')
      t.equal(payload.jti, info.jti)

      await client.tokenRevocation(config, token)

      const after = await client.tokenIntrospection(config, token)
      t.strictSame(after, { active: false }, 'a revoked token is exactly {active:false}')
      const refused = await apiGet(issuer, token)
      t.equal(refused.status, 401)
      t.match(refused.headers.get('www-authenticate'), /Bearer realm="missive", error="invalid_token"/)
      const body = await refused.json() as Record<string, unknown>
      t.match(body, { statusCode: 401, error: 'Unauthorized', message: String })
      t.ok(Object.keys(body).every((k) => ['statusCode', 'error', 'message', 'code'].includes(k)), 'the standard error body')

      // A second token for the same client is unaffected by the first one's revocation.
      const again = await client.clientCredentialsGrant(config)
      t.equal(again.scope, SCOPES.join(' '), 'no scope asked: all the key\'s scopes')
      t.equal((await apiGet(issuer, again.access_token)).status, 200)
    })
  }

  t.test(`${store}: a wrong secret is an invalid_client error the client understands`, async (t) => {
    const { app, issuer } = await listening(t, store)
    const { id, key } = await makeKey(app, SCOPES)
    const wrong = key.slice(0, -4) + (key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    for (const method of ['client_secret_basic', 'client_secret_post'] as const) {
      const config = await discover(issuer, id, wrong, method)
      const err = await client.clientCredentialsGrant(config).then(() => null, (e: unknown) => e)
      // oauth4webapi reports a 401 with a WWW-Authenticate challenge as such (RFC 6749 §5.2)
      t.ok(err instanceof client.WWWAuthenticateChallengeError, `${method}: refused with a challenge`)
      const challenge = err as client.WWWAuthenticateChallengeError
      t.equal(challenge.status, 401)
      t.match(challenge.cause, [{ scheme: 'basic', parameters: { realm: 'missive' } }])
      t.equal(challenge.response.headers.get('www-authenticate'), 'Basic realm="missive"')
      const body = await challenge.response.json() as Record<string, unknown>
      t.equal(body.error, 'invalid_client')
      t.ok(Object.keys(body).every((k) => k === 'error' || k === 'error_description'), 'an RFC 6749 §5.2 body')
    }
  })

  t.test(`${store}: the gateway's view: jose verifies with the JWKS, the header is RFC 9068's`, async (t) => {
    const { app, issuer } = await listening(t, store)
    const { id, key } = await makeKey(app, SCOPES)
    const config = await discover(issuer, id, key, 'client_secret_post')
    const { access_token: token } = await client.clientCredentialsGrant(config)
    const header = decodeProtectedHeader(token)
    const jwks = await (await fetch(`${issuer}/.well-known/jwks.json`)).json() as { keys: Array<Record<string, unknown>> }
    t.ok(jwks.keys.some((k) => k.kid === header.kid), 'the token\'s kid is in the JWKS')
    const remote = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))
    await t.resolves(jwtVerify(token, remote, { issuer, audience: 'missive-api', typ: 'at+jwt' }))
    await t.rejects(jwtVerify(token, remote, { issuer, audience: 'another-api', typ: 'at+jwt' }), 'another audience is refused')
    await t.rejects(jwtVerify(token, remote, { issuer: 'https://evil.example', audience: 'missive-api' }), 'another issuer is refused')
    await t.rejects(jwtVerify(token, remote, { issuer, audience: 'missive-api', typ: 'JWT' }), 'a JWT that is not at+jwt is refused')
  })
}

t.test('PUBLIC_URL with a path, behind a proxy that strips it: RFC 8414 §3.1 discovery works', async (t) => {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const issuer = `${origin}/base`
  const app = await build(t, { store: 'memory', config: { HOST: '127.0.0.1', PORT: port, PUBLIC_URL: issuer } })
  await app.listen({ host: '127.0.0.1', port })
  const { id, key } = await makeKey(app, SCOPES)

  // The reverse proxy: https://host/base/* goes to the app without /base; /.well-known/* as is.
  const forwarded: string[] = []
  const proxy: client.CustomFetch = async (url, options) => {
    const target = new URL(url)
    if (target.pathname.startsWith('/base/')) target.pathname = target.pathname.slice('/base'.length)
    forwarded.push(target.pathname)
    return await fetch(target, options as RequestInit)
  }
  // RFC 8414 §3.1: the well-known suffix goes between the host and the issuer's path.
  const config = await client.discovery(new URL(issuer), id, key, client.ClientSecretBasic(key), {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests],
    [client.customFetch]: proxy
  })
  t.equal(forwarded[0], '/.well-known/oauth-authorization-server/base', 'the path-inserted metadata URL')
  t.equal(config.serverMetadata().issuer, issuer)
  t.equal(config.serverMetadata().token_endpoint, `${issuer}/oauth/token`)

  const tokens = await client.clientCredentialsGrant(config, { scope: 'messages:read' })
  t.equal(tokens.scope, 'messages:read')
  const info = await client.tokenIntrospection(config, tokens.access_token)
  t.match(info, { active: true, iss: issuer, sub: id })
  const remote = createRemoteJWKSet(new URL(`${origin}/.well-known/jwks.json`))
  const { payload } = await jwtVerify(tokens.access_token, remote, { issuer, audience: 'missive-api', typ: 'at+jwt' })
  t.equal(payload.iss, issuer)
  await client.tokenRevocation(config, tokens.access_token)
  t.strictSame(await client.tokenIntrospection(config, tokens.access_token), { active: false })

  // both spellings answer the same document
  const plain = await (await fetch(`${origin}/.well-known/oauth-authorization-server`)).json()
  const inserted = await (await fetch(`${origin}/.well-known/oauth-authorization-server/base`)).json()
  t.strictSame(inserted, plain)
  t.equal((await fetch(`${origin}/.well-known/oauth-authorization-server/other`)).status, 404, 'only the issuer\'s own path')
})
