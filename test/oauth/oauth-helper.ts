import type { LightMyRequestResponse } from 'fastify'
import type { Test } from 'tap'
import type { App } from '../../src/app.js'

/** Helpers for the OAuth tests (API.md section 6): form requests and RFC 6749 §5.2 checks. */

export const FORM_TYPE = 'application/x-www-form-urlencoded'

export type Form = Record<string, string> | string

/** `Authorization: Basic` of RFC 6749 §2.3.1, from id and secret exactly as given (already encoded or not). */
export function basic (clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${clientId}:${clientSecret}`, 'utf8').toString('base64')}`
}

/** Every byte of `value` as %XX (uppercase hex unless `lower`): a maximally encoded form value. */
export function percentEncodeAll (value: string, lower = false): string {
  return [...Buffer.from(value, 'utf8')].map((byte) => {
    const hex = byte.toString(16).padStart(2, '0')
    return `%${lower ? hex : hex.toUpperCase()}`
  }).join('')
}

export interface PostOptions {
  authorization?: string
  headers?: Record<string, string>
  remoteAddress?: string
}

/** POST a form to an OAuth endpoint. A string form is sent as is (to send what encoders would not). */
export async function postForm (app: App, path: string, form: Form, options: PostOptions = {}): Promise<LightMyRequestResponse> {
  const payload = typeof form === 'string' ? form : new URLSearchParams(form).toString()
  return await app.inject({
    method: 'POST',
    url: path,
    payload,
    remoteAddress: options.remoteAddress,
    headers: {
      'content-type': FORM_TYPE,
      ...(options.authorization === undefined ? {} : { authorization: options.authorization }),
      ...options.headers
    }
  })
}

/** A successful client_credentials token request by HTTP Basic; the parsed body. */
export async function oauthToken (app: App, clientId: string, key: string, scope?: string): Promise<{ access_token: string, token_type: string, expires_in: number, scope: string }> {
  const res = await postForm(app, '/oauth/token', { grant_type: 'client_credentials', ...(scope === undefined ? {} : { scope }) }, { authorization: basic(clientId, key) })
  if (res.statusCode !== 200) throw new Error(`token request failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

/**
 * An RFC 6749 §5.2 error: the status, JSON, exactly `{error, error_description?}` with a string
 * description, and for a 401 `WWW-Authenticate: Basic realm="missive"`.
 */
export function assertOAuthError (t: Test, res: LightMyRequestResponse, status: number, error: string, what = error): void {
  t.equal(res.statusCode, status, `${what}: status ${status}`)
  t.match(res.headers['content-type'], /^application\/json; charset=utf-8$/, `${what}: JSON`)
  let body: Record<string, unknown>
  try {
    body = res.json()
  } catch {
    t.fail(`${what}: the body is not JSON: ${res.body}`)
    return
  }
  t.equal(body.error, error, `${what}: error=${error}`)
  t.ok(Object.keys(body).every((k) => k === 'error' || k === 'error_description'), `${what}: only error and error_description (${Object.keys(body).join(', ')})`)
  if ('error_description' in body) {
    t.type(body.error_description, 'string', `${what}: error_description is a string`)
    // RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E (no '"' nor '\')
    t.match(body.error_description, /^[\x20-\x21\x23-\x5B\x5D-\x7E]*$/, `${what}: error_description uses the allowed characters`)
  }
  if (status === 401) t.equal(res.headers['www-authenticate'], 'Basic realm="missive"', `${what}: the Basic challenge`)
}

/** The standard error body of API.md: statusCode, error, message and optionally code, nothing else. */
export function assertStandardError (t: Test, res: LightMyRequestResponse, status: number, code?: string, what = `${status}`): void {
  t.equal(res.statusCode, status, `${what}: status ${status}`)
  const body = res.json()
  t.equal(body.statusCode, status, `${what}: statusCode`)
  t.type(body.error, 'string', `${what}: error`)
  t.type(body.message, 'string', `${what}: message`)
  t.ok(Object.keys(body).every((k: string) => ['statusCode', 'error', 'message', 'code'].includes(k)), `${what}: only the standard fields`)
  if (code !== undefined) t.equal(body.code, code, `${what}: code`)
}

/** The parts of a compact JWS, decoded, without verifying anything. */
export function decodeJwt (token: string): { header: Record<string, unknown>, payload: Record<string, unknown> } {
  const [header, payload] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(header ?? '', 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(payload ?? '', 'base64url').toString('utf8'))
  }
}
