import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { absentBodyIsEmpty, principalOf, who } from '../../../plugins/auth.js'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import {
  CreateWebhookBodySchema, DeliveryListSchema, IssuedWebhookSchema, RotateWebhookSecretBodySchema, WebhookListSchema, WebhookParamsSchema,
  WebhookSchema
} from '../../../schemas/webhooks.js'

/** A key's webhook endpoints (API.md section 9), under messages:write: each key sees only its own. */
const webhookRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = {
    tags: ['webhooks'],
    security: eitherCredential('messages:write'),
    headers: CredentialHeadersSchema
  }
  const onRequest = app.authorize('messages:write')

  // JSON only: a text/plain body gets 415 rather than a confusing 400.
  app.removeContentTypeParser('text/plain')

  app.post('/webhooks', {
    onRequest,
    schema: {
      ...common,
      summary: 'Register a webhook endpoint (its signing secret is shown only in this answer)',
      description: 'At most 10 per key (409 past that; 409 too on a server without receipts, where no event can be recorded). Deliveries are signed as Standard Webhooks 1.0 with the secret.',
      body: CreateWebhookBodySchema,
      response: { 201: IssuedWebhookSchema, ...errorResponses(400, 401, 403, 409, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const created = await app.webhookEndpoints.register(principalOf(request).keyId, request.body, who(request))
    return reply.code(201).header('location', `/api/v1/webhooks/${created.id}`).send(created)
  })

  app.get('/webhooks', {
    onRequest,
    schema: { ...common, summary: 'The calling key\'s webhook endpoints, oldest first', response: { 200: WebhookListSchema, ...errorResponses(401, 403, 429, 503) } }
  }, async (request) => ({ items: await app.webhookEndpoints.list(principalOf(request).keyId) }))

  app.get('/webhooks/:id', {
    onRequest,
    schema: { ...common, summary: 'One of the calling key\'s webhook endpoints', params: WebhookParamsSchema, response: { 200: WebhookSchema, ...errorResponses(400, 401, 403, 404, 429, 503) } }
  }, async (request) => await app.webhookEndpoints.get(principalOf(request).keyId, request.params.id))

  app.delete('/webhooks/:id', {
    onRequest,
    schema: {
      ...common,
      summary: 'Delete a webhook endpoint and its delivery log',
      params: WebhookParamsSchema,
      response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    await app.webhookEndpoints.remove(principalOf(request).keyId, request.params.id, who(request))
    return reply.code(204).send(null)
  })

  app.post('/webhooks/:id/rotate-secret', {
    onRequest,
    preValidation: absentBodyIsEmpty,
    schema: {
      ...common,
      summary: 'A new signing secret (shown only in this answer); deliveries carry signatures with both for 24 hours',
      params: WebhookParamsSchema,
      body: RotateWebhookSecretBodySchema,
      response: { 200: IssuedWebhookSchema, ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503, 507) }
    }
  }, async (request) => await app.webhookEndpoints.rotateSecret(principalOf(request).keyId, request.params.id, who(request)))

  app.get('/webhooks/:id/deliveries', {
    onRequest,
    schema: {
      ...common,
      summary: 'The endpoint\'s last 100 deliveries, newest first',
      params: WebhookParamsSchema,
      response: { 200: DeliveryListSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => ({ items: await app.webhookEndpoints.deliveries(principalOf(request).keyId, request.params.id) }))
}

export default webhookRoutes
