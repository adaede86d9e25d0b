import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import type { Scope } from '../../src/api-keys.js'
import { makeKey } from '../api/api-helper.js'
import { build as buildApp, type BuildOptions } from '../helper.js'
import { assertOAuthError, assertStandardError, basic, postForm } from '../oauth/oauth-helper.js'
import {
  boundToken, garbageProof, hs256Proof, INJECT_ORIGIN, jwtClaims, makeProof, noneProof, parseChallenges, privateJwkProof,
  PROOF_ALGS, proofKey, proofParts, requestToken, settle, TOKEN_ENDPOINTS, type ProofKey, type TokenEndpoint
} from './dpop-helper.js'

/**
 * DPoP (RFC 9449) at the two token endpoints, POST /api/v1/auth/token and POST /oauth/token:
 * API.md sections 2, 6 and 7. A valid proof binds the token (token_type DPoP, cnf.jkt); no proof
 * is the Bearer token of before; a bad proof is a 400 invalid_dpop_proof.
 */

/** The app, once it answers (see settle). */
async function build (t: Test, options: BuildOptions): Promise<App> {
  const app = await buildApp(t, options)
  await settle(app)
  return app
}

const SCOPES: Scope[] = ['messages:read', 'messages:write']

interface Client { id: string, key: string }

/** The refusal of a token request whose proof does not hold, at either endpoint. */
function assertBadProof (t: Test, endpoint: TokenEndpoint, res: LightMyRequestResponse, what: string): void {
  const label = `${endpoint}, ${what}`
  if (endpoint === '/oauth/token') {
    // RFC 9449 §5: the RFC 6749 §5.2 error body with error invalid_dpop_proof
    assertOAuthError(t, res, 400, 'invalid_dpop_proof', label)
  } else {
    assertStandardError(t, res, 400, 'INVALID_DPOP_PROOF', label)
    const dpop = parseChallenges(res.headers['www-authenticate']).find((c) => c.scheme === 'dpop')
    t.same(dpop?.params, { algs: 'ES256 EdDSA Ed25519', error: 'invalid_dpop_proof' }, `${label}: the DPoP challenge`)
  }
  t.notMatch(res.body, /access_token|eyJ/, `${label}: no token, no proof echoed`)
}

for (const store of ['memory', 'redis'] as const) {
  t.test(`${store}: a valid proof (ES256, EdDSA) binds the token to its key`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    for (const endpoint of TOKEN_ENDPOINTS) {
      for (const alg of PROOF_ALGS) {
        const what = `${endpoint}, ${alg}`
        const signer = await proofKey(alg)
        const res = await requestToken(app, endpoint, client.id, client.key, await makeProof(signer, { url: endpoint }))
        t.equal(res.statusCode, 200, `${what}: 200 (${res.body})`)
        const body = res.json()
        t.equal(body.token_type, 'DPoP', `${what}: token_type DPoP`)
        t.equal(body.scope, SCOPES.join(' '), `${what}: every scope of the key`)
        t.equal(body.expires_in, 900, `${what}: the usual lifetime`)
        t.strictSame(Object.keys(body).sort(), ['access_token', 'expires_in', 'scope', 'token_type'], `${what}: the token response`)
        t.match(res.headers['cache-control'], /no-store/, `${what}: Cache-Control no-store`)
        t.equal(res.headers.pragma, 'no-cache', `${what}: Pragma no-cache`)
        const claims = jwtClaims(body.access_token)
        t.same(claims.cnf, { jkt: signer.jkt }, `${what}: cnf.jkt is jose's RFC 7638 thumbprint of the proof key`)
        t.equal(claims.sub, client.id, `${what}: the key's token`)
      }
    }
    // A proof that carries an ath anyway (not needed at a token endpoint) is fine.
    const signer = await proofKey()
    const withAth = await requestToken(app, '/api/v1/auth/token', client.id, client.key, await makeProof(signer, { token: 'anything' }))
    t.equal(withAth.statusCode, 200, 'a token request proof with an ath: accepted')
    t.equal(withAth.json().token_type, 'DPoP')
    // The narrowed scopes of each endpoint still apply to a bound token.
    const narrowed = await requestToken(app, '/oauth/token', client.id, client.key, await makeProof(signer, { url: '/oauth/token' }), 'messages:read')
    t.equal(narrowed.json().scope, 'messages:read', '/oauth/token: scope narrows a bound token too')
    t.equal(narrowed.json().token_type, 'DPoP')
    const narrowedApi = await requestToken(app, '/api/v1/auth/token', client.id, client.key, await makeProof(signer), 'messages:write')
    t.equal(narrowedApi.json().scope, 'messages:write', '/api/v1/auth/token: scopes narrow a bound token too')
  })

  t.test(`${store}: without a DPoP header, the Bearer token of before`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    for (const endpoint of TOKEN_ENDPOINTS) {
      const res = await requestToken(app, endpoint, client.id, client.key)
      t.equal(res.statusCode, 200, `${endpoint}: 200`)
      t.equal(res.json().token_type, 'Bearer', `${endpoint}: token_type Bearer`)
      t.equal(jwtClaims(res.json().access_token).cnf, undefined, `${endpoint}: no cnf`)
      t.match(res.headers['cache-control'], /no-store/, `${endpoint}: no-store`)
      t.equal(res.headers['www-authenticate'], undefined, `${endpoint}: no challenge`)
    }
  })

  t.test(`${store}: a proof that does not hold is 400 invalid_dpop_proof`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    const es = await proofKey('ES256')
    const ed = await proofKey('EdDSA')
    const rsaPair = await generateKeyPair('RS256', { extractable: true })
    const rsa = { privateKey: rsaPair.privateKey, jwk: await exportJWK(rsaPair.publicKey) }
    for (const endpoint of TOKEN_ENDPOINTS) {
      const other: TokenEndpoint = endpoint === '/oauth/token' ? '/api/v1/auth/token' : '/oauth/token'
      const cases: Array<[string, () => Promise<string | string[]>]> = [
        ['htm GET', async () => await makeProof(es, { url: endpoint, method: 'GET' })],
        ['htm post (lowercase)', async () => await makeProof(es, { url: endpoint, method: 'post' })],
        ['htu of the other token endpoint', async () => await makeProof(es, { url: other })],
        ['htu on another origin', async () => await makeProof(es, { url: `https://evil.example${endpoint}` })],
        ['htu https instead of http', async () => await makeProof(es, { url: `https://127.0.0.1:3000${endpoint}` })],
        ['htu on another port', async () => await makeProof(es, { url: `http://127.0.0.1:3001${endpoint}` })],
        ['htu a prefix of the endpoint', async () => await makeProof(es, { url: endpoint.slice(0, -1) })],
        ['htu relative', async () => await makeProof(es, { url: endpoint, claims: { htu: endpoint } })],
        ['htu not a URL', async () => await makeProof(es, { url: `http://[zz]${endpoint}` })],
        ['iat 310 s old', async () => await makeProof(es, { url: endpoint, iatOffset: -310 })],
        ['iat 310 s ahead', async () => await makeProof(es, { url: endpoint, iatOffset: 310 })],
        ['iat not a number', async () => await makeProof(es, { url: endpoint, claims: { iat: String(Math.floor(Date.now() / 1000)) } })],
        ['no iat', async () => await makeProof(es, { url: endpoint, drop: ['iat'] })],
        ['no jti', async () => await makeProof(es, { url: endpoint, drop: ['jti'] })],
        ['no htm', async () => await makeProof(es, { url: endpoint, drop: ['htm'] })],
        ['no htu', async () => await makeProof(es, { url: endpoint, drop: ['htu'] })],
        ['alg none, no signature', async () => noneProof(es, { url: endpoint })],
        ['alg none, with a signature part', async () => noneProof(es, { url: endpoint }, 'AAAA')],
        ['HS256 keyed with the public x', async () => hs256Proof(es, { url: endpoint })],
        ['HS256 with an oct jwk', async () => hs256Proof(es, { url: endpoint, header: { jwk: { kty: 'oct', k: Buffer.from('secret').toString('base64url') } } }, Buffer.from('secret'))],
        ['a private EC jwk in the header', async () => await privateJwkProof(es, { url: endpoint })],
        ['a private OKP jwk in the header', async () => await privateJwkProof(ed, { url: endpoint })],
        ['no jwk', async () => await makeProof(es, { url: endpoint, header: { jwk: undefined } })],
        ['the jwk of another key', async () => await makeProof(es, { url: endpoint, header: { jwk: (await proofKey('ES256')).jwk } })],
        ['an Ed25519 jwk with alg ES256', async () => await makeProof(es, { url: endpoint, header: { jwk: ed.jwk } })],
        ['an EC jwk whose point is not on P-256', async () => await makeProof(es, { url: endpoint, header: { jwk: { ...es.jwk, y: es.jwk.x } } })],
        ['alg RS256 with its RSA jwk', async () => await new SignJWT(proofParts(es, { url: endpoint }).claims).setProtectedHeader({ alg: 'RS256', typ: 'dpop+jwt', jwk: rsa.jwk }).sign(rsa.privateKey)],
        ['typ JWT', async () => await makeProof(es, { url: endpoint, header: { typ: 'JWT' } })],
        ['typ at+jwt', async () => await makeProof(es, { url: endpoint, header: { typ: 'at+jwt' } })],
        ['no typ', async () => await makeProof(es, { url: endpoint, header: { typ: undefined } })],
        ['typ application/dpop+jwt', async () => await makeProof(es, { url: endpoint, header: { typ: 'application/dpop+jwt' } })],
        ['garbage', async () => garbageProof()],
        ['an empty DPoP header', async () => ''],
        ['three dots', async () => 'a.b.c'],
        ['two DPoP headers', async () => [await makeProof(es, { url: endpoint }), await makeProof(ed, { url: endpoint })]],
        ['two proofs comma-joined in one header', async () => `${await makeProof(es, { url: endpoint })}, ${await makeProof(ed, { url: endpoint })}`],
        ['the same proof twice', async () => { const p = await makeProof(es, { url: endpoint }); return [p, p] }]
      ]
      // each proof is made just before it is sent, so that its iat is now
      for (const [what, make] of cases) {
        assertBadProof(t, endpoint, await requestToken(app, endpoint, client.id, client.key, await make()), what)
      }
    }
  })

  t.test(`${store}: a jti is accepted once, whichever endpoint sees it again`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    const signer = await proofKey()
    for (const endpoint of TOKEN_ENDPOINTS) {
      const proof = await makeProof(signer, { url: endpoint })
      t.equal((await requestToken(app, endpoint, client.id, client.key, proof)).statusCode, 200, `${endpoint}: first use`)
      assertBadProof(t, endpoint, await requestToken(app, endpoint, client.id, client.key, proof), 'the same proof again')
      const jti = String(jwtClaims(proof).jti)
      assertBadProof(t, endpoint, await requestToken(app, endpoint, client.id, client.key, await makeProof(signer, { url: endpoint, claims: { jti }, iatOffset: -1 })),
        'a new proof with a used jti')
    }
    // a jti used at one endpoint is used for the other as well
    const jti = randomUUID()
    t.equal((await requestToken(app, '/oauth/token', client.id, client.key, await makeProof(signer, { url: '/oauth/token', claims: { jti } }))).statusCode, 200)
    assertBadProof(t, '/api/v1/auth/token', await requestToken(app, '/api/v1/auth/token', client.id, client.key, await makeProof(signer, { claims: { jti } })), 'a jti used at /oauth/token')
    // ... but a jti is the key's own: another key may use the same value
    t.equal((await requestToken(app, '/api/v1/auth/token', client.id, client.key, await makeProof(await proofKey(), { claims: { jti } }))).statusCode, 200, 'another key, the same jti: accepted')
    // a refused proof does not use up its jti
    const spare = randomUUID()
    assertBadProof(t, '/oauth/token', await requestToken(app, '/oauth/token', client.id, client.key, await makeProof(signer, { url: '/oauth/token', method: 'GET', claims: { jti: spare } })), 'a wrong htm')
    t.equal((await requestToken(app, '/oauth/token', client.id, client.key, await makeProof(signer, { url: '/oauth/token', claims: { jti: spare } }))).statusCode, 200, 'the jti of a refused proof is still free')
  })

  t.test(`${store}: PROOF_MAX_AGE_SECONDS=30 sets the iat window both ways`, async (t) => {
    const app = await build(t, { store, config: { PROOF_MAX_AGE_SECONDS: 30 } })
    const client: Client = await makeKey(app, SCOPES)
    const signer = await proofKey('EdDSA')
    for (const endpoint of TOKEN_ENDPOINTS) {
      for (const offset of [-20, 0, 20]) {
        const res = await requestToken(app, endpoint, client.id, client.key, await makeProof(signer, { url: endpoint, iatOffset: offset }))
        t.equal(res.statusCode, 200, `${endpoint}: iat ${offset} s: accepted`)
      }
      for (const offset of [-40, -120, 40, 120]) {
        assertBadProof(t, endpoint, await requestToken(app, endpoint, client.id, client.key, await makeProof(signer, { url: endpoint, iatOffset: offset })), `iat ${offset} s`)
      }
    }
  })

  t.test(`${store}: introspection describes a bound token with token_type DPoP and cnf.jkt`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    const auth = { authorization: basic(client.id, client.key) }
    for (const endpoint of TOKEN_ENDPOINTS) {
      for (const alg of PROOF_ALGS) {
        const signer: ProofKey = await proofKey(alg)
        const token = await boundToken(app, endpoint, client.id, client.key, signer)
        const res = await postForm(app, '/oauth/introspect', { token }, auth)
        t.equal(res.statusCode, 200)
        const info = res.json()
        const claims = jwtClaims(token)
        t.strictSame(info, {
          active: true,
          scope: SCOPES.join(' '),
          client_id: client.id,
          sub: client.id,
          iss: INJECT_ORIGIN,
          aud: 'missive-api',
          exp: claims.exp,
          iat: claims.iat,
          jti: claims.jti,
          token_type: 'DPoP',
          cnf: { jkt: signer.jkt }
        }, `${endpoint}, ${alg}: active, DPoP, cnf.jkt`)
      }
    }
    const bearer = await requestToken(app, '/oauth/token', client.id, client.key)
    const info = (await postForm(app, '/oauth/introspect', { token: bearer.json().access_token }, auth)).json()
    t.equal(info.token_type, 'Bearer', 'an unbound token: Bearer')
    t.equal(info.cnf, undefined, 'an unbound token: no cnf')
  })

  // What openid-client 6.9 (oauth4webapi 3.8) sends for an Ed25519 key: see dpop-openid-client.test.ts (a bug, fixed).
  t.test(`${store}: an Ed25519 proof with RFC 9864's alg "Ed25519" binds the token`, async (t) => {
    const app = await build(t, { store })
    const client: Client = await makeKey(app, SCOPES)
    const signer = await proofKey('EdDSA')
    for (const endpoint of TOKEN_ENDPOINTS) {
      const res = await requestToken(app, endpoint, client.id, client.key, await makeProof(signer, { url: endpoint, header: { alg: 'Ed25519' } }))
      t.equal(res.statusCode, 200, `${endpoint}: 200 (${res.body})`)
      t.same(res.statusCode === 200 ? jwtClaims(res.json().access_token).cnf : undefined, { jkt: signer.jkt }, `${endpoint}: bound to the key`)
    }
  })

  t.test(`${store}: the metadata lists the proof algorithms`, async (t) => {
    const app = await build(t, { store })
    const res = await app.inject('/.well-known/oauth-authorization-server')
    t.equal(res.statusCode, 200)
    t.strictSame(res.json().dpop_signing_alg_values_supported, ['ES256', 'EdDSA', 'Ed25519'])
  })
}
