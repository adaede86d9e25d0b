import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { who } from '../../../plugins/auth.js'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { KeyIdParamsSchema, RegisterSigningKeyBodySchema, SigningKeyListSchema, SigningKeyParamsSchema, SigningKeySchema } from '../../../schemas/keys.js'

/** A key's registered public keys for RFC 9421 request signatures (API.md section 7), under keys:admin. */
const signingKeyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = {
    tags: ['keys'],
    security: eitherCredential('keys:admin'),
    headers: CredentialHeadersSchema
  }
  const onRequest = app.authorize('keys:admin')

  app.post('/keys/:id/signing-keys', {
    onRequest,
    schema: {
      ...common,
      summary: 'Register a public key (Ed25519 or P-256 JWK) the key signs its requests with',
      description: 'At most 10 per key. The answer\'s keyid (the RFC 7638 thumbprint) is the keyid parameter of the signatures.',
      params: KeyIdParamsSchema,
      body: RegisterSigningKeyBodySchema,
      response: { 201: SigningKeySchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const registered = await app.clientKeys.register(request.params.id, request.body.jwk, who(request))
    return reply.code(201).header('location', `/api/v1/keys/${request.params.id}/signing-keys/${registered.keyid}`).send(registered)
  })

  app.get('/keys/:id/signing-keys', {
    onRequest,
    schema: { ...common, summary: 'The public keys a key signs with', params: KeyIdParamsSchema, response: { 200: SigningKeyListSchema, ...errorResponses(400, 401, 403, 404, 429, 503, 507) } }
  }, async (request) => ({ items: await app.clientKeys.list(request.params.id) }))

  app.delete('/keys/:id/signing-keys/:keyid', {
    onRequest,
    schema: {
      ...common,
      summary: 'Remove a signing key: its signatures are refused on every instance within seconds',
      params: SigningKeyParamsSchema,
      response: { 204: Type.Null({ description: 'removed' }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    await app.clientKeys.remove(request.params.id, request.params.keyid, who(request))
    return reply.code(204).send(null)
  })
}

export default signingKeyRoutes
