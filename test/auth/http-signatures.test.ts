import { createHash, createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseDictionary, type InnerList } from 'structured-headers'
import t, { type Test } from 'tap'
import { jwkThumbprint, publicSigningJwk, type PrivateSigningJwk, type PublicSigningJwk } from '../../src/auth/jwk.js'
import { signatureBase, type HttpMessage } from '../../src/auth/http-signatures/signature-base.js'
import { generateSigningKey, signBase, signRequest } from '../../src/auth/http-signatures/sign.js'
import {
  acceptSignatureHeader,
  MAX_COMPONENTS,
  readSignature,
  SignatureError,
  verifyRequestSignature,
  verifyWithJwk,
  type VerifyOptions
} from '../../src/auth/http-signatures/verify.js'
import { signedFetch } from '../../src/client/signed-fetch.js'

// Test vectors: RFC 9421, copied from the text of the RFC as published (the source of
// record, archive/draft-ietf-httpbis-message-signatures.md of httpwg/http-extensions at
// "Digest and Signatures published as RFCs"). RFC 8792 '\' line wrapping is undone: each
// wrapped line continues, without its leading spaces, where the '\' was.

// RFC 9421 Appendix B.1.3: test-key-ecc-p256
const ECC_P256_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----`
const ECC_P256_PRIVATE_PEM = `-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIFKbhfNZfpDsW43+0+JjUr9K+bTeuxopu653+hBaXGA7oAoGCCqGSM49
AwEHoUQDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lfw0EkjqF7xB4FivAxzic30tMM
4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END EC PRIVATE KEY-----`

// RFC 9421 Appendix B.1.4: test-key-ed25519
const ED25519_PUBLIC_PEM = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----`
const ED25519_PRIVATE_PEM = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----`

const publicJwkOf = (pem: string): PublicSigningJwk => publicSigningJwk(createPublicKey(pem).export({ format: 'jwk' }))
const privateJwkOf = (pem: string): PrivateSigningJwk => createPrivateKey(pem).export({ format: 'jwk' }) as PrivateSigningJwk
const RFC_P256 = publicJwkOf(ECC_P256_PUBLIC_PEM)
const RFC_ED25519 = publicJwkOf(ED25519_PUBLIC_PEM)

// RFC 9421 Appendix B.2: the test-request message (its scheme is not given: https here)
const REQUEST_DIGEST = 'sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:'
function testRequest (headers: Record<string, string | string[]> = {}): HttpMessage {
  return {
    method: 'POST',
    targetUri: 'https://example.com/foo?param=Value&Pet=dog',
    headers: {
      host: 'example.com',
      date: 'Tue, 20 Apr 2021 02:07:55 GMT',
      'content-type': 'application/json',
      'content-digest': REQUEST_DIGEST,
      'content-length': '18',
      ...headers
    }
  }
}

/** The Inner List of a Signature-Input member, e.g. `("@method");created=1`. */
function innerList (text: string): InnerList {
  return parseDictionary(`x=${text}`).get('x') as InnerList
}

t.test('the RFC 9421 example keys', async (t) => {
  // B.1.3 and B.1.4 also give the keys as JWK: the PEM keys convert to exactly those.
  t.same(RFC_P256, { kty: 'EC', crv: 'P-256', x: 'qIVYZVLCrPZHGHjP17CTW0_-D9Lfw0EkjqF7xB4FivA', y: 'Mc4nN9LTDOBhfoUeg8Ye9WedFRhnZXZJA12Qp0zZ6F0' })
  t.same(RFC_ED25519, { kty: 'OKP', crv: 'Ed25519', x: 'JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs' })
  t.equal(privateJwkOf(ECC_P256_PRIVATE_PEM).d, 'UpuF81l-kOxbjf7T4mNSv0r5tN67Gim7rnf6EFpcYDs')
  t.equal(privateJwkOf(ED25519_PRIVATE_PEM).d, 'n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU')
})

t.test('RFC 9421 B.2.6: a request signed with ed25519', async (t) => {
  const message = testRequest({
    'signature-input': 'sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"',
    signature: 'sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:'
  })
  const expectedBase = [
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@method": POST',
    '"@path": /foo',
    '"@authority": example.com',
    '"content-type": application/json',
    '"content-length": 18',
    '"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"'
  ].join('\n')
  const parsed = readSignature(message, 'sig-b26')
  t.equal(parsed.base, expectedBase, 'the signature base is the RFC\'s')
  t.same(parsed.components, ['date', '@method', '@path', '@authority', 'content-type', 'content-length'])
  t.same(parsed.params, { created: 1618884473, keyid: 'test-key-ed25519' })
  t.ok(verifyWithJwk(parsed.base, parsed.signature, RFC_ED25519), 'the RFC\'s signature verifies with the RFC\'s key')
  t.ok(verifyWithJwk(parsed.base, parsed.signature, RFC_ED25519, 'ed25519'), 'and with alg="ed25519"')
  t.notOk(verifyWithJwk(parsed.base, parsed.signature, RFC_ED25519, 'ecdsa-p256-sha256'), 'not with another alg')
  t.notOk(verifyWithJwk(parsed.base.replace('POST', 'PUT'), parsed.signature, RFC_ED25519), 'nor over another base')
  // Ed25519 is deterministic: our signer gives the RFC's bytes.
  t.equal(signBase(expectedBase, privateJwkOf(ED25519_PRIVATE_PEM)).toString('base64'), parsed.signature.toString('base64'))
})

t.test('RFC 9421 B.2.4: a response signed with ecdsa-p256-sha256', async (t) => {
  // B.2's test-response shows another Content-Digest value than B.2.4's signature base; the
  // base's value is the digest of the response's content (httpwg/http-extensions#2669), and
  // the one the signature is over.
  const message: HttpMessage = {
    status: 200,
    headers: {
      date: 'Tue, 20 Apr 2021 02:07:56 GMT',
      'content-type': 'application/json',
      'content-digest': 'sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:',
      'content-length': '23',
      'signature-input': 'sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"',
      signature: 'sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:'
    }
  }
  const parsed = readSignature(message, 'sig-b24')
  t.equal(parsed.base, [
    '"@status": 200',
    '"content-type": application/json',
    '"content-digest": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:',
    '"content-length": 23',
    '"@signature-params": ("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"'
  ].join('\n'))
  t.equal(createHash('sha512').update('{"message": "good dog"}').digest('base64'), 'mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==')
  t.equal(parsed.signature.length, 64, 'r||s')
  t.ok(verifyWithJwk(parsed.base, parsed.signature, RFC_P256), 'the RFC\'s signature verifies with the RFC\'s key')
  t.notOk(verifyWithJwk(parsed.base, parsed.signature, RFC_ED25519), 'not with another key')
  t.notOk(verifyWithJwk(parsed.base.replace('200', '201'), parsed.signature, RFC_P256), 'not over another base')
  // ECDSA is not deterministic: what we sign with the RFC's private key verifies.
  const ours = signBase(parsed.base, privateJwkOf(ECC_P256_PRIVATE_PEM))
  t.equal(ours.length, 64)
  t.ok(verifyWithJwk(parsed.base, ours, RFC_P256))
})

t.test('RFC 9421 B.3: a request signed with ecdsa-p256-sha256 by a TLS-terminating proxy', async (t) => {
  const clientCert = ':MIIBqDCCAU6gAwIBAgIBBzAKBggqhkjOPQQDAjA6MRswGQYDVQQKDBJMZXQncyBBdXRoZW50aWNhdGUxGzAZBgNVBAMMEkxBIEludGVybWVkaWF0ZSBDQTAeFw0yMDAxMTQyMjU1MzNaFw0yMTAxMjMyMjU1MzNaMA0xCzAJBgNVBAMMAkJDMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8YnXXfaUgmnMtOXU/IncWalRhebrXmckC8vdgJ1p5Be5F/3YC8OthxM4+k1M6aEAEFcGzkJiNy6J84y7uzo9M6NyMHAwCQYDVR0TBAIwADAfBgNVHSMEGDAWgBRm3WjLa38lbEYCuiCPct0ZaSED2DAOBgNVHQ8BAf8EBAMCBsAwEwYDVR0lBAwwCgYIKwYBBQUHAwIwHQYDVR0RAQH/BBMwEYEPYmRjQGV4YW1wbGUuY29tMAoGCCqGSM49BAMCA0gAMEUCIBHda/r1vaL6G3VliL4/Di6YK0Q6bMjeSkC3dFCOOB8TAiEAx/kHSB4urmiZ0NX5r5XarmPk0wmuydBVoU4hBVZ1yhk=:'
  const message: HttpMessage = {
    method: 'POST',
    targetUri: 'https://service.internal.example/foo?param=Value&Pet=dog',
    headers: {
      host: 'service.internal.example',
      date: 'Tue, 20 Apr 2021 02:07:55 GMT',
      'content-type': 'application/json',
      'content-length': '18',
      'client-cert': clientCert,
      'signature-input': 'ttrp=("@path" "@query" "@method" "@authority" "client-cert");created=1618884473;keyid="test-key-ecc-p256"',
      signature: 'ttrp=:xVMHVpawaAC/0SbHrKRs9i8I3eOs5RtTMGCWXm/9nvZzoHsIg6Mce9315T6xoklyy0yzhD9ah4JHRwMLOgmizw==:'
    }
  }
  const parsed = readSignature(message, 'ttrp')
  t.equal(parsed.base, [
    '"@path": /foo',
    '"@query": ?param=Value&Pet=dog',
    '"@method": POST',
    '"@authority": service.internal.example',
    `"client-cert": ${clientCert}`,
    '"@signature-params": ("@path" "@query" "@method" "@authority" "client-cert");created=1618884473;keyid="test-key-ecc-p256"'
  ].join('\n'))
  t.ok(verifyWithJwk(parsed.base, parsed.signature, RFC_P256))
  // Client-Cert is an Item (RFC 9440): with sf it serializes to itself.
  t.equal(signatureBase(message, innerList('("client-cert";sf)')).split('\n')[0], `"client-cert";sf: ${clientCert}`)
})

t.test('RFC 9421 §4.3: a request signed with ecdsa-p256-sha256 (sig1 of the multiple-signatures example)', async (t) => {
  const message = testRequest({
    'signature-input': 'sig1=("@method" "@authority" "@path" "content-digest" "content-type" "content-length");created=1618884475;keyid="test-key-ecc-p256"',
    signature: 'sig1=:X5spyd6CFnAG5QnDyHfqoSNICd+BUP4LYMz2Q0JXlb//4Ijpzp+kve2w4NIyqeAuM7jTDX+sNalzA8ESSaHD3A==:'
  })
  const parsed = readSignature(message, 'sig1')
  t.ok(verifyWithJwk(parsed.base, parsed.signature, RFC_P256))
  // The proxy's message: only its Host differs, which no derived component here reads from.
  const proxied = { ...message, targetUri: 'https://origin.host.internal.example/foo?param=Value&Pet=dog' }
  t.notOk(verifyWithJwk(readSignature(proxied, 'sig1').base, parsed.signature, RFC_P256), '@authority is covered')
})

t.test('RFC 9421 B.4: transformations of a request signed with ed25519', async (t) => {
  const signatureHeaders = {
    'signature-input': 'transform=("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519"',
    signature: 'transform=:ZT1kooQsEHpZ0I1IjCqtQppOmIqlJPeo7DHR3SoMn0s5JZ1eRGS0A+vyYP9t/LXlh5QMFFQ6cpLt2m0pmj3NDA==:'
  }
  const message = (method: string, uri: string, headers: Record<string, string | string[]>): HttpMessage => ({ method, targetUri: uri, headers: { ...headers, ...signatureHeaders } })
  const verifies = (m: HttpMessage): boolean => {
    const parsed = readSignature(m, 'transform')
    return verifyWithJwk(parsed.base, parsed.signature, RFC_ED25519)
  }
  const original = message('GET', 'https://example.org/demo?name1=Value1&Name2=value2', { host: 'example.org', date: 'Fri, 15 Jul 2022 14:24:55 GMT', accept: ['application/json', '*/*'] })
  t.equal(readSignature(original, 'transform').base, [
    '"@method": GET',
    '"@path": /demo',
    '"@authority": example.org',
    '"accept": application/json, */*',
    '"@signature-params": ("@method" "@path" "@authority" "accept");created=1618884473;keyid="test-key-ed25519"'
  ].join('\n'))
  t.ok(verifies(original))
  t.ok(verifies(message('GET', 'https://example.org/demo?name1=Value1&Name2=value2&param=added', {
    host: 'example.org', date: 'Fri, 15 Jul 2022 14:24:55 GMT', accept: ['application/json', '*/*'], 'accept-language': 'en-US,en;q=0.5'
  })), 'an added query parameter and Accept-Language: still valid')
  t.ok(verifies(message('GET', 'https://example.org/demo?name1=Value1&Name2=value2', {
    host: 'example.org', referer: 'https://developer.example.org/demo', accept: 'application/json, */*'
  })), 'Date removed, Referer added, Accept on one line: still valid')
  t.notOk(verifies(message('POST', 'https://example.com/demo?name1=Value1&Name2=value2', {
    host: 'example.com', date: 'Fri, 15 Jul 2022 14:24:55 GMT', accept: ['application/json', '*/*']
  })), 'another method and authority: not valid')
  t.notOk(verifies(message('GET', 'https://example.org/demo?name1=Value1&Name2=value2', {
    host: 'example.org', date: 'Fri, 15 Jul 2022 14:24:55 GMT', accept: ['*/*', 'application/json']
  })), 'the Accept lines swapped: not valid')
})

t.test('RFC 9421 signature bases of the other examples', async (t) => {
  const base = (message: HttpMessage, list: string): string => signatureBase(message, innerList(list))
  // §2.5
  t.equal(base(testRequest(), '("@method" "@authority" "@path" "content-digest" "content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss"'), [
    '"@method": POST',
    '"@authority": example.com',
    '"@path": /foo',
    `"content-digest": ${REQUEST_DIGEST}`,
    '"content-length": 18',
    '"content-type": application/json',
    '"@signature-params": ("@method" "@authority" "@path" "content-digest" "content-length" "content-type");created=1618884473;keyid="test-key-rsa-pss"'
  ].join('\n'))
  // B.2.1
  t.equal(base(testRequest(), '();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"'),
    '"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"')
  // B.2.2
  t.equal(base(testRequest(), '("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"'), [
    '"@authority": example.com',
    `"content-digest": ${REQUEST_DIGEST}`,
    '"@query-param";name="Pet": dog',
    '"@signature-params": ("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"'
  ].join('\n'))
  // B.2.3
  t.equal(base(testRequest(), '("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"'), [
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@method": POST',
    '"@path": /foo',
    '"@query": ?param=Value&Pet=dog',
    '"@authority": example.com',
    '"content-type": application/json',
    `"content-digest": ${REQUEST_DIGEST}`,
    '"content-length": 18',
    '"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"'
  ].join('\n'))
  // B.2.5
  t.equal(base(testRequest(), '("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'), [
    '"date": Tue, 20 Apr 2021 02:07:55 GMT',
    '"@authority": example.com',
    '"content-type": application/json',
    '"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"'
  ].join('\n'))
})

/** The component lines of a base (without @signature-params), for the §2 examples. */
function lines (message: HttpMessage, list: string): string[] {
  return signatureBase(message, innerList(list)).split('\n').slice(0, -1)
}

t.test('RFC 9421 §2.1: HTTP fields', async (t) => {
  const message: HttpMessage = {
    method: 'GET',
    targetUri: 'https://www.example.com/',
    headers: {
      host: 'www.example.com',
      date: 'Tue, 20 Apr 2021 02:07:56 GMT',
      'x-ows-header': '  Leading and trailing whitespace.   ',
      'x-obs-fold-header': 'Obsolete\r\n    line folding.',
      'cache-control': ['max-age=60', '   must-revalidate'],
      'example-dict': ' a=1,    b=2;x=1;y=2,   c=(a   b   c)',
      'x-empty-header': ''
    }
  }
  t.same(lines(message, '("host" "date" "x-ows-header" "x-obs-fold-header" "cache-control" "example-dict" "x-empty-header")'), [
    '"host": www.example.com',
    '"date": Tue, 20 Apr 2021 02:07:56 GMT',
    '"x-ows-header": Leading and trailing whitespace.',
    '"x-obs-fold-header": Obsolete line folding.',
    '"cache-control": max-age=60, must-revalidate',
    '"example-dict": a=1,    b=2;x=1;y=2,   c=(a   b   c)',
    '"x-empty-header": '
  ])
  // §2.1.1
  t.same(lines(message, '("example-dict";sf)'), ['"example-dict";sf: a=1, b=2;x=1;y=2, c=(a b c)'])
  // §2.1.2
  const dict: HttpMessage = { ...message, headers: { 'example-dict': ' a=1, b=2;x=1;y=2, c=(a   b    c), d' } }
  t.same(lines(dict, '("example-dict";key="a" "example-dict";key="d" "example-dict";key="b" "example-dict";key="c")'), [
    '"example-dict";key="a": 1',
    '"example-dict";key="d": ?1',
    '"example-dict";key="b": 2;x=1;y=2',
    '"example-dict";key="c": (a b c)'
  ])
  // §2.1.3
  t.same(lines({ ...message, headers: { 'example-header': ['value, with, lots', 'of, commas'] } }, '("example-header" "example-header";bs)'), [
    '"example-header": value, with, lots, of, commas',
    '"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHM=:, :b2YsIGNvbW1hcw==:'
  ])
  t.same(lines({ ...message, headers: { 'example-header': 'value, with, lots, of, commas' } }, '("example-header";bs)'), [
    '"example-header";bs: :dmFsdWUsIHdpdGgsIGxvdHMsIG9mLCBjb21tYXM=:'
  ])
  // Content-Digest is a Dictionary: sf and key apply.
  t.same(lines(testRequest(), '("content-digest";key="sha-512")'), ['"content-digest";key="sha-512": :WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:'])
})

t.test('RFC 9421 §2.2: derived components', async (t) => {
  const request = (target: string, method = 'POST'): HttpMessage => ({ method, targetUri: target, headers: {} })
  t.same(lines(request('https://www.example.com/path?param=value'), '("@method" "@target-uri" "@authority" "@scheme" "@request-target" "@path" "@query")'), [
    '"@method": POST',
    '"@target-uri": https://www.example.com/path?param=value',
    '"@authority": www.example.com',
    '"@scheme": https',
    '"@request-target": /path?param=value',
    '"@path": /path',
    '"@query": ?param=value'
  ])
  t.same(lines(request('http://www.example.com/path?param=value'), '("@scheme")'), ['"@scheme": http'])
  t.same(lines(request('https://www.example.com/path?param=value&foo=bar&baz=bat%2Dman', 'GET'), '("@query")'), ['"@query": ?param=value&foo=bar&baz=bat%2Dman'])
  t.same(lines(request('https://www.example.com/path?queryString'), '("@query")'), ['"@query": ?queryString'])
  t.same(lines(request('https://www.example.com/path'), '("@query" "@request-target")'), ['"@query": ?', '"@request-target": /path'], 'no query: a lone "?"')
  t.same(lines(request('https://WWW.Example.COM:443'), '("@authority" "@path")'), ['"@authority": www.example.com', '"@path": /'], 'lowercased, default port dropped, empty path is "/"')
  t.same(lines(request('http://www.example.com:8080/'), '("@authority")'), ['"@authority": www.example.com:8080'])
  t.same(lines(request('https://www.example.com/path?param=value&foo=bar&baz=batman&qux=', 'GET'), '("@query-param";name="baz" "@query-param";name="qux" "@query-param";name="param")'), [
    '"@query-param";name="baz": batman',
    '"@query-param";name="qux": ',
    '"@query-param";name="param": value'
  ])
  t.same(lines(request('https://www.example.com/parameters?var=this%20is%20a%20big%0Amultiline%20value&bar=with+plus+whitespace&fa%C3%A7ade%22%3A%20=something', 'GET'),
    '("@query-param";name="var" "@query-param";name="bar" "@query-param";name="fa%C3%A7ade%22%3A%20")'), [
    '"@query-param";name="var": this%20is%20a%20big%0Amultiline%20value',
    '"@query-param";name="bar": with%20plus%20whitespace',
    '"@query-param";name="fa%C3%A7ade%22%3A%20": something'
  ])
  t.same(lines({ status: 200, headers: {} }, '("@status")'), ['"@status": 200'])
})

t.test('signature bases that cannot be built', async (t) => {
  const refuses = (message: HttpMessage, list: string, reason: RegExp, what: string): void => {
    let err: unknown = 'built'
    try {
      signatureBase(message, innerList(list))
    } catch (thrown) {
      err = thrown
    }
    isRefusal(t, err, reason, what)
  }
  const request = testRequest({ 'x-nl': 'a\nb', 'x-utf8': 'caf\u00e9' })
  refuses(request, '("@method" "@method")', /twice/, 'a component listed twice')
  refuses(request, '("content-digest";key="sha-512";sf "content-digest";sf;key="sha-512")', /twice/, 'the same parameters in another order')
  refuses(request, '("x-missing")', /missing/, 'a missing field')
  refuses(request, '("@nonsense")', /unknown derived/, 'an unknown derived component')
  refuses(request, '("@status")', /response/, '@status of a request')
  refuses({ status: 200, headers: {} }, '("@method")', /request/, '@method of a response')
  refuses({ status: 200, headers: {} }, '("@path")', /request/, '@path of a response')
  refuses(request, '("@method";req)', /req/, 'req')
  refuses(request, '("content-type";tr)', /tr/, 'tr')
  refuses(request, '("content-type";foo)', /unknown parameter/, 'an unknown parameter')
  refuses(request, '("@path";name="x")', /unknown parameter/, 'a parameter on a derived component without one')
  refuses(request, '("content-type";sf)', /structured type/, 'sf on a field of unknown type')
  refuses(request, '("content-type";key="a")', /structured type/, 'key on a field of unknown type')
  refuses(request, '("content-digest";key="sha-256")', /no member/, 'a missing dictionary member')
  refuses(testRequest({ 'content-digest': 'sha-512=(' }), '("content-digest";sf)', /not a valid structured field/, 'a malformed structured field')
  refuses(request, '("content-digest";bs;sf)', /bs cannot/, 'bs with sf')
  refuses(request, '("content-digest";sf=?0)', /true Boolean/, 'sf=?0')
  refuses(request, '("@query-param";name="nope")', /missing/, 'a missing query parameter')
  refuses({ ...request, targetUri: 'https://example.com/?a=1&a=2' }, '("@query-param";name="a")', /more than once/, 'a repeated query parameter')
  refuses(request, '("@query-param")', /name/, '@query-param without a name')
  refuses(request, '("x-nl")', /ASCII/, 'a newline in a value')
  refuses(request, '("x-utf8")', /ASCII/, 'non-ASCII in a value')
  refuses(request, '("Content-Type")', /lowercase/, 'an uppercase field name')
  refuses(request, '(content-type)', /not a String/, 'a Token for a component')
  refuses({ method: 'GET', headers: {} }, '("@path")', /target URI/, 'no target URI')
  refuses({ method: 'GET', targetUri: '/relative', headers: {} }, '("@path")', /target URI/, 'a relative target URI')
})

// --- verifyRequestSignature: the server's policy -------------------------------------------

const NOW = 1_700_000_000
const MAX_AGE = 300
const ed = generateSigningKey('ed25519')
const p256 = generateSigningKey('p-256')
const other = generateSigningKey('ed25519')
const keys = new Map([[ed.keyid, ed.publicJwk], [p256.keyid, p256.publicJwk]])
const URL_WITH_QUERY = 'https://missive.example/api/v1/messages?limit=5'
const BODY = '{"content":"hello"}'

function options (overrides: Partial<VerifyOptions> = {}): VerifyOptions {
  return { label: 'sig1', keyFor: (keyid) => keys.get(keyid) ?? null, nowMs: NOW * 1000 + 400, maxAgeSeconds: MAX_AGE, hasBody: true, ...overrides }
}

/** A request with a body and its signature headers, as a server sees it. */
function signedPost (sign: Parameters<typeof signRequest>[2] = {}, key: { privateJwk: PrivateSigningJwk, keyid: string } = ed): HttpMessage {
  const headers = { 'content-type': 'application/json' }
  const added = signRequest({ method: 'POST', url: URL_WITH_QUERY, headers, body: BODY }, { jwk: key.privateJwk }, { created: NOW, nonce: 'n-1', ...sign })
  return { method: 'POST', targetUri: URL_WITH_QUERY, headers: { ...headers, ...added } }
}

/** Signs `message` (correctly) for the Signature-Input member `input`: whatever fails then is policy. */
function resign (message: HttpMessage, input: string, key: PrivateSigningJwk = ed.privateJwk): HttpMessage {
  const headers = { ...message.headers, 'signature-input': `sig1=${input}` }
  const signature = signBase(signatureBase({ ...message, headers }, innerList(input)), key)
  return { ...message, headers: { ...headers, signature: `sig1=:${signature.toString('base64')}:` } }
}

/** A SignatureError whose reason matches: a refusal for that reason, and not some other. */
function isRefusal (t: Test, err: unknown, reason: RegExp, what: string): void {
  t.ok(err instanceof SignatureError && reason.test(err.reason), `${what} (${err instanceof SignatureError ? err.reason : String(err)})`)
}

async function refused (t: Test, message: HttpMessage, reason: RegExp, what: string, opts: Partial<VerifyOptions> = {}): Promise<void> {
  isRefusal(t, await verifyRequestSignature(message, options(opts)).then(() => 'accepted', (err: unknown) => err), reason, what)
}

t.test('an independent signer: a base written by hand, signed with Node crypto, is accepted', async (t) => {
  const digest = createHash('sha256').update(BODY).digest('base64')
  const input = `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="hand-made"`
  const base = `"@method": POST\n"@target-uri": ${URL_WITH_QUERY}\n"content-digest": sha-256=:${digest}:\n"@signature-params": ${input}`
  const signature = cryptoSign(null, Buffer.from(base), createPrivateKey({ key: ed.privateJwk, format: 'jwk' }))
  const message: HttpMessage = {
    method: 'POST',
    targetUri: URL_WITH_QUERY,
    headers: { 'content-digest': `sha-256=:${digest}:`, 'signature-input': `sig1=${input}`, signature: `sig1=:${signature.toString('base64')}:` }
  }
  t.same(await verifyRequestSignature(message, options()), { keyid: ed.keyid, nonce: 'hand-made', created: NOW, expires: null })

  // The same with P-256, as r||s
  const p256Input = `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${p256.keyid}";nonce="hand-made-2"`
  const p256Base = `"@method": POST\n"@target-uri": ${URL_WITH_QUERY}\n"content-digest": sha-256=:${digest}:\n"@signature-params": ${p256Input}`
  const p256Signature = cryptoSign('sha256', Buffer.from(p256Base), { key: createPrivateKey({ key: p256.privateJwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' })
  const p256Message = { ...message, headers: { ...message.headers, 'signature-input': `sig1=${p256Input}`, signature: `sig1=:${p256Signature.toString('base64')}:` } }
  t.same(await verifyRequestSignature(p256Message, options()), { keyid: p256.keyid, nonce: 'hand-made-2', created: NOW, expires: null })

  // ECDSA in DER (what crypto.sign gives by default) is not RFC 9421's encoding.
  const der = cryptoSign('sha256', Buffer.from(p256Base), createPrivateKey({ key: p256.privateJwk, format: 'jwk' }))
  await refused(t, { ...p256Message, headers: { ...p256Message.headers, signature: `sig1=:${der.toString('base64')}:` } }, /does not verify/, 'a DER signature')
})

t.test('an independent verifier: signRequest\'s headers check out against a base written by hand', async (t) => {
  for (const key of [ed, p256]) {
    const added = signRequest({ method: 'post', url: URL_WITH_QUERY + '#fragment', headers: { 'Content-Type': 'application/json' }, body: BODY }, { jwk: key.privateJwk }, { created: NOW })
    t.same(Object.keys(added).sort(), ['content-digest', 'signature', 'signature-input'])
    t.equal(added['content-digest'], `sha-256=:${createHash('sha256').update(BODY).digest('base64')}:`)
    const input = /^sig1=(\("@method" "@target-uri" "content-digest"\);created=(\d+);keyid="([^"]+)";nonce="([A-Za-z0-9_-]{22})")$/.exec(added['signature-input']!)
    t.ok(input, added['signature-input']!)
    t.equal(input![2], String(NOW))
    t.equal(input![3], key.keyid, 'keyid: the thumbprint of the public key')
    const signature = /^sig1=:([A-Za-z0-9+/=]+):$/.exec(added.signature!)
    const base = `"@method": POST\n"@target-uri": ${URL_WITH_QUERY}\n"content-digest": ${added['content-digest']}\n"@signature-params": ${input![1]}`
    const publicKey: KeyObject = createPublicKey({ key: key.publicJwk, format: 'jwk' })
    const bytes = Buffer.from(signature![1]!, 'base64')
    t.equal(bytes.length, 64)
    t.ok(key.publicJwk.kty === 'OKP'
      ? cryptoVerify(null, Buffer.from(base), publicKey, bytes)
      : cryptoVerify('sha256', Buffer.from(base), { key: publicKey, dsaEncoding: 'ieee-p1363' }, bytes), `${key.publicJwk.kty} signature verifies`)
  }
})

t.test('signRequest and verifyRequestSignature agree', async (t) => {
  for (const key of [ed, p256]) {
    t.same(await verifyRequestSignature(signedPost({}, key), options()), { keyid: key.keyid, nonce: 'n-1', created: NOW, expires: null })
  }
  t.same(await verifyRequestSignature(signedPost({ expires: NOW + 60 }), options()), { keyid: ed.keyid, nonce: 'n-1', created: NOW, expires: NOW + 60 })
  // Other components, read from the headers given to signRequest
  const covered = signedPost({ components: ['@method', '@target-uri', 'content-digest', 'content-type', '@query'] })
  t.match(covered.headers['signature-input'], /^sig1=\("@method" "@target-uri" "content-digest" "content-type" "@query"\)/)
  await t.resolves(verifyRequestSignature(covered, options()))
  // Without a body: no content-digest
  const get = signRequest({ method: 'GET', url: URL_WITH_QUERY }, { jwk: ed.privateJwk, keyid: 'my-key' }, { created: NOW, nonce: 'n-2', label: 'sig1' })
  t.notOk('content-digest' in get)
  t.match(get['signature-input'], /^sig1=\("@method" "@target-uri"\);created=\d+;keyid="my-key";nonce="n-2"$/)
  t.same(await verifyRequestSignature({ method: 'GET', targetUri: URL_WITH_QUERY, headers: get }, options({ hasBody: false, keyFor: (id) => id === 'my-key' ? ed.publicJwk : null })),
    { keyid: 'my-key', nonce: 'n-2', created: NOW, expires: null })
  // Defaults: created is now, the nonce is random
  const fresh = signRequest({ method: 'GET', url: URL_WITH_QUERY }, { jwk: ed.privateJwk })
  const first = readSignature({ method: 'GET', targetUri: URL_WITH_QUERY, headers: fresh }, 'sig1')
  t.ok(Math.abs(first.params.created! - Date.now() / 1000) < 5)
  t.not(first.params.nonce, readSignature({ method: 'GET', targetUri: URL_WITH_QUERY, headers: signRequest({ method: 'GET', url: URL_WITH_QUERY }, { jwk: ed.privateJwk }) }, 'sig1').params.nonce)
})

t.test('verifyRequestSignature refuses', async (t) => {
  const good = signedPost()
  const without = (name: string): HttpMessage => ({ ...good, headers: { ...good.headers, [name]: undefined } })
  const withHeader = (name: string, value: string | string[]): HttpMessage => ({ ...good, headers: { ...good.headers, [name]: value } })
  const baseInput = `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`

  await t.resolves(verifyRequestSignature(good, options()), 'the control')
  await t.resolves(verifyRequestSignature(resign(good, baseInput), options()), 'the control, re-signed by the test helper')

  await refused(t, without('signature-input'), /signature-input is missing/, 'no Signature-Input')
  await refused(t, without('signature'), /signature is missing/, 'no Signature')
  await refused(t, withHeader('signature-input', []), /signature-input is missing/, 'an empty Signature-Input array')
  await refused(t, { ...good, method: undefined }, /not a request/, 'not a request')
  await refused(t, good, /signature-input has no sig2/, 'another label asked for', { label: 'sig2' })
  await refused(t, withHeader('signature-input', good.headers['signature-input']!.toString().replace('sig1=', 'sig2=')), /signature-input has no sig1/, 'the label missing in Signature-Input')
  await refused(t, withHeader('signature', good.headers.signature!.toString().replace('sig1=', 'sig2=')), /signature has no sig1/, 'the label missing in Signature')

  await refused(t, resign(good, `("@method" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), /@target-uri is not covered/, 'no @target-uri')
  await refused(t, resign(good, `("@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), /@method is not covered/, 'no @method')
  await refused(t, resign(good, `("@method" "@target-uri");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), /content-digest is not covered/, 'a body without content-digest')
  await t.resolves(verifyRequestSignature(resign(good, `("@method" "@target-uri");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), options({ hasBody: false })), 'no body: no content-digest needed')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest";key="sha-256");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), /content-digest is not covered/, 'content-digest only with a parameter')

  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");keyid="${ed.keyid}";nonce="n-1"`), /created is missing/, 'no created')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};nonce="n-1"`), /keyid is missing/, 'no keyid')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}"`), /nonce is missing/, 'no nonce')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce=""`), /nonce is missing/, 'an empty nonce')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="${'n'.repeat(129)}"`), /nonce/, 'a nonce of 129 characters')
  await t.resolves(verifyRequestSignature(resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="${'n'.repeat(128)}"`), options()), 'a nonce of 128 characters')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="a b"`), /nonce/, 'a nonce with a space')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created="${NOW}";keyid="${ed.keyid}";nonce="n-1"`), /created is not a non-negative Integer/, 'created as a String')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW}.5;keyid="${ed.keyid}";nonce="n-1"`), /created is not a non-negative Integer/, 'created as a Decimal')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid=abc;nonce="n-1"`), /keyid is not a String/, 'keyid as a Token')
  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce=1`), /nonce is not a String/, 'nonce as an Integer')

  await t.resolves(verifyRequestSignature(signedPost({ created: NOW - MAX_AGE }), options()), 'created maxAgeSeconds ago')
  await refused(t, signedPost({ created: NOW - MAX_AGE - 1 }), /too old/, 'created a second too long ago')
  await t.resolves(verifyRequestSignature(signedPost({ created: NOW + MAX_AGE }), options()), 'created maxAgeSeconds ahead')
  await refused(t, signedPost({ created: NOW + MAX_AGE + 1 }), /future/, 'created a second too far ahead')
  await refused(t, signedPost({ created: NOW - 10, expires: NOW - 1 }), /expired/, 'expired')
  await t.resolves(verifyRequestSignature(signedPost({ expires: NOW }), options()), 'expiring this second')
  await refused(t, signedPost({ expires: NOW - 5 }), /expired/, 'expiring before it was created')

  await refused(t, good, /unknown keyid/, 'an unknown keyid', { keyFor: () => null })
  await refused(t, good, /unknown keyid/, 'an unknown keyid, asynchronously', { keyFor: async () => await Promise.resolve(null) })
  await t.rejects(verifyRequestSignature(good, options({ keyFor: () => { throw new Error('store down') } })), /store down/, 'a failing key lookup is not a refusal')
  await refused(t, good, /does not verify/, 'a signature by another key', { keyFor: () => other.publicJwk })
  await refused(t, good, /does not verify/, 'a P-256 key for an Ed25519 signature', { keyFor: () => p256.publicJwk })

  await refused(t, { ...good, method: 'PUT' }, /does not verify/, 'the method changed')
  await refused(t, { ...good, targetUri: URL_WITH_QUERY.replace('/messages', '/keys') }, /does not verify/, 'the path changed')
  await refused(t, { ...good, targetUri: URL_WITH_QUERY.replace('limit=5', 'limit=6') }, /does not verify/, 'the query changed')
  await refused(t, { ...good, targetUri: URL_WITH_QUERY.replace('missive.example', 'evil.example') }, /does not verify/, 'the host changed')
  await refused(t, withHeader('content-digest', `sha-256=:${createHash('sha256').update('{"content":"other"}').digest('base64')}:`), /does not verify/, 'the content digest changed')
  const withType = signedPost({ components: ['@method', '@target-uri', 'content-digest', 'content-type'] })
  await refused(t, { ...withType, headers: { ...withType.headers, 'content-type': 'text/plain' } }, /does not verify/, 'a covered header changed')
  await refused(t, { ...withType, headers: { ...withType.headers, 'content-type': undefined } }, /content-type field is missing/, 'a covered header removed')

  await refused(t, resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="n-1";alg="ecdsa-p256-sha256"`), /alg does not match/, 'an alg for another key type')
  await t.resolves(verifyRequestSignature(resign(good, `("@method" "@target-uri" "content-digest");created=${NOW};keyid="${ed.keyid}";nonce="n-1";alg="ed25519"`), options()), 'the matching alg')
  await refused(t, withHeader('signature-input', `sig1=("@method" "@target-uri" "content-digest" "@method");created=${NOW};keyid="${ed.keyid}";nonce="n-1"`), /twice/, 'a component listed twice')

  await refused(t, withHeader('signature-input', 'sig1=("@method" "@target-uri"'), /signature-input is not a valid Dictionary/, 'a malformed Signature-Input')
  await refused(t, withHeader('signature', 'sig1=:AAAA'), /signature is not a valid Dictionary/, 'a malformed Signature')
  await refused(t, withHeader('signature-input', 'sig1="@method"'), /not an Inner List/, 'a Signature-Input member that is not an Inner List')
  await refused(t, withHeader('signature', 'sig1="c2lnbmF0dXJl"'), /not a Byte Sequence/, 'a String signature')
  await refused(t, withHeader('signature', 'sig1=(:AAAA:)'), /not a Byte Sequence/, 'an Inner List signature')
  await refused(t, withHeader('signature', 'sig1=:AAAA:'), /does not verify/, 'a signature of the wrong length')
  await refused(t, withHeader('signature', `${good.headers.signature!.toString()}, sig1=:AAAA:`), /does not verify/, 'a second sig1 member (the last one counts)')
})

t.test('a signature among others, in repeated fields', async (t) => {
  const good = signedPost()
  const message: HttpMessage = {
    ...good,
    headers: {
      ...good.headers,
      'signature-input': ['other=("@method");created=1', good.headers['signature-input']!.toString()],
      signature: ['other=:AAAA:', good.headers.signature!.toString()]
    }
  }
  await t.resolves(verifyRequestSignature(message, options()))
})

t.test('readSignature', async (t) => {
  const message = signedPost({ expires: NOW + 60 })
  const parsed = readSignature(message, 'sig1')
  t.equal(parsed.label, 'sig1')
  t.same(parsed.components, ['@method', '@target-uri', 'content-digest'])
  t.same(parsed.params, { created: NOW, expires: NOW + 60, nonce: 'n-1', keyid: ed.keyid })
  t.equal(parsed.signature.length, 64)
  t.ok(parsed.base.endsWith(`"@signature-params": ${message.headers['signature-input']!.toString().slice('sig1='.length)}`))
  const tagged = resign(message, `("@method");created=${NOW};keyid="k";nonce="n";tag="app";alg="ed25519";other=1`)
  t.same(readSignature(tagged, 'sig1').params, { created: NOW, nonce: 'n', keyid: 'k', alg: 'ed25519', tag: 'app' }, 'unknown parameters are kept in the base, not read')
  t.throws(() => readSignature({ ...message, headers: { ...message.headers, 'signature-input': 'sig1=("@method");expires=-1' } }, 'sig1'), SignatureError)
  t.throws(() => readSignature({ ...message, headers: { ...message.headers, 'signature-input': 'sig1=("@method");tag=?1' } }, 'sig1'), SignatureError)
  t.throws(() => readSignature({ ...message, headers: { ...message.headers, 'signature-input': 'sig1=(@method)' } }, 'sig1'), SignatureError)
})

t.test('Accept-Signature (RFC 9421 §5.1)', async (t) => {
  t.equal(acceptSignatureHeader(true), 'sig1=("@method" "@target-uri" "content-digest");created;keyid;nonce')
  t.equal(acceptSignatureHeader(false), 'sig1=("@method" "@target-uri");created;keyid;nonce')
  t.equal(acceptSignatureHeader(false, 'proof'), 'proof=("@method" "@target-uri");created;keyid;nonce')
  // What it asks for is what the verifier requires: a signature of exactly these components passes.
  const wanted = parseDictionary(acceptSignatureHeader(true)).get('sig1') as InnerList
  const components = wanted[0].map(([name]) => name as string)
  await t.resolves(verifyRequestSignature(signedPost({ components }), options()))
})

t.test('generateSigningKey', async (t) => {
  for (const [kind, kty] of [['ed25519', 'OKP'], ['p-256', 'EC']] as const) {
    const key = generateSigningKey(kind)
    t.equal(key.publicJwk.kty, kty)
    t.same(publicSigningJwk(key.publicJwk), key.publicJwk, 'a valid public key of its required members only')
    t.equal(key.keyid, jwkThumbprint(key.publicJwk))
    t.ok('d' in key.privateJwk)
    t.notOk('d' in key.publicJwk)
  }
  t.equal(generateSigningKey().publicJwk.kty, 'OKP', 'Ed25519 by default')
})

t.test('signedFetch signs what fetch sends', async (t) => {
  const seen: Array<{ method: string, url: string, headers: IncomingHttpHeaders, body: string }> = []
  const server = createServer((req, res) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (chunk: string) => { body += chunk })
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      res.end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const withKey = signedFetch({ jwk: ed.privateJwk }, { apiKey: 'mk_test' })
  const withToken = signedFetch({ jwk: p256.privateJwk }, { accessToken: 'at_test' })
  t.equal((await withKey(`${origin}/api/v1/messages?x=1`, { method: 'post', headers: { 'Content-Type': 'application/json', 'Content-Digest': 'sha-256=:bogus:' }, body: BODY })).status, 200)
  t.equal((await withToken(new URL(`${origin}/api/v1/messages`))).status, 200)
  t.equal((await withKey(`${origin}/api/v1/messages/abc`, { method: 'PATCH', body: new TextEncoder().encode(BODY) })).status, 200)

  const now = Date.now()
  const check = async (i: number, hasBody: boolean): Promise<string> => {
    const request = seen[i]!
    const verified = await verifyRequestSignature({ method: request.method, targetUri: origin + request.url, headers: request.headers }, options({ nowMs: now, hasBody }))
    return verified.keyid
  }
  t.equal(seen[0]!.method, 'POST')
  t.equal(seen[0]!.headers['x-api-key'], 'mk_test')
  t.equal(seen[0]!.headers['content-digest'], `sha-256=:${createHash('sha256').update(BODY).digest('base64')}:`, 'the caller\'s Content-Digest is replaced')
  t.equal(seen[0]!.body, BODY)
  t.equal(await check(0, true), ed.keyid)
  t.equal(seen[1]!.headers.authorization, 'Bearer at_test')
  t.equal(seen[1]!.headers['content-digest'], undefined)
  t.equal(await check(1, false), p256.keyid)
  t.equal(seen[2]!.method, 'PATCH')
  t.equal(await check(2, true), ed.keyid)
})

t.test('at most MAX_COMPONENTS covered components: the base is bounded work', async (t) => {
  const params = Array.from({ length: MAX_COMPONENTS - 2 }, (_, i) => `"@query-param";name="p${i}"`)
  const url = `https://missive.example/api/v1/messages?${Array.from({ length: MAX_COMPONENTS }, (_, i) => `p${i}=${i}`).join('&')}`
  const message: HttpMessage = { method: 'GET', targetUri: url, headers: {} }
  const at = (extra: string[]): string => `("@method" "@target-uri" ${extra.join(' ')});created=${NOW};keyid="${ed.keyid}";nonce="many"`
  t.same((await verifyRequestSignature(resign(message, at(params)), options({ hasBody: false }))).nonce, 'many', `${MAX_COMPONENTS} components: accepted`)
  await refused(t, resign(message, at([...params, '"@query-param";name="p31"'])), /more than 32/, `${MAX_COMPONENTS + 1}: refused`, { hasBody: false })
})
