import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponses, MessageIdParamsSchema } from '../schemas/common.js'
import { ReceiptSchema } from '../schemas/receipt.js'
import {
  type CreateMessageBody, CreateMessageBodySchema, CreateMessageQuerySchema, DeleteMessageHeadersSchema,
  MessageCreatedSchema, MessageReadSchema, PlainContentSchema, ReadMessageHeadersSchema, ServiceInfoSchema
} from '../schemas/message.js'
import { bodyEncodingError } from '../src/body-encoding.js'
import { perPolicy } from '../src/abuse/policy.js'
import { AnonymousCreateDisabled, InvalidUtf8, MissingBody, OptionsInQuery } from '../src/errors.js'
import { preferredFormat, varyOn } from '../src/negotiate.js'
import { encryptedContentLimit, messageLimits, type NewMessage } from '../src/messages.js'
import { jsonBodyLimit } from '../src/server-options.js'
import { composePage, readPage } from './web-page.js'

const Html = Type.String({ description: 'the web page' })
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The anonymous half of API.md section 1: `/` and `/msg/:id`. */
const publicRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { config } = app
  // The TTL bound and the page follow the runtime policy: made again only when it changes.
  const limits = perPolicy(app.policy, (policy) => messageLimits({ ...config, MESSAGE_MAX_TTL_SECONDS: policy.maxTtlSeconds }, config.MESSAGE_MAX_BYTES))
  const writePage = perPolicy(app.policy, (policy) => composePage(config.MESSAGE_DEFAULT_TTL_SECONDS, policy.maxTtlSeconds, policy.anonymousCreate, config.MESSAGE_MAX_BYTES))

  // text/plain: the raw body is the content, byte for byte, so it must be valid UTF-8
  // (a lenient decoder would silently replace bad bytes). Its limit is the larger of the
  // content limits (encrypted=true in the query); the handler applies the right one.
  app.removeContentTypeParser('text/plain')
  app.addContentTypeParser('text/plain', { parseAs: 'buffer', bodyLimit: encryptedContentLimit(config.MESSAGE_MAX_BYTES) }, (request, body, done) => {
    const unreadable = bodyEncodingError(request.headers)
    if (unreadable !== null) {
      done(unreadable, undefined)
      return
    }
    try {
      done(null, strictUtf8.decode(body as Buffer))
    } catch {
      done(new InvalidUtf8(), undefined)
    }
  })

  app.get('/', {
    schema: {
      summary: 'Service information, or the web page for writing a message',
      response: {
        200: { content: { 'application/json': { schema: ServiceInfoSchema }, 'text/html': { schema: Html } } },
        ...errorResponses(429, 503)
      }
    },
    onRequest: app.readLimit
  }, async (request, reply) => {
    varyOn(reply, 'Accept')
    if (preferredFormat(request, ['json', 'html']) === 'html') return reply.type('text/html; charset=utf-8').send(writePage())
    return reply.send({ name: 'missive' as const, version: config.version, docs: '/docs' })
  })

  app.post('/', {
    bodyLimit: jsonBodyLimit(config.MESSAGE_MAX_BYTES),
    schema: {
      summary: 'Create a message',
      querystring: CreateMessageQuerySchema,
      body: { content: { 'application/json': { schema: CreateMessageBodySchema }, 'text/plain': { schema: PlainContentSchema } } },
      response: { 201: MessageCreatedSchema, ...errorResponses(400, 403, 413, 415, 429, 503, 507) }
    },
    config: { rateLimit: app.limits.create },
    // Closed by the runtime policy (anonymousCreate: false): refused after the rate limit,
    // before the body is read.
    preParsing: (_request, _reply, payload, done) => {
      if (app.policy.current().anonymousCreate) done(null, payload)
      else done(new AnonymousCreateDisabled(), undefined)
    }
  }, async (request, reply) => {
    // The body schema is chosen by content type: a string for text/plain, else the JSON object.
    const body = request.body as CreateMessageBody | string | undefined
    // With no Content-Type there is no schema to apply, and no body to read.
    if (body === undefined || body === null) throw new MissingBody()
    let input: NewMessage
    if (typeof body === 'string') {
      input = { content: body, ...request.query }
    } else {
      if (Object.keys(request.query).length > 0) throw new OptionsInQuery()
      input = body
    }
    const created = await app.messages.create(input, limits())
    return reply.code(201).header('location', created.url).send(created)
  })

  app.get('/msg/:id', {
    // HEAD would count a view without showing the message: not offered.
    exposeHeadRoute: false,
    schema: {
      summary: 'Read a message (counts a view, except for the HTML page)',
      params: MessageIdParamsSchema,
      headers: ReadMessageHeadersSchema,
      response: {
        200: {
          content: {
            'application/json': { schema: MessageReadSchema },
            'text/plain': { schema: Type.String({ description: 'the raw content' }) },
            'text/html': { schema: Html }
          }
        },
        ...errorResponses(400, 404, 429, 503)
      }
    },
    onRequest: app.readLimit
  }, async (request, reply) => {
    varyOn(reply, 'Accept')
    const format = preferredFormat(request, ['json', 'html', 'text'])
    // A browser (or a link-preview bot) following the link gets the page and burns nothing;
    // the page's own fetch is the read.
    if (format === 'html') return reply.type('text/html; charset=utf-8').send(readPage)
    const message = await app.messages.read(request.params.id, request.headers['x-read-token'])
    if (format === 'text') return reply.type('text/plain; charset=utf-8').send(message.content)
    return reply.send(message)
  })

  app.delete('/msg/:id', {
    schema: {
      summary: 'Delete a message with its delete token',
      params: MessageIdParamsSchema,
      headers: DeleteMessageHeadersSchema,
      response: { 204: Type.Null({ description: 'deleted' }), ...errorResponses(400, 404, 413, 415, 429, 503) }
    },
    onRequest: app.readLimit
  }, async (request, reply) => {
    await app.messages.deleteWithToken(request.params.id, request.headers['x-delete-token'])
    return reply.code(204).send(null)
  })

  app.get('/msg/:id/receipt', {
    schema: {
      summary: 'The creator\'s receipt: was it read, how often, when, how it ended (counts no view)',
      description: 'Needs the message\'s delete token. Kept RECEIPT_RETENTION_SECONDS after the message ended; never holds content or anything about readers.',
      params: MessageIdParamsSchema,
      headers: DeleteMessageHeadersSchema,
      response: { 200: ReceiptSchema, ...errorResponses(400, 404, 429, 503) }
    },
    onRequest: app.readLimit
  }, async (request) => await app.messages.receiptWithToken(request.params.id, request.headers['x-delete-token']))
}

export default publicRoutes
