import { request as httpRequest } from 'node:http'
import { calculateJwkThumbprint, exportJWK } from 'jose'
import * as client from 'openid-client'
import t, { type Test } from 'tap'
import { dpopService } from '../../examples/dpop-openid-client.js'
import { assertQuotedInReadme } from '../helpers/readme.js'
import type { App } from '../../src/app.js'
import type { Scope } from '../../src/api-keys.js'
import { makeKey } from '../api/api-helper.js'
import { build } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { basic, FORM_TYPE } from '../oauth/oauth-helper.js'
import { jwtClaims, makeProof, parseChallenges, proofKey, settle } from './dpop-helper.js'

/**
 * DPoP (RFC 9449) with a stock client, openid-client v6 (on oauth4webapi), against a listening
 * server: the README's example as it is, and the client's own DPoP handle. API.md section 7.
 */

const SCOPES: Scope[] = ['messages:read', 'messages:write']
const EXAMPLE = new URL('../../examples/dpop-openid-client.ts', import.meta.url)

/**
 * oauth4webapi 3.8 (under openid-client 6.9) signs the proofs of an Ed25519 key pair with
 * `alg: "Ed25519"` (RFC 9864's fully-specified name), not `EdDSA`: a bug found here (the
 * server accepted only ES256 and EdDSA, so the stock client's Ed25519 key pairs got 400
 * invalid_dpop_proof); the server now accepts and advertises both names.
 */

interface Listening { app: App, issuer: string }

/** The app listening on 127.0.0.1, with PUBLIC_URL its exact origin (the issuer and the htu base). */
async function listening (t: Test, store: 'memory' | 'redis'): Promise<Listening> {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await build(t, { store, config: { HOST: '127.0.0.1', PORT: port, PUBLIC_URL: issuer, AUTH_FAILURE_MAX: 1000 } })
  await app.listen({ host: '127.0.0.1', port })
  await settle(app)
  return { app, issuer }
}

async function discover (issuer: string, clientId: string, secret: string): Promise<client.Configuration> {
  return await client.discovery(new URL(issuer), clientId, secret, client.ClientSecretBasic(secret), {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests]
  })
}

/** A raw HTTP request whose headers may repeat (an array is sent as several header lines). */
async function raw (url: string, method: string, headers: Record<string, string | string[]>, body?: string): Promise<{ status: number, headers: Record<string, unknown>, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('README.md carries examples/dpop-openid-client.ts verbatim', async (t) => {
  assertQuotedInReadme(t, EXAMPLE, 'export async function dpopService')
})

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: the README example, dpopService, creates a message`, async (t) => {
    const { app, issuer } = await listening(t, store)
    const { id, key } = await makeKey(app, SCOPES)
    const res = await dpopService(issuer, id, key)
    t.equal(res.status, 201, 'POST /api/v1/messages with a DPoP-bound token: 201')
    const body = await res.json() as Record<string, unknown>
    t.equal(body.owner, id)
    t.type(body.id, 'string')
  })

  for (const alg of ['ES256', 'EdDSA'] as const) {
    t.test(`${store}, ${alg}: openid-client's DPoP handle: token, resources, introspection, revocation`, async (t) => {
      const { app, issuer } = await listening(t, store)
      const { id, key } = await makeKey(app, SCOPES)
      const config = await discover(issuer, id, key)
      t.strictSame(config.serverMetadata().dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519'], 'the metadata lists the proof algorithms (Ed25519: RFC 9864\'s name for EdDSA on Ed25519)')

      const keyPair = await client.randomDPoPKeyPair(alg)
      const jkt = await calculateJwkThumbprint(await exportJWK(keyPair.publicKey), 'sha256')
      const dpop = client.getDPoPHandle(config, keyPair)
      const grant = await client.clientCredentialsGrant(config, { scope: 'messages:read messages:write' }, { DPoP: dpop })
        .then((tokens) => ({ tokens }), (error: unknown) => ({ error }))
      if ('error' in grant) {
        t.fail(`a token for an ${alg} key pair: ${String(grant.error)}`)
        return
      }
      const tokens = grant.tokens
      t.equal(tokens.token_type, 'dpop', 'token_type DPoP (oauth4webapi lowercases it)')
      t.equal(tokens.scope, 'messages:read messages:write')
      t.same(jwtClaims(tokens.access_token).cnf, { jkt }, 'cnf.jkt is the thumbprint of the client\'s key')
      const token = tokens.access_token
      const messages = new URL('/api/v1/messages', issuer)

      for (let i = 0; i < 3; i++) {
        const res = await client.fetchProtectedResource(config, token, messages, 'GET', null, undefined, { DPoP: dpop })
        t.equal(res.status, 200, `GET with a fresh proof, #${i + 1}: 200`)
      }
      const withQuery = await client.fetchProtectedResource(config, token, new URL('/api/v1/messages?limit=3', issuer), 'GET', null, undefined, { DPoP: dpop })
      t.equal(withQuery.status, 200, 'with a query string: 200')
      const created = await client.fetchProtectedResource(config, token, messages, 'POST', JSON.stringify({ content: 'via openid-client' }),
        new Headers({ 'content-type': 'application/json' }), { DPoP: dpop })
      t.equal(created.status, 201, 'POST: 201')

      const info = await client.tokenIntrospection(config, token)
      t.match(info, { active: true, token_type: 'DPoP', cnf: { jkt }, sub: id, iss: issuer }, 'introspection: DPoP, cnf.jkt')

      // The token alone, as a plain Bearer token: refused, with the challenges a client parses.
      const plain = await fetch(messages, { headers: { authorization: `Bearer ${token}` } })
      t.equal(plain.status, 401, 'the bound token without DPoP (Bearer): 401')
      const challenges = parseChallenges(plain.headers.get('www-authenticate') ?? undefined)
      t.same(challenges.filter((c) => c.params.error !== undefined).map((c) => [c.scheme, c.params.error]), [['bearer', 'invalid_token']], 'invalid_token on the Bearer challenge')
      t.equal(challenges.find((c) => c.scheme === 'dpop')?.params.algs, 'ES256 EdDSA Ed25519')
      const noProof = await fetch(messages, { headers: { authorization: `DPoP ${token}` } })
      t.equal(noProof.status, 401, 'the bound token as DPoP without a proof: 401')
      t.match(noProof.headers.get('www-authenticate'), /DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof"/)
      // A thief with the token and a key of its own.
      const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair(alg))
      const stolen = await client.fetchProtectedResource(config, token, messages, 'GET', null, undefined, { DPoP: thief }).then(() => null, (e: unknown) => e)
      t.ok(stolen instanceof client.WWWAuthenticateChallengeError, 'a proof by another key: refused with a challenge the client understands')
      t.match((stolen as client.WWWAuthenticateChallengeError).cause, [{ scheme: 'apikey' }, { scheme: 'bearer' }, { scheme: 'dpop', parameters: { algs: 'ES256 EdDSA Ed25519', error: 'invalid_dpop_proof' } }])

      await client.tokenRevocation(config, token)
      t.strictSame(await client.tokenIntrospection(config, token), { active: false }, 'revoked')
      const after = await client.fetchProtectedResource(config, token, messages, 'GET', null, undefined, { DPoP: dpop }).then(() => null, (e: unknown) => e)
      t.ok(after instanceof client.WWWAuthenticateChallengeError, 'the revoked token: refused')
      t.match((after as client.WWWAuthenticateChallengeError).cause.find((c) => c.scheme === 'dpop'), { parameters: { error: 'invalid_token' } })
    })
  }

  t.test(`${store}: two DPoP header lines are refused, at the token endpoint and at a resource`, async (t) => {
    const { app, issuer } = await listening(t, store)
    const { id, key } = await makeKey(app, SCOPES)
    const signer = await proofKey()
    const form = 'grant_type=client_credentials'
    const tokenHeaders = { 'content-type': FORM_TYPE, authorization: basic(id, key) }
    const proof = async (url: string, token?: string): Promise<string> => await makeProof(signer, { origin: issuer, url, ...(token === undefined ? {} : { token, method: 'GET' }) })

    const twice = await raw(`${issuer}/oauth/token`, 'POST', { ...tokenHeaders, dpop: [await proof('/oauth/token'), await proof('/oauth/token')] }, form)
    t.equal(twice.status, 400, 'two DPoP lines at /oauth/token: 400')
    t.equal(JSON.parse(twice.body).error, 'invalid_dpop_proof')
    const once = await raw(`${issuer}/oauth/token`, 'POST', { ...tokenHeaders, dpop: await proof('/oauth/token') }, form)
    t.equal(once.status, 200, 'one line: 200')
    const token = JSON.parse(once.body).access_token as string
    t.equal(JSON.parse(once.body).token_type, 'DPoP')

    const get = await raw(`${issuer}/api/v1/messages`, 'GET', { authorization: `DPoP ${token}`, dpop: [await proof('/api/v1/messages', token), await proof('/api/v1/messages', token)] })
    t.equal(get.status, 401, 'two DPoP lines at a resource: 401')
    t.match(get.headers['www-authenticate'], /DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof"/)
    const ok = await raw(`${issuer}/api/v1/messages`, 'GET', { authorization: `DPoP ${token}`, dpop: await proof('/api/v1/messages', token) })
    t.equal(ok.status, 200, 'one line: 200')
    // htu is the public URL: a proof for the inject default origin is not for this server
    const elsewhere = await raw(`${issuer}/api/v1/messages`, 'GET', { authorization: `DPoP ${token}`, dpop: await makeProof(signer, { method: 'GET', url: '/api/v1/messages', token }) })
    t.equal(elsewhere.status, 401, 'a proof for http://127.0.0.1:3000: 401')
  })
}
