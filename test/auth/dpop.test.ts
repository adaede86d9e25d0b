import { randomBytes, randomUUID } from 'node:crypto'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import t, { type Test } from 'tap'
import { accessTokenHash, DPOP_ALGS, DpopProofError, normalizeHtu, verifyDpopProof, type DpopExpectation } from '../../src/auth/dpop.js'

// RFC 8792 single-backslash unwrapping: the '\', the line break and the next line's leading spaces go.
const unwrap = (s: string): string => s.replace(/\\\n\s*/g, '')

// RFC 9449 §4.1, Figure 2 (the same proof is the DPoP header of Figure 5), copied as printed.
const RFC_FIGURE_2 = unwrap(`eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik\\
    VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR\\
    nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE\\
    QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj\\
    oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia\\
    WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg\\
    4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg`)
// RFC 9449 §4.2, Figure 4: its decoded content.
const RFC_FIGURE_4_JWK = {
  kty: 'EC',
  x: 'l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs',
  y: '9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA',
  crv: 'P-256'
}
// RFC 9449 §6.1, Figure 9: "the hash of the public key from the DPoP proofs in the examples shown in Section 5".
const RFC_JKT = '0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I'
// RFC 9449 §7.1, Figure 13: a resource request, its access token and proof.
const RFC_ACCESS_TOKEN = 'Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'
const RFC_FIGURE_13 = unwrap(`eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik\\
    VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR\\
    nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE\\
    QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj\\
    oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z\\
    WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF\\
    c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E\\
    OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA`)
// RFC 9449 §7.1, Figure 14: the `ath` of that proof.
const RFC_ATH = 'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo'

const HTU = 'https://api.example.com/api/v1/messages'
const NOW = 1_700_000_000_000
const iatNow = NOW / 1000
const expect = (over: Partial<DpopExpectation> = {}): DpopExpectation => ({ method: 'POST', htu: HTU, nowMs: NOW, maxAgeSeconds: 300, ...over })

const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')

interface Signer { alg: string, privateKey: CryptoKey | Uint8Array, jwk: JWK }
const signers = new Map<string, Signer>()
const signer = async (alg: 'ES256' | 'EdDSA' | 'Ed25519' | 'RS256'): Promise<Signer> => {
  const known = signers.get(alg)
  if (known !== undefined) return known
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true })
  const made = { alg, privateKey, jwk: await exportJWK(publicKey) }
  signers.set(alg, made)
  return made
}

interface ProofOptions {
  header?: Record<string, unknown>
  claims?: Record<string, unknown>
  drop?: string[]
}
/** A proof signed with `s`: the usual header and claims, changed by `options`. */
const proof = async (s: Signer, options: ProofOptions = {}): Promise<string> => {
  const claims: Record<string, unknown> = { jti: randomUUID(), htm: 'POST', htu: HTU, iat: iatNow, ...options.claims }
  for (const name of options.drop ?? []) delete claims[name]
  const header = { alg: s.alg, typ: 'dpop+jwt', jwk: s.jwk, ...options.header }
  return await new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(s.privateKey)
}

/** Header and claims with a made-up signature: for what must be refused before any crypto. */
const forged = (header: Record<string, unknown>, claims: Record<string, unknown> = { jti: randomUUID(), htm: 'POST', htu: HTU, iat: iatNow }): string =>
  `${b64(header)}.${b64(claims)}.${randomBytes(64).toString('base64url')}`

const refused = async (t: Test, p: Promise<unknown>, reason: RegExp, message: string): Promise<void> => {
  const error = await p.then(() => null, (e: unknown) => e)
  t.type(error, DpopProofError, `${message}: refused`)
  if (error instanceof DpopProofError) t.match(error.reason, reason, `${message}: ${error.reason}`)
}

t.test('the RFC 9449 examples verify, with the RFC\'s thumbprint and ath', async (t) => {
  const at = (iat: number): number => iat * 1000
  const token = await verifyDpopProof(RFC_FIGURE_2, { method: 'POST', htu: 'https://server.example.com/token', nowMs: at(1562262616), maxAgeSeconds: 300 })
  t.same(token, { jkt: RFC_JKT, jti: '-BwC3ESc6acc2lTc', iat: 1562262616 }, 'Figure 2 proof, Figure 9 jkt')
  t.equal(await calculateJwkThumbprint(RFC_FIGURE_4_JWK, 'sha256'), RFC_JKT, 'jose agrees on the thumbprint of Figure 4\'s jwk')

  t.equal(accessTokenHash(RFC_ACCESS_TOKEN), RFC_ATH, 'Figure 14 ath of the Figure 13 token')
  const resource = { method: 'GET', htu: 'https://resource.example.org/protectedresource', nowMs: at(1562262618), maxAgeSeconds: 300 }
  t.same(await verifyDpopProof(RFC_FIGURE_13, { ...resource, accessToken: RFC_ACCESS_TOKEN }),
    { jkt: RFC_JKT, jti: 'e1j3V_bKic8-LAEB', iat: 1562262618 }, 'Figure 13 proof with its access token')
  t.ok(await verifyDpopProof(RFC_FIGURE_13, resource), 'its ath is ignored on a request without a token')
  await refused(t, verifyDpopProof(RFC_FIGURE_13, { ...resource, accessToken: `${RFC_ACCESS_TOKEN}x` }), /ath does not match/, 'another token')
  await refused(t, verifyDpopProof(RFC_FIGURE_2, { ...resource, method: 'POST', htu: 'https://server.example.com/token', accessToken: RFC_ACCESS_TOKEN }), /ath missing/, 'a token request proof with a token')

  const fig2 = { method: 'POST', htu: 'https://server.example.com/token', maxAgeSeconds: 300 }
  await refused(t, verifyDpopProof(RFC_FIGURE_2, { ...fig2, nowMs: at(1562262616 + 301) }), /too old/, 'Figure 2 five minutes later')
  await refused(t, verifyDpopProof(RFC_FIGURE_2, { ...fig2, nowMs: at(1562262616 - 301) }), /future/, 'Figure 2 five minutes before')
  await refused(t, verifyDpopProof(RFC_FIGURE_2, { ...fig2, method: 'GET', nowMs: at(1562262616) }), /htm/, 'Figure 2 on a GET')
  await refused(t, verifyDpopProof(RFC_FIGURE_2, { ...fig2, htu: 'https://server.example.com/token2', nowMs: at(1562262616) }), /htu/, 'Figure 2 elsewhere')
  const [h, p, s] = RFC_FIGURE_2.split('.') as [string, string, string]
  const flipped = `${s.slice(0, 10)}${s[10] === 'A' ? 'B' : 'A'}${s.slice(11)}`
  await refused(t, verifyDpopProof(`${h}.${p}.${flipped}`, { ...fig2, nowMs: at(1562262616) }), /signature/, 'Figure 2 with one signature character changed')
})

t.test('proofs made with jose, ES256, EdDSA and Ed25519 (RFC 9864), are accepted', async (t) => {
  t.same(DPOP_ALGS, ['ES256', 'EdDSA', 'Ed25519'], 'Ed25519: RFC 9864 name for EdDSA on Ed25519, what openid-client sends')
  for (const alg of DPOP_ALGS) {
    const s = await signer(alg)
    const jti = randomUUID()
    const result = await verifyDpopProof(await proof(s, { claims: { jti } }), expect())
    t.same(result, { jkt: await calculateJwkThumbprint(s.jwk, 'sha256'), jti, iat: iatNow }, alg)
    // the second proof of a key takes the imported key from the cache
    t.equal((await verifyDpopProof(await proof(s), expect())).jkt, result.jkt, `${alg}, again`)
  }
  t.equal((await signer('EdDSA')).jwk.crv, 'Ed25519')
  t.not((await verifyDpopProof(await proof(await signer('ES256')), expect())).jkt,
    (await verifyDpopProof(await proof(await signer('EdDSA')), expect())).jkt, 'one thumbprint per key')
})

t.test('the header: typ, alg and jwk', async (t) => {
  const es = await signer('ES256')
  for (const typ of ['JWT', 'at+jwt', 'application/dpop+jwt', 'DPOP+JWT', undefined]) {
    await refused(t, verifyDpopProof(await proof(es, { header: { typ } }), expect()), /typ/, `typ ${String(typ)}`)
  }

  // alg none, made by hand: with no signature, and with one that is not checked by anyone
  const claims = { jti: randomUUID(), htm: 'POST', htu: HTU, iat: iatNow }
  const none = `${b64({ typ: 'dpop+jwt', alg: 'none', jwk: es.jwk })}.${b64(claims)}`
  await refused(t, verifyDpopProof(`${none}.`, expect()), /compact JWS/, 'alg none, empty signature')
  await refused(t, verifyDpopProof(`${none}.AAAA`, expect()), /alg none/, 'alg none with a signature part')
  await refused(t, verifyDpopProof(`${b64({ typ: 'dpop+jwt', jwk: es.jwk })}.${b64(claims)}.AAAA`, expect()), /alg undefined/, 'no alg')

  const secret = randomBytes(32)
  const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: es.jwk } as { alg: string }).sign(secret)
  await refused(t, verifyDpopProof(hs, expect()), /alg HS256/, 'HS256 with a public jwk')
  const hsOct = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: secret.toString('base64url') } } as { alg: string }).sign(secret)
  await refused(t, verifyDpopProof(hsOct, expect()), /alg HS256/, 'HS256 with its secret as the jwk')
  await refused(t, verifyDpopProof(await proof(await signer('RS256')), expect()), /alg RS256/, 'RS256 with its RSA jwk')

  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  const privateJwk = await exportJWK(privateKey)
  t.ok(privateJwk.d, 'the private JWK has d')
  await refused(t, verifyDpopProof(await proof({ alg: 'ES256', privateKey, jwk: privateJwk }), expect()), /private/, 'a private jwk (that verifies)')
  for (const member of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
    await refused(t, verifyDpopProof(await proof(es, { header: { jwk: { ...es.jwk, [member]: 'AAAA' } } }), expect()), /private/, `a jwk with ${member}`)
  }

  const decorated = { ...es.jwk, kid: 'k1', use: 'sig', key_ops: ['sign'], alg: 'ES256', ext: true }
  t.equal((await verifyDpopProof(await proof(es, { header: { jwk: decorated } }), expect())).jkt, await calculateJwkThumbprint(es.jwk, 'sha256'),
    'members beyond the thumbprint\'s are ignored (key_ops: sign would fail an import of the whole jwk)')
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: undefined } }), expect()), /jwk missing/, 'no jwk')
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: 'x' } }), expect()), /jwk missing/, 'a string jwk')
  const other = await generateKeyPair('ES256', { extractable: true })
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: await exportJWK(other.publicKey) } }), expect()), /signature/, 'the jwk of another key than the signer')

  const ed = await signer('EdDSA')
  await refused(t, verifyDpopProof(forged({ typ: 'dpop+jwt', alg: 'EdDSA', jwk: es.jwk }), expect()), /EdDSA needs/, 'EdDSA with a P-256 jwk')
  await refused(t, verifyDpopProof(forged({ typ: 'dpop+jwt', alg: 'ES256', jwk: ed.jwk }), expect()), /ES256 needs/, 'ES256 with an Ed25519 jwk')
  await refused(t, verifyDpopProof(await proof(ed, { header: { jwk: { ...ed.jwk, crv: 'Ed448' } } }), expect()), /EdDSA needs/, 'crv Ed448')
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: { ...es.jwk, crv: 'P-384' } } }), expect()), /ES256 needs/, 'crv P-384')
  await refused(t, verifyDpopProof(forged({ typ: 'dpop+jwt', alg: 'ES384', jwk: es.jwk }), expect()), /alg ES384/, 'ES384')
  // RFC 9864's fully specified name is accepted (and advertised) since openid-client sends it; on an Ed25519 key only.
  t.equal((await verifyDpopProof(await proof(ed, { header: { alg: 'Ed25519' } }), expect())).jkt, await calculateJwkThumbprint(ed.jwk, 'sha256'), 'alg Ed25519 on an Ed25519 key')
  await refused(t, verifyDpopProof(await proof(ed, { header: { alg: 'Ed25519', jwk: es.jwk } }), expect()), /needs an OKP Ed25519/, 'alg Ed25519 with a P-256 jwk')

  // one key, one thumbprint: a coordinate with stray low bits in its last character is refused
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const x = es.jwk.x as string
  const stray = `${x.slice(0, 42)}${alphabet[alphabet.indexOf(x.charAt(42)) + 1] as string}`
  t.same(Buffer.from(stray, 'base64url'), Buffer.from(x, 'base64url'), 'the same 32 bytes, written another way')
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: { ...es.jwk, x: stray } } }), expect()), /jwk x/, 'a non-canonical x')
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: { ...es.jwk, y: `${es.jwk.y as string}A` } } }), expect()), /jwk y/, 'a 33-byte y')
  const offCurve = { kty: 'EC', crv: 'P-256', x: Buffer.alloc(32, 1).toString('base64url'), y: Buffer.alloc(32, 2).toString('base64url') }
  await refused(t, verifyDpopProof(await proof(es, { header: { jwk: offCurve } }), expect()), /not a valid public key/, 'a point off the curve')

  await refused(t, verifyDpopProof(forged({ typ: 'dpop+jwt', alg: 'ES256', jwk: es.jwk, crit: ['b64'], b64: false }), expect()), /crit/, 'an unencoded payload (crit b64)')
})

t.test('the claims: htm, htu, iat, jti, ath', async (t) => {
  const s = await signer('ES256')
  await refused(t, verifyDpopProof(await proof(s), expect({ method: 'GET' })), /htm/, 'POST proof on a GET')
  await refused(t, verifyDpopProof(await proof(s, { claims: { htm: 'post' } }), expect()), /htm/, 'htm compared exactly')

  for (const htu of ['https://api.example.com/api/v1/messages/x', 'https://api.example.com/api/v1', 'http://api.example.com/api/v1/messages',
    'https://api.example.com:8443/api/v1/messages', 'https://other.example.com/api/v1/messages', 'https://api.example.com/api/v1/Messages',
    'https://api.example.com/api/v1/messages/', '/api/v1/messages', 'api.example.com/api/v1/messages']) {
    await refused(t, verifyDpopProof(await proof(s, { claims: { htu } }), expect()), /htu/, `htu ${htu}`)
  }
  t.ok(await verifyDpopProof(await proof(s, { claims: { htu: `${HTU}?page=2#top` } }), expect()), 'the proof\'s query and fragment are ignored')
  t.ok(await verifyDpopProof(await proof(s), expect({ htu: `${HTU}?cursor=abc` })), 'so is the request\'s')
  t.ok(await verifyDpopProof(await proof(s, { claims: { htu: 'HTTPS://Example.COM:443/a/../b' } }), expect({ htu: 'https://example.com/b' })), 'normalized before comparing')
  t.ok(await verifyDpopProof(await proof(s, { claims: { htu: 'https://example.com/%7euser/a%3ab' } }), expect({ htu: 'https://example.com/~user/a%3Ab' })), '%7e is ~, %3a is %3A')
  await refused(t, verifyDpopProof(await proof(s), expect({ htu: 'not a url' })), /request URL/, 'a server URL that is not one')

  for (const offset of [-300, 0, 300, 0.5]) {
    t.ok(await verifyDpopProof(await proof(s, { claims: { iat: iatNow + offset } }), expect()), `iat ${offset} s from now`)
  }
  await refused(t, verifyDpopProof(await proof(s, { claims: { iat: iatNow - 301 } }), expect()), /too old/, 'iat 301 s old')
  await refused(t, verifyDpopProof(await proof(s, { claims: { iat: iatNow + 301 } }), expect()), /future/, 'iat 301 s ahead')
  await refused(t, verifyDpopProof(await proof(s, { claims: { iat: String(iatNow) } }), expect()), /iat/, 'iat as a string')
  await refused(t, verifyDpopProof(await proof(s, { claims: { iat: NOW } }), expect()), /future/, 'iat in milliseconds')

  for (const claim of ['jti', 'htm', 'htu', 'iat']) {
    await refused(t, verifyDpopProof(await proof(s, { drop: [claim] }), expect()), new RegExp(`${claim} missing`), `no ${claim}`)
  }
  await refused(t, verifyDpopProof(await proof(s, { claims: { jti: '' } }), expect()), /jti/, 'an empty jti')
  await refused(t, verifyDpopProof(await proof(s, { claims: { jti: 'x'.repeat(257) } }), expect()), /jti/, 'a 257-char jti')
  await refused(t, verifyDpopProof(await proof(s, { claims: { jti: 42 } }), expect()), /jti/, 'a number jti')
  t.ok(await verifyDpopProof(await proof(s, { claims: { jti: 'x'.repeat(256) } }), expect()), 'a 256-char jti')

  const token = 'at-' + randomBytes(16).toString('base64url')
  const withToken = expect({ accessToken: token })
  t.ok(await verifyDpopProof(await proof(s, { claims: { ath: accessTokenHash(token) } }), withToken), 'ath of the token')
  await refused(t, verifyDpopProof(await proof(s), withToken), /ath missing/, 'no ath with a token')
  await refused(t, verifyDpopProof(await proof(s, { claims: { ath: accessTokenHash(`${token}x`) } }), withToken), /ath does not match/, 'ath of another token')
  await refused(t, verifyDpopProof(await proof(s, { claims: { ath: token } }), withToken), /ath does not match/, 'the token itself as ath')
  t.ok(await verifyDpopProof(await proof(s, { claims: { ath: accessTokenHash(token) } }), expect()), 'ath on a token request: ignored')
})

t.test('what is not one compact JWT', async (t) => {
  const s = await signer('ES256')
  const good = await proof(s)
  const [h, p, sig] = good.split('.') as [string, string, string]
  const cases: Array<[string, string]> = [
    ['', 'empty'],
    ['garbage', 'a word'],
    ['a.b.c', 'three parts of junk'],
    [`${h}.${p}`, 'two parts'],
    [`${good}.${sig}`, 'four parts'],
    [`${h}..${sig}`, 'an empty payload'],
    [`${good}, ${good}`, 'two headers joined'],
    [` ${good}`, 'a leading space'],
    [`${h}.${p}.${sig}=`, 'padding'],
    [`${b64([1])}.${p}.${sig}`, 'an array header'],
    [`${h}.${b64('x')}.${sig}`, 'a string payload'],
    [`${Buffer.from('{"typ":').toString('base64url')}.${p}.${sig}`, 'a broken header'],
    [`${h}.${Buffer.from(JSON.stringify({ pad: 'x'.repeat(6200), jti: 'j', htm: 'POST', htu: HTU, iat: iatNow })).toString('base64url')}.${sig}`, 'over 8 KiB']
  ]
  t.ok((cases.at(-1) as [string, string])[0].length > 8192)
  for (const [value, what] of cases) await refused(t, verifyDpopProof(value, expect()), /./, what)
  await refused(t, verifyDpopProof(undefined as unknown as string, expect()), /not a JWT/, 'no header value')
  t.ok(await verifyDpopProof(good, expect()), 'the control')
})

t.test('normalizeHtu: RFC 3986 §6.2.2 and §6.2.3, without query and fragment', async (t) => {
  const same: Array<[string, string]> = [
    ['HTTPS://Example.COM:443/a/../b', 'https://example.com/b'],
    ['https://example.com', 'https://example.com/'],
    ['http://example.com:/', 'http://example.com/'],
    ['http://example.com:80/', 'http://example.com/'],
    ['http://example.com:443/', 'http://example.com:443/'],
    ['https://example.com:80/', 'https://example.com:80/'],
    ['https://example.com/a/./b/../c/', 'https://example.com/a/c/'],
    ['https://example.com/a/%2e%2E/b', 'https://example.com/b'],
    ['https://example.com/%7euser', 'https://example.com/~user'],
    ['https://example.com/%7Euser', 'https://example.com/~user'],
    ['https://example.com/%41%2d%5f%2E%30', 'https://example.com/A-_.0'],
    ['https://example.com/a%2fb%3a%c3%a9', 'https://example.com/a%2Fb%3A%C3%A9'],
    ['https://example.com/p?q=1#f', 'https://example.com/p'],
    ['https://example.com?q', 'https://example.com/'],
    ['https://example.com/p?q=a b|{}', 'https://example.com/p'],
    ['https://[2001:DB8::0:1]:443/x', 'https://[2001:db8::1]/x'],
    ['https://EXAMPLE.com./x', 'https://example.com./x']
  ]
  for (const [input, normal] of same) t.equal(normalizeHtu(input), normal, input)
  for (const input of ['', '/token', 'example.com/token', 'ftp://example.com/', 'https:example.com/', 'https:///example.com/',
    'https://user:pw@example.com/', 'https://user@example.com/', 'https://example.com/a b', 'https://example.com\\a',
    'https://example.com/%zz', 'https://example.com/%4', 'https://example.com:99999/', 'https://exa mple.com/', 'https://example.com/é',
    'mailto:a@example.com', 'urn:x:y']) {
    t.equal(normalizeHtu(input), null, `not an absolute http(s) URI: ${JSON.stringify(input)}`)
  }
})
