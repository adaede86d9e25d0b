// `missive` against a real server: send (stdin, a file), read (stdout, -o, a file under its
// own name), the passphrase prompt (the test hook and a real pseudo-terminal), a wrong
// passphrase costing no second view, delete, and interop both ways with the page's format.
// The API is the second witness: it says what the server holds and how many views are left.
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes, createCipheriv } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { newLinkSecret, open, readTokenFor, seal } from '../../routes/web/envelope.js'
import { downloadName } from '../../src/cli/missive.js'
import { numberedName } from '../../src/cli/missive/files.js'
import { forTerminal, oneLine } from '../../src/cli/missive/terminal.js'
import { createMessage } from '../helper.js'
import { nodeCommand } from '../helpers/node-process.js'
import { deleteTokenOf, fakeServer, missive, missiveEntry, partsOf, serve, type Served } from './missive-helper.js'

const FAST = { iterations: 1000 }

/** GET /msg/:id through the API, with the link's read token: one view. */
async function readByApi (served: Served, link: string): Promise<{ status: number, body: Record<string, unknown> }> {
  const { id, secret } = partsOf(link)
  const res = await served.app.inject({ method: 'GET', url: `/msg/${id}`, headers: { accept: 'application/json', 'x-read-token': await readTokenFor(secret) } })
  return { status: res.statusCode, body: res.statusCode === 200 ? res.json() : {} }
}

/** What the page does: seal here, POST with the read token, the key only in the link. */
async function sendLikeThePage (served: Served, payload: Parameters<typeof seal>[0], passphrase?: string, maxViews = 1): Promise<string> {
  const secret = newLinkSecret()
  const content = await seal(payload, secret, passphrase, { maxBytes: 65536, ...FAST })
  const created = await createMessage(served.app, { content, encrypted: true, maxViews, readToken: await readTokenFor(secret) })
  return `${served.base}/msg/${created.id}#${secret}`
}

t.test('send from stdin; the API opens it; read to stdout, then to -o FILE; then it is gone', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const text = 'the door code is 4711 ✓\nsecond line'
  const sent = await missive(['send', '--ttl', '10m', '--views', '3'], { input: text, env })
  t.equal(sent.code, 0, sent.err)
  t.match(sent.out, new RegExp(`^${served.base}/msg/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}\n$`), 'stdout: the link, and nothing else')
  t.match(deleteTokenOf(sent), /^[A-Za-z0-9_-]{32,}$/, 'stderr: the delete token')
  t.match(sent.err, /burns after 3 views/)
  const link = sent.out.trim()
  const { secret } = partsOf(link)
  const logs = served.logs.join('\n')
  t.notOk(logs.includes(secret) || logs.includes('4711'), 'neither the key nor the text reached the server\'s log')

  const withoutToken = await served.app.inject({ method: 'GET', url: `/msg/${partsOf(link).id}`, headers: { accept: 'application/json' } })
  t.equal(withoutToken.statusCode, 404, 'the id alone reads nothing (and burns nothing)')
  const byApi = await readByApi(served, link)
  t.equal(byApi.body.encrypted, true)
  t.match(byApi.body.content, /^v1\./, 'an envelope')
  t.same(await open(byApi.body.content as string, secret), { text, file: null }, 'envelope.open, as the page does, opens what the CLI sent')
  const expiresIn = Date.parse(byApi.body.expiresAt as string) - Date.parse(byApi.body.createdAt as string)
  t.equal(expiresIn, 600_000, '--ttl 10m')

  const toStdout = await missive(['read', link], { env: {} })
  t.equal(toStdout.code, 0, toStdout.err)
  t.equal(toStdout.out, text, 'stdout: the exact text (a pipe gets no added newline)')
  t.equal(toStdout.last, '1 view left')

  const dir = t.testdir()
  const toFile = await missive(['read', link, '-o', join(dir, 'out.txt')])
  t.equal(toFile.code, 0, toFile.err)
  t.equal(toFile.out, '', 'nothing on stdout')
  t.equal(readFileSync(join(dir, 'out.txt'), 'utf8'), text)
  t.equal(statSync(join(dir, 'out.txt')).mode & 0o777, 0o600, 'readable by its owner only')
  t.equal(toFile.last, 'that was its last view: the message is gone')

  const gone = await missive(['read', link])
  t.equal(gone.code, 3)
  t.match(gone.last, /^missive: not found/)
})

t.test('a file round trip: its name and type inside, saved under its name, never over a file', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const dir = t.testdir({ out: {}, 'report.pdf': '' })
  const bytes = randomBytes(5000)
  bytes[0] = 0
  writeFileSync(join(dir, 'report.pdf'), bytes)
  const sent = await missive(['send', join(dir, 'report.pdf'), '--views', '4'], { env })
  t.equal(sent.code, 0, sent.err)
  const link = sent.out.trim()
  t.notMatch((await readByApi(served, link)).body.content, /report/, 'the name is not in clear (that read took one view)')

  const out = join(dir, 'out')
  const saved = await missive(['read', link], { cwd: out })
  t.equal(saved.code, 0, saved.err)
  t.same(readFileSync(join(out, 'report.pdf')), bytes, 'saved under its own name, byte for byte')
  t.match(saved.err, /saved report\.pdf \(5000 bytes, application\/pdf\)/)
  t.equal(saved.out, '', 'a file never goes to stdout without -o -')

  const exists = await missive(['read', link, '-o', join(out, 'report.pdf')])
  t.equal(exists.code, 6)
  t.match(exists.last, /^missive: cannot write .*report\.pdf: it exists/)
  t.equal(exists.lines.length, 1, 'one line')
  t.equal(exists.out, '', '-o over a file: refused before the fetch, no view')
  writeFileSync(join(out, 'report (1).pdf'), 'taken too')
  const collision = await missive(['read', link], { cwd: out })
  t.equal(collision.code, 0, `its own name is taken after the fetch: saved under the next free name, never lost: ${collision.err}`)
  t.same(readFileSync(join(out, 'report (2).pdf')), bytes, 'report (2).pdf: report (1).pdf was taken too')
  t.equal(statSync(join(out, 'report (2).pdf')).mode & 0o777, 0o600)
  t.match(collision.err, /report\.pdf exists: saving as report \(2\)\.pdf instead\n/, 'stderr says where')
  t.match(collision.err, /saved report \(2\)\.pdf \(5000 bytes, application\/pdf\)/)
  t.same(readFileSync(join(out, 'report.pdf')), bytes, 'the existing files are untouched')
  t.equal(readFileSync(join(out, 'report (1).pdf'), 'utf8'), 'taken too')
  const other = await missive(['read', link, '-o', join(out, 'copy')])
  t.equal(other.code, 0, `-o before the fetch cost no view: ${other.err}`)
  t.same(readFileSync(join(out, 'copy')), bytes)
  t.equal(other.last, 'that was its last view: the message is gone', 'four views: the API, two reads, this one')

  // A hidden name (.envrc, .npmrc) is never dropped into the current directory as is.
  writeFileSync(join(dir, '.envrc'), 'export X=1\n')
  const hidden = await missive(['send', join(dir, '.envrc')], { env })
  const read = await missive(['read', hidden.out.trim()], { cwd: out })
  t.equal(read.code, 0, read.err)
  t.equal(readFileSync(join(out, '_envrc'), 'utf8'), 'export X=1\n', 'saved as _envrc')
})

t.test('a file whose name and its numbered variants are all taken: exit 6, the view said', async (t) => {
  const served = await serve(t)
  const files: Record<string, string> = { 'a.txt': '' }
  for (let n = 1; n <= 1000; n++) files[`a (${n}).txt`] = ''
  const dir = t.testdir(files)
  const link = await sendLikeThePage(served, { file: { name: 'a.txt', type: 'text/plain', bytes: new Uint8Array([1]) } }, undefined, 2)
  const read = await missive(['read', link], { cwd: dir })
  t.equal(read.code, 6)
  t.equal(read.last, 'missive: cannot write a.txt: it exists, and so do a (1).txt to a (1000).txt; this read used a view: 1 view left (read it again with -o FILE)')
})

t.test('read -: the link from stdin (out of shell history), the passphrase still asked', async (t) => {
  const served = await serve(t)
  const link = await sendLikeThePage(served, { text: 'from a piped link' }, 'pw', 2)
  const read = await missive(['read', '-'], { input: `${link}\nignored second line\n`, env: { MISSIVE_TEST_PASSPHRASES: 'pw' } })
  t.equal(read.code, 0, read.err)
  t.equal(read.out, 'from a piped link')
  t.match(read.err, /this message needs its passphrase: /, 'asked on the prompt, not on stdin (which held the link)')
  const noPrompt = await missive(['read', '-'], { input: `${link}\n` })
  t.equal(noPrompt.code, 4, 'no terminal and no hook: the passphrase cannot come from stdin too')
})

t.test('the download name: hidden, Windows-reserved, trailing dots and spaces, <>:"|?*, bidi', async (t) => {
  const cases: Array<[string, string]> = [
    ['report.pdf', 'report.pdf'],
    ['.envrc', '_envrc'],
    ['..npmrc', '_npmrc'],
    ['a<b>c:d"e|f?g*h.txt', 'a_b_c_d_e_f_g_h.txt'],
    ['CON', '_CON'],
    ['nul.txt', '_nul.txt'],
    ['Com1.tar.gz', '_Com1.tar.gz'],
    ['lpt9', '_lpt9'],
    ['aux ', '_aux'], // (safeFileName trims)
    ['COM10', 'COM10'],
    ['console.log', 'console.log'],
    ['notes.', 'notes._'],
    ['notes...', 'notes..._'],
    ['invoice\u202Egpj.exe', 'invoicegpj.exe'],
    ['zero\u200Bwidth\u0007.txt', 'zerowidth.txt'],
    ['../../etc/passwd', 'passwd']
  ]
  for (const [name, expected] of cases) t.equal(downloadName(name), expected, JSON.stringify(name))
  const long = downloadName(`${'n'.repeat(254)}.`)
  t.equal(Buffer.byteLength(long), 255, 'a `_` added to a name of 255 bytes: still 255')
  t.match(long, /n\._$/, 'its last dot kept, then the `_`')
  t.equal(Buffer.byteLength(numberedName(`${'é'.repeat(125)}.pdf`, 7)), 254, 'a numbered name stays within 255 bytes, never cut inside a character')
  t.match(numberedName(`${'é'.repeat(125)}.pdf`, 7), / \(7\)\.pdf$/, 'its number and extension kept')
  t.equal(numberedName('_envrc', 3), '_envrc (3)')
})

t.test('control characters from the sender: escaped on a terminal, bytes as they are in a pipe', async (t) => {
  const served = await serve(t)
  const text = 'red \u001b[31malert\u001b]0;title\u0007 csi\u009b2J del\u007f tab\tend\n'
  const escaped = 'red \\u001b[31malert\\u001b]0;title\\u0007 csi\\u009b2J del\\u007f tab\tend\n'
  t.equal(forTerminal(text), escaped, 'C0 but \\t and \\n, DEL and C1 as visible \\uXXXX')
  t.equal(oneLine('a\nb\tc'), 'a\\u000ab\\u0009c')

  const piped = await missive(['read', await sendLikeThePage(served, { text }, undefined, 1)])
  t.equal(piped.code, 0, piped.err)
  t.equal(piped.out, text, 'a pipe gets the exact text, controls and all')

  // -o -: the text that comes with a file goes to stderr, always cleaned
  const both = await sendLikeThePage(served, { text, file: { name: 'x.bin', type: 'application/octet-stream', bytes: new Uint8Array([0x1b, 0x5b, 0x32, 0x4a]) } })
  const toStdout = await missive(['read', both, '-o', '-'])
  t.equal(toStdout.code, 0, toStdout.err)
  t.same(toStdout.stdout, Buffer.from([0x1b, 0x5b, 0x32, 0x4a]), 'a piped file: its bytes as they are')
  t.ok(toStdout.err.includes(escaped.trimEnd()), 'stderr: the text with its controls escaped')
  // eslint-disable-next-line no-control-regex
  t.notOk(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/.test(toStdout.err), 'no control character on stderr')
})

t.test('on a terminal (script(1)): the text\'s controls shown as escapes', { skip: spawnSync('script', ['--version']).status !== 0 ? 'script(1) is not installed' : false }, async (t) => {
  const served = await serve(t)
  const link = await sendLikeThePage(served, { text: 'before \u001b[2J\u001b]0;pwned\u0007\u009b31m after' })
  const { code, screen } = await onTerminal(t, ['read', link], [])
  t.equal(code, 0)
  t.match(screen, /before \\u001b\[2J\\u001b\]0;pwned\\u0007\\u009b31m after/, 'shown as escapes')
  t.notOk(screen.includes('\u001b'), 'no ESC reached the terminal')
  t.notOk(screen.includes('\u0007') || screen.includes('\u009b') || screen.includes('\u00c2\u009b'), 'nor BEL, nor the C1 CSI')
})

/** the stand-in's build: a client that says it ran, and a mark for each build */
const BUILD = `import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs'
mkdirSync('dist/src/cli', { recursive: true })
writeFileSync('dist/src/cli/missive.js', 'export async function run () { console.log("ran", ...process.argv.slice(2)) }')
appendFileSync('built', 'once')
console.log('build output')
`

t.test('bin/missive.js builds with the project\'s build (npm run build) when dist/ is missing, and only then', async (t) => {
  // a copy of the bin in a stand-in project whose "build" writes a client and marks that it ran
  const dir = t.testdir({
    bin: { 'missive.js': readFileSync(new URL('../../bin/missive.js', import.meta.url), 'utf8') },
    'package.json': JSON.stringify({ name: 'stand-in', private: true, type: 'module', scripts: { build: 'node build.mjs' } }),
    'build.mjs': BUILD
  })
  const runBin = (): { status: number | null, stdout: string, stderr: string } => {
    const run = spawnSync(process.execPath, [join(dir, 'bin', 'missive.js'), 'read', '-'], { cwd: tmpdir(), encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } })
    return { status: run.status, stdout: run.stdout, stderr: run.stderr }
  }
  const first = runBin()
  t.equal(first.status, 0, first.stderr)
  t.equal(first.stdout, 'ran read -\n', 'stdout: the command\'s own output only')
  t.match(first.stderr, /dist\/ is missing: building it once \(npm run build\)/)
  t.match(first.stderr, /build output/, 'the build\'s own output on stderr')
  t.equal(readFileSync(join(dir, 'built'), 'utf8'), 'once', 'npm run build ran, from the package root')
  const second = runBin()
  t.equal(second.stdout, 'ran read -\n')
  t.equal(readFileSync(join(dir, 'built'), 'utf8'), 'once', 'not again: dist/src/cli/missive.js is there')
})

t.test('passphrase: asked twice when sending; a wrong one is asked again without a second view', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const sent = await missive(['send', '--passphrase-prompt', '--views', '2'], { input: 'behind two locks', env: { ...env, MISSIVE_TEST_PASSPHRASES: 's3cret pass\ns3cret pass' } })
  t.equal(sent.code, 0, sent.err)
  t.same(sent.lines.slice(0, 2), ['passphrase: ', 'passphrase again: '], 'asked twice')
  t.match(sent.err, /the reader needs the passphrase too/)
  const link = sent.out.trim()

  const read = await missive(['read', link], { env: { MISSIVE_TEST_PASSPHRASES: 'wrong\ns3cret pass' } })
  t.equal(read.code, 0, read.err)
  t.equal(read.out, 'behind two locks')
  t.match(read.err, /wrong passphrase, try again \(2 tries left/)
  t.equal(read.last, '1 view left', 'two tries, one view')
  const after = await readByApi(served, link)
  t.equal(after.body.remainingViews, 0, 'the server counted one view for the CLI\'s two tries')

  const mismatch = await missive(['send', '--passphrase-prompt'], { input: 'x', env: { ...env, MISSIVE_TEST_PASSPHRASES: 'one\ntwo' } })
  t.equal(mismatch.code, 4)
  t.equal(mismatch.last, 'missive: the two passphrases differ')
  t.equal(mismatch.out, '', 'nothing sent')
})

t.test('a wrong passphrase three times: exit 4, one view spent, said so', async (t) => {
  const served = await serve(t)
  const link = await sendLikeThePage(served, { text: 'locked' }, 'right', 2)
  const read = await missive(['read', link], { env: { MISSIVE_TEST_PASSPHRASES: 'a\nb\nc\nright' } })
  t.equal(read.code, 4)
  t.equal(read.last, 'missive: wrong passphrase, 3 tries; this read used a view: 1 view left')
  t.equal(read.lines.filter((l) => /passphrase: $/.test(l) || /passphrase:$/.test(l)).length, 3, 'asked three times, not a fourth')
  t.equal(read.out, '')
  t.equal((await readByApi(served, link)).body.remainingViews, 0, 'three tries, one view')

  const noTerminal = await sendLikeThePage(served, { text: 'locked' }, 'right', 2)
  const noPrompt = await missive(['read', noTerminal])
  t.equal(noPrompt.code, 4, 'no terminal to ask on (detached) and no hook')
  t.match(noPrompt.last, /^missive: this message needs its passphrase and there is no terminal to ask it on \(--passphrase-stdin\)/)
  const fromStdin = await missive(['read', noTerminal, '--passphrase-stdin'], { input: 'right\n' })
  t.equal(fromStdin.code, 0, fromStdin.err)
  t.equal(fromStdin.out, 'locked', '--passphrase-stdin: the first line of stdin')
})

t.test('interop: what the page sends, the CLI reads (text and file, passphrase, the first format, clear text)', async (t) => {
  const served = await serve(t)
  const dir = t.testdir()
  const bytes = randomBytes(2000)
  const both = await sendLikeThePage(served, { text: 'see the attachment', file: { name: 'keys.zip', type: 'application/zip', bytes } })
  const read = await missive(['read', both, '-o', join(dir, 'k.zip')])
  t.equal(read.code, 0, read.err)
  t.equal(read.out, 'see the attachment', 'the text on stdout')
  t.same(readFileSync(join(dir, 'k.zip')), bytes, 'the file in -o')
  t.match(read.err, /\(2000 bytes, application\/zip\)/)

  const locked = await sendLikeThePage(served, { text: 'ünïcödé 😀' }, 'pässphrase')
  const unlocked = await missive(['read', locked], { env: { MISSIVE_TEST_PASSPHRASES: 'pa\u0308ssphrase' } })
  t.equal(unlocked.code, 0, unlocked.err)
  t.equal(unlocked.out, 'ünïcödé 😀', 'the passphrase typed decomposed still opens it (NFC)')

  // The first page: base64url(iv ‖ ciphertext ‖ tag), the raw key as the fragment, no read token.
  const key = randomBytes(32)
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const content = Buffer.concat([iv, cipher.update('from the first page', 'utf8'), cipher.final(), cipher.getAuthTag()]).toString('base64url')
  const legacy = await createMessage(served.app, { content, encrypted: true, maxViews: 1 })
  const old = await missive(['read', `${served.base}/msg/${legacy.id}#${key.toString('base64url')}`])
  t.equal(old.code, 0, `${old.err} (its read token is sent and ignored: the message has none)`)
  t.equal(old.out, 'from the first page')

  const clear = await createMessage(served.app, { content: 'in clear', maxViews: 1 })
  const plain = await missive(['read', `${served.base}/msg/${clear.id}`])
  t.equal(plain.code, 0, plain.err)
  t.equal(plain.out, 'in clear', 'unencrypted: printed as is, no key needed')
})

t.test('interop: what the CLI sends as a file, envelope.open gives back with its name', async (t) => {
  const served = await serve(t)
  const dir = t.testdir({ 'notes.md': '# secret\n' })
  const sent = await missive(['send', join(dir, 'notes.md')], { env: { MISSIVE_URL: served.base } })
  t.equal(sent.code, 0, sent.err)
  const link = sent.out.trim()
  const body = (await readByApi(served, link)).body
  t.same(await open(body.content as string, partsOf(link).secret), {
    text: null,
    file: { name: 'notes.md', type: 'text/markdown', bytes: new Uint8Array(Buffer.from('# secret\n')) }
  })
})

t.test('delete: with the token it is gone; again, or with a wrong token, not found', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const sent = await missive(['send'], { input: 'short-lived', env })
  const link = sent.out.trim()
  const wrong = await missive(['delete', link, '--token', 'A'.repeat(43)])
  t.equal(wrong.code, 3)
  t.match(wrong.last, /^missive: not found: .*delete token is wrong/)
  const deleted = await missive(['delete', link, '--token', deleteTokenOf(sent)])
  t.equal(deleted.code, 0, deleted.err)
  t.equal(deleted.out, 'deleted\n')
  t.equal((await readByApi(served, link)).status, 404, 'gone')
  const again = await missive(['delete', link, '--token', deleteTokenOf(sent)])
  t.equal(again.code, 3)

  const other = await missive(['send'], { input: 'another', env })
  const byId = await missive(['delete', partsOf(other.out).id, '--token', '-'], { input: `${deleteTokenOf(other)}\n`, env })
  t.equal(byId.code, 0, `a bare id with MISSIVE_URL, the token from stdin: ${byId.err}`)
})

t.test('receipt: not read yet, then read and burned, then one that was deleted; the token from stdin; a wrong one is not found', async (t) => {
  const served = await serve(t)
  const env = { MISSIVE_URL: served.base }
  const sent = await missive(['send', '--views', '2'], { input: 'did it arrive?', env })
  const link = sent.out.trim()
  const token = deleteTokenOf(sent)

  const before = await missive(['receipt', link, '--token', token])
  t.equal(before.code, 0, before.err)
  t.equal(before.err, '', 'nothing on stderr')
  const lines = before.out.split('\n')
  t.equal(lines[0], 'live: not read yet, 2 views left')
  t.equal(lines[1], 'views: 0 of 2')
  t.match(lines[2], /^created: \d{4}-\d\d-\d\dT[\d:.]+Z$/)
  t.match(lines[3], /^expires: \d{4}-\d\d-\d\dT[\d:.]+Z$/)
  t.same(lines.slice(4), ['first read: not yet', 'last read: not yet', 'ended: not yet', ''])
  t.equal((await readByApi(served, link)).body.remainingViews, 1, 'asking consumed no view (this read took one)')

  const once = await missive(['receipt', link, '--token', '-'], { input: `${token}\n`, env: {} })
  t.equal(once.code, 0, `the token from stdin: ${once.err}`)
  t.match(once.out, /^live: read once, 1 view left\nviews: 1 of 2\n/)
  t.match(once.out, /\nfirst read: \d{4}-.+Z\nlast read: \d{4}-.+Z\nended: not yet\n$/)

  t.equal((await missive(['read', link], { env: {} })).code, 0)
  const burned = await missive(['receipt', partsOf(link).id, '--token', token], { env })
  t.equal(burned.code, 0, `a bare id with MISSIVE_URL: ${burned.err}`)
  t.match(burned.out, /^burned: read 2 times, as often as allowed; the message is gone\nviews: 2 of 2\n/)
  t.match(burned.out, /\nended: \d{4}-.+Z\n$/, 'when it ended')

  const wrong = await missive(['receipt', link, '--token', 'A'.repeat(43)])
  t.equal(wrong.code, 3, 'a wrong token: not found')
  t.match(wrong.last, /^missive: not found: .*or the delete token is wrong$/)
  t.equal(wrong.out, '')

  const other = await missive(['send', '--views', 'unlimited'], { input: 'never read', env })
  t.equal((await missive(['delete', other.out.trim(), '--token', deleteTokenOf(other)])).code, 0)
  const deleted = await missive(['receipt', other.out.trim(), '--token', deleteTokenOf(other)])
  t.equal(deleted.code, 0, deleted.err)
  t.match(deleted.out, /^deleted: never read\nviews: 0 \(no limit\)\n/)
  t.match(deleted.out, /\nfirst read: never\nlast read: never\nended: \d{4}-.+Z\n$/)
})

// Ids and tokens are base64url: one in 64 starts with '-' (CI once drew such an id in the test
// above, and `missive receipt -J…` failed with "Unknown option '-J'").
t.test('an id and a token that start with "-": receipt and delete take them', async (t) => {
  const id = `-J${'i'.repeat(20)}`
  const token = `-A${'t'.repeat(41)}`
  const seen: string[] = []
  const base = await fakeServer(t, (req, res) => {
    seen.push(`${req.method ?? ''} ${req.url ?? ''} ${String(req.headers['x-delete-token'])}`)
    if (req.headers['x-delete-token'] !== token) { res.writeHead(404, { 'content-type': 'application/json' }).end('{"statusCode":404,"code":"NOT_FOUND","error":"Not Found","message":"not found"}'); return }
    if (req.method === 'DELETE') { res.writeHead(204).end(); return }
    const now = new Date().toISOString()
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, state: 'live', createdAt: now, expiresAt: now, maxViews: 1, views: 0, firstViewedAt: null, lastViewedAt: null, endedAt: null }))
  })
  const env = { MISSIVE_URL: base }
  const receipt = await missive(['receipt', id, '--token', token], { env })
  t.equal(receipt.code, 0, receipt.err)
  t.match(receipt.out, /^live: not read yet, 1 view left\n/)
  const first = await missive(['receipt', '--token', token, id], { env })
  t.equal(first.code, 0, `the id after the token: ${first.err}`)
  const deleted = await missive(['delete', id, '--token', token], { env })
  t.equal(deleted.code, 0, deleted.err)
  t.same(seen, [`GET /msg/${id}/receipt ${token}`, `GET /msg/${id}/receipt ${token}`, `DELETE /msg/${id} ${token}`])
  const unknown = await missive(['receipt', id, '--token', token, '--tokn', 'x'], { env })
  t.equal(unknown.code, 2, 'an unknown option is still a usage error')
  t.match(unknown.last, /Unknown option '--tokn'/)
})

t.test('receipt on a server that keeps none (RECEIPT_RETENTION_SECONDS=0): not found', async (t) => {
  const served = await serve(t, { RECEIPT_RETENTION_SECONDS: 0 })
  const sent = await missive(['send'], { input: 'no receipts here', env: { MISSIVE_URL: served.base } })
  const run = await missive(['receipt', sent.out.trim(), '--token', deleteTokenOf(sent)])
  t.equal(run.code, 3)
  t.match(run.last, /^missive: not found: no receipt for this message/)
})

/** `script` runs the CLI on a pseudo-terminal: the real prompt, echo off. */
async function onTerminal (t: Test, args: string[], answers: string[]): Promise<{ code: number | null, screen: string }> {
  const command = nodeCommand([missiveEntry, ...args]).map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ')
  const child = spawn('script', ['-q', '-e', '-c', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', SHELL: '/bin/sh', TERM: 'dumb' }, stdio: ['pipe', 'pipe', 'pipe'] })
  let screen = ''
  let asked = 0
  child.stdout.on('data', (chunk: Buffer) => {
    screen += chunk.toString('utf8')
    // type the next answer once its prompt is on the screen (raw mode is on by then)
    const prompts = screen.match(/passphrase: /g)?.length ?? 0
    while (asked < prompts && asked < answers.length) child.stdin.write(`${answers[asked++] ?? ''}\r`)
  })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  t.comment(`on the terminal:\n${screen}`)
  return { code, screen }
}

const noScript = spawnSync('script', ['--version']).status !== 0 ? 'script(1) (util-linux) is not installed' : false

t.test('the real prompt on a pseudo-terminal: nothing echoed, a wrong passphrase then the right one', { skip: noScript }, async (t) => {
  const served = await serve(t)
  const link = await sendLikeThePage(served, { text: 'typed, not shown' }, 'open sesame', 2)
  const { code, screen } = await onTerminal(t, ['read', link], ['wrong guess', 'open sesame'])
  t.equal(code, 0)
  t.match(screen, /this message needs its passphrase: /)
  t.match(screen, /wrong passphrase, try again/)
  t.match(screen, /typed, not shown/)
  t.notMatch(screen, /wrong guess|open sesame/, 'neither passphrase echoed')
  t.equal((await readByApi(served, link)).body.remainingViews, 0, 'one view for both tries')
})
