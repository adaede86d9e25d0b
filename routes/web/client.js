// The web pages' script (served as /assets/missive.js; the pages are routes/web/*.html).
// Plain JavaScript, as browsers run it: no build step, no inline code, so the strict CSP
// (script-src 'self') holds. Its helpers run in Node too, for the tests.
//
// The encryption is routes/web/envelope.js (served as /assets/envelope.js), the one format
// the page, the CLI and the tests share. A link is /msg/<id>#<secret>: browsers never send
// the fragment to a server, and the pages send no Referer. From the secret come the read
// token (sent as X-Read-Token, so whoever has only the id can neither read nor burn the
// message) and the content key.
/* global document, location, navigator, fetch, Blob, URL, window */
import { EnvelopeError, envelopeInfo, newLinkSecret, open, plaintextBytes, readTokenFor, safeFileName, seal } from './envelope.js'

/** The message id of a /msg/<id> path, or null. @param {string} pathname */
export function messageIdOf (pathname) {
  const match = /^\/msg\/([A-Za-z0-9_-]{22})$/.exec(pathname)
  return match === null ? null : match[1]
}

/** 65536 → "65,536" (the same in every locale, so tests and people read the same). @param {number} n */
export const formatCount = (n) => String(n).replace(/\B(?=(\d{3})+$)/g, ',')

/**
 * What the size line under the text says.
 * @param {number} used bytes of the text and file @param {number} max MESSAGE_MAX_BYTES
 */
export function sizeText (used, max) {
  const of = `${formatCount(used)} of ${formatCount(max)} bytes`
  return used > max ? `${of}: ${formatCount(used - max)} too many` : of
}

/**
 * What the read page says of the views left after this one.
 * @param {number|null} remainingViews @param {string} expiresAt
 */
export function remainingText (remainingViews, expiresAt) {
  if (remainingViews === null) return `It can be read again until ${new Date(expiresAt).toLocaleString()}.`
  if (remainingViews === 0) return 'That was its last view.'
  return `It can be read ${remainingViews} more time${remainingViews === 1 ? '' : 's'}.`
}

/** What a person is told when an envelope does not open. @param {unknown} err */
export function openErrorText (err) {
  const code = err instanceof EnvelopeError ? err.code : ''
  if (code === 'WRONG_PASSPHRASE') return 'That passphrase is wrong (or the link is incomplete). Try again: the message is still here.'
  if (code === 'WRONG_KEY') return 'The key in this link (the part after #) does not open this message: is the link complete?'
  if (code === 'UNSUPPORTED_VERSION') return 'This message was made by a newer version of Missive: this page cannot open it.'
  if (code === 'MALFORMED') return 'This message is not something Missive encrypted, or it was damaged.'
  return err instanceof Error ? err.message : 'Something went wrong.'
}

/** 1 → "once", 3 → "3 times". @param {number} n */
const times = (n) => n === 1 ? 'once' : `${n} times`

/**
 * What the compose page says of a receipt (GET /msg/:id/receipt): the state in words, then
 * the views and the times for the list under it.
 * @param {{ state: string, views: number, maxViews: number|null, expiresAt: string,
 *   firstViewedAt: string|null, lastViewedAt: string|null, endedAt: string|null }} receipt
 * @param {(iso: string) => string} [when] how a time is shown (the browser's locale by default)
 */
export function receiptText (receipt, when = (iso) => new Date(iso).toLocaleString()) {
  const { state, views, maxViews } = receipt
  const ended = state !== 'live'
  let summary
  if (state === 'live') {
    const left = maxViews === null ? '' : ` It can be read ${maxViews - views === 1 ? 'once more' : `${maxViews - views} more times`}.`
    summary = views === 0 ? `Not read yet: the link still works.${left}` : `Read ${times(views)}: the link still works.${left}`
  } else if (state === 'burned') {
    summary = `Read ${times(views)}, as often as allowed: the message is gone from the server.`
  } else if (state === 'expired') {
    summary = views === 0 ? 'Expired without being read: the message is gone from the server.' : `Read ${times(views)}, then expired: the message is gone from the server.`
  } else if (state === 'deleted') {
    summary = views === 0 ? 'Deleted before anyone read it.' : `Read ${times(views)}, then deleted.`
  } else {
    // (a state this page does not know, from a newer server: said as it is)
    summary = `The server says: ${String(state)}.`
  }
  const never = ended ? 'never' : 'not yet'
  return {
    summary,
    views: maxViews === null ? `${views} (no limit)` : `${views} of ${maxViews}`,
    first: receipt.firstViewedAt === null ? never : when(receipt.firstViewedAt),
    last: receipt.lastViewedAt === null ? never : when(receipt.lastViewedAt),
    ended: receipt.endedAt === null ? `not yet (it expires ${when(receipt.expiresAt)})` : when(receipt.endedAt)
  }
}

/** The error message of an API error body, or a generic one. @param {Response} response */
async function errorOf (response) {
  try {
    const body = await response.json()
    if (typeof body.message === 'string') return body.message
  } catch {}
  return `The server answered ${response.status}.`
}

/** A request that got no answer: no connection, or a redirect, which these pages never follow. */
class NoAnswerError extends Error {}

/**
 * fetch, never following a redirect: the requests of these pages carry the read token, the
 * delete token or the message itself, and none of them belongs anywhere but at this server's
 * own path. A redirect (a misconfigured proxy, a hostile one) makes fetch reject instead,
 * which is then a NoAnswerError like a network failure (fetch does not tell them apart).
 * @param {string} url @param {RequestInit} init
 */
async function fetchHere (url, init) {
  try {
    return await fetch(url, { ...init, redirect: 'error' })
  } catch {
    throw new NoAnswerError('The server could not be reached (no connection, or it answered with a redirect, which this page does not follow). Try again.')
  }
}

/** @param {string} id */
const byId = (id) => document.getElementById(id)

/** Shows one of the page's panels and hides the others in its group. @param {string} id */
function show (id) {
  const panel = byId(id)
  if (panel === null) return
  for (const sibling of panel.parentElement?.querySelectorAll('[data-panel]') ?? []) sibling.hidden = sibling !== panel
}

/**
 * Says something in a live region (role=status): screen readers announce it.
 * @param {HTMLElement} region @param {string} text @param {'error'|'ok'|''} [kind]
 */
function say (region, text, kind = '') {
  region.textContent = text
  region.classList.toggle('error', kind === 'error')
  region.classList.toggle('ok', kind === 'ok')
}

/** Browsers offer WebCrypto on HTTPS (and localhost) only. */
const canEncrypt = () => globalThis.crypto?.subtle !== undefined

/** Moves the keyboard (and a screen reader) to a panel's heading, once it shows. @param {string} id */
const focusOn = (id) => byId(id)?.focus()

function setUpCompose () {
  const form = byId('compose')
  if (form === null) return
  const maxBytes = Number(form.dataset.maxBytes)
  const content = byId('content')
  const fileInput = byId('file')
  const passphrase = byId('passphrase')
  const encrypt = byId('encrypt')
  const note = byId('encrypt-note')
  const status = byId('compose-status')
  /** what the person chose, restored when a file or a passphrase no longer forces encryption */
  let wantsEncryption = encrypt.checked

  const chosenFile = () => fileInput.files?.[0] ?? null
  const used = () => plaintextBytes({ text: content.value }) + (chosenFile()?.size ?? 0)

  function updateSize () {
    const size = byId('size')
    size.textContent = sizeText(used(), maxBytes)
    size.classList.toggle('over', used() > maxBytes)
    byId('clear-file').hidden = chosenFile() === null
  }

  // A file or a passphrase exists only inside an envelope: either one turns encryption on.
  function updateEncryption () {
    if (!canEncrypt()) {
      // No WebCrypto (plain HTTP): no envelope, so neither files nor passphrases.
      for (const input of [encrypt, fileInput, passphrase]) input.disabled = true
      encrypt.checked = false
      note.textContent = 'Encryption, files and passphrases need this page over HTTPS.'
      return
    }
    const forced = chosenFile() !== null || passphrase.value !== ''
    encrypt.disabled = forced
    encrypt.checked = forced || wantsEncryption
    note.textContent = forced ? 'A file or a passphrase is always encrypted.' : ''
  }

  content.addEventListener('input', updateSize)
  fileInput.addEventListener('change', () => { updateSize(); updateEncryption() })
  passphrase.addEventListener('input', updateEncryption)
  encrypt.addEventListener('change', () => { wantsEncryption = encrypt.checked })
  byId('clear-file').addEventListener('click', () => {
    fileInput.value = ''
    updateSize()
    updateEncryption()
    fileInput.focus()
  })
  updateSize()
  updateEncryption()

  /** The message being shown in the created panel: its id and delete token, in this page's memory only. */
  let current = null

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    say(status, '')
    const file = chosenFile()
    if (content.value === '' && file === null) return say(status, 'Write a message or choose a file first.', 'error')
    // Refused before anything is encrypted or sent, saying by how much.
    const over = used() - maxBytes
    if (over > 0) return say(status, `That is ${formatCount(over)} byte${over === 1 ? '' : 's'} over the limit of ${formatCount(maxBytes)}: shorten it by at least that much.`, 'error')
    const submit = byId('create')
    submit.disabled = true
    try {
      const created = await create(file)
      if (created !== null) showCreated(created)
    } catch (err) {
      say(status, openErrorText(err), 'error')
    } finally {
      submit.disabled = false
    }
  })

  /** Encrypts (when asked), sends, and returns what to show, or null after saying why not. @param {File|null} file */
  async function create (file) {
    // The link secret, and its read token, even for a message sent in clear: the read token
    // keeps whoever has only the id (a log, a preview bot) from reading or burning it.
    const secret = canEncrypt() ? newLinkSecret() : null
    const body = { content: content.value, encrypted: encrypt.checked, ttl: Number(byId('ttl').value) }
    const maxViews = byId('max-views').value
    if (maxViews !== '') body.maxViews = Number(maxViews)
    if (secret !== null) body.readToken = await readTokenFor(secret)
    if (body.encrypted) {
      say(status, passphrase.value === '' ? 'Encrypting…' : 'Encrypting with the passphrase (a second or two)…')
      const payload = {
        text: content.value === '' ? null : content.value,
        file: file === null ? null : { name: file.name, type: file.type, bytes: new Uint8Array(await file.arrayBuffer()) }
      }
      body.content = await seal(payload, secret, passphrase.value === '' ? undefined : passphrase.value, { maxBytes })
    }
    say(status, 'Sending…')
    const response = await fetchHere('/', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) })
    if (!response.ok) {
      say(status, await errorOf(response), 'error')
      return null
    }
    const created = await response.json()
    const link = new URL(created.url, location.origin)
    if (secret !== null) link.hash = secret
    say(status, '')
    return { ...created, link: link.href, withPassphrase: body.encrypted && passphrase.value !== '' }
  }

  function showCreated (created) {
    current = { id: created.id, deleteToken: created.deleteToken }
    byId('link').value = created.link
    byId('delete-token').value = created.deleteToken
    byId('expires').textContent = new Date(created.expiresAt).toLocaleString()
    byId('views').textContent = created.maxViews === null ? 'any number of times' : created.maxViews === 1 ? 'once' : `${created.maxViews} times`
    byId('passphrase-reminder').hidden = !created.withPassphrase
    byId('delete').disabled = false
    byId('delete-ask').hidden = true
    say(byId('created-status'), '')
    resetReceipt()
    form.reset()
    wantsEncryption = encrypt.checked
    updateSize()
    updateEncryption()
    show('created')
    focusOn('created-title')
  }

  byId('copy').addEventListener('click', async () => {
    const link = byId('link')
    try {
      await navigator.clipboard.writeText(link.value)
      say(byId('created-status'), 'The link is copied.', 'ok')
    } catch {
      // No clipboard access (permissions, an older browser): select it for the person to copy.
      link.select()
      say(byId('created-status'), 'The link is selected: copy it with Ctrl+C (⌘C on a Mac).')
    }
  })

  // Delete now: a confirmation inside the page (a second button), then DELETE with the token.
  byId('delete').addEventListener('click', () => {
    byId('delete-ask').hidden = false
    byId('delete-confirm').focus()
  })
  byId('delete-cancel').addEventListener('click', () => {
    byId('delete-ask').hidden = true
    byId('delete').focus()
  })
  byId('delete-confirm').addEventListener('click', async () => {
    const created = byId('created-status')
    if (current === null) return
    byId('delete-confirm').disabled = true
    try {
      const response = await fetchHere(`/msg/${current.id}`, { method: 'DELETE', headers: { 'x-delete-token': current.deleteToken } })
      if (response.status === 204 || response.status === 404) {
        say(created, response.status === 204
          ? 'Deleted: the link no longer works.'
          : 'It was already gone (read as often as allowed, expired, or deleted): the link no longer works.', 'ok')
        // (current stays: its token still asks for the receipt, which now says "deleted")
        byId('delete-ask').hidden = true
        byId('delete').disabled = true
        byId('copy').focus()
      } else {
        say(created, await errorOf(response), 'error')
      }
    } catch (err) {
      say(created, openErrorText(err), 'error')
    } finally {
      byId('delete-confirm').disabled = false
    }
  })

  // "Has it been read?": GET /msg/<id>/receipt with the delete token from `current` (this
  // page's memory: never storage, never a URL), which the server takes as the creator's proof.
  // It costs the message no view. The buttons are not disabled while asking (a disabled
  // button loses the keyboard focus); a flag ignores clicks meanwhile instead.
  let checking = false

  function resetReceipt () {
    byId('receipt').hidden = true
    byId('receipt-check').hidden = false
    say(byId('receipt-state'), '')
    say(byId('receipt-status'), '')
  }

  async function checkReceipt () {
    const asked = current
    if (asked === null || checking) return
    const status = byId('receipt-status')
    checking = true
    say(status, 'Asking the server…')
    try {
      const response = await fetchHere(`/msg/${asked.id}/receipt`, { headers: { accept: 'application/json', 'x-delete-token': asked.deleteToken }, cache: 'no-store' })
      // (another message was created meanwhile: this answer is about the one before)
      if (current !== asked) return
      if (response.status === 200) {
        showReceipt(await response.json())
        say(status, '')
      } else if (response.status === 404) {
        say(status, 'The server has no receipt for this message. It keeps one only for a while after the message ends (some servers keep none), so it may be gone already; or the delete token was not accepted.', 'error')
      } else if (response.status === 429) {
        const retry = response.headers.get('retry-after')
        say(status, `Too many requests from here just now: wait${retry !== null && /^\d+$/.test(retry) ? ` ${retry} seconds` : ' a minute'} and check again.`, 'error')
      } else {
        say(status, await errorOf(response), 'error')
      }
    } catch (err) {
      if (current === asked) say(status, err instanceof NoAnswerError ? err.message : openErrorText(err), 'error')
    } finally {
      checking = false
    }
  }

  function showReceipt (receipt) {
    const text = receiptText(receipt)
    byId('receipt-views').textContent = text.views
    byId('receipt-first').textContent = text.first
    byId('receipt-last').textContent = text.last
    byId('receipt-ended').textContent = text.ended
    // The state is a live region: "Check again" keeps the focus, and the new answer is announced.
    say(byId('receipt-state'), `${text.summary} (Checked at ${new Date().toLocaleTimeString()}.)`)
    if (byId('receipt').hidden) {
      // The first answer: the question's button gives way to "Check again", the focus to the answer.
      byId('receipt').hidden = false
      byId('receipt-check').hidden = true
      focusOn('receipt-title')
    }
  }

  byId('receipt-check').addEventListener('click', checkReceipt)
  byId('receipt-again').addEventListener('click', checkReceipt)

  byId('another').addEventListener('click', () => {
    current = null
    byId('link').value = ''
    byId('delete-token').value = ''
    resetReceipt()
    show('compose')
    content.focus()
  })
}

function setUpRead () {
  const reveal = byId('reveal')
  if (reveal === null) return
  const id = messageIdOf(location.pathname)
  const secret = location.hash.slice(1)
  const status = byId('read-status')
  /** The fetched message while it waits for its passphrase: in this page's memory only, dropped once open. */
  let fetched = null
  /** The Blob URL behind a#download, or null: revoked when no longer needed (see offerDownload). */
  let downloadUrl = null

  function showGone (text) {
    for (const panel of document.querySelectorAll('[data-panel]')) panel.hidden = true
    if (text !== undefined) byId('gone-text').textContent = text
    byId('gone').hidden = false
  }

  reveal.addEventListener('click', async () => {
    reveal.disabled = true
    say(status, '')
    try {
      const message = await fetchMessage()
      if (message === null) return
      if (!message.encrypted) return display({ text: message.content, file: null }, message)
      if (secret === '') throw new Error('This message is encrypted, and the link has no key (the part after #): ask for the whole link.')
      const info = envelopeInfo(message.content)
      if (info.format === 'v1' && info.passphrase) {
        fetched = message
        show('locked')
        byId('read-passphrase').focus()
        say(status, message.remainingViews === 0
          ? 'Enter the passphrase. That was the last view: keep this page open until the message shows.'
          : 'Enter the passphrase to open the message.')
        return
      }
      await display(await open(message.content, secret), message)
    } catch (err) {
      if (err instanceof NoAnswerError) {
        // Nothing came back, so nothing was read: the person can try again.
        reveal.disabled = false
        say(status, err.message, 'error')
        reveal.focus()
        return
      }
      say(status, openErrorText(err), 'error')
    }
  })

  /** The one fetch that reads (and counts a view); null after showing why there is nothing. */
  async function fetchMessage () {
    const headers = { accept: 'application/json' }
    if (secret !== '') {
      if (!canEncrypt()) throw new Error('Open this link over HTTPS: this browser can use its key only there.')
      // A fragment that is not a whole key is refused here, before anything is fetched or burned.
      headers['x-read-token'] = await readTokenFor(secret)
    }
    // This request is the read: it counts a view (opening the page did not).
    let response
    try {
      response = await fetchHere(`/msg/${id}`, { headers, cache: 'no-store' })
    } catch (err) {
      // No answer came: no connection, or a redirect (never followed, so the read token goes
      // nowhere else). Nothing was shown; the message is most likely still there.
      if (err instanceof NoAnswerError) throw new NoAnswerError('The message could not be fetched (no connection, or the server answered with a redirect, which this page does not follow). Nothing was shown: try again.')
      throw err
    }
    if (response.status === 404) {
      showGone(secret === ''
        ? 'No message could be read with this link. It has no key (the part after #): if the sender protected the message, ask for the whole link. Otherwise the message never existed, has expired, was deleted, or was already read as often as allowed.'
        : undefined)
      return null
    }
    if (!response.ok) {
      say(status, await errorOf(response), 'error')
      reveal.disabled = false
      return null
    }
    return await response.json()
  }

  byId('locked').addEventListener('submit', async (event) => {
    event.preventDefault()
    const input = byId('read-passphrase')
    if (fetched === null) return
    if (input.value === '') return say(status, 'Type the passphrase first.', 'error')
    const unlock = byId('unlock')
    unlock.disabled = true
    say(status, 'Unlocking…')
    try {
      // Decrypted here, from the copy fetched once: a wrong passphrase costs no view.
      const opened = await open(fetched.content, secret, input.value)
      await display(opened, fetched)
      fetched = null
    } catch (err) {
      say(status, openErrorText(err), 'error')
      input.select()
    } finally {
      unlock.disabled = false
    }
  })

  /** Shows the text (as text, never HTML) and offers the file as a download. */
  async function display ({ text, file }, message) {
    const shown = byId('message')
    // textContent, never HTML: the message is data.
    shown.textContent = text ?? ''
    shown.hidden = text === null
    if (file !== null) offerDownload(file)
    byId('remaining').textContent = remainingText(message.remainingViews, message.expiresAt)
    show('revealed')
    say(status, '')
    focusOn('revealed-title')
    if (message.remainingViews === 0) showLastView()
  }

  function showLastView () {
    byId('gone-text').textContent = 'The message is gone from the server now: save what you need before you close this page.'
    byId('gone').hidden = false
  }

  /** @param {{ name: string, type: string, bytes: Uint8Array }} file */
  function offerDownload (file) {
    const name = safeFileName(file.name)
    const link = byId('download')
    // application/octet-stream and the download attribute: saved, never rendered by the browser.
    revokeDownload()
    downloadUrl = URL.createObjectURL(new Blob([file.bytes], { type: 'application/octet-stream' }))
    link.href = downloadUrl
    link.download = name
    link.textContent = `Download ${name}`
    byId('file-info').textContent = `(${formatCount(file.bytes.length)} bytes, ${file.type})`
    byId('file-box').hidden = false
  }

  // When a Blob URL is revoked: it is the only copy of the file once the message is burned
  // ("save what you need before you close this page"), so not after a click (a download can
  // fail, or be wanted twice) but when it is replaced by another read's, and when the page is
  // left for good (pagehide not into the back/forward cache: a page restored from there keeps
  // a working link). Revoking drops the page's reference to the decrypted bytes early instead
  // of leaving it to the document's end.
  function revokeDownload () {
    if (downloadUrl === null) return
    URL.revokeObjectURL(downloadUrl)
    downloadUrl = null
    byId('download').href = '#file-box'
  }
  window.addEventListener('pagehide', (event) => { if (!event.persisted) revokeDownload() })
}

if (typeof document !== 'undefined') {
  setUpCompose()
  setUpRead()
}
