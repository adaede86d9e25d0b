// Every way `missive` fails: its exit code (README "The terminal client"), one line on stderr
// that starts with "missive: ", no stack trace, nothing on stdout — and, where it matters,
// that the failure cost no view and sent nothing.
import { createCipheriv, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { newLinkSecret, readTokenFor, seal } from '../../routes/web/envelope.js'
import { EXIT } from '../../src/cli/missive/errors.js'
import { createMessage } from '../helper.js'
import { closedPort, fakeServer, missive, type Run, type RunOptions, serve } from './missive-helper.js'

const KEY = 'k'.repeat(43)
const ID = 'i'.repeat(22)

/** the run failed with `code` and exactly one line on stderr matching `line` */
function failed (t: Test, run: Run, code: number, line: RegExp, name: string): void {
  t.equal(run.code, code, `${name}: exit ${code} (${run.err.trim()})`)
  t.equal(run.lines.length, 1, `${name}: one line on stderr`)
  t.match(run.last, /^missive: /)
  t.match(run.last, line, name)
  t.notMatch(run.err, /\n\s+at |Error:/, `${name}: no stack trace`)
  t.equal(run.out, '', `${name}: nothing on stdout`)
}

t.test('usage mistakes: exit 2, before any request (the server here is a closed port)', async (t) => {
  const env = { MISSIVE_URL: `http://127.0.0.1:${await closedPort()}` }
  const link = `http://127.0.0.1:1/msg/${ID}#${KEY}`
  const cases: Array<[string[], RegExp, RunOptions?]> = [
    [[], /which command\?/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['send', '--bogus'], /Unknown option '--bogus'/],
    [['send', '--passphrase', 'hunter2'], /Unknown option '--passphrase'/, { input: 'x' }],
    [['send', '--ttl', '5s'], /--ttl 5s: at least 60 seconds/],
    [['send', '--ttl', 'soon'], /--ttl "soon": give seconds/],
    [['send', '--views', '0'], /--views "0": an integer from 1 to 1000/],
    [['send', '--views', '1001'], /--views "1001"/],
    [['send', '--max-bytes', 'lots'], /--max-bytes "lots"/],
    [['send', 'a', 'b'], /send takes one FILE/],
    [['send', '--url', 'ftp://example.com'], /must be http:\/\/ or https:\/\//],
    [['send', '--url', 'not a url'], /is not a URL/],
    [['send', '--passphrase-stdin'], /--passphrase-stdin needs a FILE: stdin is the message/, { input: 'x' }],
    [['send', '--passphrase-prompt', '--passphrase-stdin', 'f'], /not both/],
    [['send', '--passphrase-prompt'], /--passphrase-prompt needs a terminal/, { input: 'x' }],
    [['read'], /read takes one LINK/],
    [['read', 'no link here'], /the link is not a URL/],
    [['read', 'https://example.com/elsewhere'], /not a Missive link/],
    [['read', `https://example.com/msg/${ID.slice(1)}#${KEY}`], /the id in the link is incomplete/],
    [['read', `https://example.com/msg/${ID}#${KEY.slice(3)}`], /the key in the link \(after #\) is incomplete: 43 characters expected, got 40/],
    [['read', '-', '--passphrase-stdin'], /read - takes the link from stdin: the passphrase cannot come from there too/, { input: `${link}\npw\n` }],
    [['read', '-'], /read -: stdin is empty/],
    [['read', '-'], /the link is not a URL/, { input: 'not a link\n' }],
    [['delete', link], /delete needs --token/],
    [['delete', link, '--token', 'short'], /the delete token is not one/],
    [['receipt'], /receipt takes one LINK/],
    [['receipt', link], /receipt needs --token TOKEN/],
    [['receipt', link, '--token', 'short'], /the delete token is not one/],
    [['receipt', link, '--token', '-'], /--token -: stdin is empty/],
    [['receipt', 'https://example.com/elsewhere', '--token', 'A'.repeat(43)], /not a Missive link/]
  ]
  // (four at a time: each is a process of its own)
  for (let i = 0; i < cases.length; i += 4) {
    const batch = cases.slice(i, i + 4)
    const runs = await Promise.all(batch.map(async ([args, , options]) => await missive(args, { env, ...options })))
    batch.forEach(([args, line], j) => { failed(t, runs[j]!, 2, line, `missive ${args.join(' ')}`) })
  }
  const help = await missive(['--help'])
  t.equal(help.code, 0)
  t.match(help.out, /^usage:\n {2}missive send/)
  t.match(help.out, /exit codes: 0 done, 1 network or server error, 2 usage, 3 not found, 4 passphrase,\n {2}5 cannot decrypt, 6 local file or input, 130 cancelled/)
  t.equal((await missive(['read', '-h'])).code, 0)
})

t.test('the server: down (1), not found (3), refusing (1), a lower size limit (6)', async (t) => {
  const down = await missive(['send', '--url', `http://127.0.0.1:${await closedPort()}`], { input: 'x' })
  failed(t, down, 1, /^missive: cannot reach http:\/\/127\.0\.0\.1:\d+: connection refused \(is the server running\?\)$/, 'server down')
  const downRead = await missive(['read', `http://127.0.0.1:${await closedPort()}/msg/${ID}#${KEY}`])
  failed(t, downRead, 1, /cannot reach/, 'server down, read')

  const served = await serve(t, { MESSAGE_MAX_BYTES: 100, MESSAGE_MAX_TTL_SECONDS: 3600, MESSAGE_DEFAULT_TTL_SECONDS: 600 })
  const env = { MISSIVE_URL: served.base }
  failed(t, await missive(['read', `${served.base}/msg/${ID}#${KEY}`]), 3, /^missive: not found: the message does not exist/, 'unknown id')
  failed(t, await missive(['delete', `${served.base}/msg/${ID}`, '--token', 'A'.repeat(43)]), 3, /^missive: not found/, 'delete, unknown id')
  failed(t, await missive(['receipt', `${served.base}/msg/${ID}`, '--token', 'A'.repeat(43)]), 3, /^missive: not found: no receipt for this message/, 'receipt, unknown id')
  failed(t, await missive(['send', '--ttl', '2h'], { input: 'x', env }), 1, /^missive: the server answered 400: /, 'a ttl over the server\'s maximum')
  failed(t, await missive(['send'], { input: 'y'.repeat(2000), env }), 6, /^missive: too large for this server: content must be at most \d+ bytes/, 'over the server\'s MESSAGE_MAX_BYTES (a 413)')
  const fits = await missive(['send', '--max-bytes', '100'], { input: 'y'.repeat(100), env })
  t.equal(fits.code, 0, `exactly the server's limit goes through encrypted: ${fits.err}`)
})

t.test('a message read with only its id, or whose key does not open it', async (t) => {
  const served = await serve(t)
  // With a read token (every message the CLI or the page makes): the id alone is not found, and burns nothing.
  const secret = newLinkSecret()
  const gated = await createMessage(served.app, { content: await seal({ text: 'x' }, secret), encrypted: true, maxViews: 1, readToken: await readTokenFor(secret) })
  failed(t, await missive(['read', `${served.base}/msg/${gated.id}`]), 3, /not found/, 'no key: no read token')
  failed(t, await missive(['read', `${served.base}/msg/${gated.id}#${newLinkSecret()}`]), 3, /not found/, 'another key: a wrong read token')
  t.equal((await missive(['read', `${served.base}/msg/${gated.id}#${secret}`])).code, 0, 'and it was not burned')
  // Without one (the first page's messages): the view is used, and the CLI says so.
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', randomBytes(32), iv)
  const content = Buffer.concat([iv, cipher.update('old', 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
  const old = await createMessage(served.app, { content, encrypted: true, maxViews: 2 })
  failed(t, await missive(['read', `${served.base}/msg/${old.id}#${KEY}`]), 5, /^missive: the key in the link does not open this message .*; this read used a view: 1 view left$/, 'a key that does not open it')
  failed(t, await missive(['read', `${served.base}/msg/${old.id}`]), 5, /^missive: the message is encrypted and the link has no key .*this read used a view: the message is gone$/, 'encrypted, and no key in the link')
})

t.test('the server answers what Missive never does: a redirect, 429, no answer, too much (1)', async (t) => {
  const link = (base: string): string => `${base}/msg/${ID}#${KEY}`
  const redirect = await fakeServer(t, (req, res) => {
    res.writeHead(302, { location: 'https://elsewhere.example/' }).end()
  })
  failed(t, await missive(['read', link(redirect)]), 1, /^missive: the server redirects to https:\/\/elsewhere\.example\/: use that address with --url$/, 'a 302 (not followed)')
  failed(t, await missive(['send'], { input: 'x', env: { MISSIVE_URL: redirect } }), 1, /the server redirects to/, 'a 302 to send')

  const limited = await fakeServer(t, (req, res) => {
    res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '42' }).end('{"statusCode":429,"message":"slow down"}')
  })
  failed(t, await missive(['read', link(limited)]), 1, /^missive: the server is rate limiting this address: retry in 42 s$/, 'a 429')
  failed(t, await missive(['send'], { input: 'x', env: { MISSIVE_URL: limited } }), 1, /rate limiting/, 'a 429 to send')
  failed(t, await missive(['receipt', link(limited), '--token', 'A'.repeat(43)]), 1, /rate limiting/, 'a 429 to receipt')
  const notAReceipt = await fakeServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"id":"x","state":"\u001b[2Jlive","views":0}')
  })
  failed(t, await missive(['receipt', link(notAReceipt), '--token', 'A'.repeat(43)]), 1, /^missive: the server answered 200: no explanation$/, 'a 200 that is not a receipt: nothing printed')

  const silent = await fakeServer(t, () => {}) // takes the request, never answers
  const started = Date.now()
  const timedOut = await missive(['read', link(silent)], { env: { MISSIVE_TEST_TIMEOUT_MS: '500' } })
  failed(t, timedOut, 1, /^missive: cannot reach http:\/\/127\.0\.0\.1:\d+: no answer within 0\.5 s$/, 'no answer: the timeout')
  t.ok(Date.now() - started < 20_000, 'MISSIVE_TEST_TIMEOUT_MS (NODE_ENV=test) shortened the 30 s')

  const big = 2 * 1024 * 1024 + 1
  const huge = await fakeServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(big) }).end('"'.padEnd(big, 'x'))
  })
  failed(t, await missive(['read', link(huge)]), 1, /^missive: the answer from the server is over 2 MiB/, 'an answer over 2 MiB, declared')
  const chunked = await fakeServer(t, (req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }) // no Content-Length: counted as it comes
    const chunk = 'x'.repeat(64 * 1024)
    let sent = 0
    const more = (): void => {
      while (sent < 40) { sent++; if (!res.write(chunk)) { res.once('drain', more); return } }
      res.end()
    }
    more()
  })
  failed(t, await missive(['send'], { input: 'x', env: { MISSIVE_URL: chunked } }), 1, /over 2 MiB/, 'an answer over 2 MiB, chunked')
  const justUnder = await fakeServer(t, (req, res) => {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ message: `bad\u001b[2J\n${'y'.repeat(2 * 1024 * 1024 - 100)}`.slice(0, 2 * 1024 * 1024 - 40) }))
  })
  const under = await missive(['send'], { input: 'x', env: { MISSIVE_URL: justUnder } })
  t.equal(under.code, 1)
  t.equal(under.lines.length, 1, 'a server\'s message with a newline stays on one line')
  t.match(under.last, /^missive: the server answered 400: bad\\u001b\[2J\\u000ayyy/, 'under 2 MiB is read; its controls shown as escapes, on stderr always')
  t.notOk(under.err.includes('\u001b'), 'no ESC reaches stderr')
})

t.test('content that is not an envelope this version opens: exit 5, the view said', async (t) => {
  const served = await serve(t)
  const secret = newLinkSecret()
  const readToken = await readTokenFor(secret)
  const malformed = await createMessage(served.app, { content: 'v1.AQ', encrypted: true, maxViews: 2, readToken })
  failed(t, await missive(['read', `${served.base}/msg/${malformed.id}#${secret}`]), 5, /^missive: the message is cut short; this read used a view: 1 view left$/, 'MALFORMED')
  const newer = await createMessage(served.app, { content: `v2.${'A'.repeat(80)}`, encrypted: true, maxViews: 1, readToken })
  failed(t, await missive(['read', `${served.base}/msg/${newer.id}#${secret}`]), 5, /^missive: this message was made by a newer version of Missive; this read used a view: the message is gone$/, 'UNSUPPORTED_VERSION')
})

t.test('the passphrase prompt: empty when sending (4), cancelled (130)', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const check = (run: Run, code: number, line: RegExp, name: string): void => {
    t.equal(run.code, code, `${name}: exit ${code} (${run.err.trim()})`)
    t.match(run.last, line, name)
    t.notMatch(run.err, /\n\s+at |Error:/, `${name}: no stack trace`)
    t.equal(run.out, '', `${name}: nothing on stdout`)
  }
  check(await missive(['send', '--passphrase-prompt'], { input: 'x', env: { ...env, MISSIVE_TEST_PASSPHRASES: '' } }), 4, /^missive: the passphrase is empty$/, 'an empty passphrase')
  check(await missive(['send', '--passphrase-prompt'], { input: 'x', env: { ...env, MISSIVE_TEST_PASSPHRASES: '\u0004' } }), 130, /^missive: cancelled$/, 'cancelled at the first prompt')
  check(await missive(['send', '--passphrase-prompt'], { input: 'x', env: { ...env, MISSIVE_TEST_PASSPHRASES: 'pw\n\u0004' } }), 130, /^missive: cancelled$/, 'cancelled at the second')
  const secret = newLinkSecret()
  const locked = await createMessage(served.app, { content: await seal({ text: 'x' }, secret, 'pw', { iterations: 1000 }), encrypted: true, maxViews: 2, readToken: await readTokenFor(secret) })
  check(await missive(['read', `${served.base}/msg/${locked.id}#${secret}`], { env: { MISSIVE_TEST_PASSPHRASES: 'wrong\n\u0004' } }), 130, /^missive: cancelled; this read used a view: 1 view left$/, 'cancelled when reading')
})

t.test('local input and output: exit 6, nothing sent, no view used', async (t) => {
  const env = { MISSIVE_URL: `http://127.0.0.1:${await closedPort()}` } // a request would be exit 1
  const dir = t.testdir({ 'big.bin': '', taken: 'already here', 'ok.txt': 'fine' })
  writeFileSync(join(dir, 'big.bin'), Buffer.alloc(65537))
  failed(t, await missive(['send'], { input: 'x'.repeat(65537), env }), 6, /^missive: too large: stdin is over the limit of 65536 bytes/, 'stdin over the limit')
  failed(t, await missive(['send'], { input: '😀'.repeat(16384) + 'x', env }), 6, /too large/, 'over the limit in bytes, not characters')
  failed(t, await missive(['send', join(dir, 'big.bin')], { env }), 6, /big\.bin is too large: 1 bytes over the limit of 65536$/, 'a file over the limit')
  failed(t, await missive(['send', join(dir, 'missing.txt')], { env }), 6, /cannot read .*missing\.txt: no such file or directory$/, 'a missing file')
  failed(t, await missive(['send', dir], { env }), 6, /not a regular file/, 'a directory')
  failed(t, await missive(['send'], { input: '', env }), 6, /nothing to send: stdin is empty/, 'empty stdin')
  failed(t, await missive(['send'], { input: Buffer.from([0xff, 0xfe, 0x00]), env }), 6, /stdin is not UTF-8 text: send binary data as a file/, 'binary stdin')

  const served = await serve(t)
  const message = await createMessage(served.app, { content: 'keep me', maxViews: 1 })
  const link = `${served.base}/msg/${message.id}`
  failed(t, await missive(['read', link, '-o', join(dir, 'taken')]), 6, /cannot write .*taken: it exists \(missive never overwrites a file\)$/, 'an existing output file')
  failed(t, await missive(['read', link, '-o', join(dir, 'no-such-dir', 'x')]), 6, /cannot write .*: no such file or directory$/, 'an output directory that does not exist')
  t.notOk(existsSync(join(dir, 'no-such-dir')))
  const read = await missive(['read', link])
  t.equal(read.out, 'keep me', 'both refused before the fetch: the one view is still there')
})

t.test('the README\'s table has every exit code, and no other', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.slice(readme.indexOf('## The terminal client (missive)'))
  const table = section.slice(section.indexOf('| code | meaning |'), section.indexOf('**How it is built.**'))
  const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]))
  t.same(documented, Object.values(EXIT))
})
