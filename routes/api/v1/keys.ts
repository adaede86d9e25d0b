import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { absentBodyIsEmpty, who } from '../../../plugins/auth.js'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { CreateKeyBodySchema, IssuedKeySchema, KeyIdParamsSchema, KeyItemSchema, KeyListSchema, RotateKeyBodySchema, UpdateKeyBodySchema } from '../../../schemas/keys.js'

/** API key administration (API.md section 2), all under the keys:admin scope. */
const keyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = {
    tags: ['keys'],
    security: eitherCredential('keys:admin'),
    headers: CredentialHeadersSchema
  }
  const onRequest = app.authorize('keys:admin')

  app.post('/keys', {
    onRequest,
    schema: {
      ...common,
      summary: 'Create an API key (the plaintext key is shown only in this answer)',
      body: CreateKeyBodySchema,
      response: { 201: IssuedKeySchema, ...errorResponses(400, 401, 403, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const created = await app.apiKeys.create(request.body, who(request))
    return reply.code(201).header('location', `/api/v1/keys/${created.id}`).send(created)
  })

  app.get('/keys', {
    onRequest,
    schema: { ...common, summary: 'Every API key, revoked ones included', response: { 200: KeyListSchema, ...errorResponses(401, 403, 429, 503, 507) } }
  }, async () => ({ items: await app.apiKeys.list() }))

  app.get('/keys/:id', {
    onRequest,
    schema: { ...common, summary: 'One API key', params: KeyIdParamsSchema, response: { 200: KeyItemSchema, ...errorResponses(400, 401, 403, 404, 429, 503, 507) } }
  }, async (request) => await app.apiKeys.get(request.params.id))

  app.patch('/keys/:id', {
    onRequest,
    schema: {
      ...common,
      summary: 'Change a key\'s name, scopes, rate limit, allowed addresses or signature requirement (on every instance within seconds)',
      description: 'Any of the fields; the others stay. Scopes taken away also leave the key\'s tokens already issued.',
      params: KeyIdParamsSchema,
      body: UpdateKeyBodySchema,
      response: { 200: KeyItemSchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503, 507) }
    }
  }, async (request) => {
    const updated = await app.apiKeys.update(request.params.id, request.body, who(request))
    return updated
  })

  app.delete('/keys/:id', {
    onRequest,
    schema: {
      ...common,
      summary: 'Revoke an API key and every token issued from it (on every instance within seconds)',
      params: KeyIdParamsSchema,
      response: { 204: Type.Null({ description: 'revoked' }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    await app.apiKeys.revoke(request.params.id, who(request))
    return reply.code(204).send(null)
  })

  app.post('/keys/:id/rotate', {
    onRequest,
    preValidation: absentBodyIsEmpty,
    schema: {
      ...common,
      summary: 'A new secret for the same key; the old one works for graceSeconds more',
      params: KeyIdParamsSchema,
      body: RotateKeyBodySchema,
      response: { 200: IssuedKeySchema, ...errorResponses(400, 401, 403, 404, 409, 413, 415, 429, 503, 507) }
    }
  }, async (request) => {
    const graceSeconds = request.body.graceSeconds ?? 0
    const rotated = await app.apiKeys.rotate(request.params.id, graceSeconds, who(request))
    return rotated
  })
}

export default keyRoutes
