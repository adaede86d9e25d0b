import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import type { Scope } from '../../src/api-keys.js'
import { makeKey, tokenFor } from '../api/api-helper.js'
import { build as buildApp, sleep, type BuildOptions } from '../helper.js'
import {
  assertRefused, ath, boundToken, hs256Proof, jwtClaims, makeProof, noneProof, privateJwkProof, proofKey, settle,
  type ProofKey, type ProofOptions, type TokenEndpoint
} from './dpop-helper.js'

/**
 * DPoP-bound tokens at the resources (API.md sections 2 and 7, RFC 9449 §7): accepted only as
 * `Authorization: DPoP <token>` with a fresh proof for that very request, signed by the key
 * cnf.jkt names; any other use is the uniform 401 with the right challenge, counted as a
 * failed authentication.
 */

const SCOPES: Scope[] = ['messages:read', 'messages:write', 'messages:delete']
const MESSAGES = '/api/v1/messages'
const IP = '127.0.0.1'

async function build (t: Test, options: BuildOptions): Promise<App> {
  // Many refusals from one address in a test: the lockout is for other tests.
  const app = await buildApp(t, { ...options, config: { AUTH_FAILURE_MAX: 100_000, ...options.config } })
  await settle(app)
  return app
}

interface Call {
  method?: 'GET' | 'POST' | 'DELETE'
  url?: string
  token: string
  /** the DPoP header (none when undefined) */
  proof?: string | string[]
  /** the Authorization scheme as sent; DPoP by default */
  scheme?: string
  payload?: Record<string, unknown>
}

async function call (app: App, c: Call): Promise<LightMyRequestResponse> {
  const headers: Record<string, string | string[]> = { authorization: `${c.scheme ?? 'DPoP'} ${c.token}` }
  if (c.proof !== undefined) headers.dpop = c.proof
  return await app.inject({
    method: c.method ?? 'GET',
    url: c.url ?? MESSAGES,
    headers: headers as Record<string, string>,
    ...(c.payload === undefined ? {} : { payload: c.payload })
  })
}

/** A proof for the request `method url` with `token` (ath), changed by `options`. */
async function proofFor (signer: ProofKey, token: string, method: string, url: string, options: ProofOptions = {}): Promise<string> {
  return await makeProof(signer, { method, url, token, ...options })
}

const failures = async (app: App): Promise<number> => (await app.keyStore.authFailures(IP)).count

/** A refused call: the 401 of assertRefused, and one more failed authentication counted. */
async function refused (t: Test, app: App, c: Call, what: string, expected?: Parameters<typeof assertRefused>[3]): Promise<void> {
  const before = await failures(app)
  assertRefused(t, await call(app, c), what, expected)
  t.equal(await failures(app), before + 1, `${what}: counted as a failed authentication`)
}

const badProof = { on: 'dpop', error: 'invalid_dpop_proof' } as const
const invalidTokenOnDpop = { on: 'dpop', error: 'invalid_token' } as const
const invalidTokenOnBearer = { on: 'bearer', error: 'invalid_token' } as const

for (const store of ['memory', 'redis'] as const) {
  for (const [endpoint, alg] of [['/api/v1/auth/token', 'ES256'], ['/oauth/token', 'EdDSA']] as Array<[TokenEndpoint, 'ES256' | 'EdDSA']>) {
    t.test(`${store}, a token bound at ${endpoint} to an ${alg} key: fresh proofs are accepted`, async (t) => {
      const app = await build(t, { store })
      const { id, key } = await makeKey(app, SCOPES)
      const signer = await proofKey(alg)
      const token = await boundToken(app, endpoint, id, key, signer)
      t.same(jwtClaims(token).cnf, { jkt: signer.jkt })

      const created = await call(app, { method: 'POST', token, proof: await proofFor(signer, token, 'POST', MESSAGES), payload: { content: 'bound' } })
      t.equal(created.statusCode, 201, `POST ${MESSAGES}: 201 (${created.body})`)
      t.equal(created.json().owner, id)

      const listed = await call(app, { token, proof: await proofFor(signer, token, 'GET', MESSAGES) })
      t.equal(listed.statusCode, 200, `GET ${MESSAGES}: 200`)
      t.same(listed.json().items.map((m: { id: string }) => m.id), [created.json().id], 'the message just created')

      // htu is compared without the query (RFC 9449 §4.3): the proof's htu has none
      const query = await call(app, { url: `${MESSAGES}?limit=5`, token, proof: await proofFor(signer, token, 'GET', MESSAGES) })
      t.equal(query.statusCode, 200, 'a request with a query, a proof htu without it: 200')
      const both = await call(app, { url: `${MESSAGES}?limit=5`, token, proof: await proofFor(signer, token, 'GET', `${MESSAGES}?limit=5`) })
      t.equal(both.statusCode, 200, 'a proof htu with the same query: 200 (ignored too)')
      const fragment = await call(app, { token, proof: await proofFor(signer, token, 'GET', `${MESSAGES}#top`) })
      t.equal(fragment.statusCode, 200, 'a proof htu with a fragment: 200 (ignored)')
      // RFC 3986 §6.2.2 and §6.2.3 normalization of htu
      const normalized = await call(app, { token, proof: await proofFor(signer, token, 'GET', 'HTTP://127.0.0.1:3000/api/v1/%6Dessages') })
      t.equal(normalized.statusCode, 200, 'an htu with upper-case scheme and an encoded unreserved character: 200')

      const one = await call(app, { method: 'GET', url: `${MESSAGES}/${String(created.json().id)}`, token, proof: await proofFor(signer, token, 'GET', `${MESSAGES}/${String(created.json().id)}`) })
      t.equal(one.statusCode, 200, 'GET one message: 200')
      t.equal(one.json().content, 'bound')

      // The auth scheme is case-insensitive (RFC 9110 §11.1).
      const lower = await call(app, { token, scheme: 'dpop', proof: await proofFor(signer, token, 'GET', MESSAGES) })
      t.equal(lower.statusCode, 200, '"dpop" in lower case: 200')
      t.equal(await failures(app), 0, 'no failure counted')
    })
  }

  t.test(`${store}: anything but a fresh proof for the request is a 401, counted`, async (t) => {
    const app = await build(t, { store })
    const { id, key } = await makeKey(app, SCOPES)
    const signer = await proofKey('ES256')
    const token = await boundToken(app, '/api/v1/auth/token', id, key, signer)
    const other = await proofKey('ES256')
    const otherEd = await proofKey('EdDSA')
    const get = async (options: ProofOptions = {}): Promise<string> => await proofFor(signer, token, 'GET', MESSAGES, options)

    await refused(t, app, { token, scheme: 'Bearer' }, 'the bound token as Bearer', invalidTokenOnBearer)
    await refused(t, app, { token, scheme: 'Bearer', proof: await get() }, 'the bound token as Bearer, with a valid proof', invalidTokenOnBearer)
    await refused(t, app, { token }, 'DPoP scheme, no DPoP header', badProof)
    await refused(t, app, { token, proof: '' }, 'an empty DPoP header', badProof)
    await refused(t, app, { token, proof: await get({ method: 'POST' }) }, 'a proof for POST on a GET', badProof)
    await refused(t, app, { token, method: 'POST', proof: await get(), payload: { content: 'x' } }, 'a proof for GET on a POST', badProof)
    await refused(t, app, { token, proof: await get({ url: '/api/v1/keys' }) }, 'a proof for another path', badProof)
    await refused(t, app, { token, proof: await get({ url: `${MESSAGES}/` }) }, 'a proof for the path with a trailing slash', badProof)
    await refused(t, app, { token, proof: await get({ url: `https://evil.example${MESSAGES}` }) }, 'a proof for another origin', badProof)
    await refused(t, app, { token, proof: await get({ url: '/api/v1/auth/token', method: 'POST', token: undefined, drop: ['ath'] }) }, 'the proof of a token request', badProof)
    await refused(t, app, { token, proof: await get({ iatOffset: -310 }) }, 'iat 310 s old', badProof)
    await refused(t, app, { token, proof: await get({ iatOffset: 310 }) }, 'iat 310 s ahead', badProof)
    await refused(t, app, { token, proof: await get({ drop: ['ath'] }) }, 'no ath', badProof)
    await refused(t, app, { token, proof: await get({ claims: { ath: ath(`${token}x`) } }) }, 'the ath of another token', badProof)
    await refused(t, app, { token, proof: await get({ claims: { ath: ath(token).toUpperCase() } }) }, 'an ath in another case', badProof)
    await refused(t, app, { token, proof: await get({ claims: { ath: Buffer.from(ath(token), 'base64url').toString('base64') } }) }, 'the ath in base64 with padding', badProof)
    await refused(t, app, { token, proof: await proofFor(other, token, 'GET', MESSAGES) }, 'a valid proof signed by another key (ES256)', badProof)
    await refused(t, app, { token, proof: await proofFor(otherEd, token, 'GET', MESSAGES) }, 'a valid proof signed by another key (EdDSA)', badProof)
    await refused(t, app, { token, proof: await proofFor(other, token, 'GET', MESSAGES, { header: { jwk: signer.jwk } }) }, 'the bound key\'s jwk, signed by another key', badProof)
    await refused(t, app, { token, proof: noneProof(signer, { method: 'GET', url: MESSAGES, token }) }, 'alg none', badProof)
    await refused(t, app, { token, proof: noneProof(signer, { method: 'GET', url: MESSAGES, token }, 'AAAA') }, 'alg none with a signature part', badProof)
    await refused(t, app, { token, proof: hs256Proof(signer, { method: 'GET', url: MESSAGES, token }) }, 'HS256 keyed with the jwk\'s x', badProof)
    await refused(t, app, { token, proof: hs256Proof(signer, { method: 'GET', url: MESSAGES, token }, Buffer.from(token)) }, 'HS256 keyed with the token', badProof)
    await refused(t, app, { token, proof: await privateJwkProof(signer, { method: 'GET', url: MESSAGES, token }) }, 'the private jwk in the header', badProof)
    await refused(t, app, { token, proof: await get({ header: { typ: 'JWT' } }) }, 'typ JWT', badProof)
    await refused(t, app, { token, proof: [await get(), await get()] }, 'two DPoP headers', badProof)
    await refused(t, app, { token, proof: `${await get()}, ${await get()}` }, 'two proofs comma-joined', badProof)
    await refused(t, app, { token, proof: token }, 'the access token as the proof', badProof)

    // Refusals consumed nothing: the token still works with a fresh proof.
    t.equal((await call(app, { token, proof: await get() })).statusCode, 200, 'the token still works after all that')
  })

  t.test(`${store}: a jti is accepted once`, async (t) => {
    const app = await build(t, { store })
    const { id, key } = await makeKey(app, SCOPES)
    const signer = await proofKey('EdDSA')
    const token = await boundToken(app, '/oauth/token', id, key, signer)
    const proof = await proofFor(signer, token, 'GET', MESSAGES)
    t.equal((await call(app, { token, proof })).statusCode, 200, 'first use')
    await refused(t, app, { token, proof }, 'the same proof again', badProof)
    await refused(t, app, { token, url: `${MESSAGES}?limit=1`, proof }, 'the same proof again, another query', badProof)
    const jti = String(jwtClaims(proof).jti)
    await refused(t, app, { token, proof: await proofFor(signer, token, 'GET', MESSAGES, { claims: { jti }, iatOffset: -2 }) }, 'a new proof with a used jti', badProof)
    await refused(t, app, { method: 'POST', token, proof: await proofFor(signer, token, 'POST', MESSAGES, { claims: { jti } }), payload: { content: 'x' } }, 'a used jti on another route', badProof)

    // 20 racing requests with one proof: exactly one is accepted.
    const raced = await proofFor(signer, token, 'GET', MESSAGES)
    const before = await failures(app)
    const statuses = await Promise.all(Array.from({ length: 20 }, async () => (await call(app, { token, proof: raced })).statusCode))
    t.equal(statuses.filter((s) => s === 200).length, 1, 'one of 20 racing uses of a proof is accepted')
    t.equal(statuses.filter((s) => s === 401).length, 19, 'the 19 others are 401')
    t.equal(await failures(app), before + 19, 'each counted')
  })

  t.test(`${store}: an unbound token never goes with the DPoP scheme`, async (t) => {
    const app = await build(t, { store })
    const { key } = await makeKey(app, SCOPES)
    const bearer = await tokenFor(app, key)
    t.equal(jwtClaims(bearer).cnf, undefined)
    const signer = await proofKey()
    await refused(t, app, { token: bearer, proof: await proofFor(signer, bearer, 'GET', MESSAGES) }, 'an unbound token as DPoP, with a valid proof', invalidTokenOnDpop)
    await refused(t, app, { token: bearer }, 'an unbound token as DPoP, no proof', invalidTokenOnDpop)
    t.equal((await call(app, { token: bearer, scheme: 'Bearer' })).statusCode, 200, 'as Bearer, it works')
    // a token that is no token at all, with the DPoP scheme
    await refused(t, app, { token: 'not.a.token', proof: await proofFor(signer, 'not.a.token', 'GET', MESSAGES) }, 'a junk token as DPoP', invalidTokenOnDpop)
  })

  t.test(`${store}: PROOF_MAX_AGE_SECONDS=5: the iat window, and a jti remembered for as long as its proof could pass`, async (t) => {
    const app = await build(t, { store, config: { PROOF_MAX_AGE_SECONDS: 5 } })
    const { id, key } = await makeKey(app, SCOPES)
    const signer = await proofKey('ES256')
    const token = await boundToken(app, '/api/v1/auth/token', id, key, signer)
    const get = async (options: ProofOptions = {}): Promise<string> => await proofFor(signer, token, 'GET', MESSAGES, options)
    for (const offset of [-3, 0, 3]) t.equal((await call(app, { token, proof: await get({ iatOffset: offset }) })).statusCode, 200, `iat ${offset} s: 200`)
    for (const offset of [-10, -60, 10, 60]) await refused(t, app, { token, proof: await get({ iatOffset: offset }) }, `iat ${offset} s`, badProof)

    // A proof dated 4 s ahead is good for 9 s: used now, it must still be refused 6.5 s later,
    // when it is past PROOF_MAX_AGE_SECONDS since its first use but still within its iat window.
    const iat = Math.floor(Date.now() / 1000) + 4
    const ahead = await get({ claims: { iat } })
    t.equal((await call(app, { token, proof: ahead })).statusCode, 200, 'a proof 4 s ahead: 200')
    await sleep(6500)
    await refused(t, app, { token, proof: ahead }, 'the same proof 6.5 s later', badProof)
    t.equal((await call(app, { token, proof: await get({ claims: { iat } }) })).statusCode, 200, 'a new jti with that iat is still in the window: 200')
  })

  t.test(`${store}: a request with no credential gets the challenges without an error, and is not counted`, async (t) => {
    const app = await build(t, { store })
    assertRefused(t, await app.inject({ url: MESSAGES }), 'no credential')
    const signer = await proofKey()
    assertRefused(t, await app.inject({ url: MESSAGES, headers: { dpop: await makeProof(signer, { method: 'GET', url: MESSAGES }) } }), 'a DPoP proof and no credential')
    t.equal(await failures(app), 0, 'not a failed authentication')
  })

  t.test(`${store}: a bound token revokes itself with a proof, and is refused from then on`, async (t) => {
    const app = await build(t, { store })
    const { id, key } = await makeKey(app, SCOPES)
    const signer = await proofKey()
    const token = await boundToken(app, '/api/v1/auth/token', id, key, signer)
    const spare = await boundToken(app, '/api/v1/auth/token', id, key, signer)
    await refused(t, app, { method: 'POST', url: '/api/v1/auth/revoke', token, scheme: 'Bearer' }, 'revoke as Bearer', invalidTokenOnBearer)
    await refused(t, app, { method: 'POST', url: '/api/v1/auth/revoke', token, proof: await proofFor(signer, token, 'GET', '/api/v1/auth/revoke') }, 'revoke with a proof for GET', badProof)
    const revoke = await call(app, { method: 'POST', url: '/api/v1/auth/revoke', token, proof: await proofFor(signer, token, 'POST', '/api/v1/auth/revoke') })
    t.equal(revoke.statusCode, 204, 'POST /api/v1/auth/revoke with the DPoP scheme and a proof: 204')
    await refused(t, app, { token, proof: await proofFor(signer, token, 'GET', MESSAGES) }, 'the revoked token with a fresh proof', invalidTokenOnDpop)
    t.equal((await call(app, { token: spare, proof: await proofFor(signer, spare, 'GET', MESSAGES) })).statusCode, 200, 'another token bound to the same key still works')
  })
}

t.test('redis: a jti used on one instance is refused by another sharing the Redis', async (t) => {
  const first = await build(t, { store: 'redis' })
  const second = await build(t, { store: 'redis', flush: false })
  const { id, key } = await makeKey(first, SCOPES)
  const signer = await proofKey('ES256')
  const token = await boundToken(first, '/oauth/token', id, key, signer)

  t.equal((await call(second, { token, proof: await proofFor(signer, token, 'GET', MESSAGES) })).statusCode, 200, 'the second instance takes the token')
  const proof = await proofFor(signer, token, 'GET', MESSAGES)
  t.equal((await call(first, { token, proof })).statusCode, 200, 'first instance: accepted')
  await refused(t, second, { token, proof }, 'the same proof on the second instance', badProof)
  const back = await proofFor(signer, token, 'POST', MESSAGES)
  t.equal((await call(second, { method: 'POST', token, proof: back, payload: { content: 'x' } })).statusCode, 201, 'second instance: accepted')
  await refused(t, first, { method: 'POST', token, proof: back, payload: { content: 'x' } }, 'the same proof back on the first', badProof)

  // One proof raced on both instances: exactly one acceptance.
  const raced = await proofFor(signer, token, 'GET', MESSAGES)
  const statuses = await Promise.all(Array.from({ length: 10 }, async (_, i) => (await call(i % 2 === 0 ? first : second, { token, proof: raced })).statusCode))
  t.equal(statuses.filter((s) => s === 200).length, 1, 'one of 10 racing uses on two instances is accepted')

  // A token-endpoint proof is remembered by every instance too.
  const tokenProof = await makeProof(signer, { url: '/api/v1/auth/token', claims: { jti: randomUUID() } })
  const issue = async (app: App): Promise<number> => (await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { 'x-api-key': key, dpop: tokenProof } })).statusCode
  t.equal(await issue(first), 200, 'a token request proof on the first instance')
  t.equal(await issue(second), 400, 'the same token request proof on the second: 400')
})
