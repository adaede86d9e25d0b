import { generateKeyPairSync, sign, verify } from 'node:crypto'
import { calculateJwkThumbprint } from 'jose'
import t from 'tap'
import { InvalidJwk, jwkThumbprint, publicKeyObject, publicSigningJwk, signatureAlgorithm, type PublicSigningJwk } from '../../src/auth/jwk.js'

// RFC 9421 Appendix B.1.3 and B.1.4: the example keys as JWK (private parts included)
const RFC9421_P256 = {
  kty: 'EC',
  crv: 'P-256',
  kid: 'test-key-ecc-p256',
  d: 'UpuF81l-kOxbjf7T4mNSv0r5tN67Gim7rnf6EFpcYDs',
  x: 'qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA',
  y: 'Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0'
}
const RFC9421_ED25519 = {
  kty: 'OKP',
  crv: 'Ed25519',
  kid: 'test-key-ed25519',
  d: 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU',
  x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs'
}
const publicOf = ({ d: _d, ...rest }: Record<string, string>): Record<string, string> => rest
const P256 = publicOf(RFC9421_P256)
const ED25519 = publicOf(RFC9421_ED25519)

t.test('RFC 7638 §3.1: the thumbprint of the RFC\'s RSA example key', async (t) => {
  // The RSA key of RFC 7638 §3.1 (also RFC 7515 A.2's), with its optional members.
  const jwk = {
    kty: 'RSA' as const,
    n: '0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw',
    e: 'AQAB',
    alg: 'RS256',
    kid: '2011-04-29'
  }
  t.equal(jwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs')
  t.equal(await calculateJwkThumbprint(jwk), 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs', 'jose agrees')
})

t.test('RFC 8037 A.3: the thumbprint of the RFC\'s Ed25519 key', async (t) => {
  t.equal(jwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' }), 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k')
})

t.test('thumbprints agree with jose\'s', async (t) => {
  const keys: PublicSigningJwk[] = [publicSigningJwk(P256), publicSigningJwk(ED25519)]
  for (let i = 0; i < 5; i++) {
    keys.push(publicSigningJwk(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' })))
    keys.push(publicSigningJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' })))
  }
  for (const jwk of keys) t.equal(jwkThumbprint(jwk), await calculateJwkThumbprint(jwk), `${jwk.kty} ${jwk.x}`)
  const decorated = { ...publicSigningJwk(P256), kid: 'x', use: 'sig' }
  t.equal(jwkThumbprint(decorated), jwkThumbprint(publicSigningJwk(P256)), 'optional members do not count')
})

t.test('publicSigningJwk accepts public Ed25519 and P-256 keys, and keeps only their required members', async (t) => {
  t.same(publicSigningJwk(P256), { kty: 'EC', crv: 'P-256', x: P256.x, y: P256.y })
  t.same(publicSigningJwk(ED25519), { kty: 'OKP', crv: 'Ed25519', x: ED25519.x })
  t.same(publicSigningJwk({ ...ED25519, alg: 'EdDSA', use: 'sig', key_ops: ['verify'], ext: true }), { kty: 'OKP', crv: 'Ed25519', x: ED25519.x })
  t.same(publicSigningJwk({ ...ED25519, alg: 'Ed25519' }), { kty: 'OKP', crv: 'Ed25519', x: ED25519.x })
  t.same(publicSigningJwk({ ...P256, alg: 'ES256', key_ops: ['verify', 'sign'] }), { kty: 'EC', crv: 'P-256', x: P256.x, y: P256.y })
})

t.test('publicSigningJwk refuses, saying why and never echoing key material', async (t) => {
  const refused = (input: unknown, message: RegExp, what: string): void => {
    let err: unknown
    try {
      publicSigningJwk(input)
    } catch (thrown) {
      err = thrown
    }
    t.ok(err instanceof InvalidJwk && message.test(err.message), `${what}: ${err instanceof Error ? err.message : 'accepted'}`)
    if (err instanceof InvalidJwk) {
      t.equal(err.statusCode, 400)
      for (const value of [P256.x, P256.y, ED25519.x, RFC9421_P256.d, RFC9421_ED25519.d]) t.notOk(err.message.includes(value!), `${what}: no key material in the message`)
    }
  }
  refused(null, /JWK object/, 'null')
  refused('{"kty":"OKP"}', /JWK object/, 'a string')
  refused([ED25519], /JWK object/, 'an array')
  refused(RFC9421_ED25519, /private key/, 'an Ed25519 private key')
  refused(RFC9421_P256, /private key/, 'a P-256 private key')
  refused({ ...ED25519, d: '' }, /private key/, 'an empty d')
  refused({ kty: 'oct', k: 'c2VjcmV0' }, /private key/, 'a symmetric key')
  refused({ kty: 'RSA', n: 'AQAB', e: 'AQAB', p: 'AQAB' }, /private key/, 'an RSA private key')
  refused({ kty: 'RSA', n: 'AQAB', e: 'AQAB' }, /kty/, 'an RSA public key')
  refused({ ...ED25519, kty: undefined }, /kty/, 'no kty')
  refused({ ...ED25519, crv: 'X25519' }, /Ed25519/, 'an X25519 key')
  refused({ ...ED25519, crv: 'Ed448' }, /Ed25519/, 'an Ed448 key')
  refused({ ...P256, crv: 'P-384' }, /P-256/, 'a P-384 key')
  refused({ ...P256, crv: 'secp256k1' }, /P-256/, 'a secp256k1 key')
  refused({ ...ED25519, x: undefined }, /x must be 32 bytes/, 'no x')
  refused({ ...P256, y: undefined }, /y must be 32 bytes/, 'no y')
  refused({ ...ED25519, x: ED25519.x!.slice(1) }, /x must be 32 bytes/, 'a short x')
  refused({ ...ED25519, x: ED25519.x + 'AA' }, /x must be 32 bytes/, 'a long x')
  refused({ ...ED25519, x: ED25519.x + '=' }, /x must be 32 bytes/, 'padding')
  refused({ ...ED25519, x: Buffer.from(ED25519.x!, 'base64url').toString('base64') }, /x must be 32 bytes/, 'base64, not base64url')
  refused({ ...ED25519, x: 1234 }, /x must be 32 bytes/, 'a number')
  // 43 characters carry 258 bits: 't' ends the same 32 bytes as 's', not canonically.
  t.equal(Buffer.from(ED25519.x!.slice(0, -1) + 't', 'base64url').toString('base64url'), ED25519.x)
  refused({ ...ED25519, x: ED25519.x!.slice(0, -1) + 't' }, /x must be 32 bytes/, 'a non-canonical encoding (another thumbprint for the same key)')
  refused({ ...ED25519, alg: 'ES256' }, /alg/, 'alg ES256 on an Ed25519 key')
  refused({ ...P256, alg: 'EdDSA' }, /alg/, 'alg EdDSA on a P-256 key')
  refused({ ...P256, alg: 'ES384' }, /alg/, 'alg ES384')
  refused({ ...P256, use: 'enc' }, /use/, 'use enc')
  refused({ ...P256, key_ops: ['encrypt'] }, /key_ops/, 'key_ops without verify')
  refused({ ...P256, key_ops: 'verify' }, /key_ops/, 'key_ops not an array')
  refused({ ...P256, y: P256.y!.slice(0, -2) + 'E0' }, /not a point/, 'a P-256 point off the curve')
  refused({ ...P256, x: Buffer.alloc(32, 0xff).toString('base64url') }, /not a point/, 'a P-256 coordinate past p')
  // y = 2 (little-endian): (y² - 1) / (d y² + 1) has no square root mod 2^255 - 19 (RFC 8032 §5.1.3)
  refused({ ...ED25519, x: 'AgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }, /not a point/, 'an Ed25519 y that is no point')
  refused({ ...ED25519, x: Buffer.from('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', 'hex').toString('base64url') }, /not a point/, 'an Ed25519 y of p (non-canonical)')
  t.same(publicSigningJwk({ ...ED25519, x: 'AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' }).x, 'AwAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'y = 3 is a point')
})

t.test('signatureAlgorithm and publicKeyObject', async (t) => {
  const ed = publicSigningJwk(ED25519)
  const ec = publicSigningJwk(P256)
  t.equal(signatureAlgorithm(ed), 'ed25519')
  t.equal(signatureAlgorithm(ec), 'ecdsa-p256-sha256')
  t.equal(publicKeyObject(ed).asymmetricKeyType, 'ed25519')
  t.equal(publicKeyObject(ec).asymmetricKeyDetails?.namedCurve, 'prime256v1')
  t.equal(publicKeyObject({ ...ed }), publicKeyObject(ed), 'one KeyObject per key')

  const pair = generateKeyPairSync('ed25519')
  const jwk = publicSigningJwk(pair.publicKey.export({ format: 'jwk' }))
  const data = Buffer.from('hello')
  t.ok(verify(null, data, publicKeyObject(jwk), sign(null, data, pair.privateKey)))
})
