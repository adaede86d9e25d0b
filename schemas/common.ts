import { Type, type Static } from '@sinclair/typebox'

// The one error body of API.md: nothing else may ever be serialized into an error.
export const ErrorSchema = Type.Object({
  statusCode: Type.Integer({ minimum: 400, maximum: 599 }),
  error: Type.String({ description: 'HTTP reason phrase' }),
  message: Type.String(),
  code: Type.Optional(Type.String({ pattern: '^[A-Z][A-Z0-9_]*$' }))
}, { additionalProperties: false, title: 'Error' })
export type ErrorBody = Static<typeof ErrorSchema>

export const MessageIdSchema = Type.String({
  pattern: '^[A-Za-z0-9_-]{22}$',
  description: '128 random bits, base64url without padding'
})

export const MessageIdParamsSchema = Type.Object({ id: MessageIdSchema }, { additionalProperties: false })
export type MessageIdParams = Static<typeof MessageIdParamsSchema>

export const StatusSchema = Type.Object({ status: Type.String() }, { additionalProperties: false })

/**
 * The same error schema for each listed status code, for route `response` maps, and for
 * two codes every route can answer: 400, for an HTTP/1.1 request without Host
 * (plugins/security-headers.ts), and 500, when it fails unexpectedly (the generic body of
 * API.md).
 */
export function errorResponses<const C extends readonly number[]> (...codes: C): { [K in C[number] | 400 | 500]: typeof ErrorSchema } {
  return Object.fromEntries([...codes, 400, 500].map((code) => [code, ErrorSchema])) as { [K in C[number] | 400 | 500]: typeof ErrorSchema }
}
