import type { FastifyRequest } from 'fastify'

export type Format = 'json' | 'html' | 'text'

const MEDIA: Record<Format, string> = { json: 'application/json', html: 'text/html', text: 'text/plain' }

/**
 * The response format the client prefers among `offered` (first = default). API clients
 * mostly send no Accept, `*\/*` or `application/json`: those skip the full negotiation.
 * Requires @fastify/accepts for the rest.
 */
export function preferredFormat (request: FastifyRequest, offered: readonly Format[]): Format {
  const accept = request.headers.accept
  const fallback = offered[0] ?? 'json'
  if (accept === undefined || accept === '*/*' || accept === 'application/json') return fallback
  const chosen = request.accepts().type(offered.map((format) => MEDIA[format]))
  if (chosen === false) return fallback
  return offered.find((format) => MEDIA[format] === chosen) ?? fallback
}
