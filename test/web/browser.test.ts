// The web pages in a real browser (headless Chromium via playwright-core): writing and
// reading text (encrypted or not, up to the limit, and refused past it) and files. More in
// reading.test.ts (passphrases, delete, id-only readers, old formats) and pages.test.ts
// (accessibility, phones, screenshots). Without Chromium on the machine the tests are
// skipped, saying so. The API is the second witness: it says what the server holds.
import { readFileSync } from 'node:fs'
import { webcrypto } from 'node:crypto'
import t from 'tap'
import { readTokenFor } from '../../routes/web/envelope.js'
import { ARTIFACTS, browse, countReads, create, noBrowser, partsOf } from './browser-helper.js'

const skip = noBrowser

t.test('text round trips: encrypted and not, 60 000 characters, multi-byte text at the limit', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  const cases = [
    { name: 'short, encrypted', text: 'meet at 9 ✓ <b>not bold</b>', encrypt: true },
    { name: 'short, in clear', text: 'meet at 9 ✓ <b>not bold</b> (in clear)', encrypt: false },
    { name: '60 000 characters', text: 'abcdefghij'.repeat(6000), encrypt: true },
    // 16 383 four-byte characters, a two-byte one and two one-byte ones: exactly MESSAGE_MAX_BYTES (65 536) of UTF-8.
    { name: 'multi-byte text at the limit', text: '😀'.repeat(16383) + 'é\na', encrypt: true }
  ]
  for (const { name, text, encrypt } of cases) {
    const writer = await open(`${base}/`)
    const { link, sent } = await create(writer, async (page) => {
      await page.fill('#content', text)
      t.match(await page.textContent('#size'), new RegExp(`^${Buffer.byteLength(text).toLocaleString('en-US')} of 65,536 bytes$`), `${name}: the size as it is typed`)
      if (!encrypt) await page.uncheck('#encrypt')
      await page.selectOption('#max-views', '1')
    })
    const { id, secret } = partsOf(link)
    t.match(link, new RegExp(`^${base}/msg/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`), `${name}: the link, its key in the fragment`)
    t.equal(sent.encrypted, encrypt)
    t.equal(sent.readToken, await readTokenFor(secret), `${name}: the read token, derived from the key, always sent`)
    if (encrypt) {
      t.match(sent.content, /^v1\.[A-Za-z0-9_-]+$/, `${name}: the server gets an envelope`)
      t.notMatch(sent.content, text.slice(0, 9))
      t.notMatch(JSON.stringify(sent), secret, 'and never the key')
    } else {
      t.equal(sent.content, text)
    }
    t.match(await writer.inputValue('#delete-token'), /^[A-Za-z0-9_-]{32,}$/)

    const reader = await open(link)
    const reads = countReads(reader)
    t.equal(await reader.isVisible('#reveal'), true, `${name}: opening the link shows a button, not the message`)
    await reader.click('#reveal')
    await reader.waitForSelector('#revealed:not([hidden])')
    t.equal(await reader.textContent('#message'), text, `${name}: the text, whole, as text`)
    t.equal(await reader.locator('#message b').count(), 0, 'never as HTML')
    t.match(await reader.textContent('#remaining'), /last view/)
    t.equal(await reader.isVisible('#gone'), true, 'the page says the message is gone now')
    t.equal(reads(), 1, 'one fetch')
    t.equal((await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': await readTokenFor(secret) } })).statusCode, 404, 'and the server has burned it')

    const late = await open(link)
    await late.click('#reveal')
    await late.waitForSelector('#gone:not([hidden])')
  }
  t.same(errors, [], 'no script error, no console error, no CSP violation')
})

t.test('too long: the page says by how much and sends nothing', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  let posts = 0
  writer.on('request', (request) => { if (request.method() === 'POST') posts++ })
  await writer.fill('#content', '😀'.repeat(16384) + 'abc')
  t.equal(await writer.textContent('#size'), '65,539 of 65,536 bytes: 3 too many')
  await writer.click('#create')
  await writer.waitForSelector('#compose-status:has-text("3 bytes over the limit of 65,536")')
  t.equal(posts, 0, 'refused before encrypting or sending')
  t.same(errors, [])
})

t.test('a file: encrypted with its name and type, read back as a download with the same bytes', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const bytes = Buffer.from(webcrypto.getRandomValues(new Uint8Array(40_000)))
  const name = 'Bericht März ✓.pdf'
  const writer = await open(`${base}/`)
  const { link, sent } = await create(writer, async (page) => {
    await page.setInputFiles('#file', { name, mimeType: 'application/pdf', buffer: bytes })
    t.equal(await page.isChecked('#encrypt'), true, 'a file is always encrypted')
    t.equal(await page.isDisabled('#encrypt'), true, 'and the page says so')
    t.match(await page.textContent('#encrypt-note'), /always encrypted/)
    t.equal(await page.textContent('#size'), '40,000 of 65,536 bytes', 'the file counts against the limit')
  })
  t.equal(sent.encrypted, true)
  t.notMatch(JSON.stringify(sent), 'Bericht', 'the name travels inside the ciphertext only')

  const reader = await open(link)
  await reader.click('#reveal')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.isVisible('#message'), false, 'no text: no text box')
  t.match(await reader.textContent('#file-info'), /40,000 bytes, application\/pdf/)
  t.equal(await reader.getAttribute('#download', 'download'), name, 'offered for download under its name')
  const [download] = await Promise.all([reader.waitForEvent('download'), reader.click('#download')])
  t.equal(download.suggestedFilename(), name)
  const saved = new URL('download.bin', ARTIFACTS)
  await download.saveAs(saved.pathname)
  t.ok(readFileSync(saved).equals(bytes), 'the same bytes')
  t.equal(reader.url(), link, 'downloaded, not opened in the page')

  // The Blob URL lives while the page does (a second download works), and is revoked when the page is left.
  const href = await reader.getAttribute('#download', 'href') ?? ''
  t.match(href, /^blob:/)
  const [again] = await Promise.all([reader.waitForEvent('download'), reader.click('#download')])
  t.equal(again.suggestedFilename(), name, 'a second download works too')
  // (Whether the URL still loads cannot be asked from the page: its CSP refuses fetch() of blob:. So a spy on the revocation.)
  await reader.evaluate(`window.revoked = []; const revoke = URL.revokeObjectURL.bind(URL)
    URL.revokeObjectURL = (url) => { window.revoked.push(url); revoke(url) }`)
  await reader.evaluate('window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: true }))')
  t.same(await reader.evaluate('window.revoked'), [], 'kept when the page goes into the back/forward cache (it can come back)')
  await reader.evaluate('window.dispatchEvent(new PageTransitionEvent("pagehide", { persisted: false }))')
  t.same(await reader.evaluate('window.revoked'), [href], 'revoked when the page is left for good')
  t.equal(await reader.getAttribute('#download', 'href'), '#file-box', 'the link no longer points at it')
  t.same(errors, [])
})
