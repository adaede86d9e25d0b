import { Type, type Static } from '@sinclair/typebox'

// Every variable of API.md section 5. Values arrive as strings; env-schema coerces
// them to these types and applies the defaults, so the rest of the app sees numbers.
export const EnvSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  HOST: Type.String({ default: '127.0.0.1', minLength: 1 }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[^,:\\s]+:\\d+(,[^,:\\s]+:\\d+)*$' })),
  PUBLIC_URL: Type.Optional(Type.String({ minLength: 1 })),
  // No longer used (tokens are signed with rotating asymmetric issuer keys): still read, so
  // that a deployment which sets it gets a warning instead of a refusal to start.
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_TTL_SECONDS: Type.Integer({ default: 900, minimum: 30, maximum: 86400 }),
  JWT_ALG: Type.Union([Type.Literal('ES256'), Type.Literal('EdDSA')], { default: 'ES256' }),
  JWT_KEY_ROTATION_DAYS: Type.Integer({ default: 30, minimum: 1, maximum: 365 }),
  // How old a DPoP proof or a request signature may be, and how far ahead of the clock.
  PROOF_MAX_AGE_SECONDS: Type.Integer({ default: 300, minimum: 5, maximum: 3600 }),
  CORS_ORIGINS: Type.String({ default: '' }),
  TRUST_PROXY: Type.String({ default: 'false' }),
  MESSAGE_MAX_BYTES: Type.Integer({ default: 65536, minimum: 1, maximum: 16 * 1024 * 1024 }),
  API_MESSAGE_MAX_BYTES: Type.Integer({ default: 1048576, minimum: 1, maximum: 16 * 1024 * 1024 }),
  MESSAGE_DEFAULT_TTL_SECONDS: Type.Integer({ default: 86400, minimum: 60 }),
  MESSAGE_MAX_TTL_SECONDS: Type.Integer({ default: 2592000, minimum: 60 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ default: 60000, minimum: 1000 }),
  RATE_LIMIT_CREATE_MAX: Type.Integer({ default: 30, minimum: 1 }),
  RATE_LIMIT_READ_MAX: Type.Integer({ default: 300, minimum: 1 }),
  RATE_LIMIT_API_MAX: Type.Integer({ default: 6000, minimum: 1 }),
  AUTH_FAILURE_MAX: Type.Integer({ default: 10, minimum: 1 }),
  // CIDRs never penalised or blocked (health checkers, internal callers), comma-separated.
  PENALTY_EXEMPT_IPS: Type.String({ default: '' }),
  // How many security events the store keeps for GET /api/v1/security/events.
  SECURITY_EVENTS_MAX: Type.Integer({ default: 10000, minimum: 100, maximum: 1_000_000 }),
  // How long a receipt outlives its message (0: no receipts are kept); at most a year.
  RECEIPT_RETENTION_SECONDS: Type.Integer({ default: 604800, minimum: 0, maximum: 31_536_000 }),
  // true lets webhooks reach loopback and private addresses (tests, closed networks).
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info' }),
  LOG_FILE: Type.Optional(Type.String({ minLength: 1 })),
  TLS_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  TLS_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 1 }))
})

export type Env = Static<typeof EnvSchema>
