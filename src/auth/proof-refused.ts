/**
 * A proof of possession (a DPoP proof, an RFC 9421 signature) that was asked for or presented
 * and does not hold. The HTTP layer answers the uniform 401 (400 `invalid_dpop_proof` at a
 * token endpoint); the message, which names the reason, is for the log only.
 */
export class ProofRefused extends Error {
  readonly reason: string

  constructor (readonly kind: 'dpop' | 'signature', reason: string) {
    // A reason may quote what the client sent (an alg, a component name): bounded for the log.
    const bounded = reason.length > 200 ? `${reason.slice(0, 200)}…` : reason
    super(`${kind}: ${bounded}`)
    this.reason = bounded
    this.name = 'ProofRefused'
  }
}
