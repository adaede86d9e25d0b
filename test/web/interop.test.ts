// The page and the `missive` CLI, both ways, in a real browser: what the CLI sends (text from
// stdin, a file) the read page shows or offers as a download, with its name and bytes; what
// the compose page makes (text with a passphrase) `missive read` prints. One server for the
// file, listening on a loopback port (the CLI needs a real URL); the CLI is the built one
// (dist/: `npm run build`, which `npm test` does first), run as a child process.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { readTokenFor } from '../../routes/web/envelope.js'
import { missive } from '../cli/missive-helper.js'
import { ARTIFACTS, browse, create, noBrowser, partsOf } from './browser-helper.js'

const skip = noBrowser

t.test('the page and the missive CLI read each other\'s messages', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  /** Whether the API still has the message of `link` (a read through it: one view). */
  const stillThere = async (link: string): Promise<boolean> => {
    const { id, secret } = partsOf(link)
    return (await app.inject({ url: `/msg/${id}`, headers: { accept: 'application/json', 'x-read-token': await readTokenFor(secret) } })).statusCode === 200
  }

  await t.test('CLI → page: text from stdin, shown as text', async (t) => {
    const text = 'sent from a terminal ✓\n<b>not bold</b>\n\ttabbed'
    const sent = await missive(['send', '--url', base], { input: text })
    t.equal(sent.code, 0, sent.err)
    const link = sent.out.trim()
    t.match(link, new RegExp(`^${base}/msg/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{43}$`))
    const reader = await open(link)
    await reader.click('#reveal')
    await reader.waitForSelector('#revealed:not([hidden])')
    t.equal(await reader.textContent('#message'), text, 'the text, whole, as text')
    t.equal(await reader.locator('#message b').count(), 0, 'never as HTML')
    t.equal(await reader.isVisible('#file-box'), false, 'no file')
    t.match(await reader.textContent('#remaining'), /last view/, 'the CLI\'s default: one view')
    t.equal(await stillThere(link), false, 'and it is burned')
  })

  await t.test('CLI → page: a file, downloaded under its name with its bytes', async (t) => {
    const dir = t.testdir({})
    const name = 'Bericht März.pdf'
    const bytes = randomBytes(20_000)
    bytes[0] = 0
    writeFileSync(join(dir, name), bytes)
    const sent = await missive(['send', join(dir, name), '--url', base])
    t.equal(sent.code, 0, sent.err)
    const reader = await open(sent.out.trim())
    await reader.click('#reveal')
    await reader.waitForSelector('#revealed:not([hidden])')
    t.equal(await reader.isVisible('#message'), false, 'no text: no text box')
    t.match(await reader.textContent('#file-info'), /^\(20,000 bytes, /)
    const [download] = await Promise.all([reader.waitForEvent('download'), reader.click('#download')])
    t.equal(download.suggestedFilename(), name, 'its name')
    const saved = new URL('interop-download.bin', ARTIFACTS)
    await download.saveAs(saved.pathname)
    t.ok(readFileSync(saved).equals(bytes), 'its bytes')
  })

  await t.test('page → CLI: text with a passphrase, printed by missive read', async (t) => {
    const text = 'made in the browser ✓\nsecond line'
    const writer = await open(`${base}/`)
    const { link } = await create(writer, async (page) => {
      await page.fill('#content', text)
      await page.fill('#passphrase', 'correct horse battery')
      await page.selectOption('#max-views', '3')
    })
    // A wrong passphrase first: the CLI asks again, from the one fetch.
    const read = await missive(['read', link], { env: { MISSIVE_TEST_PASSPHRASES: 'wrong horse\ncorrect horse battery' } })
    t.equal(read.code, 0, read.err)
    t.equal(read.out, text, 'stdout: the text, exactly')
    t.match(read.err, /wrong passphrase/)
    const { id, secret } = partsOf(link)
    const after = await app.inject({ url: `/msg/${id}`, headers: { accept: 'application/json', 'x-read-token': await readTokenFor(secret) } })
    t.equal(after.json().remainingViews, 1, 'the CLI used one view for both tries (and this read one more)')
  })

  t.same(errors, [], 'no script error, no console error, no CSP violation')
})
