import { readFileSync } from 'node:fs'
import t from 'tap'
import { decryptText, encryptText, fromBase64Url, messageIdOf, toBase64Url } from '../../routes/web/client.js'
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
  const style = await app.inject('/assets/missive.css')
  t.equal(style.statusCode, 200)
  t.equal(style.headers['content-type'], 'text/css; charset=utf-8')
  t.match(style.body, /main \{/)
  t.equal((await app.inject('/assets/other.js')).statusCode, 404)
  t.equal((await app.inject({ method: 'POST', url: '/assets/missive.js' })).statusCode, 405)
})

t.test('client crypto: AES-256-GCM with a fresh key and IV, the key never in the ciphertext', async (t) => {
  const text = 'ünïcödé ✓ 😀 \u0000 <script>alert(1)</script>\n'.repeat(3)
  const first = await encryptText(text)
  const second = await encryptText(text)
  t.equal(await decryptText(first.ciphertext, first.key), text)
  t.equal(fromBase64Url(first.key).length, 32, '256-bit key')
  t.match(first.ciphertext, /^[A-Za-z0-9_-]+$/, 'base64url, fit for the JSON body')
  t.equal(fromBase64Url(first.ciphertext).length, 12 + Buffer.byteLength(text) + 16, 'iv + ciphertext + tag')
  t.not(first.ciphertext, second.ciphertext)
  const ivOf = (ciphertext: string): string => Buffer.from(fromBase64Url(ciphertext).subarray(0, 12)).toString('hex')
  t.not(ivOf(first.ciphertext), ivOf(second.ciphertext), 'a fresh IV each time (a fresh key alone would make the texts differ)')
  t.not(first.key, second.key)
  t.notMatch(first.ciphertext, first.key)

  await t.rejects(decryptText(first.ciphertext, second.key), 'another key')
  const bytes = fromBase64Url(first.ciphertext)
  bytes[20] = (bytes[20] ?? 0) ^ 1
  await t.rejects(decryptText(toBase64Url(bytes), first.key), 'altered ciphertext')
  await t.rejects(decryptText(first.ciphertext, first.key.slice(0, 20)), /incomplete/, 'a truncated key')
  await t.rejects(decryptText('abc', first.key), /not something this page encrypted/)
  t.throws(() => fromBase64Url('a+b/'), 'only base64url')
})

t.test('the copy of the client in dist/ (what a built server serves) works the same', async (t) => {
  const built = await import(new URL('../../dist/routes/web/client.js', import.meta.url).href) as typeof import('../../routes/web/client.js')
  const sealed = await built.encryptText('dist ✓')
  t.equal(await decryptText(sealed.ciphertext, sealed.key), 'dist ✓', 'its ciphertext opens with the source client')
  const again = await encryptText('source ✓')
  t.equal(await built.decryptText(again.ciphertext, again.key), 'source ✓', 'and the other way round')
  t.equal(built.messageIdOf('/msg/AAAAAAAAAAAAAAAAAAAAAA'), 'AAAAAAAAAAAAAAAAAAAAAA')
})

t.test('client: what the page sends is stored as ciphertext and reads back to the text', async (t) => {
  const app = await build(t, { store: 'memory' })
  const secret = 'meet at the old mill at 9'
  const sealed = await encryptText(secret)
  const created = await app.inject({ method: 'POST', url: '/', payload: { content: sealed.ciphertext, encrypted: true, ttl: 600, maxViews: 1 } })
  t.equal(created.statusCode, 201)
  const { id, url } = created.json()
  t.equal(messageIdOf(url), id)
  t.equal(messageIdOf('/msg/short'), null)

  const read = await app.inject({ url, headers: { accept: 'application/json' } })
  const body = read.json()
  t.match(body, { encrypted: true, remainingViews: 0 })
  t.notMatch(body.content, secret, 'the server never had the text')
  t.equal(await decryptText(body.content, sealed.key), secret)
})
