import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto'
import t from 'tap'
import { contentDigestHeader } from '../../src/auth/http-signatures/content-digest.js'
import { generateSigningKey, signRequest } from '../../src/auth/http-signatures/sign.js'
import { withKey, withToken } from '../api/api-helper.js'
import { basic, decodeJwt } from '../oauth/oauth-helper.js'
import {
  ACCEPT_WITH_BODY, ACCEPT_WITHOUT_BODY, API_KEY_ONLY, assertUniform401, bodyText, createRequest, learnUniformMessage, patchKey,
  send, settledBuild, signedHeaders, signedInject, signer, signingService, STORES, type Service, within
} from './proof-helper.js'

/**
 * RFC 9421 signed requests end to end (API.md section 7), on the memory store and on Redis:
 * what is refused (always the uniform 401 with Accept-Signature), what is accepted, the
 * Content-Digest check, the OAuth token endpoint and the failure count.
 */

// Every refusal counts as an authentication failure: out of the way here (one test sets it low).
const CONFIG = { AUTH_FAILURE_MAX: 10_000 }
const FORM = 'application/x-www-form-urlencoded'
const now = (): number => Math.floor(Date.now() / 1000)

/** A signed token request to POST /api/v1/auth/token; the token. */
async function signedToken (app: Parameters<typeof signedInject>[0], svc: Service): Promise<string> {
  const res = await signedInject(app, { method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key) }, signer(svc.pair))
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${res.body}`)
  return res.json().access_token
}

for (const store of STORES) {
  t.test(`${store}: a key with requireSignature refuses unsigned requests, for the key and its tokens`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    await learnUniformMessage(app)
    const svc = await signingService(app, { requireSignature: true })

    assertUniform401(t, await send(app, createRequest(withKey(svc.key)), { ...withKey(svc.key), 'content-type': 'application/json' }), ACCEPT_WITH_BODY, 'API key, unsigned POST')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key) }), ACCEPT_WITHOUT_BODY, 'API key, unsigned GET')
    assertUniform401(t, await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key) }), ACCEPT_WITHOUT_BODY, 'an unsigned token request', API_KEY_ONLY)

    const token = await signedToken(app, svc)
    t.equal(decodeJwt(token).payload.sub, svc.id, 'a signed token request gets a token')
    const unsignedBearer = await app.inject({ url: '/api/v1/messages', headers: withToken(token) })
    assertUniform401(t, unsignedBearer, ACCEPT_WITHOUT_BODY, 'its token, unsigned GET')
    t.match(unsignedBearer.headers['www-authenticate'], /Bearer realm="missive", error="invalid_token"/, 'the Bearer challenge says invalid_token')
    assertUniform401(t, await send(app, createRequest(withToken(token)), { ...withToken(token), 'content-type': 'application/json' }), ACCEPT_WITH_BODY, 'its token, unsigned POST')

    // signed, both work
    t.equal((await signedInject(app, createRequest(withKey(svc.key)), signer(svc.pair))).statusCode, 201, 'the key, signed')
    t.equal((await signedInject(app, createRequest(withToken(token)), signer(svc.pair))).statusCode, 201, 'its token, signed')

    // a token issued before requireSignature was set is refused unsigned from then on
    const relaxed = await signingService(app)
    const early = await signedToken(app, relaxed)
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(early) })).statusCode, 200, 'before: unsigned is fine')
    await patchKey(app, relaxed.admin.key, relaxed.id, { requireSignature: true })
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withToken(early) }), ACCEPT_WITHOUT_BODY, 'a token issued before requireSignature was set')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withKey(relaxed.key) }), ACCEPT_WITHOUT_BODY, 'and its key')
    await patchKey(app, relaxed.admin.key, relaxed.id, { requireSignature: false })
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(early) })).statusCode, 200, 'requireSignature: false again: unsigned is fine')
  })

  t.test(`${store}: what a signature must be`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    await learnUniformMessage(app)
    const svc = await signingService(app, { requireSignature: true })
    const key = signer(svc.pair)
    const credential = withKey(svc.key)

    // by a key that is not registered (for this API key)
    const stranger = generateSigningKey('ed25519')
    assertUniform401(t, await signedInject(app, createRequest(credential), { jwk: stranger.privateJwk }), ACCEPT_WITH_BODY, 'signed by an unregistered key')
    const other = await signingService(app)
    assertUniform401(t, await signedInject(app, createRequest(credential), signer(other.pair)), ACCEPT_WITH_BODY, 'signed by another API key\'s registered key')
    assertUniform401(t, await signedInject(app, createRequest(credential), { jwk: stranger.privateJwk, keyid: svc.pair.keyid }), ACCEPT_WITH_BODY, 'by another key under the registered keyid')

    // changed after signing: method, path, query, body
    const getList = { url: '/api/v1/messages?limit=5', headers: credential }
    t.equal((await signedInject(app, getList, key)).statusCode, 200, 'signed GET with a query: 200')
    assertUniform401(t, await send(app, getList, signedHeaders(app, { ...getList, method: 'DELETE' }, key)), ACCEPT_WITHOUT_BODY, 'the method changed')
    assertUniform401(t, await send(app, getList, signedHeaders(app, { ...getList, url: '/api/v1/keys?limit=5' }, key)), ACCEPT_WITHOUT_BODY, 'the path changed')
    assertUniform401(t, await send(app, getList, signedHeaders(app, { ...getList, url: '/api/v1/messages?limit=6' }, key)), ACCEPT_WITHOUT_BODY, 'the query changed')
    assertUniform401(t, await send(app, getList, signedHeaders(app, { ...getList, url: '/api/v1/messages' }, key)), ACCEPT_WITHOUT_BODY, 'the query added')
    const post = createRequest(credential, 'what was signed')
    const tampered = { ...post, body: { content: 'something else', maxViews: 1 } }
    assertUniform401(t, await send(app, tampered, signedHeaders(app, post, key)), ACCEPT_WITH_BODY, 'the body changed (Content-Digest of the signed one)')
    const recomputed = { ...signedHeaders(app, post, key), 'content-digest': contentDigestHeader(bodyText(tampered.body) as string) }
    assertUniform401(t, await send(app, tampered, recomputed), ACCEPT_WITH_BODY, 'the body and its Content-Digest changed')

    // a wrong Content-Digest, signed as it is
    const wrongDigest = `sha-256=:${createHash('sha256').update('not the body').digest('base64')}:`
    const signedWrong = {
      ...post.headers,
      'content-type': 'application/json',
      'content-digest': wrongDigest,
      ...signRequest({ method: 'POST', url: app.config.publicUrl + post.url, headers: { 'content-digest': wrongDigest } }, key, { components: ['@method', '@target-uri', 'content-digest'] })
    }
    assertUniform401(t, await send(app, post, signedWrong), ACCEPT_WITH_BODY, 'a wrong Content-Digest, covered by a valid signature')
    const garbage = { ...signedWrong, 'content-digest': 'sha-256=nonsense' }
    assertUniform401(t, await send(app, post, garbage), ACCEPT_WITH_BODY, 'a Content-Digest that is not a digest')
    const digestOnGet = {
      ...credential,
      'content-digest': wrongDigest,
      ...signRequest({ method: 'GET', url: app.config.publicUrl + '/api/v1/messages', headers: { 'content-digest': wrongDigest } }, key, { components: ['@method', '@target-uri', 'content-digest'] })
    }
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: digestOnGet }), ACCEPT_WITHOUT_BODY, 'a GET whose covered Content-Digest is not that of the empty body')

    // created
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { created: now() - 301 }), ACCEPT_WITH_BODY, 'created too old')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { created: now() + 301 }), ACCEPT_WITH_BODY, 'created too far ahead')
    t.equal((await signedInject(app, createRequest(credential), key, { created: now() - 280 })).statusCode, 201, 'created 280 s ago: within PROOF_MAX_AGE_SECONDS')
    t.equal((await signedInject(app, createRequest(credential), key, { created: now() + 280 })).statusCode, 201, 'created 280 s ahead: within the skew allowed')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { created: now() - 10, expires: now() - 1 }), ACCEPT_WITH_BODY, 'expired')

    // replay on the same instance
    const once = signedHeaders(app, createRequest(credential), key)
    t.equal((await send(app, createRequest(credential), once)).statusCode, 201, 'first use of a nonce')
    assertUniform401(t, await send(app, createRequest(credential), once), ACCEPT_WITH_BODY, 'the same request again')
    const nonce = 'n-' + randomBytes(8).toString('hex')
    t.equal((await signedInject(app, createRequest(credential, 'a'), key, { nonce })).statusCode, 201)
    assertUniform401(t, await signedInject(app, createRequest(credential, 'b'), key, { nonce }), ACCEPT_WITH_BODY, 'the same nonce in a new signature')

    // what the signature covers
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { components: ['@method', 'content-digest'] }), ACCEPT_WITH_BODY, 'without "@target-uri"')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { components: ['@method', '@path', 'content-digest'] }), ACCEPT_WITH_BODY, '"@path" instead of "@target-uri"')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { components: ['@target-uri', 'content-digest'] }), ACCEPT_WITH_BODY, 'without "@method"')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { components: ['@method', '@target-uri'] }), ACCEPT_WITH_BODY, 'a body, and content-digest not covered')
    assertUniform401(t, await signedInject(app, createRequest(credential), key, { label: 'other' }), ACCEPT_WITH_BODY, 'another label than sig1')

    // parameters it must carry: valid signatures (made by hand) without one of them
    const privateKey = createPrivateKey({ key: { ...svc.pair.privateJwk }, format: 'jwk' })
    const handSigned = (params: string): Record<string, string> => {
      const covered = `("@method" "@target-uri")${params}`
      const base = `"@method": GET\n"@target-uri": ${app.config.publicUrl}/api/v1/messages\n"@signature-params": ${covered}`
      return { ...credential, 'signature-input': `sig1=${covered}`, signature: `sig1=:${cryptoSign(null, Buffer.from(base), privateKey).toString('base64')}:` }
    }
    const fresh = (): string => randomBytes(8).toString('hex')
    t.equal((await app.inject({ url: '/api/v1/messages', headers: handSigned(`;created=${now()};keyid="${svc.pair.keyid}";nonce="${fresh()}"`) })).statusCode, 200, 'by hand, with all three: 200')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: handSigned(`;created=${now()};keyid="${svc.pair.keyid}"`) }), ACCEPT_WITHOUT_BODY, 'without a nonce')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: handSigned(`;keyid="${svc.pair.keyid}";nonce="${fresh()}"`) }), ACCEPT_WITHOUT_BODY, 'without created')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: handSigned(`;created=${now()};nonce="${fresh()}"`) }), ACCEPT_WITHOUT_BODY, 'without keyid')
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: handSigned(`;created=${now()};keyid="${svc.pair.keyid}";nonce="${fresh()}";alg="ecdsa-p256-sha256"`) }), ACCEPT_WITHOUT_BODY, 'an alg that is not the key\'s')
    t.equal((await app.inject({ url: '/api/v1/messages', headers: handSigned(`;created=${now()};keyid="${svc.pair.keyid}";nonce="${fresh()}";alg="ed25519"`) })).statusCode, 200, 'the key\'s own alg: 200')
    const badBytes = signedHeaders(app, createRequest(credential), key)
    badBytes.signature = `sig1=:${Buffer.alloc(64, 1).toString('base64')}:`
    assertUniform401(t, await send(app, createRequest(credential), badBytes), ACCEPT_WITH_BODY, 'signature bytes that do not verify')
    const onlyInput = signedHeaders(app, createRequest(credential), key)
    delete onlyInput.signature
    assertUniform401(t, await send(app, createRequest(credential), onlyInput), ACCEPT_WITH_BODY, 'Signature-Input without Signature')
  })

  t.test(`${store}: a key without requireSignature may sign; a present but bad signature is refused`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    await learnUniformMessage(app)
    const svc = await signingService(app)
    const credential = withKey(svc.key)
    const stranger = generateSigningKey('p-256')
    t.equal((await send(app, createRequest(credential), { ...credential, 'content-type': 'application/json' })).statusCode, 201, 'unsigned: fine')
    t.equal((await signedInject(app, createRequest(credential), signer(svc.pair))).statusCode, 201, 'signed: fine')
    assertUniform401(t, await signedInject(app, createRequest(credential), { jwk: stranger.privateJwk }), ACCEPT_WITH_BODY, 'API key: a signature by an unknown key is refused, not ignored')
    const tampered = signedHeaders(app, createRequest(credential, 'one'), signer(svc.pair))
    assertUniform401(t, await send(app, createRequest(credential, 'two'), tampered), ACCEPT_WITH_BODY, 'API key: a body changed after signing')
    const token = await signedToken(app, svc)
    t.equal((await app.inject({ url: '/api/v1/messages', headers: withToken(token) })).statusCode, 200, 'its token unsigned: fine')
    assertUniform401(t, await signedInject(app, { url: '/api/v1/messages', headers: withToken(token) }, { jwk: stranger.privateJwk }), ACCEPT_WITHOUT_BODY, 'its token: a bad signature is refused, not ignored')
    assertUniform401(t, await signedInject(app, { url: '/api/v1/messages', headers: withToken(token) }, signer(svc.pair), { created: now() - 1000 }), ACCEPT_WITHOUT_BODY, 'its token: a stale signature is refused')
    // a key with no registered key at all
    const bare = await signingService(app)
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${bare.id}/signing-keys/${bare.pair.keyid}`, headers: withKey(bare.admin.key) })).statusCode, 204)
    assertUniform401(t, await signedInject(app, createRequest(withKey(bare.key)), signer(bare.pair)), ACCEPT_WITH_BODY, 'a key without signing keys that signs anyway')
  })

  t.test(`${store}: accepted signatures`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    for (const kind of ['ed25519', 'p-256'] as const) {
      const svc = await signingService(app, { requireSignature: true, kind })
      const key = signer(svc.pair)
      const created = await signedInject(app, createRequest(withKey(svc.key), kind), key)
      t.equal(created.statusCode, 201, `${kind}: API key, POST`)
      t.equal(created.json().owner, svc.id)
      const token = await signedToken(app, svc)
      const viaToken = await signedInject(app, createRequest(withToken(token), kind), key)
      t.equal(viaToken.statusCode, 201, `${kind}: its bearer token, POST`)
      const list = await signedInject(app, { url: '/api/v1/messages', headers: withToken(token) }, key)
      t.equal(list.statusCode, 200, `${kind}: its bearer token, a GET without body`)
      t.equal(list.json().items.length, 2)
      t.equal((await signedInject(app, { url: `/api/v1/messages/${String(created.json().id)}`, headers: withKey(svc.key) }, key)).statusCode, 200, `${kind}: API key, GET a message`)
      // extra components: content-type and @authority (and an expiry in the future)
      const extra = await signedInject(app, createRequest(withKey(svc.key)), key, {
        components: ['@method', '@target-uri', 'content-digest', 'content-type', '@authority'],
        expires: now() + 60
      })
      t.equal(extra.statusCode, 201, `${kind}: extra covered components`)
      const reordered = await signedInject(app, createRequest(withKey(svc.key)), key, { components: ['content-digest', '@authority', '@target-uri', '@method', 'x-api-key'] })
      t.equal(reordered.statusCode, 201, `${kind}: the components in another order, the credential header covered too`)
      // an extra component changed after signing
      const headers = signedHeaders(app, createRequest(withKey(svc.key)), key, { components: ['@method', '@target-uri', 'content-digest', 'content-type'] })
      const other = await send(app, createRequest(withKey(svc.key)), { ...headers, 'content-type': 'application/json; charset=utf-8' })
      t.equal(other.statusCode, 401, `${kind}: a covered content-type changed after signing`)
    }
  })

  t.test(`${store}: an independent RFC 9421 implementation (node:crypto and a template string)`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    const svc = await signingService(app, { requireSignature: true })
    for (const kind of ['ed25519', 'p-256'] as const) {
      const { privateKey, publicKey } = kind === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' })
      const jwk = publicKey.export({ format: 'jwk' })
      const canonical = kind === 'ed25519'
        ? `{"crv":"Ed25519","kty":"OKP","x":"${jwk.x}"}`
        : `{"crv":"P-256","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
      const keyid = createHash('sha256').update(canonical).digest('base64url')
      const registered = await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(svc.admin.key), payload: { jwk } })
      t.equal(registered.statusCode, 201)
      t.equal(registered.json().keyid, keyid, `${kind}: the thumbprint computed by hand`)

      const body = `{"content":"by hand, ${kind}","maxViews":2}`
      const digest = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`
      const created = Math.floor(Date.now() / 1000)
      const nonce = randomBytes(12).toString('base64url')
      const params = `("@method" "@target-uri" "content-digest" "content-type");created=${created};keyid="${keyid}";nonce="${nonce}"`
      const base = `"@method": POST
"@target-uri": http://127.0.0.1:3000/api/v1/messages
"content-digest": ${digest}
"content-type": application/json
"@signature-params": ${params}`
      const signature = kind === 'ed25519'
        ? cryptoSign(null, Buffer.from(base), privateKey)
        : cryptoSign('sha256', Buffer.from(base), { key: privateKey, dsaEncoding: 'ieee-p1363' })
      const headers = {
        'x-api-key': svc.key,
        'content-type': 'application/json',
        'content-digest': digest,
        'signature-input': `sig1=${params}`,
        signature: `sig1=:${signature.toString('base64')}:`
      }
      const res = await app.inject({ method: 'POST', url: '/api/v1/messages', headers, payload: body })
      t.equal(res.statusCode, 201, `${kind}: accepted (${res.body})`)
      t.equal(res.json().owner, svc.id)
      const again = await app.inject({ method: 'POST', url: '/api/v1/messages', headers, payload: body })
      t.equal(again.statusCode, 401, `${kind}: and not twice`)
    }
  })

  t.test(`${store}: Content-Digest on unsigned requests`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    const svc = await signingService(app)
    const post = createRequest(withKey(svc.key), 'digested')
    const text = bodyText(post.body) as string
    const right = await send(app, post, { ...withKey(svc.key), 'content-type': 'application/json', 'content-digest': contentDigestHeader(text) })
    t.equal(right.statusCode, 201, 'a correct Content-Digest: accepted')
    const sha512 = `sha-512=:${createHash('sha512').update(text).digest('base64')}:`
    t.equal((await send(app, post, { ...withKey(svc.key), 'content-type': 'application/json', 'content-digest': sha512 })).statusCode, 201, 'a correct sha-512 Content-Digest: accepted')
    const wrong = await send(app, post, { ...withKey(svc.key), 'content-type': 'application/json', 'content-digest': contentDigestHeader('another body') })
    t.equal(wrong.statusCode, 400, 'a wrong Content-Digest: 400')
    t.equal(wrong.json().code, 'DIGEST_MISMATCH')
    t.equal(wrong.headers['accept-signature'], undefined, 'not a signature refusal')
    const anonymous = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json', 'content-digest': contentDigestHeader('x') }, payload: text })
    t.equal(anonymous.statusCode, 400, 'an anonymous POST / with a wrong Content-Digest: 400')
    t.equal(anonymous.json().code, 'DIGEST_MISMATCH')
    const anonymousRight = await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json', 'content-digest': contentDigestHeader(text) }, payload: text })
    t.equal(anonymousRight.statusCode, 201, 'and with the right one: 201')
  })

  t.test(`${store}: POST /oauth/token for a key with requireSignature`, async (t) => {
    const app = await settledBuild(t, { store, config: CONFIG })
    const svc = await signingService(app, { requireSignature: true })
    const form = 'grant_type=client_credentials&scope=messages%3Awrite'
    const base: Record<string, string> = { 'content-type': FORM, authorization: basic(svc.id, svc.key) }
    const url = `${app.config.publicUrl}/oauth/token`

    const unsigned = await app.inject({ method: 'POST', url: '/oauth/token', headers: base, payload: form })
    t.equal(unsigned.statusCode, 401, 'unsigned: 401')
    t.equal(unsigned.json().error, 'invalid_client')
    t.equal(unsigned.headers['www-authenticate'], 'Basic realm="missive"')
    t.equal(unsigned.headers['accept-signature'], ACCEPT_WITH_BODY, 'with Accept-Signature')

    const signed = { ...base, ...signRequest({ method: 'POST', url, headers: base, body: form }, signer(svc.pair)) }
    t.match(signed['content-digest'], /^sha-256=:/, 'the form body has its Content-Digest')
    const ok = await app.inject({ method: 'POST', url: '/oauth/token', headers: signed, payload: form })
    t.equal(ok.statusCode, 200, `signed: 200 (${ok.body})`)
    const token = ok.json().access_token as string
    t.equal(ok.json().scope, 'messages:write')
    const replayed = await app.inject({ method: 'POST', url: '/oauth/token', headers: signed, payload: form })
    t.equal(replayed.statusCode, 401, 'the same signed request again: 401')
    t.equal(replayed.json().error, 'invalid_client')

    const forged = { ...base, ...signRequest({ method: 'POST', url, headers: base, body: form }, signer(svc.pair)) }
    const changed = await app.inject({ method: 'POST', url: '/oauth/token', headers: forged, payload: 'grant_type=client_credentials&scope=messages%3Aread' })
    t.equal(changed.statusCode, 401, 'the form changed after signing: 401')
    t.equal(changed.json().error, 'invalid_client')
    t.equal(changed.headers['accept-signature'], ACCEPT_WITH_BODY)

    const byStranger = { ...base, ...signRequest({ method: 'POST', url, headers: base, body: form }, { jwk: generateSigningKey().privateJwk }) }
    const strange = await app.inject({ method: 'POST', url: '/oauth/token', headers: byStranger, payload: form })
    t.equal(strange.statusCode, 401, 'signed by an unregistered key: 401')
    t.equal(strange.json().error, 'invalid_client')

    const wrongDigest: Record<string, string> = { ...signed, ...signRequest({ method: 'POST', url, headers: base, body: form }, signer(svc.pair)) }
    wrongDigest['content-digest'] = contentDigestHeader('grant_type=client_credentials')
    t.equal((await app.inject({ method: 'POST', url: '/oauth/token', headers: wrongDigest, payload: form })).statusCode, 401, 'a Content-Digest changed after signing: 401')

    // the token of a requireSignature key is refused unsigned, accepted signed
    assertUniform401(t, await app.inject({ url: '/api/v1/messages', headers: withToken(token) }), ACCEPT_WITHOUT_BODY, 'its OAuth token, unsigned')
    t.equal((await signedInject(app, createRequest(withToken(token)), signer(svc.pair))).statusCode, 201, 'its OAuth token, signed')

    // an unsigned form with a wrong Content-Digest for a key without requireSignature: 400
    const relaxed = await signingService(app)
    const relaxedBase = { 'content-type': FORM, authorization: basic(relaxed.id, relaxed.key) }
    const mismatch = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...relaxedBase, 'content-digest': contentDigestHeader('x') }, payload: form })
    t.equal(mismatch.statusCode, 400, 'unsigned, wrong Content-Digest: 400')
    t.equal(mismatch.json().error, 'invalid_request')
    const matching = await app.inject({ method: 'POST', url: '/oauth/token', headers: { ...relaxedBase, 'content-digest': contentDigestHeader(form) }, payload: form })
    t.equal(matching.statusCode, 200, 'unsigned, right Content-Digest: 200')
  })

  t.test(`${store}: refused signatures count toward AUTH_FAILURE_MAX`, async (t) => {
    const app = await settledBuild(t, { store, config: { AUTH_FAILURE_MAX: 3 } })
    await learnUniformMessage(app)
    const svc = await signingService(app, { requireSignature: true })
    const credential = withKey(svc.key)
    const ip = '198.51.100.7'
    const at = (request: ReturnType<typeof createRequest>): ReturnType<typeof createRequest> => ({ ...request, remoteAddress: ip })
    assertUniform401(t, await send(app, at(createRequest(credential)), { ...credential, 'content-type': 'application/json' }), ACCEPT_WITH_BODY, '1: unsigned')
    assertUniform401(t, await signedInject(app, at(createRequest(credential)), { jwk: generateSigningKey().privateJwk }), ACCEPT_WITH_BODY, '2: unregistered key')
    assertUniform401(t, await send(app, at(createRequest(credential, 'changed')), signedHeaders(app, createRequest(credential, 'signed'), signer(svc.pair))), ACCEPT_WITH_BODY, '3: body changed after signing')
    const fourth = await signedInject(app, at(createRequest(credential)), signer(svc.pair), { created: now() - 3600 })
    t.equal(fourth.statusCode, 429, 'the next refusal: 429')
    t.ok(Number(fourth.headers['retry-after']) > 0, 'with Retry-After')
    const valid = await signedInject(app, at(createRequest(credential)), signer(svc.pair))
    t.equal(valid.statusCode, 429, 'then even a valid signed request from that address: 429')
    t.equal((await signedInject(app, createRequest(credential), signer(svc.pair))).statusCode, 201, 'another address is not locked out')
  })
}

/**
 * A bug found here, fixed: a signed request whose body does not match its Content-Digest is
 * refused by the body parser, which answered a fixed challenge naming ApiKey, Bearer and DPoP
 * whatever the route takes; it now names the route's schemes like every other refusal.
 */

t.test('memory: a changed body at a route that takes only API keys', async (t) => {
  const app = await settledBuild(t, { store: 'memory', config: CONFIG })
  await learnUniformMessage(app)
  const svc = await signingService(app, { requireSignature: true })
  const request = { method: 'POST' as const, url: '/api/v1/auth/token', headers: withKey(svc.key), body: { scopes: ['messages:read'] } }
  const res = await send(app, { ...request, body: { scopes: ['messages:write'] } }, signedHeaders(app, request, signer(svc.pair)))
  t.equal(res.statusCode, 401, 'refused')
  t.equal(res.json().code, 'UNAUTHORIZED')
  t.equal(res.headers['accept-signature'], ACCEPT_WITH_BODY, 'with Accept-Signature')
  const unsigned = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key) })
  t.equal(unsigned.headers['www-authenticate'], 'ApiKey realm="missive"', 'an unsigned request there: ApiKey only')
  t.equal(res.headers['www-authenticate'], 'ApiKey realm="missive"', 'the changed body: the same challenge')
})

t.test('redis: a second instance refuses a removed signing key within 5 s, and a nonce used on the other', async (t) => {
  const one = await settledBuild(t, { store: 'redis', config: CONFIG })
  const two = await settledBuild(t, { store: 'redis', flush: false, config: CONFIG })
  await learnUniformMessage(one)
  const svc = await signingService(one, { requireSignature: true })
  const key = signer(svc.pair)
  const token = await signedToken(two, svc)

  // replay across instances
  const headers = signedHeaders(one, createRequest(withKey(svc.key)), key)
  t.equal((await send(one, createRequest(withKey(svc.key)), headers)).statusCode, 201, 'used on one')
  assertUniform401(t, await send(two, createRequest(withKey(svc.key)), headers), ACCEPT_WITH_BODY, 'replayed on two')
  const bearer = signedHeaders(two, { url: '/api/v1/messages', headers: withToken(token) }, key)
  t.equal((await send(two, { url: '/api/v1/messages' }, bearer)).statusCode, 200, 'a bearer request used on two')
  assertUniform401(t, await send(one, { url: '/api/v1/messages' }, bearer), ACCEPT_WITHOUT_BODY, 'replayed on one')

  // both instances have the signing key cached
  for (const app of [one, two]) {
    t.equal((await signedInject(app, createRequest(withKey(svc.key)), key)).statusCode, 201)
    t.equal((await signedInject(app, { url: '/api/v1/messages', headers: withToken(token) }, key)).statusCode, 200)
  }
  const removed = await one.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${svc.pair.keyid}`, headers: withKey(svc.admin.key) })
  t.equal(removed.statusCode, 204)
  const removedAt = Date.now()
  assertUniform401(t, await signedInject(one, createRequest(withKey(svc.key)), key), ACCEPT_WITH_BODY, 'refused at once where it was removed')
  assertUniform401(t, await signedInject(one, { url: '/api/v1/messages', headers: withToken(token) }, key), ACCEPT_WITHOUT_BODY, 'its token too')
  const elapsed = await within(5000, async () => (await signedInject(two, createRequest(withKey(svc.key)), key)).statusCode === 401)
  t.ok(elapsed !== null && Date.now() - removedAt < 5000, `refused on the other instance within 5 s (${Date.now() - removedAt} ms after the DELETE)`)
  const tokenElapsed = await within(5000, async () => (await signedInject(two, { url: '/api/v1/messages', headers: withToken(token) }, key)).statusCode === 401)
  t.ok(tokenElapsed !== null && Date.now() - removedAt < 5000, `its token too (${Date.now() - removedAt} ms after the DELETE)`)
  assertUniform401(t, await signedInject(two, createRequest(withKey(svc.key)), key), ACCEPT_WITH_BODY, 'the API key, on two')
  assertUniform401(t, await signedInject(two, { url: '/api/v1/messages', headers: withToken(token) }, key), ACCEPT_WITHOUT_BODY, 'its token, on two')

  // a key registered on two is usable on one within 5 s too
  const next = generateSigningKey('p-256')
  t.equal((await two.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(svc.admin.key), payload: { jwk: next.publicJwk } })).statusCode, 201)
  const added = await within(5000, async () => (await signedInject(one, createRequest(withKey(svc.key)), signer(next))).statusCode === 201)
  t.ok(added !== null && added < 5000, `a key added on two signs on one within 5 s (${added ?? 'never'} ms)`)
})

t.test('memory: a removed signing key is refused at once', async (t) => {
  const app = await settledBuild(t, { store: 'memory', config: CONFIG })
  await learnUniformMessage(app)
  const svc = await signingService(app, { requireSignature: true })
  const key = signer(svc.pair)
  const token = await signedToken(app, svc)
  t.equal((await signedInject(app, createRequest(withKey(svc.key)), key)).statusCode, 201)
  t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${svc.pair.keyid}`, headers: withKey(svc.admin.key) })).statusCode, 204)
  assertUniform401(t, await signedInject(app, createRequest(withKey(svc.key)), key), ACCEPT_WITH_BODY, 'the API key')
  assertUniform401(t, await signedInject(app, { url: '/api/v1/messages', headers: withToken(token) }, key), ACCEPT_WITHOUT_BODY, 'its token')
})
