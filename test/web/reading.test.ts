// The read page in a real browser: the passphrase flow, deleting from the compose page, what
// someone with only the id (or a page load) can do (nothing), and messages made without the
// envelope. Without Chromium the tests are skipped, saying so; the API is the second witness.
import { webcrypto } from 'node:crypto'
import t from 'tap'
import { readTokenFor, toBase64Url } from '../../routes/web/envelope.js'
import { browse, countReads, create, noBrowser, partsOf } from './browser-helper.js'

const skip = noBrowser

t.test('a passphrase: wrong, then right, within one view', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => {
    await page.fill('#content', 'the safe is behind the painting')
    await page.fill('#passphrase', 'correct horse')
    t.equal(await page.isDisabled('#encrypt'), true, 'a passphrase is always encrypted')
    await page.selectOption('#max-views', '3')
  })
  t.equal(await writer.isVisible('#passphrase-reminder'), true, 'the writer is reminded to send the passphrase another way')
  const { id, secret } = partsOf(link)

  const reader = await open(link)
  const reads = countReads(reader)
  await reader.click('#reveal')
  await reader.waitForSelector('#locked:not([hidden])')
  t.equal(await reader.evaluate('document.activeElement?.id'), 'read-passphrase', 'the passphrase field gets the focus')
  await reader.fill('#read-passphrase', 'wrong horse')
  await reader.click('#unlock')
  await reader.waitForSelector('#read-status:has-text("passphrase is wrong")')
  t.equal(await reader.isVisible('#locked'), true, 'the person can try again')
  await reader.fill('#read-passphrase', 'correct horse')
  await reader.press('#read-passphrase', 'Enter')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.textContent('#message'), 'the safe is behind the painting')
  t.match(await reader.textContent('#remaining'), 'It can be read 2 more times.')
  t.equal(reads(), 1, 'one fetch for both tries')
  const after = await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': await readTokenFor(secret) } })
  t.equal(after.json().remainingViews, 1, 'the server counted one view for the page (and this one)')
  t.same(errors, [])
})

t.test('delete from the page, with a confirmation', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => {
    await page.fill('#content', 'delete me')
    await page.selectOption('#max-views', '3')
  })
  const { id, secret } = partsOf(link)
  const readToken = await readTokenFor(secret)

  await writer.click('#delete')
  t.equal(await writer.isVisible('#delete-ask'), true, 'asks first')
  await writer.click('#delete-cancel')
  t.equal(await writer.isVisible('#delete-ask'), false)
  t.equal((await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': readToken } })).statusCode, 200, 'cancelled: still there')

  await writer.click('#delete')
  await writer.click('#delete-confirm')
  await writer.waitForSelector('#created-status:has-text("Deleted")')
  t.equal(await writer.isDisabled('#delete'), true, 'nothing left to delete')
  t.equal((await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': readToken } })).statusCode, 404, 'the API has nothing any more')

  const reader = await open(link)
  await reader.click('#reveal')
  await reader.waitForSelector('#gone:not([hidden])')
  t.same(errors, [])
})

t.test('someone with only the id, or just opening the page, reads and burns nothing', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  for (const encrypt of [true, false]) {
    const writer = await open(`${base}/`)
    const { link } = await create(writer, async (page) => {
      await page.fill('#content', `keyless ${String(encrypt)}`)
      if (!encrypt) await page.uncheck('#encrypt')
    })
    const { id, secret, path } = partsOf(link)
    const visitor = await open(link)
    await visitor.reload()
    await visitor.goto(link)
    const keyless = await open(`${base}${path}`)
    await keyless.click('#reveal')
    await keyless.waitForSelector('#gone:not([hidden])')
    t.match(await keyless.textContent('#gone'), /has no key/, 'a link without its key says so')
    const read = await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': await readTokenFor(secret) } })
    t.equal(read.statusCode, 200, `encrypted: ${String(encrypt)}: three page loads and a key-less read left it there`)
    t.equal(read.json().remainingViews, 0, 'with its one view')
  }

  const broken = await open(`${base}/msg/AAAAAAAAAAAAAAAAAAAAAA#abc`)
  let fetched = 0
  broken.on('request', (request) => { if (request.resourceType() === 'fetch') fetched++ })
  await broken.click('#reveal')
  await broken.waitForSelector('#read-status:has-text("is the link complete")')
  t.equal(fetched, 0, 'a cut key is refused before anything is fetched')
  t.same(errors, [])
})

t.test('messages without an envelope still show: the first page\'s format, and plain text from the API', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  // What the page made before the envelope: base64url(iv || AES-256-GCM ciphertext), the raw key as the fragment, no read token.
  const key = webcrypto.getRandomValues(new Uint8Array(32))
  const iv = webcrypto.getRandomValues(new Uint8Array(12))
  const aes = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['encrypt'])
  const sealed = new Uint8Array(await webcrypto.subtle.encrypt({ name: 'AES-GCM', iv }, aes, new TextEncoder().encode('from the old page ✓')))
  const legacy = (await app.inject({ method: 'POST', url: '/', payload: { content: toBase64Url(new Uint8Array([...iv, ...sealed])), encrypted: true } })).json()
  const reader = await open(`${base}${legacy.url as string}#${toBase64Url(key)}`)
  await reader.click('#reveal')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.textContent('#message'), 'from the old page ✓')

  const plain = (await app.inject({ method: 'POST', url: '/', payload: { content: 'plain from curl' } })).json()
  const plainReader = await open(`${base}${plain.url as string}`)
  await plainReader.click('#reveal')
  await plainReader.waitForSelector('#revealed:not([hidden])')
  t.equal(await plainReader.textContent('#message'), 'plain from curl')
  t.match(await plainReader.textContent('#remaining'), /read again until/)
  t.same(errors, [])
})

t.test('a network error on the read: nothing shown, the button works again, the next try reads', { skip }, async (t) => {
  const { app, base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => {
    await page.fill('#content', 'second time lucky')
    await page.selectOption('#max-views', '3')
  })
  const { id, secret } = partsOf(link)
  const reader = await open(link)
  const reads = countReads(reader)
  // The first read (GET /msg/:id as JSON) fails on the way: fetch rejects, no answer comes.
  let aborted = 0
  await reader.route(`${base}/msg/${id}`, async (route) => {
    const request = route.request()
    if (request.method() === 'GET' && /json/.test(request.headers().accept ?? '') && aborted === 0) {
      aborted++
      await route.abort('internetdisconnected')
    } else {
      await route.continue()
    }
  })
  await reader.click('#reveal')
  await reader.waitForSelector('#read-status:has-text("could not be fetched")')
  t.equal(aborted, 1, 'the first read was cut off')
  t.equal(await reader.isEnabled('#reveal'), true, 'the button works again')
  t.equal(await reader.isVisible('#reveal'), true)
  t.equal(await reader.isVisible('#revealed'), false, 'nothing shown')
  t.equal(await reader.evaluate('document.activeElement?.id'), 'reveal', 'the focus is on the button to try again')
  t.equal((await app.inject({ url: `/msg/${id}`, headers: { 'x-read-token': await readTokenFor(secret) } })).json().remainingViews, 2,
    'the server still has it, all three views (this read is the API\'s: one)')

  await reader.click('#reveal')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.textContent('#message'), 'second time lucky')
  t.equal(await reader.textContent('#read-status'), '', 'the error is gone')
  t.match(await reader.textContent('#remaining'), 'It can be read 1 more time.')
  t.equal(reads(), 2, 'two tries: one cut off, one read')
  // The cut-off request's own console line is expected; nothing else may be there.
  t.same(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e)), [])
})

t.test('a redirect is never followed: the read token stays here', { skip }, async (t) => {
  const { base, open, errors } = await browse(t)
  const writer = await open(`${base}/`)
  const { link } = await create(writer, async (page) => {
    await page.fill('#content', 'stay here')
    await page.selectOption('#max-views', '3')
  })
  const { id } = partsOf(link)
  const reader = await open(link)
  const elsewhere: string[] = []
  reader.on('request', (request) => { if (new URL(request.url()).pathname === '/elsewhere') elsewhere.push(request.headers()['x-read-token'] ?? '') })
  let redirected = 0
  await reader.route(`${base}/msg/${id}`, async (route) => {
    if (route.request().method() === 'GET' && redirected === 0 && /json/.test(route.request().headers().accept ?? '')) {
      redirected++
      await route.fulfill({ status: 307, headers: { location: `${base}/elsewhere` } })
    } else {
      await route.continue()
    }
  })
  await reader.click('#reveal')
  await reader.waitForSelector('#read-status:has-text("could not be fetched")')
  t.equal(redirected, 1)
  t.same(elsewhere, [], 'nothing was sent to where the redirect pointed')
  t.equal(await reader.isEnabled('#reveal'), true, 'the button works again')
  await reader.click('#reveal')
  await reader.waitForSelector('#revealed:not([hidden])')
  t.equal(await reader.textContent('#message'), 'stay here')
  // The refused redirect's own console line (net::ERR_FAILED) is expected; nothing else may be there.
  t.same(errors.filter((e) => e !== 'console: Failed to load resource: net::ERR_FAILED'), [])
})
