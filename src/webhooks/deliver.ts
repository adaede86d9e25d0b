import type { ClientRequest, IncomingMessage } from 'node:http'
import { request as httpsRequest, type RequestOptions } from 'node:https'
import { StringDecoder } from 'node:string_decoder'
import { version } from '../version.js'
import { checkDestinationUrl, checkedLookup, DestinationRefused, InvalidDestination } from './destination.js'
import { signatureHeaders, SigningError } from './sign.js'

/**
 * One delivery attempt of one webhook event (API.md section 9, issue 19). No queue, no store:
 * the queue calls this, records the Outcome, and asks retry.ts when to call it again.
 *
 * What it enforces, because the URL is chosen by a key's owner and fetched from inside our
 * network:
 * - the URL is checked again at each attempt (https only, no IP literal that is not public), and
 *   the socket resolves names through `checkedLookup`, so it connects to the very address that
 *   was checked (no second DNS answer between check and connect);
 * - no redirect is followed: Node's https client never follows one, and a 3xx is a failure
 *   (a redirect could point anywhere, past the check);
 * - one total deadline (10 s) covering lookup, connect, TLS, request and response, so a slow or
 *   silent receiver cannot hold a worker;
 * - at most 1 KB of the response is kept; past it the socket is destroyed, so a receiver
 *   streaming without end costs nothing more;
 * - a fresh connection per attempt (no agent pooling): nothing is reused from an earlier check.
 *
 * It never throws: every failure is an Outcome with a short code, never a message that could
 * carry a secret or the receiver's words into our logs.
 */

export const DELIVERY_TIMEOUT_MS = 10_000
export const MAX_RESPONSE_BYTES = 1024
export const USER_AGENT = `Missive-Webhooks/${version}`

export interface DeliveryRequest {
  /** the endpoint's URL, as registered */
  url: string
  /** the event id: the same `webhook-id` on every attempt, so a receiver can drop duplicates */
  eventId: string
  /** the JSON body from webhookPayload(), sent (and signed) byte for byte */
  body: string
  /** the endpoint's secrets (`whsec_…`): one, or two during a rotation's overlap */
  secrets: readonly string[]
}

export interface DeliveryOptions {
  /** WEBHOOK_ALLOW_PRIVATE: allow loopback, private, link-local… destinations */
  allowPrivate: boolean
  /** total time for the attempt; DELIVERY_TIMEOUT_MS unless a test wants it shorter */
  timeoutMs?: number
  /** for tests: the CA certificates to trust (their self-signed one); like Node's `ca`, it replaces the default bundle */
  ca?: string | Buffer | Array<string | Buffer>
  /** the clock, in milliseconds, for the signed `webhook-timestamp` */
  now?: () => number
}

/** Why an attempt failed: a short, fixed code for the delivery log. */
export type DeliveryError =
  | 'invalid_url' // not https, not a URL, or credentials in it
  | 'invalid_secret' // cannot sign (no secret, or a malformed one)
  | 'refused_destination' // resolves to (or is) a non-public address
  | 'dns' // the name does not resolve
  | 'connect_failed' // refused or unreachable
  | 'tls' // handshake or certificate failure
  | 'timeout' // no response within the deadline
  | 'connection_closed' // the connection dropped before a response
  | 'bad_response' // not parseable HTTP
  | 'redirect' // a 3xx: not followed
  | 'http_status' // any other non-2xx
  | 'request_failed' // anything else

export interface Outcome {
  /** a 2xx answered: the event is acknowledged */
  ok: boolean
  /** the response status, when one arrived (also for a redirect) */
  status: number | null
  error: DeliveryError | null
  durationMs: number
  /** the first MAX_RESPONSE_BYTES bytes of the response body, as UTF-8 */
  responseBody: string
}

const DNS_CODES = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EAI_NONAME', 'ENODATA', 'ESERVFAIL', 'ENOTIMP', 'EREFUSED', 'ETIMEOUT', 'EBADNAME', 'EBADRESP', 'EFORMERR'])
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'ETIMEDOUT'])
const CLOSED_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED'])
// OpenSSL verification codes (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT,
// UNABLE_TO_VERIFY_LEAF_SIGNATURE…) and Node's own (ERR_TLS_CERT_ALTNAME_INVALID, ERR_SSL_…).
const TLS_CODE = /CERT|SSL|TLS|EPROTO|UNABLE_TO_|SELF_SIGNED/

/** The code of a request error; an AggregateError (every address of the name failed) by its first. */
function classify (err: unknown): DeliveryError {
  if (err instanceof DestinationRefused) return 'refused_destination'
  if (err instanceof AggregateError && err.errors.length > 0) return classify(err.errors[0])
  const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : ''
  if (DNS_CODES.has(code)) return 'dns'
  if (CONNECT_CODES.has(code)) return 'connect_failed'
  if (TLS_CODE.test(code)) return 'tls'
  if (CLOSED_CODES.has(code)) return 'connection_closed'
  if (code.startsWith('HPE_')) return 'bad_response'
  return 'request_failed'
}

const since = (started: number): number => Math.round(performance.now() - started)

function failure (started: number, error: DeliveryError, status: number | null = null, responseBody = ''): Outcome {
  return { ok: false, status, error, durationMs: since(started), responseBody }
}

/**
 * The outcome once a status has arrived. The status decides it: once a 2xx has come the
 * receiver has the event, whatever then happens to the rest of its body (cut off by the
 * deadline, dropped): retrying would only send a duplicate.
 */
function byStatus (started: number, status: number, responseBody: string): Outcome {
  if (status >= 200 && status < 300) return { ok: true, status, error: null, durationMs: since(started), responseBody }
  return failure(started, status >= 300 && status < 400 ? 'redirect' : 'http_status', status, responseBody)
}

/** One attempt: POST the signed body to the endpoint. Resolves with its Outcome; never rejects. */
export async function deliver (req: DeliveryRequest, options: DeliveryOptions): Promise<Outcome> {
  const started = performance.now()
  let url: URL
  let headers: Record<string, string>
  try {
    url = checkDestinationUrl(req.url, options.allowPrivate)
    const now = options.now ?? Date.now
    // Signed at each attempt with the attempt's time: receivers refuse timestamps older than a
    // few minutes, and a retry may come a day after the event.
    headers = {
      ...signatureHeaders(req.eventId, Math.floor(now() / 1000), req.body, req.secrets),
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(req.body)),
      'user-agent': USER_AGENT
    }
  } catch (err) {
    if (err instanceof DestinationRefused) return failure(started, 'refused_destination')
    if (err instanceof InvalidDestination) return failure(started, 'invalid_url')
    if (err instanceof SigningError) return failure(started, 'invalid_secret')
    return failure(started, 'request_failed')
  }
  // A net for the unforeseen (a throw inside the promise's executor rejects it): a worker
  // gets an Outcome whatever happens.
  try {
    return await post(url, headers, req.body, options, started)
  } catch {
    return failure(started, 'request_failed')
  }
}

function post (url: URL, headers: Record<string, string>, body: string, options: DeliveryOptions, started: number): Promise<Outcome> {
  return new Promise<Outcome>((resolve) => {
    // Filled in once the response starts: after that, the status decides (byStatus).
    let status: number | null = null
    let responseBody = ''
    let request: ClientRequest | undefined
    let settled = false
    const finish = (outcome: Outcome): void => {
      if (settled) return
      settled = true
      clearTimeout(deadline)
      resolve(outcome)
    }
    const deadline = setTimeout(() => {
      finish(status === null ? failure(started, 'timeout') : byStatus(started, status, responseBody))
      request?.destroy()
    }, options.timeoutMs ?? DELIVERY_TIMEOUT_MS)

    const requestOptions: RequestOptions = {
      method: 'POST',
      headers,
      lookup: checkedLookup(options.allowPrivate),
      agent: false
    }
    if (options.ca !== undefined) requestOptions.ca = options.ca

    try {
      request = httpsRequest(url, requestOptions)
    } catch (err) {
      // Synchronous refusals, e.g. a header value Node will not send.
      finish(failure(started, classify(err)))
      return
    }

    request.on('error', (err) => { finish(status === null ? failure(started, classify(err)) : byStatus(started, status, responseBody)) })

    request.on('response', (res: IncomingMessage) => {
      const code = res.statusCode ?? 0
      status = code
      const outcome = (): Outcome => byStatus(started, code, responseBody)

      // StringDecoder holds back a character cut at the 1 KB boundary instead of mangling it.
      const decoder = new StringDecoder('utf8')
      let kept = 0
      res.on('data', (chunk: Buffer) => {
        if (settled) return
        const room = MAX_RESPONSE_BYTES - kept
        const piece = chunk.length > room ? chunk.subarray(0, room) : chunk
        kept += piece.length
        responseBody += decoder.write(piece)
        if (kept >= MAX_RESPONSE_BYTES) {
          finish(outcome())
          // Stop reading: destroying the response closes our own socket (agent: false).
          res.destroy()
        }
      })
      res.on('end', () => { finish(outcome()) })
      // Closed before its end (the receiver dropped it mid-body): what arrived still counts.
      res.on('close', () => { finish(outcome()) })
      res.on('error', () => { finish(outcome()) })
    })

    request.end(body)
  })
}
