// "Has it been read?" on the compose page (issue 19): after creating, the page asks
// GET /msg/:id/receipt with the delete token it keeps in its memory only, and says what the
// receipt says; "Check again" asks anew. A 404, a network failure and a 429 are explained.
// The words themselves (receiptText) are checked in Node first; the rest in headless
// Chromium (skipped without it, saying so). The API is the second witness.
import type { Page } from 'playwright-core'
import t from 'tap'
import { receiptText } from '../../routes/web/client.js'
import { readTokenFor } from '../../routes/web/envelope.js'
import { axeViolations, browse, create, noBrowser, partsOf, PHONE, scrollsSideways } from './browser-helper.js'

const skip = noBrowser

t.test('receiptText: the state in words, the views, the times', async (t) => {
  const when = (iso: string): string => `<${iso}>`
  const base = { expiresAt: 'E', firstViewedAt: null, lastViewedAt: null, endedAt: null }
  t.same(receiptText({ ...base, state: 'live', views: 0, maxViews: 1 }, when), {
    summary: 'Not read yet: the link still works. It can be read once more.',
    views: '0 of 1',
    first: 'not yet',
    last: 'not yet',
    ended: 'not yet (it expires <E>)'
  })
  const once = { ...base, views: 1, firstViewedAt: 'F', lastViewedAt: 'F' }
  t.equal(receiptText({ ...once, state: 'live', maxViews: 3 }, when).summary, 'Read once: the link still works. It can be read 2 more times.')
  t.equal(receiptText({ ...once, state: 'live', maxViews: null }, when).summary, 'Read once: the link still works.')
  t.equal(receiptText({ ...once, state: 'live', maxViews: null }, when).views, '1 (no limit)')
  t.same(receiptText({ ...once, state: 'burned', maxViews: 1, endedAt: 'F' }, when), {
    summary: 'Read once, as often as allowed: the message is gone from the server.',
    views: '1 of 1',
    first: '<F>',
    last: '<F>',
    ended: '<F>'
  })
  const expired = receiptText({ ...base, state: 'expired', views: 0, maxViews: 1, endedAt: 'E' }, when)
  t.equal(expired.summary, 'Expired without being read: the message is gone from the server.')
  t.equal(expired.first, 'never', 'an ended message was never read, not "not yet"')
  t.equal(receiptText({ ...base, state: 'expired', views: 2, maxViews: null, endedAt: 'E' }, when).summary, 'Read 2 times, then expired: the message is gone from the server.')
  t.equal(receiptText({ ...base, state: 'deleted', views: 0, maxViews: 1, endedAt: 'D' }, when).summary, 'Deleted before anyone read it.')
  t.equal(receiptText({ ...once, state: 'deleted', maxViews: 3, endedAt: 'D' }, when).summary, 'Read once, then deleted.')
  t.equal(receiptText({ ...base, state: 'archived', views: 0, maxViews: 1 }, when).summary, 'The server says: archived.', 'a state from a newer server, said as it is')
})

/** Where the page could have put the delete token besides its memory: storage, the address, cookies. */
async function tokenKeptElsewhere (page: Page, token: string): Promise<string[]> {
  const places = await page.evaluate(`({
    localStorage: JSON.stringify({ ...localStorage }),
    sessionStorage: JSON.stringify({ ...sessionStorage }),
    url: location.href,
    cookie: document.cookie
  })`) as Record<string, string>
  return Object.entries(places).filter(([, value]) => value.includes(token)).map(([place]) => place)
}

t.test('has it been read? not yet, 0 views; read through the API; check again: 1 view, burned', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => {
    await page.fill('#content', 'did you get this?')
    await page.selectOption('#max-views', '1')
  })
  const { id, secret } = partsOf(link)
  const token = await writer.inputValue('#delete-token')
  t.match(await writer.textContent('#receipt-note'), /only in its memory: close or reload the page and the token is gone/, 'the page says where the token lives')
  t.equal(await writer.isVisible('#receipt'), false, 'no receipt before asking')

  const asked: Array<{ url: string, token: string | undefined }> = []
  writer.on('request', (request) => {
    if (new URL(request.url()).pathname.endsWith('/receipt')) asked.push({ url: request.url(), token: request.headers()['x-delete-token'] })
  })
  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt:not([hidden])')
  t.same(asked, [{ url: `${base}/msg/${id}/receipt`, token }], 'GET /msg/<id>/receipt, the delete token in X-Delete-Token (not in the address)')
  t.match(await writer.textContent('#receipt-state'), /^Not read yet: the link still works\. It can be read once more\. \(Checked at .+\.\)$/)
  t.equal(await writer.textContent('#receipt-views'), '0 of 1')
  t.equal(await writer.textContent('#receipt-first'), 'not yet')
  t.match(await writer.textContent('#receipt-ended'), /^not yet \(it expires .+\)$/)
  t.equal(await writer.isVisible('#receipt-check'), false, 'the question gives way to "Check again"')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-title', 'the focus moves to the answer')
  t.same(await axeViolations(writer), [], 'axe: the receipt, not read yet')

  const read = await app.inject({ url: `/msg/${id}`, headers: { accept: 'application/json', 'x-read-token': await readTokenFor(secret) } })
  t.equal(read.statusCode, 200, 'the message was still there: asking consumed no view')

  await writer.click('#receipt-again')
  await writer.waitForSelector('#receipt-views:has-text("1 of 1")')
  t.match(await writer.textContent('#receipt-state'), /^Read once, as often as allowed: the message is gone from the server\. \(Checked at .+\.\)$/)
  t.not(await writer.textContent('#receipt-first'), 'never', 'when it was read')
  t.equal(await writer.textContent('#receipt-first'), await writer.textContent('#receipt-last'), 'one read: first and last are the same')
  t.not(await writer.textContent('#receipt-ended'), 'not yet', 'and when it ended')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-again', '"Check again" keeps the focus; the live region says the news')
  t.equal(await writer.getAttribute('#receipt-state', 'role'), 'status')
  t.same(await axeViolations(writer), [], 'axe: the receipt, burned')
  t.same(await tokenKeptElsewhere(writer, token), [], 'the token is in no storage, no address, no cookie')
  t.equal(asked.length, 2)

  // The page's own delete keeps the token for the receipt, which then says so.
  await writer.click('#another')
  const second = await create(writer, async (page) => {
    await page.fill('#content', 'delete me, then ask')
    await page.selectOption('#max-views', '3')
  })
  t.not(second.link, link)
  t.equal(await writer.isVisible('#receipt'), false, 'a new message: the last receipt is gone from the page')
  t.equal(await writer.isVisible('#receipt-check'), true)
  await writer.click('#delete')
  await writer.click('#delete-confirm')
  await writer.waitForSelector('#created-status:has-text("Deleted")')
  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt:not([hidden])')
  t.match(await writer.textContent('#receipt-state'), /^Deleted before anyone read it\./)
  t.equal(await writer.textContent('#receipt-first'), 'never')
  t.same(errors, [], 'no script error, no console error, no CSP violation')
})

t.test('by keyboard alone, and on a phone', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const writer = await open(`${base}/`, PHONE)
  await writer.keyboard.type('asked by keyboard')
  await writer.click('#create')
  await writer.waitForSelector('#created:not([hidden])')
  await writer.focus('#delete-token')
  for (let i = 0; i < 30 && await writer.evaluate('document.activeElement?.id') !== 'receipt-check'; i++) await writer.keyboard.press('Tab')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-check', 'Tab reaches "Has it been read?"')
  await writer.keyboard.press('Enter')
  await writer.waitForSelector('#receipt:not([hidden])')
  t.equal(await writer.textContent('#receipt-views'), '0 of 1')
  await writer.keyboard.press('Tab')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-again', 'from the answer, Tab reaches "Check again"')
  await Promise.all([writer.waitForResponse((response) => response.url().endsWith('/receipt')), writer.keyboard.press('Enter')])
  await writer.waitForSelector('#receipt-status:empty')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-again', 'and keeps the focus')
  t.equal(await scrollsSideways(writer), false, '360 px: the receipt fits')
  t.same(errors, [])
})

t.test('no receipt (404), no answer, too many requests: each said, and the next check works', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => { await page.fill('#content', 'the receipt may be refused') })
  const { id } = partsOf(link)
  const answers: Array<'404' | 'abort' | '429'> = ['404', 'abort', '429']
  await writer.route(`${base}/msg/${id}/receipt`, async (route) => {
    const next = answers.shift()
    if (next === '404') await route.fulfill({ status: 404, contentType: 'application/json', body: '{"statusCode":404,"error":"Not Found","message":"Message not found"}' })
    else if (next === 'abort') await route.abort('internetdisconnected')
    else if (next === '429') await route.fulfill({ status: 429, contentType: 'application/json', headers: { 'retry-after': '42' }, body: '{"statusCode":429,"error":"Too Many Requests","message":"Rate limit exceeded"}' })
    else await route.continue()
  })
  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt-status.error')
  t.match(await writer.textContent('#receipt-status'), /has no receipt for this message\. It keeps one only for a while after the message ends .*or the delete token was not accepted/, '404: why, in words')
  t.equal(await writer.isVisible('#receipt'), false, 'and no receipt shown')
  t.equal(await writer.evaluate('document.activeElement?.id'), 'receipt-check', 'the button keeps the focus, to try again')

  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt-status:has-text("could not be reached")')
  t.equal(await writer.isVisible('#receipt'), false)

  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt-status:has-text("Too many requests")')
  t.match(await writer.textContent('#receipt-status'), /wait 42 seconds and check again/, '429: Retry-After said')
  t.same(await axeViolations(writer), [], 'axe: an error about the receipt')

  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt:not([hidden])')
  t.equal(await writer.textContent('#receipt-status'), '', 'the error is gone')
  t.equal(await writer.textContent('#receipt-views'), '0 of 1')
  // The refused and cut-off requests' own console lines are expected; nothing else may be there.
  t.same(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|status of 429/.test(e)), [])
})

t.test('a server that keeps no receipts (RECEIPT_RETENTION_SECONDS=0): the page says there is none', { skip }, async (t) => {
  const { base, open, errors } = await browse(t, { RECEIPT_RETENTION_SECONDS: 0 })
  const writer = await open(`${base}/`)
  await create(writer, async (page) => { await page.fill('#content', 'no receipts here') })
  await writer.click('#receipt-check')
  await writer.waitForSelector('#receipt-status.error')
  t.match(await writer.textContent('#receipt-status'), /has no receipt for this message.*some servers keep none/)
  t.same(errors, [])
})
