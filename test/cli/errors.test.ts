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
import { closedPort, missive, type Run, type RunOptions, serve } from './missive-helper.js'

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
    [['delete', link], /delete needs --token/],
    [['delete', link, '--token', 'short'], /the delete token is not one/],
    [['receipt'], /^missive: receipts are not available yet/]
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
