import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ApiKeyHeadersSchema, BearerHeadersSchema, RevokeRequestSchema, TokenRequestSchema, TokenResponseSchema } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { absentBodyIsEmpty, principalOf } from '../../../plugins/auth.js'
import { dpopChallenge } from '../../../src/auth/challenges.js'
import { ProofRefused } from '../../../src/auth/proof-refused.js'
import { Forbidden, InvalidDpopProof } from '../../../src/errors.js'

/** Exchanging an API key for an access token, and revoking a token (API.md section 2). */
const authRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/auth/token', {
    onRequest: app.authorize(null, { accept: ['api-key'] }),
    preValidation: absentBodyIsEmpty,
    schema: {
      summary: 'Exchange an API key for an access token (DPoP-bound with a DPoP proof header)',
      tags: ['auth'],
      security: [{ apiKey: [] }],
      headers: ApiKeyHeadersSchema,
      body: TokenRequestSchema,
      response: { 200: TokenResponseSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const principal = principalOf(request)
    const asked = request.body.scopes ?? principal.scopes
    if (!asked.every((scope) => principal.scopes.includes(scope))) throw new Forbidden()
    // RFC 9449 §5: with a DPoP proof, the token is bound to the proof's key.
    let jkt: string | null
    try {
      jkt = await app.proof.dpopBinding(request)
    } catch (err) {
      if (!(err instanceof ProofRefused)) throw err
      request.log.info({ event: 'token.dpop_refused', keyId: principal.keyId, reason: err.reason, ip: request.ip }, 'DPoP proof refused')
      reply.header('www-authenticate', dpopChallenge('invalid_dpop_proof'))
      throw new InvalidDpopProof()
    }
    const { token, expiresIn } = await app.issueToken(principal, asked, jkt)
    request.log.info({ event: 'token.issued', keyId: principal.keyId, bound: jkt !== null, ip: request.ip }, 'access token issued')
    // RFC 6749 §5.1, as at POST /oauth/token: a token response is never cached.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { access_token: token, token_type: jkt === null ? 'Bearer' as const : 'DPoP' as const, expires_in: expiresIn, scope: asked.join(' ') }
  })

  app.post('/auth/revoke', {
    onRequest: app.authorize(null, { accept: ['jwt'] }),
    preValidation: absentBodyIsEmpty,
    schema: {
      summary: 'Revoke the presented bearer token',
      tags: ['auth'],
      security: [{ bearerAuth: [] }],
      headers: BearerHeadersSchema,
      body: RevokeRequestSchema,
      response: { 204: Type.Null({ description: 'revoked' }), ...errorResponses(400, 401, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const { keyId, token } = principalOf(request)
    // Unreachable (the route accepts bearer tokens only); it narrows the type.
    if (token === null) throw new Forbidden()
    await app.keyStore.denyToken(token.jti, token.exp * 1000)
    request.log.info({ event: 'token.revoked', keyId, ip: request.ip }, 'access token revoked')
    return reply.code(204).send(null)
  })
}

export default authRoutes
