import { Transform } from 'node:stream'
import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { clientAddress } from '../src/abuse/client-address.js'
import { AUTH_FAILURE_WINDOW_MS, challengeOfSigned } from './auth.js'
import { ClientKeys } from '../src/auth/client-keys.js'
import { ProofRefused } from '../src/auth/proof-refused.js'
import { DpopProofError, verifyDpopProof } from '../src/auth/dpop.js'
import { ContentDigestVerifier } from '../src/auth/http-signatures/content-digest.js'
import { acceptSignatureHeader, SignatureError, verifyRequestSignature } from '../src/auth/http-signatures/verify.js'
import { DigestMismatch, Unauthorized } from '../src/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the public keys services register to sign their requests (API.md section 7) */
    clientKeys: ClientKeys
    /** DPoP and HTTP Message Signature checks, for the auth plugin and the token endpoints */
    proof: Proof
  }
}

export interface Proof {
  /** The URL the client sent this request to: PUBLIC_URL, then the path and query as received. */
  targetUri: (request: FastifyRequest) => string
  /**
   * RFC 9449 §7 at a resource: the request's `DPoP` proof for the bound `token` (whose
   * cnf.jkt is `jkt`): one signature check and one replay-cache write. Throws ProofRefused.
   */
  checkDpopForToken: (request: FastifyRequest, token: string, jkt: string) => Promise<void>
  /**
   * RFC 9449 §5 at a token endpoint: the thumbprint to bind the new token to, or null when
   * the request has no `DPoP` header. Throws ProofRefused.
   */
  dpopBinding: (request: FastifyRequest) => Promise<string | null>
  /**
   * RFC 9421 for API key `keyId`: the keyid (thumbprint) of the valid `sig1` signature, or null
   * for an unsigned request when `required` is false. A present signature is always checked.
   * Throws ProofRefused.
   */
  checkSignature: (request: FastifyRequest, keyId: string, required: boolean) => Promise<string | null>
  /** RFC 9421 §5.1: what a signature of this request must cover, for a refusal. */
  acceptSignature: (request: FastifyRequest) => string
  /**
   * For a body parser holding the bytes: null when the request carries no Content-Digest or it
   * matches, else the error to answer (a signed request: the uniform 401; else 400).
   */
  bodyDigestError: (request: FastifyRequest, body: Buffer) => Error | null
  /**
   * For a preParsing hook: the payload unchanged without a Content-Digest, else a stream that
   * checks it as the bytes pass and fails with `onMismatch(signed)` before the body is parsed.
   */
  digestCheckedStream: (request: FastifyRequest, payload: NodeJS.ReadableStream, onMismatch: (signed: boolean) => Error) => NodeJS.ReadableStream
}

const LABEL = 'sig1'
/** What a proof's time may be off, besides PROOF_MAX_AGE_SECONDS: whole seconds, and the clocks of the instances. */
const CLOCK_MARGIN_MS = 5000
/** Fastify never reads the body of these: a signed one cannot have its Content-Digest checked. */
const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE'])

/** Whether the request carries a body (what makes content-digest a required component). */
export function hasBody (request: FastifyRequest): boolean {
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

function isSigned (request: FastifyRequest): boolean {
  return request.headers['signature-input'] !== undefined || request.headers.signature !== undefined
}

/**
 * Proof of possession (API.md section 7): DPoP proofs (RFC 9449) and HTTP Message Signatures
 * (RFC 9421) with Content-Digest (RFC 9530). Nothing here runs for a request that brings no
 * proof and whose key asks for none: no hook of its own, no store command; the auth plugin
 * calls in when a `DPoP` token, a signature header or the key's requireSignature asks.
 *
 * A used proof `jti` and a used signature `nonce` go into the replay store, which every
 * instance shares (SET NX), until the proof's own time (`iat`, `created`) is more than
 * PROOF_MAX_AGE_SECONDS old, plus a margin for whole seconds and the instances' clocks:
 * after that the proof is refused as too old anyway.
 *
 * Server-provided DPoP nonces (RFC 9449 §8–9) are not offered: the shared jti cache and the
 * short iat window already refuse a replay, and a nonce would cost every client a refused
 * request and every request a store read.
 */
export default fp(async function proof (app) {
  const { config } = app
  const maxAgeSeconds = config.PROOF_MAX_AGE_SECONDS
  /** how long a proof made at `time` (s) must be remembered: as long as it could still be accepted */
  const replayTtlMs = (time: number): number => Math.max(1000, (time + maxAgeSeconds + 1) * 1000 - Date.now()) + CLOCK_MARGIN_MS
  const clientKeys = new ClientKeys(app.clientKeyStore, app.keyStore, app.apiKeys, Date.now, app.securityEvents)
  app.decorate('clientKeys', clientKeys)

  const targetUri = (request: FastifyRequest): string => config.publicUrl + request.url

  function singleHeader (request: FastifyRequest, name: string): string | null {
    const value = request.headers[name]
    return typeof value === 'string' && value !== '' ? value : null
  }

  async function dpop (request: FastifyRequest, accessToken: string | undefined, htu: string): Promise<{ jkt: string, jti: string, iat: number }> {
    // RFC 9449 §4.3 (1): exactly one DPoP header (Node joins repeated ones with ', ').
    const header = singleHeader(request, 'dpop')
    if (header === null || header.includes(',')) throw new ProofRefused('dpop', 'missing or repeated DPoP header')
    try {
      return await verifyDpopProof(header, { method: request.method, htu, accessToken, nowMs: Date.now(), maxAgeSeconds })
    } catch (err) {
      if (err instanceof DpopProofError) throw new ProofRefused('dpop', err.reason)
      throw err
    }
  }

  async function firstUse (request: FastifyRequest, keyId: string | null, scope: 'dpop' | 'sig', id: string, time: number): Promise<void> {
    if (!await app.replayStore.firstUse(scope, id, replayTtlMs(time))) {
      app.securityEvents.emit({ type: 'proof.replayed', ip: request.ip, keyId, requestId: request.id, detail: { proof: scope } })
      app.abuse.offence(request, 'replay')
      throw scope === 'dpop' ? new ProofRefused('dpop', 'replayed jti') : new ProofRefused('signature', 'replayed nonce')
    }
  }

  const proofApi: Proof = {
    targetUri,

    async checkDpopForToken (request, token, jkt) {
      const proof = await dpop(request, token, targetUri(request))
      if (proof.jkt !== jkt) throw new ProofRefused('dpop', 'the proof is signed by another key than the token is bound to')
      await firstUse(request, app.accessTokens.cached(token)?.claims.sub ?? null, 'dpop', `${proof.jkt}.${proof.jti}`, proof.iat)
    },

    async dpopBinding (request) {
      if (request.headers.dpop === undefined) return null
      const proof = await dpop(request, undefined, targetUri(request))
      await firstUse(request, request.principal?.keyId ?? null, 'dpop', `${proof.jkt}.${proof.jti}`, proof.iat)
      return proof.jkt
    },

    async checkSignature (request, keyId, required) {
      if (!isSigned(request)) {
        if (required) throw new ProofRefused('signature', 'the key requires a signature')
        return null
      }
      const withBody = hasBody(request)
      if (withBody && BODYLESS.has(request.method)) throw new ProofRefused('signature', `a body on ${request.method} is never read, so its digest cannot be checked`)
      let verified
      try {
        verified = await verifyRequestSignature({ method: request.method, targetUri: targetUri(request), headers: request.headers }, {
          label: LABEL,
          keyFor: (keyid) => clientKeys.keyFor(keyId, keyid),
          nowMs: Date.now(),
          maxAgeSeconds,
          hasBody: withBody
        })
      } catch (err) {
        if (err instanceof SignatureError) throw new ProofRefused('signature', err.reason)
        throw err
      }
      // Without a body, a covered Content-Digest is checked here (no parser will see the bytes).
      const digest = request.headers['content-digest']
      if (!withBody && digest !== undefined) {
        const verifier = typeof digest === 'string' ? ContentDigestVerifier.parse(digest) : null
        if (verifier === null || !verifier.matches()) throw new ProofRefused('signature', 'content-digest does not match the empty body')
      }
      await firstUse(request, keyId, 'sig', `${verified.keyid} ${verified.nonce}`, verified.created)
      return verified.keyid
    },

    acceptSignature: (request) => acceptSignatureHeader(hasBody(request), LABEL),

    bodyDigestError (request, body) {
      const header = request.headers['content-digest']
      if (header === undefined) return null
      const verifier = typeof header === 'string' ? ContentDigestVerifier.parse(header) : null
      if (verifier !== null) {
        verifier.update(body)
        if (verifier.matches()) return null
      }
      return digestFailure(request)
    },

    digestCheckedStream (request, payload, onMismatch) {
      const header = request.headers['content-digest']
      if (header === undefined) return payload
      const verifier = typeof header === 'string' ? ContentDigestVerifier.parse(header) : null
      const checked = new Transform({
        transform (chunk: Buffer, _encoding, callback) {
          verifier?.update(chunk)
          callback(null, chunk)
        },
        flush (callback) {
          if (verifier?.matches() === true) {
            callback(null)
            return
          }
          const signed = request.principal !== null || isSigned(request)
          if (signed) countDigestFailure(request, request.principal?.keyId)
          callback(onMismatch(signed))
        }
      })
      payload.pipe(checked)
      payload.on('error', (err) => checked.destroy(err))
      return checked
    }
  }

  /**
   * A signed body that is not what was signed is a failed authentication, counted like any
   * other. The parser cannot wait for the count (the lockout's 429 comes with the next
   * request), and a store outage must not turn this 401 into a 500.
   */
  function countDigestFailure (request: FastifyRequest, keyId: string | undefined): void {
    app.securityEvents.emit({ type: 'auth.failure', ip: request.ip, keyId: keyId ?? null, requestId: request.id, detail: { reason: 'signature: content-digest does not match the body' } })
    app.abuse.offence(request, 'auth-failure')
    app.keyStore.recordAuthFailure(clientAddress(request.ip), AUTH_FAILURE_WINDOW_MS).catch(() => {})
  }

  /** A body that is not what was signed: for a signed request the uniform 401, else a 400. */
  function digestFailure (request: FastifyRequest): Error {
    if (request.principal === null || !isSigned(request)) return new DigestMismatch()
    countDigestFailure(request, request.principal.keyId)
    return Object.assign(new Unauthorized(), {
      headers: { 'www-authenticate': challengeOfSigned(request), 'accept-signature': proofApi.acceptSignature(request) }
    })
  }

  app.decorate('proof', proofApi)
}, { name: 'proof', dependencies: ['config', 'storage', 'auth'] })
