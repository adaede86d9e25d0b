import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { principalOf } from '../../../plugins/auth.js'
import { CredentialHeadersSchema, eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { BlockIdParamsSchema, BlockListSchema, BlockSchema, CreateBlockBodySchema } from '../../../schemas/security-blocks.js'
import { BlockNotFound } from '../../../src/errors.js'
import { blockView } from '../../../src/abuse/blocks.js'

/** Blocks (API.md section 8): who is blocked, a manual block, a lift; scope security:admin. */
const securityBlockRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // JSON only: a text/plain body gets 415 rather than a confusing 400.
  app.removeContentTypeParser('text/plain')
  const common = { tags: ['security'], security: eitherCredential('security:admin'), headers: CredentialHeadersSchema }
  const onRequest = app.authorize('security:admin')

  app.get('/security/blocks', {
    onRequest,
    schema: { ...common, summary: 'The blocks in force, automatic and manual, oldest first', response: { 200: BlockListSchema, ...errorResponses(401, 403, 429, 503, 507) } }
  }, async () => ({ items: (await app.abuse.blocks.list()).map(blockView) }))

  app.post('/security/blocks', {
    onRequest,
    schema: {
      ...common,
      summary: 'Block an address or a network on every instance',
      description: 'Refused (400): the caller\'s own address, an address in PENALTY_EXEMPT_IPS, a network wider than /16 (IPv4) or /32 (IPv6).',
      body: CreateBlockBodySchema,
      response: { 201: BlockSchema, ...errorResponses(401, 403, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const { cidr, durationSeconds, reason } = request.body
    const block = await app.abuse.blocks.block({ cidr, durationSeconds, reason, by: principalOf(request).keyId, callerIp: request.ip, requestId: request.id })
    return reply.code(201).header('location', `/api/v1/security/blocks/${block.id}`).send(blockView(block))
  })

  // What POST's Location names: one block in force, or 404 once it has ended or been lifted.
  app.get('/security/blocks/:id', {
    onRequest,
    schema: { ...common, summary: 'One block in force', params: BlockIdParamsSchema, response: { 200: BlockSchema, ...errorResponses(400, 401, 403, 404, 429, 503, 507) } }
  }, async (request) => {
    const block = (await app.abuse.blocks.list()).find((b) => b.id === request.params.id)
    if (block === undefined) throw new BlockNotFound()
    return blockView(block)
  })

  app.delete('/security/blocks/:id', {
    onRequest,
    schema: {
      ...common,
      summary: 'Lift a block on every instance (within seconds)',
      params: BlockIdParamsSchema,
      response: { 204: Type.Null({ description: 'lifted' }), ...errorResponses(401, 403, 404, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    if (!await app.abuse.blocks.lift(request.params.id, principalOf(request).keyId, request.ip, request.id)) throw new BlockNotFound()
    return reply.code(204).send(null)
  })
}

export default securityBlockRoutes
