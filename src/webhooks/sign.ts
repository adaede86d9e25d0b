import { Webhook } from 'standardwebhooks'

/**
 * Standard Webhooks 1.0 signatures (API.md section 9, issue 19), made by the `standardwebhooks`
 * package so that any Standard Webhooks library verifies them:
 * `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the secret's bytes
 * (`whsec_<base64>`) as the key. The timestamp is signed with the body, so a receiver that
 * refuses old timestamps (the libraries allow 5 minutes) cannot be fed a captured delivery
 * later; the id lets it drop a retry it has already handled.
 */

export interface WebhookHeaders {
  'webhook-id': string
  'webhook-timestamp': string
  'webhook-signature': string
}

const SECRET_PREFIX = 'whsec_'

/** Why a delivery cannot be signed. Its message never holds a secret: it may reach a log. */
export class SigningError extends Error {
  readonly code = 'WEBHOOK_SIGNING'
  constructor (message: string) {
    super(message)
    this.name = 'SigningError'
  }
}

/**
 * The three Standard Webhooks headers for one attempt. With several secrets (during a rotation's
 * 24-hour overlap, the new one and the old one) the signature header carries one `v1,<base64>`
 * per secret, separated by a space: a receiver still on the old secret and one already on the
 * new one both find a match.
 */
export function signatureHeaders (eventId: string, timestampSeconds: number, body: string, secrets: readonly string[]): WebhookHeaders {
  // The id goes into a header and into the signed string: visible ASCII, no space, no dot
  // (a dot would make "id.timestamp.body" ambiguous).
  if (!/^[\x21-\x2d\x2f-\x7e]{1,256}$/.test(eventId)) throw new SigningError('the webhook id must be 1-256 visible ASCII characters without a dot')
  if (!Number.isSafeInteger(timestampSeconds) || timestampSeconds < 0) throw new SigningError('the webhook timestamp must be whole seconds since the epoch')
  if (secrets.length === 0) throw new SigningError('no secret to sign with')
  const at = new Date(timestampSeconds * 1000)
  const signatures = secrets.map((secret) => {
    // The package also takes a bare base64 secret; insisting on the prefix catches a caller
    // handing in something that is not a stored webhook secret at all.
    if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) throw new SigningError('a webhook secret is not of the form whsec_<base64>')
    let webhook: Webhook
    try {
      webhook = new Webhook(secret)
    } catch {
      throw new SigningError('a webhook secret is not of the form whsec_<base64>')
    }
    return webhook.sign(eventId, at, body)
  })
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': signatures.join(' ')
  }
}
