// The pages for everyone: axe-core finds no serious or critical violation in any state of
// either page, they fit a 360 px phone without sideways scrolling, and they work by keyboard
// alone with a visible focus. Screenshots land in test/artifacts/ (git-ignored); with
// MISSIVE_DOCS_SCREENSHOTS=1 the README's screenshots in docs/screenshots/ are made again too.
import { copyFileSync, mkdirSync } from 'node:fs'
import type { Page } from 'playwright-core'
import t from 'tap'
import { ARTIFACTS, axeViolations, browse, create, DESKTOP, noBrowser, PHONE, scrollsSideways } from './browser-helper.js'

const skip = noBrowser
const DOCS = new URL('../../docs/screenshots/', import.meta.url)
const forDocs = process.env.MISSIVE_DOCS_SCREENSHOTS === '1'

const SAMPLE = 'The door code for the flat is 4711-0815.\nThe spare key is under the blue flowerpot; please put it back.'
const LONG_WORD = 'x'.repeat(300)

/** A full-page screenshot in test/artifacts/ (and in docs/screenshots/ when asked). */
async function screenshot (page: Page, name: string, docs = false): Promise<void> {
  const path = new URL(`${name}.png`, ARTIFACTS)
  await page.screenshot({ path: path.pathname, fullPage: true })
  if (docs && forDocs) {
    mkdirSync(DOCS, { recursive: true })
    copyFileSync(path, new URL(`${name}.png`, DOCS))
  }
}

t.test('axe-core: no serious or critical violation in any state of either page', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const check = async (page: Page, state: string): Promise<void> => { t.same(await axeViolations(page), [], state) }

  const writer = await open(`${base}/`)
  await check(writer, 'compose page')
  await writer.setInputFiles('#file', { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('a') })
  await writer.fill('#passphrase', 'pass')
  await check(writer, 'compose page with a file and a passphrase')
  await writer.fill('#content', 'x'.repeat(70_000))
  await writer.click('#create')
  await writer.waitForSelector('#compose-status:has-text("over the limit")')
  await check(writer, 'compose page refusing too long a text')
  const { link } = await create(writer, async (page) => { await page.fill('#content', SAMPLE) })
  await check(writer, 'the link, created')
  await writer.click('#copy')
  await writer.waitForSelector('#created-status:has-text("The link is")')
  await check(writer, 'the link, copied (or selected to copy)')
  await writer.click('#delete')
  await check(writer, 'the delete confirmation')
  await writer.click('#delete-cancel')
  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt:not([hidden])')
  await check(writer, 'the receipt: has it been read?')

  const reader = await open(link)
  await check(reader, 'read page, before reading')
  await reader.click('#reveal')
  await reader.waitForSelector('#locked:not([hidden])')
  await reader.fill('#read-passphrase', 'wrong')
  await reader.click('#unlock')
  await reader.waitForSelector('#read-status:has-text("wrong")')
  await check(reader, 'read page asking for the passphrase, after a wrong one')
  await reader.fill('#read-passphrase', 'pass')
  await reader.click('#unlock')
  await reader.waitForSelector('#revealed:not([hidden])')
  await check(reader, 'read page showing a text, a file, and that it is gone')

  const gone = await open(link)
  await gone.click('#reveal')
  await gone.waitForSelector('#gone:not([hidden])')
  await check(gone, 'read page of a message that is gone')
  t.same(errors, [], 'no script error, no console error, no CSP violation (axe included)')
})

t.test('360 px wide: no sideways scrolling; screenshots of both pages at phone and desktop width', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  for (const [width, viewport] of [['phone', PHONE], ['desktop', DESKTOP]] as const) {
    const writer = await open(`${base}/`, viewport)
    await writer.fill('#content', SAMPLE)
    await writer.fill('#passphrase', 'blue flowerpot')
    t.equal(await scrollsSideways(writer), false, `${width}: the compose page fits`)
    await screenshot(writer, `compose-${width}`, true)
    const { link } = await create(writer, async (page) => { await page.selectOption('#max-views', '3') })
    t.equal(await scrollsSideways(writer), false, `${width}: the created link fits`)
    await screenshot(writer, `created-${width}`)
    await writer.click('#receipt-check')
    await writer.waitForSelector('#receipt:not([hidden])')
    t.equal(await scrollsSideways(writer), false, `${width}: the receipt fits`)
    await screenshot(writer, `receipt-${width}`)

    const reader = await open(link, viewport)
    t.equal(await scrollsSideways(reader), false, `${width}: the read page fits`)
    await screenshot(reader, `read-closed-${width}`)
    await reader.click('#reveal')
    await reader.fill('#read-passphrase', 'blue flowerpot')
    await reader.click('#unlock')
    await reader.waitForSelector('#revealed:not([hidden])')
    t.equal(await scrollsSideways(reader), false, `${width}: the message fits`)
    await screenshot(reader, `read-${width}`, true)
  }

  // The worst case for a narrow screen: one unbroken 300-character word, and a file with a long name.
  const writer = await open(`${base}/`, PHONE)
  await writer.setInputFiles('#file', { name: `${'long-name-'.repeat(20)}.txt`, mimeType: 'text/plain', buffer: Buffer.from('file') })
  const { link } = await create(writer, async (page) => { await page.fill('#content', LONG_WORD) })
  const reader = await open(link, PHONE)
  await reader.click('#reveal')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.evaluate('document.documentElement.scrollWidth') as number <= PHONE.width, true, 'an unbroken word and a long file name wrap instead of scrolling sideways')
  await screenshot(reader, 'read-long-phone')
  t.same(errors, [])
})

/** Presses Tab until the element with this id has the focus (at most 30 times). */
async function tabTo (page: Page, id: string): Promise<void> {
  for (let i = 0; i < 30; i++) {
    if (await page.evaluate('document.activeElement?.id') === id) return
    await page.keyboard.press('Tab')
  }
  throw new Error(`Tab never reached #${id}`)
}

/** Whether the focused element shows a focus ring. */
const focusRing = async (page: Page): Promise<boolean> => await page.evaluate(`(() => {
  const style = getComputedStyle(document.activeElement)
  return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2
})()`) as boolean

t.test('keyboard alone: write, create, delete, and read, with a visible focus', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  t.equal(await writer.evaluate('document.activeElement?.id'), 'content', 'the text box has the focus at once')
  await writer.keyboard.type('typed, not clicked')
  await writer.keyboard.press('Tab')
  t.equal(await focusRing(writer), true, 'the next control shows its focus')
  await tabTo(writer, 'create')
  t.equal(await focusRing(writer), true, 'the submit button shows its focus')
  await writer.keyboard.press('Enter')
  await writer.waitForSelector('#created:not([hidden])')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'created-title', 'the focus moves to the result')
  const link = await writer.inputValue('#link')

  const reader = await open(link)
  await tabTo(reader, 'reveal')
  t.equal(await focusRing(reader), true)
  await reader.keyboard.press('Enter')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.textContent('#message'), 'typed, not clicked')

  const second = await open(`${base}/`)
  await second.keyboard.type('delete me by keyboard')
  await tabTo(second, 'create')
  await second.keyboard.press('Enter')
  await second.waitForSelector('#created:not([hidden])')
  await tabTo(second, 'delete')
  await second.keyboard.press('Enter')
  t.equal(await second.evaluate('document.activeElement?.id'), 'delete-confirm', 'the confirmation takes the focus')
  await second.keyboard.press('Enter')
  await second.waitForSelector('#created-status:has-text("Deleted")')
  t.same(errors, [])
})
