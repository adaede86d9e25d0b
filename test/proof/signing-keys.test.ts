import { createHash, generateKeyPairSync } from 'node:crypto'
import t from 'tap'
import { generateSigningKey } from '../../src/auth/http-signatures/sign.js'
import { makeKey, withKey, withToken, tokenFor } from '../api/api-helper.js'
import { postSigningKey, settledBuild, STORES } from './proof-helper.js'

/**
 * The signing-key routes of API.md section 7: POST / GET /api/v1/keys/:id/signing-keys and
 * DELETE /api/v1/keys/:id/signing-keys/:keyid, under keys:admin, on both stores.
 */

/** RFC 7638 §3: SHA-256 of the required members in lexicographic order, no whitespace; written out here. */
function thumbprint (jwk: Record<string, string>): string {
  const json = jwk.kty === 'OKP'
    ? `{"crv":"${jwk.crv}","kty":"OKP","x":"${jwk.x}"}`
    : `{"crv":"${jwk.crv}","kty":"EC","x":"${jwk.x}","y":"${jwk.y}"}`
  return createHash('sha256').update(json).digest('base64url')
}

const PATHS = { collection: '/api/v1/keys/{id}/signing-keys', item: '/api/v1/keys/{id}/signing-keys/{keyid}' }

for (const store of STORES) {
  t.test(`${store}: register, list, delete`, async (t) => {
    const app = await settledBuild(t, { store })
    const admin = await makeKey(app, ['keys:admin'])
    const svc = await makeKey(app, ['messages:write'])
    const ed = generateSigningKey('ed25519')
    const ec = generateSigningKey('p-256')

    const first = await postSigningKey(app, admin.key, svc.id, ed.publicJwk)
    t.equal(first.statusCode, 201, first.body)
    const edBody = first.json()
    t.same(Object.keys(edBody).sort(), ['alg', 'createdAt', 'keyid'], 'only keyid, alg and createdAt')
    t.equal(edBody.keyid, thumbprint(ed.publicJwk), 'keyid is the RFC 7638 thumbprint (Ed25519)')
    t.equal(edBody.keyid, ed.keyid, 'as the client computes it')
    t.equal(edBody.alg, 'ed25519')
    t.ok(Math.abs(Date.parse(edBody.createdAt) - Date.now()) < 10_000, 'createdAt is now')
    t.equal(first.headers.location, `/api/v1/keys/${svc.id}/signing-keys/${edBody.keyid}`, 'Location names the new key')

    // optional members that allow verifying (and a kid) do not change the thumbprint
    const second = await postSigningKey(app, admin.key, svc.id, { ...ec.publicJwk, use: 'sig', kid: 'mine' })
    t.equal(second.statusCode, 201, second.body)
    t.equal(second.json().keyid, thumbprint(ec.publicJwk), 'keyid is the RFC 7638 thumbprint (P-256), of the required members only')
    t.equal(second.json().alg, 'ecdsa-p256-sha256')
    t.equal(second.headers.location, `/api/v1/keys/${svc.id}/signing-keys/${second.json().keyid}`)

    const listed = await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(admin.key) })
    t.equal(listed.statusCode, 200)
    t.same(listed.json(), { items: [edBody, second.json()] }, 'both, oldest first, exactly as registered')
    t.notMatch(listed.body, /"x"|"y"|"d"|kty/, 'no key material in the list')

    // what is stored is the public key's required members only
    const stored = await app.clientKeyStore.list(svc.id)
    t.same(stored.map((key) => key.jwk), [ed.publicJwk, ec.publicJwk], 'stored: the required public members, nothing else')

    const removed = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${edBody.keyid}`, headers: withKey(admin.key) })
    t.equal(removed.statusCode, 204)
    t.equal(removed.body, '')
    const again = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${edBody.keyid}`, headers: withKey(admin.key) })
    t.equal(again.statusCode, 404, 'removed twice: 404')
    t.equal(again.json().code, 'NOT_FOUND')
    const after = await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(admin.key) })
    t.same(after.json().items.map((k: { keyid: string }) => k.keyid), [second.json().keyid], 'the other one stays')
    const unknownKeyid = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${thumbprint(generateSigningKey().publicJwk)}`, headers: withKey(admin.key) })
    t.equal(unknownKeyid.statusCode, 404, 'a keyid never registered: 404')
    const badKeyid = await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/not-a-thumbprint`, headers: withKey(admin.key) })
    t.equal(badKeyid.statusCode, 400, 'a keyid that is no thumbprint: 400')

    // registered again after its removal: a new registration
    t.equal((await postSigningKey(app, admin.key, svc.id, ed.publicJwk)).statusCode, 201, 'a removed key can be registered again')

    // an admin's bearer token works like its key
    const token = await tokenFor(app, admin.key)
    const viaToken = await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withToken(token) })
    t.equal(viaToken.statusCode, 200, 'a keys:admin token lists too')
    t.equal(viaToken.json().items.length, 2)
  })

  t.test(`${store}: what is refused`, async (t) => {
    const app = await settledBuild(t, { store })
    const admin = await makeKey(app, ['keys:admin'])
    const svc = await makeKey(app, ['messages:write'])
    const ed = generateSigningKey('ed25519')
    const ec = generateSigningKey('p-256')

    const refusals: Array<[string, unknown]> = [
      ['a private Ed25519 JWK', { ...ed.privateJwk }],
      ['a private P-256 JWK', { ...ec.privateJwk }],
      ['an RSA key', generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' })],
      ['a P-384 key', generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ format: 'jwk' })],
      ['a P-256 point not on the curve', { ...ec.publicJwk, y: Buffer.alloc(32, 7).toString('base64url') }],
      ['an Ed25519 x of 31 bytes', { kty: 'OKP', crv: 'Ed25519', x: Buffer.alloc(31, 1).toString('base64url') }],
      ['X25519 (not a signing curve)', generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' })],
      ['a symmetric key', { kty: 'oct', k: Buffer.alloc(32, 1).toString('base64url') }],
      ['a key only for encryption', { ...ed.publicJwk, use: 'enc' }],
      ['a string', 'not a key'],
      ['an array', [ed.publicJwk]],
      ['null', null],
      ['a number', 42]
    ]
    for (const [what, jwk] of refusals) {
      const res = await postSigningKey(app, admin.key, svc.id, jwk)
      t.equal(res.statusCode, 400, `${what}: 400`)
      t.equal(res.json().code, 'VALIDATION_ERROR', `${what}: VALIDATION_ERROR`)
      if (typeof jwk === 'object' && jwk !== null && 'd' in jwk) t.notOk(res.body.includes(String(jwk.d)), `${what}: the answer does not echo the private part`)
    }
    const noJwk = await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(admin.key), payload: { key: ed.publicJwk } })
    t.equal(noJwk.statusCode, 400, 'a body without jwk: 400')
    t.same(await app.clientKeyStore.list(svc.id), [], 'nothing was stored')
    t.same((await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(admin.key) })).json(), { items: [] }, 'nothing is listed')

    // the same key twice, in whatever form
    t.equal((await postSigningKey(app, admin.key, svc.id, ed.publicJwk)).statusCode, 201)
    for (const [what, jwk] of [['the same JWK', ed.publicJwk], ['with a kid and alg', { ...ed.publicJwk, kid: 'x', alg: 'EdDSA' }]] as const) {
      const twice = await postSigningKey(app, admin.key, svc.id, jwk)
      t.equal(twice.statusCode, 409, `${what} again: 409`)
      t.equal(twice.json().code, 'SIGNING_KEY_EXISTS')
    }
    // the same public key may serve two API keys
    const other = await makeKey(app, ['messages:write'])
    t.equal((await postSigningKey(app, admin.key, other.id, ed.publicJwk)).statusCode, 201, 'the same public key for another API key: 201')

    // at most 10
    for (let i = 1; i < 10; i++) t.equal((await postSigningKey(app, admin.key, svc.id, generateSigningKey(i % 2 === 0 ? 'ed25519' : 'p-256').publicJwk)).statusCode, 201, `key ${i + 1}`)
    const eleventh = await postSigningKey(app, admin.key, svc.id, generateSigningKey().publicJwk)
    t.equal(eleventh.statusCode, 409, 'the 11th: 409')
    t.equal(eleventh.json().code, 'SIGNING_KEY_LIMIT')
    t.equal((await app.clientKeyStore.list(svc.id)).length, 10, 'ten stored')
    const full = await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(admin.key) })
    const oldest = full.json().items[0].keyid as string
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${oldest}`, headers: withKey(admin.key) })).statusCode, 204)
    t.equal((await postSigningKey(app, admin.key, svc.id, generateSigningKey().publicJwk)).statusCode, 201, 'after removing one, one more fits')

    // an unknown API key
    const unknown = 'zzzzzzzzzzzz'
    const onUnknown = [
      await postSigningKey(app, admin.key, unknown, generateSigningKey().publicJwk),
      await app.inject({ url: `/api/v1/keys/${unknown}/signing-keys`, headers: withKey(admin.key) }),
      await app.inject({ method: 'DELETE', url: `/api/v1/keys/${unknown}/signing-keys/${oldest}`, headers: withKey(admin.key) })
    ]
    t.same(onUnknown.map((res) => res.statusCode), [404, 404, 404], 'an unknown API key: 404 for POST, GET and DELETE')
    t.equal((await app.clientKeyStore.list(unknown)).length, 0, 'nothing stored for the unknown key')

    // a revoked one
    const revoked = await makeKey(app, ['messages:write'])
    t.equal((await app.inject({ method: 'DELETE', url: `/api/v1/keys/${revoked.id}`, headers: withKey(admin.key) })).statusCode, 204)
    const onRevoked = await postSigningKey(app, admin.key, revoked.id, generateSigningKey().publicJwk)
    t.equal(onRevoked.statusCode, 409, 'a revoked API key: 409')
    t.equal(onRevoked.json().code, 'KEY_NOT_ACTIVE')
    t.same(await app.clientKeyStore.list(revoked.id), [], 'nothing stored for the revoked key')

    // without keys:admin (the key itself, or any other scope)
    const mighty = await makeKey(app, ['messages:read', 'messages:write', 'messages:delete', 'metrics:read'])
    for (const [what, res] of [
      ['POST', await postSigningKey(app, mighty.key, svc.id, generateSigningKey().publicJwk)],
      ['GET', await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys`, headers: withKey(mighty.key) })],
      ['DELETE', await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}/signing-keys/${oldest}`, headers: withKey(mighty.key) })],
      ['POST by the key for itself', await postSigningKey(app, svc.key, svc.id, generateSigningKey().publicJwk)]
    ] as const) {
      t.equal(res.statusCode, 403, `${what} without keys:admin: 403`)
      t.equal(res.json().code, 'FORBIDDEN')
    }
    const anonymous = await app.inject({ url: `/api/v1/keys/${svc.id}/signing-keys` })
    t.equal(anonymous.statusCode, 401, 'no credential: 401')
    t.equal((await app.clientKeyStore.list(svc.id)).length, 10, 'none of the refused requests changed the list')
  })
}

t.test('/docs/json documents the three routes', async (t) => {
  const app = await settledBuild(t)
  const res = await app.inject('/docs/json')
  t.equal(res.statusCode, 200)
  const { paths } = res.json()
  const collection = paths[PATHS.collection]
  const item = paths[PATHS.item]
  t.ok(collection?.post, 'POST /api/v1/keys/{id}/signing-keys')
  t.ok(collection?.get, 'GET /api/v1/keys/{id}/signing-keys')
  t.ok(item?.delete, 'DELETE /api/v1/keys/{id}/signing-keys/{keyid}')
  t.ok(collection?.post?.responses?.['201'], 'the POST documents its 201')
  t.ok(collection?.post?.requestBody, 'and its body')
  t.ok(collection?.get?.responses?.['200'], 'the GET documents its 200')
  t.ok(item?.delete?.responses?.['204'], 'the DELETE documents its 204')
  for (const operation of [collection?.post, collection?.get, item?.delete]) {
    t.ok(Array.isArray(operation?.security) && operation.security.length > 0, 'each declares its credentials')
  }
})
