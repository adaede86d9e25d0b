import { randomUUID } from 'node:crypto'
import { exportSPKI, exportJWK, generateKeyPair, importJWK, SignJWT, type CryptoKey, type JWTHeaderParameters, type JWTPayload } from 'jose'
import t from 'tap'
import { formatKey, newSecret, parseKey } from '../../src/api-keys.js'
import { accessTokenHash, DPOP_ALGS } from '../../src/auth/dpop.js'
import { build, sleep } from '../helper.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'

// Many failures on purpose: the lockout is tested in abuse.test.ts.
const config = { AUTH_FAILURE_MAX: 1000 }

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

/** A JWS signed by jose with exactly this header and these claims (no claim added). */
async function sign (header: JWTHeaderParameters, claims: JWTPayload, key: CryptoKey | Uint8Array): Promise<string> {
  return await new SignJWT(claims).setProtectedHeader(header).sign(key)
}

/** An unsigned token, built by hand (jose refuses to make one with a JWS header). */
function unsigned (header: Record<string, unknown>, claims: Record<string, unknown>, trailingDot = true): string {
  return `${b64(header)}.${b64(claims)}${trailingDot ? '.' : ''}`
}

/** The token with its first signature character changed: every bit of that character is signature. */
function tamperSignature (token: string): string {
  const [head, body, signature = ''] = token.split('.')
  return `${head ?? ''}.${body ?? ''}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
}

/** The token with its claims replaced, header and signature kept. */
function withClaims (token: string, change: (claims: Record<string, unknown>) => Record<string, unknown>): string {
  const [head, body, signature] = token.split('.') as [string, string, string]
  return `${head}.${b64(change(JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>))}.${signature}`
}

/**
 * The challenges of a WWW-Authenticate header, in any order (`Bearer realm=…, error=…` stays
 * one): split at a ', ' followed by a scheme name and its space, so neither a parameter
 * (`error=…`) nor the space inside DPoP's `algs="ES256 EdDSA"` starts a challenge.
 */
const challenges = (header: unknown): string[] => String(header).split(/, (?=[A-Za-z][A-Za-z0-9-]* )/).sort()
const KEY_CHALLENGE = 'ApiKey realm="missive"'
const PLAIN_BEARER = 'Bearer realm="missive"'
const BAD_TOKEN = 'Bearer realm="missive", error="invalid_token"'
// Issue 16 (API.md section 7): every route that takes access tokens also offers DPoP, after
// Bearer, naming the proof algorithms accepted (`algs="ES256 EdDSA …"`, a space-separated list).
const DPOP = `DPoP algs="${DPOP_ALGS.join(' ')}"`
const BAD_DPOP_TOKEN = `${DPOP}, error="invalid_token"`

t.test('every forged or broken credential is the same 401, and each is counted as a failure', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const ip = '192.0.2.77'
  const { id, key } = await makeKey(app, ['messages:read'])
  const another = await makeKey(app, ['messages:read'])
  const now = Math.floor(Date.now() / 1000)
  const iss = app.config.publicUrl
  const good = { iss, aud: 'missive-api', sub: id, client_id: id, scope: 'messages:read', jti: 'j1', iat: now, exp: now + 600 }

  // The server's own signing key: "legit-looking" tokens below differ from a valid one in
  // exactly the property under test.
  const server = await app.issuerKeys.signing()
  t.equal(server.alg, 'ES256')
  const atJwt: JWTHeaderParameters = { alg: server.alg, typ: 'at+jwt', kid: server.kid }
  const legit = async (claims: Record<string, unknown>, header: JWTHeaderParameters = atJwt): Promise<string> => await sign(header, claims, server.privateKey)
  const without = (name: keyof typeof good): Record<string, unknown> => Object.fromEntries(Object.entries(good).filter(([claim]) => claim !== name))

  // What an attacker can read: the public key, as the JWKS publishes it.
  const publicJwk = app.issuerKeys.jwks().keys.find((k) => k.kid === server.kid)
  if (publicJwk === undefined) throw new Error('the signing key is not in the JWKS')
  const served = await app.inject({ url: '/.well-known/jwks.json', remoteAddress: ip })
  t.equal(served.statusCode, 200)
  t.ok(served.json().keys.some((k: { kid: string }) => k.kid === server.kid), 'the signing key is published')
  const publicKey = await importJWK({ ...publicJwk }, server.alg) as CryptoKey
  const pem = await exportSPKI(publicKey)
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  const { kty, crv, x, y } = publicJwk
  const hmacSecrets: Array<[string, Uint8Array]> = [
    ['the public JWK as the JWKS lists it (JSON)', bytes(JSON.stringify(publicJwk))],
    ['the public JWK\'s key members (JSON)', bytes(JSON.stringify({ kty, crv, x, y }))],
    ['the public JWK as jose exports it (JSON)', bytes(JSON.stringify(await exportJWK(publicKey)))],
    ['the JWKS document as served', bytes(served.body)],
    ['the public key as PEM (SPKI)', bytes(pem)],
    ['the public key as PEM (SPKI), trimmed', bytes(pem.trim())],
    ['the public key as DER (SPKI)', new Uint8Array(der)]
  ]

  // A stranger's keys, for tokens that carry the server's kid.
  const strangerEs256 = await generateKeyPair('ES256', { extractable: true })
  const strangerEd25519 = await generateKeyPair('EdDSA')

  const real = await tokenFor(app, key)
  const legitGood = await legit(good)

  const accepted: Array<[string, string]> = [
    ['a token signed with the server\'s key, built like the forgeries below', legitGood],
    // Decided (README): iat is informational; only the instances sign, so a future one is clock skew.
    ['an iat ahead of this clock', await legit({ ...good, jti: 'j2', iat: now + 120 })],
    // RFC 9068 section 4: "at+jwt" or "application/at+jwt".
    ['typ application/at+jwt', await legit({ ...good, jti: 'j3' }, { ...atJwt, typ: 'application/at+jwt' })],
    ['the token from POST /api/v1/auth/token', real]
  ]
  for (const [name, token] of accepted) {
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: ip })).statusCode, 200, `accepted: ${name}`)
  }
  t.equal((await app.keyStore.authFailures(ip)).count, 0, 'no failure counted so far')

  // [name, headers, whether a bearer token was presented (then error="invalid_token")]
  const cases: Array<[string, Record<string, string>, boolean]> = []
  const bearer = (name: string, token: string): void => { cases.push([name, withToken(token), true]) }

  // alg none, never signed
  bearer('alg none', unsigned({ alg: 'none', typ: 'at+jwt', kid: server.kid }, good))
  bearer('alg none without the dot', unsigned({ alg: 'none', typ: 'at+jwt', kid: server.kid }, good, false))
  bearer('alg none, typ JWT, no kid', unsigned({ alg: 'none', typ: 'JWT' }, good))
  bearer('alg None', unsigned({ alg: 'None', typ: 'at+jwt', kid: server.kid }, good))
  bearer('alg NONE', unsigned({ alg: 'NONE', typ: 'at+jwt', kid: server.kid }, good))
  bearer('alg none with a real token\'s signature kept', `${b64({ alg: 'none', typ: 'at+jwt', kid: server.kid })}.${real.split('.')[1] ?? ''}.${real.split('.')[2] ?? ''}`)

  // algorithm confusion: HMAC keyed with what is public
  for (const [what, secret] of hmacSecrets) {
    bearer(`HS256 keyed with ${what}`, await sign({ alg: 'HS256', typ: 'at+jwt', kid: server.kid }, good, secret))
  }
  bearer('HS256 keyed with the PEM, no kid', await sign({ alg: 'HS256', typ: 'at+jwt' }, good, bytes(pem)))
  bearer('HS384 keyed with the PEM', await sign({ alg: 'HS384', typ: 'at+jwt', kid: server.kid }, good, bytes(pem)))
  bearer('HS512 keyed with the JWK', await sign({ alg: 'HS512', typ: 'at+jwt', kid: server.kid }, good, bytes(JSON.stringify(publicJwk))))

  // keys that are not the server's
  bearer('ES256 signed by a fresh key, with the server\'s kid', await sign(atJwt, good, strangerEs256.privateKey))
  bearer('EdDSA signed by a fresh key, with the server\'s (ES256) kid', await sign({ ...atJwt, alg: 'EdDSA' }, good, strangerEd25519.privateKey))
  bearer('a fresh key embedded in the header (jwk), no kid', await sign({ alg: 'ES256', typ: 'at+jwt', jwk: await exportJWK(strangerEs256.publicKey) }, good, strangerEs256.privateKey))
  bearer('a fresh key embedded in the header (jwk), with the server\'s kid', await sign({ ...atJwt, jwk: await exportJWK(strangerEs256.publicKey) }, good, strangerEs256.privateKey))
  bearer('the server\'s key, a kid that names no key', await legit(good, { ...atJwt, kid: 'no-such-kid' }))
  bearer('the server\'s key, no kid', await legit(good, { alg: server.alg, typ: 'at+jwt' }))

  // typ
  bearer('missing typ', await legit(good, { alg: server.alg, kid: server.kid }))
  bearer('typ JWT', await legit(good, { ...atJwt, typ: 'JWT' }))
  bearer('typ dpop+jwt', await legit(good, { ...atJwt, typ: 'dpop+jwt' }))

  // changed after signing
  bearer('a tampered payload: the real token\'s scope widened, signature kept', withClaims(real, (claims) => ({ ...claims, scope: 'messages:read keys:admin' })))
  bearer('a tampered payload: a legit token\'s sub and client_id changed, signature kept', withClaims(legitGood, (claims) => ({ ...claims, sub: another.id, client_id: another.id })))
  bearer('a tampered payload: a legit token\'s exp extended, signature kept', withClaims(legitGood, (claims) => ({ ...claims, exp: now + 86400 })))
  bearer('a tampered signature (real token)', tamperSignature(real))
  bearer('a tampered signature (legit token)', tamperSignature(legitGood))
  bearer('the header and claims of one token with the signature of another', `${legitGood.split('.').slice(0, 2).join('.')}.${real.split('.')[2] ?? ''}`)

  // one claim wrong, signed with the server's key
  bearer('wrong iss', await legit({ ...good, iss: 'https://someone-else.example.com' }))
  bearer('iss with a trailing slash', await legit({ ...good, iss: `${iss}/` }))
  bearer('no iss', await legit(without('iss')))
  bearer('wrong aud', await legit({ ...good, aud: 'another-api' }))
  bearer('no aud', await legit(without('aud')))
  bearer('expired', await legit({ ...good, iat: now - 700, exp: now - 100 }))
  bearer('no exp', await legit(without('exp')))
  bearer('nbf in the future', await legit({ ...good, nbf: now + 300 }))
  bearer('no iat', await legit(without('iat')))
  bearer('no jti', await legit(without('jti')))
  bearer('no scope', await legit(without('scope')))
  bearer('no sub', await legit(without('sub')))
  bearer('no client_id', await legit(without('client_id')))
  bearer('client_id of another key', await legit({ ...good, client_id: another.id }))
  bearer('client_id that is no key', await legit({ ...good, client_id: 'zzzzzzzzzzzz' }))
  bearer('sub of another key, client_id ours', await legit({ ...good, sub: another.id }))
  bearer('a sub (and client_id) that is no key', await legit({ ...good, sub: 'aaaaaaaaaaaa', client_id: 'aaaaaaaaaaaa' }))
  bearer('a sub (and client_id) that is not a key id', await legit({ ...good, sub: 'admin', client_id: 'admin' }))

  // not even a token
  cases.push(
    ['empty Bearer', { authorization: 'Bearer ' }, true],
    ['Bearer alone', { authorization: 'Bearer' }, true],
    ['garbage Bearer', { authorization: 'Bearer not.a.jwt' }, true],
    ['the key as a bearer token', { authorization: `Bearer ${key}` }, true],
    ['two credentials at once', { ...withKey(key), ...withToken(real) }, true],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`${id}:${key}`).toString('base64')}` }, false],
    ['malformed key: empty', { 'x-api-key': '' }, false],
    ['malformed key: wrong prefix', { 'x-api-key': key.replace('msk_', 'sk_') }, false],
    ['malformed key: truncated', { 'x-api-key': key.slice(0, -1) }, false],
    ['malformed key: too long', { 'x-api-key': `${key}A` }, false],
    ['malformed key: upper-case id', { 'x-api-key': key.replace(id, id.toUpperCase()) }, false],
    ['right keyId, wrong secret', withKey(formatKey(id, newSecret())), false],
    ['unknown keyId', withKey(formatKey('zzzzzzzzzzzz', newSecret())), false]
  )

  // The real and the legit token again first: verified tokens are remembered by the token
  // itself, and a token differing from one in one character must still be checked in full.
  for (const token of [real, legitGood]) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: ip })).statusCode, 200, 'a valid token (now remembered)')
  const bodies = new Set<string>()
  let failures = (await app.keyStore.authFailures(ip)).count
  for (const [name, headers, presentedToken] of cases) {
    const res = await app.inject({ url: '/api/v1/messages', headers, remoteAddress: ip })
    t.equal(res.statusCode, 401, name)
    t.same(challenges(res.headers['www-authenticate']), [KEY_CHALLENGE, presentedToken ? BAD_TOKEN : PLAIN_BEARER, DPOP].sort(), `${name}: challenge`)
    const counted = (await app.keyStore.authFailures(ip)).count
    t.equal(counted, failures + 1, `${name}: counted as one authentication failure`)
    failures = counted
    bodies.add(res.body)
  }
  t.equal(bodies.size, 1, 'one body for every case: nothing says which part was wrong')
  t.same(JSON.parse([...bodies][0] ?? '{}'), { statusCode: 401, error: 'Unauthorized', message: 'Authentication required: a valid API key or bearer token', code: 'UNAUTHORIZED' })

  const anonymous = await app.inject({ url: '/api/v1/messages', remoteAddress: ip })
  t.equal(anonymous.statusCode, 401)
  t.same(challenges(anonymous.headers['www-authenticate']), [KEY_CHALLENGE, PLAIN_BEARER, DPOP].sort(), 'no credential: no error code (RFC 6750 section 3.1)')
  t.equal((await app.keyStore.authFailures(ip)).count, failures, 'and not counted')

  for (const token of [real, legitGood]) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token), remoteAddress: '198.51.100.3' })).statusCode, 200, 'the valid tokens still work')
})

t.test('a token-only route refuses a bad token with the Bearer and DPoP challenges alone', async (t) => {
  const app = await build(t, { store: 'memory', config })
  const { key } = await makeKey(app, ['messages:read'])
  const real = await tokenFor(app, key)
  const bad = await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(tamperSignature(real)) })
  t.equal(bad.statusCode, 401)
  t.equal(bad.headers['www-authenticate'], `${BAD_TOKEN}, ${DPOP}`)
  const none = await app.inject({ method: 'POST', url: '/api/v1/auth/revoke' })
  t.equal(none.statusCode, 401)
  t.equal(none.headers['www-authenticate'], `${PLAIN_BEARER}, ${DPOP}`, 'no token: no error code')
  const asDpop = await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: { authorization: `DPoP ${tamperSignature(real)}` } })
  t.equal(asDpop.statusCode, 401)
  t.equal(asDpop.headers['www-authenticate'], `${PLAIN_BEARER}, ${BAD_DPOP_TOKEN}`, 'a token refused as DPoP: the error is on the DPoP challenge')
  t.equal((await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(real) })).statusCode, 204, 'the real token is accepted')
  const revoked = await app.inject({ url: '/api/v1/messages', headers: withToken(real) })
  t.equal(revoked.statusCode, 401, 'a revoked token')
  t.same(challenges(revoked.headers['www-authenticate']), [KEY_CHALLENGE, BAD_TOKEN, DPOP].sort(), 'is an invalid_token too')
})

t.test('revoked and expired keys, and a rotated key after its grace, are 401', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const revoked = await makeKey(app, ['messages:read'])
  await app.apiKeys.revoke(revoked.id)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(revoked.key) })).statusCode, 401, 'revoked key')

  // A key that has expired: the record of a live key, stored again under a new id with an
  // expiry in the past (the secret still matches its hash).
  const live = await makeKey(app, ['messages:read'])
  const record = await app.keyStore.get(live.id)
  if (record === null) throw new Error('no record')
  await app.keyStore.create({ ...record, id: 'expiredkey00', expiresAt: Date.now() - 1000 })
  const expiredKey = formatKey('expiredkey00', parseKey(live.key)?.secret ?? '')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(live.key) })).statusCode, 200, 'the live twin works')
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(expiredKey) })).statusCode, 401, 'expired key')

  const rotated = await makeKey(app, ['messages:read'])
  await app.apiKeys.rotate(rotated.id, 1)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 200, 'within the grace')
  await sleep(1100)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(rotated.key) })).statusCode, 401, 'rotated key after its grace')
})

t.test('an expired token is refused even when the clock only just passed it', async (t) => {
  // The clock is moved through Date.now, replaced before the app is built: the token
  // verifier reads the clock it was given at construction.
  const realNow = Date.now
  let offset = 0
  Date.now = () => realNow() + offset
  t.teardown(() => { Date.now = realNow })
  const app = await build(t, { store: 'memory', config: { ...config, JWT_TTL_SECONDS: 30 } })
  const { key } = await makeKey(app, ['messages:read'])
  const token = await tokenFor(app, key)
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  offset = 31_000
  const res = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(res.statusCode, 401)
  t.same(challenges(res.headers['www-authenticate']), [KEY_CHALLENGE, BAD_TOKEN, DPOP].sort())
})

t.test('a token accepted once (and so remembered by the verifier cache) is refused once it expires', async (t) => {
  const app = await build(t, { store: 'redis', config })
  const { id } = await makeKey(app, ['messages:read'])
  const server = await app.issuerKeys.signing()
  const now = Math.floor(Date.now() / 1000)
  const token = await sign({ alg: server.alg, typ: 'at+jwt', kid: server.kid }, { iss: app.config.publicUrl, aud: 'missive-api', sub: id, client_id: id, scope: 'messages:read', jti: 'short-lived', iat: now, exp: now + 2 }, server.privateKey)
  for (let i = 0; i < 3; i++) t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200)
  await sleep((now + 2) * 1000 - Date.now() + 300)
  const res = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
  t.equal(res.statusCode, 401)
  t.same(challenges(res.headers['www-authenticate']), [KEY_CHALLENGE, BAD_TOKEN, DPOP].sort())
})

t.test('a key and its tokens used from outside its allow-list get the uniform 401 of their scheme', async (t) => {
  const app = await build(t, { store: 'memory', config })
  const inside = '203.0.113.5'
  const outside = '192.0.2.1'
  const { key, id } = await app.apiKeys.create({ name: 'fenced', scopes: ['messages:read'], allowedIps: ['203.0.113.0/24'] })
  const get = async (headers: Record<string, string>, remoteAddress: string): Promise<{ statusCode: number, challenge: unknown, body: string }> => {
    const res = await app.inject({ url: '/api/v1/messages', headers, remoteAddress })
    return { statusCode: res.statusCode, challenge: res.headers['www-authenticate'], body: res.body }
  }

  // An API key: the same answer as a wrong secret.
  const wrongSecret = await get(withKey(formatKey(id, newSecret())), inside)
  t.equal((await get(withKey(key), inside)).statusCode, 200)
  t.strictSame(await get(withKey(key), outside), wrongSecret, 'API key from outside: as a wrong secret')

  // A Bearer token: the same answer as a tampered one.
  const token = (await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(key), remoteAddress: inside })).json().access_token as string
  const tamperedBearer = await get(withToken(tamperSignature(token)), inside)
  t.equal(tamperedBearer.challenge, `${KEY_CHALLENGE}, ${BAD_TOKEN}, ${DPOP}`)
  t.equal((await get(withToken(token), inside)).statusCode, 200)
  for (const round of ['first', 'cached']) {
    t.strictSame(await get(withToken(token), outside), tamperedBearer, `Bearer token from outside (${round}): as a tampered token`)
  }

  // A DPoP-bound token: the same answer as a tampered one, the error on the DPoP challenge.
  const pair = await generateKeyPair('ES256')
  const jwk = await exportJWK(pair.publicKey)
  const proof = async (method: string, path: string, accessToken?: string): Promise<string> => await new SignJWT({
    htm: method, htu: app.config.publicUrl + path, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...(accessToken === undefined ? {} : { ath: accessTokenHash(accessToken) })
  }).setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(pair.privateKey)
  const issued = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { ...withKey(key), dpop: await proof('POST', '/api/v1/auth/token') }, remoteAddress: inside })
  t.equal(issued.statusCode, 200)
  t.equal(issued.json().token_type, 'DPoP')
  const bound = issued.json().access_token as string
  const withDpop = async (tok: string): Promise<Record<string, string>> => ({ authorization: `DPoP ${tok}`, dpop: await proof('GET', '/api/v1/messages', tok) })
  const tamperedDpop = await get(await withDpop(tamperSignature(bound)), inside)
  t.equal(tamperedDpop.challenge, `${KEY_CHALLENGE}, ${PLAIN_BEARER}, ${BAD_DPOP_TOKEN}`, 'a refused DPoP token: the error on the DPoP challenge')
  t.equal((await get(await withDpop(bound), inside)).statusCode, 200)
  // The allow-list refusal must put its error on the scheme the token came with: on the Bearer
  // challenge, a DPoP token from outside would be answered unlike any other refused DPoP token,
  // and the answer would tell the address apart (API.md section 2: the uniform 401).
  for (const round of ['first', 'cached']) {
    t.strictSame(await get(await withDpop(bound), outside), tamperedDpop, `DPoP token from outside (${round}): as a tampered token`)
  }
})
