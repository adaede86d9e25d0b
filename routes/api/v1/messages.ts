import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ListMessagesQuerySchema, MessageListSchema, OwnedMessageCreatedSchema } from '../../../schemas/api-messages.js'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses, MessageIdParamsSchema } from '../../../schemas/common.js'
import { CreateMessageBodySchema, MessageReadSchema, ReadMessageHeadersSchema } from '../../../schemas/message.js'
import { ReceiptSchema } from '../../../schemas/receipt.js'
import { principalOf } from '../../../plugins/auth.js'
import { perPolicy } from '../../../src/abuse/policy.js'
import { InvalidCursor } from '../../../src/errors.js'
import { messageLimits } from '../../../src/messages.js'
import { jsonBodyLimit } from '../../../src/server-options.js'
import { isoTime } from '../../../src/iso-time.js'
import { decodeCursor } from '../../../src/storage/owner-cursor.js'

/** Messages for services (API.md section 2): owned by the calling key. */
const apiMessageRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app
  // The TTL bound follows the runtime policy: made again only when it changes.
  const limits = perPolicy(app.policy, (policy) => messageLimits({ ...config, MESSAGE_MAX_TTL_SECONDS: policy.maxTtlSeconds }, config.API_MESSAGE_MAX_BYTES))

  // JSON only: a text/plain body gets 415 rather than a confusing 400.
  app.removeContentTypeParser('text/plain')

  app.post('/messages', {
    onRequest: app.authorize('messages:write'),
    bodyLimit: jsonBodyLimit(config.API_MESSAGE_MAX_BYTES),
    schema: {
      summary: 'Create a message owned by the calling key',
      tags: ['messages'],
      security: eitherCredential('messages:write'),
      headers: CredentialHeadersSchema,
      body: CreateMessageBodySchema,
      response: { 201: OwnedMessageCreatedSchema, ...errorResponses(400, 401, 403, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    // (the body as parsed and validated, and the answer as made: no copies on the hot path)
    const created = await app.messages.createOwned(request.body, limits(), principalOf(request).keyId)
    return reply.code(201).header('location', created.url).send(created)
  })

  app.get('/messages', {
    onRequest: app.authorize('messages:read'),
    schema: {
      summary: 'The calling key\'s live messages, newest first',
      tags: ['messages'],
      security: eitherCredential('messages:read'),
      headers: CredentialHeadersSchema,
      querystring: ListMessagesQuerySchema,
      response: { 200: MessageListSchema, ...errorResponses(400, 401, 403, 429, 503) }
    }
  }, async (request) => {
    const { limit, cursor } = request.query
    if (cursor !== undefined && decodeCursor(cursor) === null) throw new InvalidCursor()
    const page = await app.messageStore.listOwned(principalOf(request).keyId, limit, cursor ?? null)
    return {
      items: page.items.map((m) => ({ id: m.id, createdAt: isoTime(m.createdAt), expiresAt: isoTime(m.expiresAt), remainingViews: m.remainingViews })),
      nextCursor: page.nextCursor
    }
  })

  app.get('/messages/:id', {
    onRequest: app.authorize('messages:read'),
    exposeHeadRoute: false,
    schema: {
      summary: 'Read a message (counts a view)',
      tags: ['messages'],
      security: eitherCredential('messages:read'),
      headers: Type.Composite([CredentialHeadersSchema, ReadMessageHeadersSchema]),
      params: MessageIdParamsSchema,
      response: { 200: MessageReadSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
    }
  }, async (request) => await app.messages.read(request.params.id, request.headers['x-read-token']))

  app.get('/messages/:id/receipt', {
    onRequest: app.authorize('messages:read'),
    schema: {
      summary: 'The receipt of a message the calling key owns (counts no view)',
      tags: ['messages'],
      security: eitherCredential('messages:read'),
      headers: CredentialHeadersSchema,
      params: MessageIdParamsSchema,
      response: { 200: ReceiptSchema, ...errorResponses(400, 401, 403, 404, 429, 503) }
    }
    // Anyone else's receipt is the same 404 as an unknown id.
  }, async (request) => await app.messages.ownedReceipt(request.params.id, principalOf(request).keyId))

  app.delete('/messages/:id', {
    onRequest: app.authorize('messages:delete'),
    schema: {
      summary: 'Delete a message the calling key owns',
      tags: ['messages'],
      security: eitherCredential('messages:delete'),
      headers: CredentialHeadersSchema,
      params: MessageIdParamsSchema,
      response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 401, 403, 404, 413, 415, 429, 503) }
    }
  }, async (request, reply) => {
    // Anyone else's message is the same 404 as an unknown id: no existence oracle.
    await app.messages.deleteOwned(request.params.id, principalOf(request).keyId)
    return reply.code(204).send(null)
  })
}

export default apiMessageRoutes
