import { Type, type Static } from '@sinclair/typebox'
import { MAX_ORIGIN_ENTRIES, MAX_ORIGIN_ENTRY_CHARS } from '../src/abuse/origin-patterns.js'
import { POLICY_BOUNDS } from '../src/abuse/policy.js'
import { CredentialHeadersSchema } from './auth.js'

// The runtime policy (API.md section 8). The bounds are the environment's (schemas/env.ts)
// with sane maxima; what a schema cannot say (each CORS entry's form, maxTtlSeconds at least
// MESSAGE_DEFAULT_TTL_SECONDS) src/abuse/policy.ts checks, with a 400 naming the field.

const Limit = (what: string): ReturnType<typeof Type.Integer> => Type.Integer({ minimum: POLICY_BOUNDS.limit.min, maximum: POLICY_BOUNDS.limit.max, description: what })

export const RateLimitPolicySchema = Type.Object({
  windowMs: Type.Integer({ minimum: POLICY_BOUNDS.windowMs.min, maximum: POLICY_BOUNDS.windowMs.max, description: 'one window for the three limits (RATE_LIMIT_WINDOW_MS)' }),
  create: Limit('anonymous creates per client address per window (RATE_LIMIT_CREATE_MAX); scaled down under pressure'),
  read: Limit('anonymous reads per client address per window (RATE_LIMIT_READ_MAX); scaled down under pressure'),
  api: Limit('requests per key per window, for keys without their own rateLimit (RATE_LIMIT_API_MAX)')
}, { additionalProperties: false })

const PolicyFields = {
  corsOrigins: Type.Array(Type.String({ maxLength: MAX_ORIGIN_ENTRY_CHARS }), {
    maxItems: MAX_ORIGIN_ENTRIES,
    description: 'origins allowed to read answers cross-origin: exact (https://app.example.com) or one subdomain wildcard (https://*.example.com, never on a public suffix); no *, no null'
  }),
  rateLimits: RateLimitPolicySchema,
  maxTtlSeconds: Type.Integer({
    minimum: POLICY_BOUNDS.maxTtlSeconds.min,
    maximum: POLICY_BOUNDS.maxTtlSeconds.max,
    description: 'the longest ttl a message may have (MESSAGE_MAX_TTL_SECONDS); at least MESSAGE_DEFAULT_TTL_SECONDS'
  }),
  anonymousCreate: Type.Boolean({ description: 'false: POST / answers 403 (creating needs the API with a key); reading stays open' })
}

/**
 * PUT: every field, nothing else; a policy as GET answered it is taken too: `updatedAt` and
 * `updatedBy` are ignored, `version` stands for If-Match when there is none.
 */
export const PolicyBodySchema = Type.Object({
  ...PolicyFields,
  version: Type.Optional(Type.String({ maxLength: 1024, description: 'as GET answered it: taken as If-Match when that header is absent' })),
  updatedAt: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'ignored (read-only)' })),
  updatedBy: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'ignored (read-only)' }))
}, { additionalProperties: false })
export type PolicyBody = Static<typeof PolicyBodySchema>

export const PolicySchema = Type.Object({
  version: Type.String({ description: 'opaque, new with every change ("env": the environment\'s defaults never changed); the ETag, and what If-Match takes' }),
  ...PolicyFields,
  updatedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: 'the last change or reset; null: never changed' }),
  updatedBy: Type.Union([Type.String(), Type.Null()], { description: 'the key id (or "key-tool") of the last change or reset; null: never changed' })
}, { additionalProperties: false, title: 'Policy' })
export type PolicyResponse = Static<typeof PolicySchema>

export const PolicyHeadersSchema = Type.Object({
  ...CredentialHeadersSchema.properties,
  'if-match': Type.Optional(Type.String({
    maxLength: 1024,
    description: 'the version read (bare or quoted, as the ETag): 412 when the policy changed since; * or absent: unconditional'
  }))
})
