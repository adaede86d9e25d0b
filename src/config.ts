import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createSecureContext } from 'node:tls'
import { envSchema } from 'env-schema'
import { EnvSchema, type Env } from '../schemas/env.js'
import { compileOriginPatterns, OriginPatternError } from './abuse/origin-patterns.js'
import type { ArgonCost } from './api-keys.js'
import type { IssuerKeyTiming } from './auth/issuer-keys.js'
import { InvalidCidr, normalizeCidrs } from './auth/ip-allow-list.js'
import { version } from './version.js'

export type TrustProxy = boolean | number | string

export interface Config extends Env {
  readonly version: string
  readonly corsOrigins: readonly string[]
  readonly trustProxy: TrustProxy
  /** the externally visible base URL, no trailing slash: the token issuer (iss) */
  readonly publicUrl: string
  /** tests only: shorter issuer-key periods than JWT_KEY_ROTATION_DAYS allows (src/auth/issuer-keys.ts) */
  readonly issuerKeyTiming?: Partial<IssuerKeyTiming>
  /**
   * tests only: a lighter argon2id cost (memory KiB, iterations) for the API keys this instance
   * creates, for the many tests that are not about hashing: a verification reads the cost from
   * the hash (PHC string), as it does for keys made before ARGON2_OPTIONS changes
   */
  readonly apiKeyHashing?: ArgonCost
  /** tests only: a faster penalty ladder (score half-life, block durations, ladder memory) than plugins/abuse.ts uses */
  readonly abuseTiming?: { readonly halfLifeMs?: number, readonly durationsMs?: readonly number[], readonly memoryMs?: number }
  /**
   * tests only: webhook delivery timings (plugins/webhooks.ts): `scale` multiplies the retry
   * schedule and the 5-day disable threshold (src/webhooks/retry.ts), `timeoutMs` replaces the
   * 10 s attempt timeout, `pollMs` how long a job waits when its endpoint is busy
   */
  readonly webhookTiming?: { readonly scale?: number, readonly timeoutMs?: number, readonly pollMs?: number }
  /** tests only: the CA certificate(s) (PEM) deliveries trust, in place of the system's: a test receiver's own */
  readonly webhookTls?: { readonly ca: string }
  readonly tls: { readonly cert: Buffer, readonly key: Buffer } | null
  /** AES-256 key for content at rest, from ENCRYPTION_KEY */
  readonly encryptionKey: Buffer | null
  readonly redisClusterNodes: ReadonlyArray<{ host: string, port: number }>
  /** PENALTY_EXEMPT_IPS as canonical CIDRs */
  readonly penaltyExemptIps: readonly string[]
}

/** A configuration problem: its message is one line that names the variable. */
export class ConfigError extends Error {
  constructor (readonly variable: string, problem: string) {
    super(`Invalid configuration: ${variable} ${problem}`)
    this.name = 'ConfigError'
  }
}

export type ConfigOverrides = Partial<Record<keyof Env, string | number | undefined>>

/**
 * Reads and validates the environment once. `overrides` win over `env` (tests and the
 * benchmark use them); unknown variables are ignored. Throws ConfigError on the first
 * bad value, before anything listens.
 */
export function loadConfig (env: NodeJS.ProcessEnv = process.env, overrides: ConfigOverrides = {}): Config {
  const data: Record<string, unknown> = {}
  for (const [name, value] of Object.entries({ ...env, ...overrides })) {
    // An empty variable means "not set", as shells and compose files often write them.
    if (value !== undefined && value !== '') data[name] = typeof value === 'number' ? String(value) : value
  }

  let parsed: Env
  try {
    parsed = envSchema<Env>({
      // env-schema mutates the schema it is given, so it gets a copy
      schema: structuredClone(EnvSchema),
      data,
      env: false,
      dotenv: false
    })
  } catch (err) {
    throw toConfigError(err)
  }

  if (parsed.MESSAGE_DEFAULT_TTL_SECONDS > parsed.MESSAGE_MAX_TTL_SECONDS) {
    throw new ConfigError('MESSAGE_DEFAULT_TTL_SECONDS', 'must not be greater than MESSAGE_MAX_TTL_SECONDS')
  }
  if (parsed.REDIS_URL !== undefined && parsed.REDIS_CLUSTER_NODES !== undefined) {
    throw new ConfigError('REDIS_CLUSTER_NODES', 'must not be set together with REDIS_URL')
  }

  const production = parsed.NODE_ENV === 'production'

  return Object.freeze({
    ...parsed,
    version,
    publicUrl: parsePublicUrl(parsed.PUBLIC_URL, parsed.HOST, parsed.PORT, production),
    corsOrigins: Object.freeze(parseCorsOrigins(parsed.CORS_ORIGINS)),
    trustProxy: parseTrustProxy(parsed.TRUST_PROXY),
    tls: readTls(parsed.TLS_CERT_FILE, parsed.TLS_KEY_FILE),
    encryptionKey: parseEncryptionKey(parsed.ENCRYPTION_KEY),
    redisClusterNodes: Object.freeze(parseClusterNodes(parsed.REDIS_CLUSTER_NODES)),
    penaltyExemptIps: Object.freeze(parsePenaltyExemptIps(parsed.PENALTY_EXEMPT_IPS))
  })
}

interface AjvLikeError { instancePath?: string, params?: { missingProperty?: string }, message?: string }

function toConfigError (err: unknown): ConfigError {
  const first = (err as { errors?: AjvLikeError[] }).errors?.[0]
  if (first === undefined) return new ConfigError('environment', String((err as Error).message))
  const variable = first.params?.missingProperty ?? first.instancePath?.replace(/^\//, '') ?? 'environment'
  // The value itself is never echoed: it may be a secret.
  return new ConfigError(variable || 'environment', first.message ?? 'is invalid')
}

/**
 * CORS_ORIGINS: comma-separated exact origins or one-label subdomain wildcards, validated
 * like the runtime policy's corsOrigins (src/abuse/origin-patterns.ts); kept as written.
 */
function parseCorsOrigins (raw: string): string[] {
  const origins = raw.split(',').map((origin) => origin.trim()).filter(Boolean)
  try {
    compileOriginPatterns(origins)
  } catch (err) {
    if (err instanceof OriginPatternError) throw new ConfigError('CORS_ORIGINS', err.message)
    throw err
  }
  return origins
}

/**
 * PUBLIC_URL: an absolute http(s) URL without credentials, query or fragment (it is the token
 * issuer and the base of every URL the metadata publishes), kept without a trailing slash.
 * Required in production: a default made of HOST and PORT names the listening socket, which is
 * rarely what clients reach. The default is the contract's `http://HOST:PORT` (an IPv6 HOST in
 * brackets, so it stays a URL), also when the server speaks https itself: set PUBLIC_URL then.
 */
function parsePublicUrl (raw: string | undefined, host: string, port: number, production: boolean): string {
  if (raw === undefined) {
    if (production) throw new ConfigError('PUBLIC_URL', 'is required when NODE_ENV=production (the URL clients use, e.g. https://missive.example.com)')
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
  }
  let url: URL
  try { url = new URL(raw) } catch { throw new ConfigError('PUBLIC_URL', 'must be an absolute http(s) URL') }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('PUBLIC_URL', 'must be an absolute http(s) URL')
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    throw new ConfigError('PUBLIC_URL', 'must not carry a user name, password, query or fragment')
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`
}

function parseTrustProxy (raw: string): TrustProxy {
  if (raw === 'true') return true
  if (raw === 'false') return false
  if (/^\d+$/.test(raw)) return Number(raw)
  // Otherwise a comma-separated list of addresses or CIDR ranges, as Fastify takes it.
  if (!/^[0-9a-fA-F.:/,\s]+$/.test(raw)) {
    throw new ConfigError('TRUST_PROXY', 'must be true, false, a hop count, or a comma-separated list of IPs/CIDRs')
  }
  return raw
}

function readTls (certFile: string | undefined, keyFile: string | undefined): Config['tls'] {
  if (certFile === undefined && keyFile === undefined) return null
  if (certFile === undefined) throw new ConfigError('TLS_CERT_FILE', 'must be set when TLS_KEY_FILE is set')
  if (keyFile === undefined) throw new ConfigError('TLS_KEY_FILE', 'must be set when TLS_CERT_FILE is set')
  const cert = readable('TLS_CERT_FILE', certFile)
  const key = readable('TLS_KEY_FILE', keyFile)
  // Checked here, so a wrong file is named now instead of failing later inside the TLS stack.
  try { if (new X509Certificate(cert).subject === undefined) throw new Error('no subject') } catch { throw new ConfigError('TLS_CERT_FILE', 'does not hold a PEM certificate') }
  try { createPrivateKey(key) } catch { throw new ConfigError('TLS_KEY_FILE', 'does not hold a PEM private key') }
  try { createSecureContext({ cert, key }) } catch { throw new ConfigError('TLS_KEY_FILE', 'does not match the certificate in TLS_CERT_FILE') }
  return Object.freeze({ cert, key })
}

function readable (variable: string, file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new ConfigError(variable, `names a file that cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
  }
}

function parseEncryptionKey (raw: string | undefined): Buffer | null {
  if (raw === undefined) return null
  const key = Buffer.from(raw, 'base64')
  if (key.length !== 32 || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(raw)) {
    throw new ConfigError('ENCRYPTION_KEY', 'must be 32 bytes encoded in base64 (openssl rand -base64 32)')
  }
  return key
}

/** The same CIDR rules as a key's allowedIps (src/auth/ip-allow-list.ts), at most 32 entries. */
function parsePenaltyExemptIps (raw: string): string[] {
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean)
  try {
    return normalizeCidrs(entries)
  } catch (err) {
    if (err instanceof InvalidCidr) throw new ConfigError('PENALTY_EXEMPT_IPS', `has ${err.message}`)
    throw err
  }
}

function parseClusterNodes (raw: string | undefined): Array<{ host: string, port: number }> {
  if (raw === undefined) return []
  return raw.split(',').map((node) => {
    const at = node.lastIndexOf(':')
    return { host: node.slice(0, at), port: Number(node.slice(at + 1)) }
  })
}
