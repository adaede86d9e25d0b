import type { FastifyReply, FastifyRequest } from 'fastify'

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

/** Adds `field` to the Vary header, keeping what other plugins (CORS: Origin) put there. */
export function varyOn (reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary')
  reply.header('vary', current === undefined || current === '' ? field : `${String(current)}, ${field}`)
}
