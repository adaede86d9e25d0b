/**
 * A `fetch` for services that sign their requests to Missive (API.md section 7): each request
 * gets an RFC 9421 signature (`sig1` over @method, @target-uri and, with a body,
 * content-digest), a fresh nonce, and the credential.
 *
 * @example
 *   import { generateSigningKey } from '../auth/http-signatures/sign.js'
 *   import { signedFetch } from './signed-fetch.js'
 *
 *   // Once: keep privateJwk secret, register { jwk: publicJwk }
 *   // with POST /api/v1/keys/<key id>/signing-keys.
 *   const { privateJwk, publicJwk } = generateSigningKey('ed25519')
 *   const missive = signedFetch({ jwk: privateJwk }, { apiKey: process.env.MISSIVE_API_KEY! })
 *   const res = await missive('https://missive.example/api/v1/messages', {
 *     method: 'POST',
 *     headers: { 'content-type': 'application/json' },
 *     body: JSON.stringify({ content: 'hello' })
 *   })
 */
import { signRequest, type SigningKey } from '../auth/http-signatures/sign.js'

export type SignedFetch = (url: string | URL, init?: { method?: string, headers?: Record<string, string>, body?: string | Uint8Array }) => Promise<Response>

export function signedFetch (key: SigningKey, credential: { apiKey: string } | { accessToken: string }): SignedFetch {
  return async (url, init = {}) => {
    const method = init.method ?? 'GET'
    const signed = signRequest({ method, url: String(url), headers: init.headers, body: init.body }, key)
    // The signature's headers replace any of the caller's (whatever their case).
    const headers = Object.fromEntries(Object.entries(init.headers ?? {}).filter(([name]) => !(name.toLowerCase() in signed)))
    if ('apiKey' in credential) headers['x-api-key'] = credential.apiKey
    else headers.authorization = `Bearer ${credential.accessToken}`
    return await fetch(url, { method, headers: { ...headers, ...signed }, body: init.body })
  }
}
