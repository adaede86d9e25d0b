// The web pages in a real browser: headless Chromium (Debian's package; .ci/run installs it)
// driven by playwright-core. Without Chromium on the machine the test is skipped, saying so.
import { existsSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { type Browser, chromium, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { build } from '../helper.js'

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
// As root in a container: no sandbox; and no background connections (this network is closed).
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

async function browse (t: Test): Promise<{ browser: Browser, base: string, open: (url: string) => Promise<Page>, errors: string[] }> {
  const app = await build(t, { store: 'memory' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await chromium.launch({ executablePath, headless: true, args: ARGS })
  t.teardown(async () => { await browser.close() })
  const errors: string[] = []
  const open = async (url: string): Promise<Page> => {
    const page = await browser.newPage()
    page.on('pageerror', (err) => { errors.push(String(err)) })
    page.on('console', (message) => {
      // The read of a burned message is a 404 on purpose; anything else is a fault (a CSP refusal, a script error).
      if (message.type() === 'error' && !/status of 404/.test(message.text())) errors.push(message.text())
    })
    await page.goto(url)
    return page
  }
  return { browser, base, open, errors }
}

t.test('write, share and read a message in a browser, encrypted and not', { skip: existsSync(executablePath) ? false : `no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)` }, async (t) => {
  const { base, open, errors } = await browse(t)
  for (const encrypt of [true, false]) {
    const text = `meet at 9 ✓ <b>not bold</b> (encrypted: ${String(encrypt)})`
    const writer = await open(`${base}/`)
    await writer.fill('#content', text)
    if (!encrypt) await writer.uncheck('#encrypt')
    await writer.selectOption('#max-views', '1')
    const [sent] = await Promise.all([writer.waitForRequest((request) => request.method() === 'POST'), writer.click('button[type=submit]')])
    await writer.waitForSelector('#created:not([hidden])')
    const body = JSON.parse(sent.postData() ?? '{}') as { content: string, encrypted: boolean, maxViews: number }
    t.equal(body.encrypted, encrypt)
    t.equal(body.maxViews, 1)
    const link = await writer.inputValue('#link')
    t.match(link, new RegExp(`^${base}/msg/[A-Za-z0-9_-]{22}${encrypt ? '#[A-Za-z0-9_-]{43}$' : '$'}`), 'the link (with its key in the fragment when encrypted)')
    if (encrypt) {
      t.notMatch(body.content, 'meet at 9', 'the server is sent ciphertext only')
      t.notMatch(body.content, link.split('#')[1] as string, 'and never the key')
    } else {
      t.equal(body.content, text)
    }
    t.match(await writer.inputValue('#delete-token'), /^[A-Za-z0-9_-]{32,}$/)

    const reader = await open(link)
    t.equal(await reader.isVisible('#reveal'), true, 'opening the link shows a button, not the message')
    await reader.click('#reveal')
    await reader.waitForSelector('#revealed:not([hidden])')
    t.equal(await reader.textContent('#message'), text, 'the text, as text')
    t.equal(await reader.locator('#message b').count(), 0, 'never as HTML')
    t.match(await reader.textContent('#remaining'), /last view/)

    const late = await open(link)
    await late.click('#reveal')
    await late.waitForSelector('#gone:not([hidden])')
  }

  const noKey = await open(`${base}/`)
  await noKey.fill('#content', 'keyless')
  await noKey.click('button[type=submit]')
  await noKey.waitForSelector('#created:not([hidden])')
  const keyless = await open((await noKey.inputValue('#link')).split('#')[0] as string)
  await keyless.click('#reveal')
  await keyless.waitForSelector('#read-status:has-text("no key")')
  t.pass('an encrypted message opened without its key says so')

  t.same(errors, [], 'no script error, no CSP refusal')
})
