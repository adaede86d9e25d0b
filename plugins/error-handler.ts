import { STATUS_CODES } from 'node:http'
import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import type { ErrorBody } from '../schemas/common.js'
import { fastifyErrorCodes, UnsupportedContentEncoding } from '../src/errors.js'

// Catalogued server-side errors whose message is safe to show (they name no internals).
const PUBLIC_5XX = new Set(['SERVICE_UNAVAILABLE', 'INSUFFICIENT_STORAGE'])

/** The body of API.md for any error: nothing else, never a stack, a path or a store's error text. */
export function errorBody (error: Partial<FastifyError>): ErrorBody {
  const status = typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode <= 599 ? error.statusCode : 500
  const code = error.code === undefined ? undefined : (fastifyErrorCodes[error.code] ?? (/^[A-Z][A-Z0-9_]*$/.test(error.code) && !error.code.startsWith('FST_') ? error.code : undefined))
  if (status >= 500 && (code === undefined || !PUBLIC_5XX.has(code))) {
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: 'An internal error occurred', code: 'INTERNAL_ERROR' }
  }
  const body: ErrorBody = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', message: error.message ?? '' }
  if (code !== undefined) body.code = code
  return body
}

/**
 * One error handler for the whole app: 4xx errors keep their (safe, schema-made or
 * catalogued) message; 5xx details go to the log with the request id, and the client gets
 * the generic body.
 */
export default fp(async function errorHandler (app) {
  app.setErrorHandler(function handleError (error: FastifyError, request, reply) {
    const body = errorBody(error)
    if (body.statusCode >= 500) {
      request.log[body.statusCode === 503 ? 'warn' : 'error']({ err: error }, 'request failed')
    } else {
      request.log.info({ statusCode: body.statusCode, code: body.code }, body.message)
    }
    if (body.statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', '1')
    // Headers an error carries (a refused signature's WWW-Authenticate and Accept-Signature),
    // as Fastify's own handler would set them.
    const headers = (error as { headers?: Record<string, string> }).headers
    if (headers !== undefined && body.statusCode < 500) reply.headers(headers)
    // RFC 7694: a 415 for a content coding says which codings are accepted.
    if (error instanceof UnsupportedContentEncoding) reply.header('accept-encoding', 'identity')
    return reply.code(body.statusCode).type('application/json; charset=utf-8').send(body)
  })
}, { name: 'error-handler', dependencies: ['config'] })
