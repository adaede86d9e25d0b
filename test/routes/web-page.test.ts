import { readFileSync } from 'node:fs'
import t from 'tap'
import { formatCount, messageIdOf, openErrorText, remainingText, sizeText } from '../../routes/web/client.js'
import { EnvelopeError, newLinkSecret, open, readTokenFor, seal } from '../../routes/web/envelope.js'
import { composePage, escapeHtml, fill } from '../../routes/web-page.js'
import { build } from '../helper.js'

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8'

t.test('the pages load their script and style from this origin, with nothing inline', async (t) => {
  const app = await build(t, { store: 'memory' })
  const pages = {
    compose: await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } }),
    read: await app.inject({ url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', headers: { accept: BROWSER_ACCEPT } })
  }
  for (const [name, page] of Object.entries(pages)) {
    t.equal(page.statusCode, 200, name)
    t.match(page.body, '<script type="module" src="/assets/missive.js"></script>', `${name}: the script`)
    t.match(page.body, '<link rel="stylesheet" href="/assets/missive.css">', `${name}: the style sheet`)
    t.notMatch(page.body, /<script(?![^>]*\bsrc=)[^>]*>/, `${name}: no inline script`)
    t.notMatch(page.body, /<style|\sstyle=|\son[a-z]+=/i, `${name}: no inline style or event handler`)
    t.match(page.headers['content-security-policy'], /script-src 'self'/)
    t.notMatch(page.headers['content-security-policy'], /unsafe-inline/)
    t.equal(page.headers['referrer-policy'], 'no-referrer', `${name}: links (and their keys) never leak through Referer`)
  }
  t.match(pages.compose.body, /<form id="compose"/)
  t.match(pages.compose.body, /id="encrypt"[^>]* checked/, 'encryption is on by default')
  t.match(pages.read.body, /<button type="button" id="reveal">/, 'the read page reads only when asked')
})

t.test('GET /assets/missive.js and /assets/missive.css', async (t) => {
  const app = await build(t, { store: 'memory' })
  const script = await app.inject('/assets/missive.js')
  t.equal(script.statusCode, 200)
  t.equal(script.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(script.body, readFileSync(new URL('../../routes/web/client.js', import.meta.url), 'utf8'), 'the client as written')
  t.equal(script.headers['x-content-type-options'], 'nosniff')
  const envelope = await app.inject('/assets/envelope.js')
  t.equal(envelope.statusCode, 200)
  t.equal(envelope.headers['content-type'], 'text/javascript; charset=utf-8')
  t.equal(envelope.body, readFileSync(new URL('../../routes/web/envelope.js', import.meta.url), 'utf8'), 'the envelope module the script imports, as written')
  t.match(script.body, "from './envelope.js'", 'which the script imports beside itself (/assets/envelope.js)')
  const style = await app.inject('/assets/missive.css')
  t.equal(style.statusCode, 200)
  t.equal(style.headers['content-type'], 'text/css; charset=utf-8')
  t.match(style.body, /main \{/)
  t.equal((await app.inject('/assets/other.js')).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/assets/missive.js' })).statusCode, 405)
})

t.test('the pages are files with placeholders, filled with escaped values', async (t) => {
  t.equal(escapeHtml('<a href="x">&\'</a>'), '&#60;a href=&#34;x&#34;&#62;&#38;&#39;&#60;/a&#62;')
  t.equal(fill('<p title="{{a}}">{{b}}</p>', { a: '"><script>', b: '<b>' }), '<p title="&#34;&#62;&#60;script&#62;">&#60;b&#62;</p>')
  t.throws(() => fill('{{a}} {{b}}', { a: 'x' }), /no value for \{\{b\}\}/, 'a placeholder left unfilled is found at start-up')
  t.throws(() => fill('{{a}}', { a: 'x', c: 'y' }), /no placeholder for c/)
  const page = composePage(86400, 2592000, true, 1000)
  t.match(page, 'data-max-bytes="1000"', 'the content limit, for the script')
  t.match(page, 'Up to 1\u202f000 bytes.', 'and for people, before the script runs')
  t.notMatch(page, /\{\{/, 'every placeholder filled')
  t.match(composePage(86400, 2592000, false), /id="create-closed"/)
})

t.test('the compose page served follows MESSAGE_MAX_BYTES', async (t) => {
  const app = await build(t, { store: 'memory', config: { MESSAGE_MAX_BYTES: 1000 } })
  t.match((await app.inject({ url: '/', headers: { accept: BROWSER_ACCEPT } })).body, 'data-max-bytes="1000"')
})

// The budget of issue 18: one page, with everything it loads, under 60 KB uncompressed.
const BUDGET = 60 * 1024

t.test('each page with its style and scripts stays under 60 KB, as served from the sources and from dist/', async (t) => {
  const app = await build(t, { store: 'memory' })
  const bytes = async (url: string, accept = '*/*'): Promise<number> => (await app.inject({ url, headers: { accept } })).rawPayload.length
  const loaded = await bytes('/assets/missive.css') + await bytes('/assets/missive.js') + await bytes('/assets/envelope.js')
  for (const url of ['/', '/msg/AAAAAAAAAAAAAAAAAAAAAA']) {
    const total = await bytes(url, BROWSER_ACCEPT) + loaded
    t.ok(total < BUDGET, `${url}: ${total} bytes served (budget ${BUDGET})`)
  }
  // tsc re-emits the scripts into dist/ with its own layout (a little larger): that is what a built server serves.
  const dist = (name: string): number => readFileSync(new URL(`../../dist/routes/web/${name}`, import.meta.url)).length
  for (const page of ['compose.html', 'read.html']) {
    const total = dist(page) + dist('missive.css') + dist('client.js') + dist('envelope.js')
    t.ok(total < BUDGET, `dist/ ${page}: ${total} bytes (budget ${BUDGET})`)
  }
})

t.test('client helpers: what the page says', async (t) => {
  t.equal(formatCount(65536), '65,536')
  t.equal(formatCount(999), '999')
  t.equal(sizeText(12, 65536), '12 of 65,536 bytes')
  t.equal(sizeText(65540, 65536), '65,540 of 65,536 bytes: 4 too many')
  t.equal(remainingText(0, '2026-01-01T00:00:00Z'), 'That was its last view.')
  t.equal(remainingText(1, '2026-01-01T00:00:00Z'), 'It can be read 1 more time.')
  t.equal(remainingText(3, '2026-01-01T00:00:00Z'), 'It can be read 3 more times.')
  t.match(remainingText(null, '2026-01-01T00:00:00Z'), /^It can be read again until /)
  t.match(openErrorText(new EnvelopeError('WRONG_PASSPHRASE', 'x')), /passphrase is wrong.*Try again/)
  t.match(openErrorText(new EnvelopeError('WRONG_KEY', 'x')), /is the link complete/)
  t.equal(openErrorText(new Error('plain')), 'plain')
  t.equal(messageIdOf('/msg/AAAAAAAAAAAAAAAAAAAAAA'), 'AAAAAAAAAAAAAAAAAAAAAA')
  t.equal(messageIdOf('/msg/short'), null)
  t.equal(messageIdOf('/msg/AAAAAAAAAAAAAAAAAAAAAA/receipt'), null)
})

t.test('the copy of the client in dist/ (what a built server serves) loads with its envelope module', async (t) => {
  const built = await import(new URL('../../dist/routes/web/client.js', import.meta.url).href) as typeof import('../../routes/web/client.js')
  t.equal(built.messageIdOf('/msg/AAAAAAAAAAAAAAAAAAAAAA'), 'AAAAAAAAAAAAAAAAAAAAAA')
  t.equal(built.sizeText(1, 2), sizeText(1, 2))
  const builtEnvelope = await import(new URL('../../dist/routes/web/envelope.js', import.meta.url).href) as typeof import('../../routes/web/envelope.js')
  const secret = newLinkSecret()
  t.same(await open(await builtEnvelope.seal({ text: 'dist ✓' }, secret), secret), { text: 'dist ✓', file: null }, 'its envelopes open with the source module')
  t.same(await builtEnvelope.open(await seal({ text: 'source ✓' }, secret), secret), { text: 'source ✓', file: null }, 'and the other way round')
})

t.test('client: what the page sends is stored as ciphertext, read with its read token, and opens to the text', async (t) => {
  const app = await build(t, { store: 'memory' })
  const text = 'meet at the old mill at 9'
  const secret = newLinkSecret()
  const created = await app.inject({ method: 'POST', url: '/', payload: { content: await seal({ text }, secret), encrypted: true, ttl: 600, maxViews: 1, readToken: await readTokenFor(secret) } })
  t.equal(created.statusCode, 201)
  const { id, url } = created.json()
  t.equal(messageIdOf(url), id)

  t.equal((await app.inject({ url, headers: { accept: 'application/json' } })).statusCode, 404, 'without the read token: nothing (and no view used)')
  const read = await app.inject({ url, headers: { accept: 'application/json', 'x-read-token': await readTokenFor(secret) } })
  const body = read.json()
  t.match(body, { encrypted: true, remainingViews: 0 })
  t.notMatch(body.content, text, 'the server never had the text')
  t.same(await open(body.content, secret), { text, file: null })
})
