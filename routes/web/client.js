// The web page's script (served as /assets/missive.js; the pages are in routes/web-page.ts).
// Plain JavaScript, as browsers run it: no build step, no inline code, so the strict CSP
// (script-src 'self') holds. The crypto functions run in Node too, for the tests.
//
// In-browser encryption: AES-256-GCM with a fresh random key per message. The server gets
// base64url(iv || ciphertext) with `encrypted: true`; the key travels only in the link's
// fragment (#…), which browsers never send to the server, and the pages send no Referer.
/* global document, location, navigator, fetch */

const IV_BYTES = 12

/** @param {Uint8Array} bytes */
export function toBase64Url (bytes) {
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** @param {string} text base64url, no padding; throws on anything else */
export function fromBase64Url (text) {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new Error('not base64url')
  const binary = atob(text.replace(/-/g, '+').replace(/_/g, '/'))
  return Uint8Array.from(binary, (c) => c.charCodeAt(0))
}

/**
 * Encrypts `plaintext` with a new key.
 * @param {string} plaintext
 * @returns {Promise<{ ciphertext: string, key: string }>} both base64url
 */
export async function encryptText (plaintext) {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, true, ['encrypt'])
  const iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, new TextEncoder().encode(plaintext)))
  const joined = new Uint8Array(IV_BYTES + sealed.length)
  joined.set(iv)
  joined.set(sealed, IV_BYTES)
  return { ciphertext: toBase64Url(joined), key: toBase64Url(new Uint8Array(await crypto.subtle.exportKey('raw', key))) }
}

/**
 * Decrypts what encryptText made; throws when the key is wrong or the text was altered.
 * @param {string} ciphertext
 * @param {string} keyText
 */
export async function decryptText (ciphertext, keyText) {
  const raw = fromBase64Url(keyText)
  if (raw.length !== 32) throw new Error('the key in the link is incomplete')
  const joined = fromBase64Url(ciphertext)
  if (joined.length < IV_BYTES + 16) throw new Error('the message is not something this page encrypted')
  const key = await crypto.subtle.importKey('raw', raw, { name: 'AES-GCM' }, false, ['decrypt'])
  const plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: joined.subarray(0, IV_BYTES) }, key, joined.subarray(IV_BYTES))
  return new TextDecoder('utf-8', { fatal: true }).decode(plain)
}

/** The message id of a /msg/<id> path, or null. @param {string} pathname */
export function messageIdOf (pathname) {
  const match = /^\/msg\/([A-Za-z0-9_-]{22})$/.exec(pathname)
  return match === null ? null : match[1]
}

/** The error message of an API error body, or a generic one. @param {Response} response */
async function errorOf (response) {
  try {
    const body = await response.json()
    if (typeof body.message === 'string') return body.message
  } catch {}
  return `The server answered ${response.status}.`
}

/** @param {string} id */
const byId = (id) => document.getElementById(id)

/** Shows one of the page's panels and hides the others in its group. @param {string} id */
function show (id) {
  const panel = byId(id)
  if (panel === null) return
  for (const sibling of panel.parentElement?.querySelectorAll('[data-panel]') ?? []) sibling.hidden = sibling !== panel
}

/** Browsers offer WebCrypto on HTTPS (and localhost) only. */
const canEncrypt = () => globalThis.crypto?.subtle !== undefined

function setUpCompose () {
  const form = byId('compose')
  if (form === null) return
  if (!canEncrypt()) {
    const encrypt = byId('encrypt')
    encrypt.checked = false
    encrypt.disabled = true
    encrypt.parentElement?.append(' (needs this page over HTTPS)')
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    const content = byId('content').value
    const encrypt = byId('encrypt').checked
    const maxViews = byId('max-views').value
    const status = byId('compose-status')
    status.textContent = ''
    if (content === '') {
      status.textContent = 'Write a message first.'
      return
    }
    const submit = form.querySelector('button[type=submit]')
    submit.disabled = true
    try {
      const sealed = encrypt ? await encryptText(content) : null
      const body = { content: sealed === null ? content : sealed.ciphertext, encrypted: encrypt, ttl: Number(byId('ttl').value) }
      if (maxViews !== '') body.maxViews = Number(maxViews)
      const response = await fetch('/', { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) })
      if (!response.ok) {
        status.textContent = await errorOf(response)
        return
      }
      const created = await response.json()
      const link = new URL(created.url, location.origin)
      if (sealed !== null) link.hash = sealed.key
      byId('link').value = link.href
      byId('delete-token').value = created.deleteToken
      byId('expires').textContent = new Date(created.expiresAt).toLocaleString()
      byId('views').textContent = created.maxViews === null ? 'any number of times' : created.maxViews === 1 ? 'once' : `${created.maxViews} times`
      form.reset()
      show('created')
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : 'Something went wrong.'
    } finally {
      submit.disabled = false
    }
  })
  byId('copy')?.addEventListener('click', async () => {
    await navigator.clipboard?.writeText(byId('link').value)
    byId('copy').textContent = 'Copied'
  })
  byId('another')?.addEventListener('click', () => { show('compose') })
}

function setUpRead () {
  const reveal = byId('reveal')
  if (reveal === null) return
  const id = messageIdOf(location.pathname)
  const key = location.hash.slice(1)
  reveal.addEventListener('click', async () => {
    reveal.disabled = true
    const status = byId('read-status')
    status.textContent = ''
    try {
      // This request is the read: it counts a view (opening the page did not).
      const response = await fetch(`/msg/${id}`, { headers: { accept: 'application/json' }, cache: 'no-store' })
      if (response.status === 404) {
        show('gone')
        return
      }
      if (!response.ok) {
        status.textContent = await errorOf(response)
        reveal.disabled = false
        return
      }
      const message = await response.json()
      let text = message.content
      if (message.encrypted) {
        if (key === '') throw new Error('This message is encrypted, and the link has no key (the part after #).')
        if (!canEncrypt()) throw new Error('This message is encrypted: open the link over HTTPS to decrypt it.')
        try {
          text = await decryptText(message.content, key)
        } catch {
          throw new Error('This message could not be decrypted: the key in the link is wrong or incomplete.')
        }
      }
      // textContent, never HTML: the message is data.
      byId('message').textContent = text
      byId('remaining').textContent = message.remainingViews === null
        ? `It can be read again until ${new Date(message.expiresAt).toLocaleString()}.`
        : message.remainingViews === 0
          ? 'That was its last view: it is gone from the server now.'
          : `It can be read ${message.remainingViews} more time${message.remainingViews === 1 ? '' : 's'}.`
      show('revealed')
    } catch (err) {
      status.textContent = err instanceof Error ? err.message : 'Something went wrong.'
    }
  })
}

if (typeof document !== 'undefined') {
  setUpCompose()
  setUpRead()
}
