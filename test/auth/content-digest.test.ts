import t from 'tap'
import { contentDigestHeader, ContentDigestVerifier, digestMatches } from '../../src/auth/http-signatures/content-digest.js'

// RFC 9530 Appendix D: digests of {"hello": "world"}
const HELLO = '{"hello": "world"}'
const SHA256 = ':X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:'
const SHA512 = ':WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:'
const MD5 = ':Sd/dVLAcvNLSq16eXua5uQ==:'
const SHA1 = ':07CavjDP4u3/TungoUHJO/Wzr4c=:'

t.test('contentDigestHeader: sha-256 as RFC 9530 writes it', async (t) => {
  t.equal(contentDigestHeader(HELLO), `sha-256=${SHA256}`)
  t.equal(contentDigestHeader(new TextEncoder().encode(HELLO)), `sha-256=${SHA256}`)
  // RFC 9530 B.1: {"hello": "world"} followed by an LF
  t.equal(contentDigestHeader(HELLO + '\n'), 'sha-256=:RK/0qy18MlBSVnWgjwz6lZEWjP/lF5HF9bvEF8FabDg=:')
  // RFC 9530 B.2: no content
  t.equal(contentDigestHeader(''), 'sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:')
})

t.test('digests that match', async (t) => {
  t.ok(digestMatches(`sha-256=${SHA256}`, HELLO))
  t.ok(digestMatches(`sha-512=${SHA512}`, HELLO))
  t.ok(digestMatches(`sha-256=${SHA256}, sha-512=${SHA512}`, HELLO), 'both')
  t.ok(digestMatches(`sha-512=${SHA512},sha-256=${SHA256}`, new TextEncoder().encode(HELLO)), 'both, no space, bytes')
  t.ok(digestMatches(`md5=${MD5}, sha-256=${SHA256}`, HELLO), 'a deprecated algorithm beside is ignored')
  t.ok(digestMatches(`sha-256=${SHA256}, md5=:AAAA:, unixsum=:GQU=:`, HELLO), 'even when it is wrong')
  t.ok(digestMatches(`sha-256=${SHA256};foo=1, new-algo=?1`, HELLO), 'parameters and unknown members are ignored')
  t.ok(digestMatches('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:', ''), 'no content')
})

t.test('digests that do not match', async (t) => {
  t.notOk(digestMatches(`sha-256=${SHA256}`, HELLO + ' '), 'another body')
  t.notOk(digestMatches(`sha-256=${SHA256}, sha-512=${SHA512.replace('W', 'V')}`, HELLO), 'one of two wrong')
  t.notOk(digestMatches(`sha-512=${SHA512}`, ''), 'an empty body')
})

t.test('headers with nothing to check: parse() is null', async (t) => {
  const nothing = (header: string, what: string): void => {
    t.equal(ContentDigestVerifier.parse(header), null, what)
    t.notOk(digestMatches(header, HELLO), `${what}: never a match`)
  }
  nothing(`md5=${MD5}`, 'md5 only')
  nothing(`sha=${SHA1}`, 'sha (SHA-1) only')
  nothing('unixsum=:GQU=:, unixcksum=:7zsHAA==:, adler=:OZkGFw==:, crc32c=:Q3lHIA==:', 'only checksums')
  nothing('', 'empty')
  nothing('sha-256=X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE', 'a Token, not a Byte Sequence')
  nothing('sha-256="X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE="', 'a String')
  nothing(`sha-256=(${SHA256})`, 'an Inner List')
  nothing('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=', 'an unterminated Byte Sequence')
  nothing(`SHA-256=${SHA256}`, 'an uppercase key (not a valid Dictionary)')
  nothing(`sha-256=${SHA256},`, 'a trailing comma')
  nothing(`sha-256=${SHA512}`, 'a sha-256 of 64 bytes')
  nothing(`sha-256=${SHA256}, sha-512=?1`, 'a valid sha-256 beside a malformed sha-512')
  nothing(`sha-256 = ${SHA256}`, 'spaces around =')
})

t.test('ContentDigestVerifier checks a body as it streams', async (t) => {
  const verifier = ContentDigestVerifier.parse(`sha-256=${SHA256}, sha-512=${SHA512}`)!
  t.ok(verifier)
  const bytes = new TextEncoder().encode(HELLO)
  for (let i = 0; i < bytes.length; i += 5) verifier.update(bytes.subarray(i, i + 5))
  t.ok(verifier.matches())
  t.ok(verifier.matches(), 'the same answer again')
  t.throws(() => verifier.update(bytes), /after matches/)

  const wrong = ContentDigestVerifier.parse(`sha-256=${SHA256}`)!
  wrong.update(bytes.subarray(0, 3))
  t.notOk(wrong.matches(), 'a truncated body')
  t.notOk(wrong.matches())

  const empty = ContentDigestVerifier.parse('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:')!
  t.ok(empty.matches(), 'no update: the empty body')
})
