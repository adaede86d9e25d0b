import AjvCompiler from '@fastify/ajv-compiler'
import SerializerSelector from '@fastify/fast-json-stringify-compiler'
import { randomUUID } from 'node:crypto'
import { type ServerOptions, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import { hostname } from 'node:os'
import { type FastifyError, type FastifyReply, type FastifyRequest, type FastifySchemaValidationError, type FastifyServerOptions, LogController } from 'fastify'
import type { FastifyRouteSchemaDef, FastifyValidationResult } from 'fastify/types/schema.js'
import pino, { type DestinationStream, type LoggerOptions } from 'pino'
import { errorBody } from '../plugins/error-handler.js'
import { SECURITY_HEADERS } from '../plugins/security-headers.js'
import type { Config } from './config.js'
import { openLogDestination } from './log-destination.js'

export interface ServerOptionsOverrides {
  /** where log lines go instead of stdout / LOG_FILE (tests capture them) */
  logStream?: DestinationStream
}

// Defence in depth: the request serializer below never logs headers or bodies, but if a
// log line ever carries one of these fields, pino replaces it. (Exact paths only: wildcard
// paths cost a walk of every log line.)
export const redactedPaths = [
  'req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers["x-delete-token"]', 'req.headers["x-read-token"]', 'req.headers.cookie', 'req.headers.dpop', 'req.headers.signature',
  'body', 'content', 'key', 'secret', 'token', 'deleteToken', 'readToken', 'access_token', 'jwt', 'hash'
]

// A message id is a capability (whoever has it can read the message), so access logs keep
// only its first four characters: enough to correlate, useless to an attacker.
/** what maskIds finds, as a regular expression (kept for the tests, which compare the two) */
export const ID_IN_PATH = /\/([A-Za-z0-9_-]{4})[A-Za-z0-9_-]{18}(?=[/?#]|$)/g
const ID_LENGTH = 22
const SLASH = 47
const QUESTION_MARK = 63
const HASH = 35

function isIdChar (c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 45 || c === 95
}

/**
 * `url` with every id-shaped segment (22 base64url characters after a `/`, ending at `/`, `?`,
 * `#` or the end) cut to its first four characters and `…`: the same as
 * `url.replace(ID_IN_PATH, '/$1…')`, by hand because it runs on every access-log line and the
 * regular expression cost ~1 µs of each message read in a profile (a scan ~0.1 µs).
 */
export function maskIds (url: string): string {
  if (url.length <= ID_LENGTH) return url
  let masked = ''
  let copied = 0
  for (let slash = url.indexOf('/'); slash !== -1 && slash + ID_LENGTH < url.length; slash = url.indexOf('/', slash + 1)) {
    const end = slash + 1 + ID_LENGTH
    if (end < url.length) {
      const next = url.charCodeAt(end)
      if (next !== SLASH && next !== QUESTION_MARK && next !== HASH) continue
    }
    let i = slash + 1
    while (i < end && isIdChar(url.charCodeAt(i))) i++
    if (i < end) continue
    masked += url.slice(copied, slash + 5) + '…'
    copied = end
    // the next search starts at `end`, which may be the `/` of the next id
    slash = end - 1
  }
  return copied === 0 ? url : masked + url.slice(copied)
}

export function loggerOptions (config: Pick<Config, 'LOG_LEVEL'>): LoggerOptions {
  return {
    level: config.LOG_LEVEL,
    redact: { paths: redactedPaths, censor: '[redacted]' },
    serializers: {
      req (req: { method: string, url: string, ip?: string, socket?: { remoteAddress?: string } }) {
        return { method: req.method, url: maskIds(req.url), remoteAddress: req.ip ?? req.socket?.remoteAddress }
      },
      res (res: { statusCode: number }) {
        return { statusCode: res.statusCode }
      }
    }
  }
}

/**
 * One access-log line per request, when it completes (Fastify's default is two), with the
 * request's id, method, shortened path, client address, status and time. Errors go through
 * the request's logger (pino, with the error serializer and redaction). Successful requests,
 * the line written most, are formatted here, in exactly the JSON pino writes, and handed to
 * the same destination: pino's generic path (serializers, redaction, a walk of the object)
 * cost 6 µs of every request in a profile, this 1 µs. Every field holds no secret, and every
 * string that can come from the client is escaped by JSON.stringify.
 */
class AccessLog extends LogController {
  private readonly base = `,"pid":${process.pid},"hostname":${JSON.stringify(hostname())}`

  constructor (private readonly logger: pino.Logger, private readonly destination: DestinationStream) { super() }

  override incomingRequest (): void {}

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) {
      reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    } else if (this.logger.isLevelEnabled('info')) {
      // (as pino does: an absent address is left out, a non-finite number is null)
      const ip = request.ip as string | undefined
      const address = ip === undefined ? '' : `,"remoteAddress":${JSON.stringify(ip)}`
      const time = reply.elapsedTime
      this.destination.write(`{"level":30,"time":${Date.now()}${this.base},"reqId":${JSON.stringify(request.id)},` +
        `"req":{"method":${JSON.stringify(request.method)},"url":${JSON.stringify(maskIds(request.url))}${address}},` +
        `"res":{"statusCode":${reply.statusCode}},"responseTime":${Number.isFinite(time) ? time : null},"msg":"request completed"}\n`)
    }
  }
}

/**
 * Fastify answers a URL it cannot decode (`/msg/%ff`) or an over-long path parameter itself,
 * before any hook runs, with a body of its own and a 414. Here they get the error body of
 * API.md and the security headers like any error, as a 400 (API.md: a malformed id is 400
 * or 404).
 */
export function rejectMalformedUrl (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path segment is too long' : 'The URL is not valid'
  rejectOutsideHooks({ statusCode: 400, code: 'BAD_REQUEST', message }, request, reply)
}

/** An error answered where no hook runs: the error body, the security headers and the request id. */
export function rejectOutsideHooks (error: Partial<FastifyError>, request: FastifyRequest, reply: FastifyReply): void {
  const body = errorBody(error)
  reply.headers(SECURITY_HEADERS).header('x-request-id', request.id)
    .code(body.statusCode).type('application/json; charset=utf-8')
    .send(body)
}

/**
 * frameworkErrors: the app's answer (plugins/method-not-allowed.ts: rate limit and CORS
 * first) once it is built, the bare 400 otherwise. Never throws: Fastify has no handler
 * around it.
 */
function answerMalformedUrl (error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const answer = request.server.answerMalformedUrl
  if (answer === undefined) {
    rejectMalformedUrl(error, request, reply)
    return
  }
  answer(error, request, reply).catch((failure: unknown) => {
    request.log.error({ err: failure }, 'answering a malformed URL failed')
    if (!reply.sent) rejectOutsideHooks({ statusCode: 500 }, request, reply)
  })
}

/** Headroom a JSON body needs over its content: escaping can make each byte up to six (\u00XX). */
export function jsonBodyLimit (contentMaxBytes: number): number {
  return contentMaxBytes * 6 + 4096
}

// Query strings, params and headers arrive as text and need coercion ("60" → 60); a JSON
// body does not, and coercing it would accept {"content": 42} as "42". So bodies get their
// own ajv without coercion. Both keep removeAdditional off: unknown properties are a 400.
const ajvOptions = {
  customOptions: { removeAdditional: false, useDefaults: true, coerceTypes: 'array', allErrors: false },
  plugins: []
} as const
const coercingCompiler = AjvCompiler()
const strictCompiler = AjvCompiler()
type ExternalSchemas = Parameters<typeof coercingCompiler>[0]
type RouteSchema = FastifyRouteSchemaDef<unknown>
type CompileValidator = (routeSchema: RouteSchema) => FastifyValidationResult

function buildValidator (externalSchemas: unknown): CompileValidator {
  const coercing = coercingCompiler(externalSchemas as ExternalSchemas, ajvOptions as never) as unknown as CompileValidator
  const strict = strictCompiler(externalSchemas as ExternalSchemas, { ...ajvOptions, customOptions: { ...ajvOptions.customOptions, coerceTypes: false } } as never) as unknown as CompileValidator
  const compiled = compiledFor(compiledValidators, externalSchemas, null)
  return (routeSchema) => {
    const compile = routeSchema.httpPart === 'body' ? strict : coercing
    return once(compiled, routeSchema.schema, routeSchema.httpPart ?? '', () => compile(routeSchema))
  }
}

// Compiled validators and serializers, kept per schema object for the life of the process. The
// route schemas are module constants (schemas/), so every app the process builds (the tests
// build hundreds, each compiling every route's schemas: 40% of an app's start-up in a profile)
// gets the same functions, which keep no state between calls. Keyed by the external schemas and
// options too (none and the same for every app here), and a schema object Fastify makes afresh
// per app (a lowercased headers schema) simply compiles again.
type Compiled = WeakMap<object, Map<string, unknown>>
const compiledValidators = new Map<string, Compiled>()
const compiledSerializers = new Map<string, Compiled>()

function compiledFor (caches: Map<string, Compiled>, externalSchemas: unknown, options: unknown): Compiled {
  const key = JSON.stringify([externalSchemas ?? null, options ?? null])
  let compiled = caches.get(key)
  if (compiled === undefined) {
    compiled = new WeakMap()
    caches.set(key, compiled)
  }
  return compiled
}

function once<T> (compiled: Compiled, schema: unknown, part: string, compile: () => T): T {
  if (typeof schema !== 'object' || schema === null) return compile()
  let bySchema = compiled.get(schema)
  if (bySchema === undefined) {
    bySchema = new Map()
    compiled.set(schema, bySchema)
  }
  if (!bySchema.has(part)) bySchema.set(part, compile())
  return bySchema.get(part) as T
}

/** The two compiler factories given to Fastify (exported for their tests). */
export const schemaCompilers = {
  validator: (externalSchemas: unknown) => buildValidator(externalSchemas),
  serializer: (externalSchemas: unknown, serializerOptions: unknown) => buildSerializer(externalSchemas, serializerOptions)
}

const serializerSelector = SerializerSelector()
type CompileSerializer = (routeSchema: { schema: unknown, httpStatus?: string, contentType?: string }) => (data: unknown) => string

function buildSerializer (externalSchemas: unknown, serializerOptions: unknown): CompileSerializer {
  const compile = serializerSelector(externalSchemas as never, serializerOptions as never) as unknown as CompileSerializer
  const compiled = compiledFor(compiledSerializers, externalSchemas, serializerOptions)
  return (routeSchema) => once(compiled, routeSchema.schema, '', () => compile(routeSchema))
}

/** Validation messages that say what is wrong, including which unknown property was sent. */
export function formatSchemaErrors (errors: FastifySchemaValidationError[], dataVar: string): Error {
  const first = errors[0]
  if (first === undefined) return new Error(`${dataVar} is invalid`)
  const where = `${dataVar}${first.instancePath.replace(/\//g, '.').replace(/^\./, '/')}`
  const unknown = (first.params as { additionalProperty?: string }).additionalProperty
  if (first.keyword === 'additionalProperties' && unknown !== undefined) {
    return new Error(`${where} has an unknown property "${unknown}"`)
  }
  return new Error(`${where} ${first.message ?? 'is invalid'}`)
}

// Requests Node's HTTP parser refuses (an unknown method, broken framing, huge headers)
// never reach Fastify's hooks, so they get the error body and the security headers here.
const RAW_SECURITY_HEADERS = [
  "Content-Security-Policy: default-src 'none'; frame-ancestors 'none'",
  'Strict-Transport-Security: max-age=31536000; includeSubDomains',
  'X-Content-Type-Options: nosniff',
  'X-Frame-Options: DENY',
  'Referrer-Policy: no-referrer',
  'Cross-Origin-Opener-Policy: same-origin',
  'Cross-Origin-Resource-Policy: same-origin',
  'Cache-Control: no-store'
].join('\r\n')

export function rejectMalformedRequest (err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400
  const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], message: 'Malformed HTTP request', code: 'BAD_REQUEST' })
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${RAW_SECURITY_HEADERS}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/**
 * Mozilla's "intermediate" list: TLS 1.3 suites, then forward-secret AEAD suites for TLS 1.2.
 * Node's default list still takes RSA key exchange (TLS_RSA_*) in TLS 1.2, which gives no
 * forward secrecy: the scanner's MSV-TLS-004 found it.
 */
export const TLS_CIPHERS = [
  'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305'
].join(':')

/**
 * TRUST_PROXY as Fastify takes it, except a hop count: Fastify 5 now ignores a number (it
 * "fails closed", trusting no hop), which would make every client behind the proxy one client
 * for the rate limits and the lockout. A count means what it means in proxy-addr and Express:
 * trust the N nearest hops. It is safe only when the API is reachable through those proxies
 * alone, as the README's deployment says (published on 127.0.0.1 behind the proxy).
 */
export function trustProxyOption (trustProxy: Config['trustProxy']): boolean | string | ((address: string, hop: number) => boolean) {
  if (typeof trustProxy === 'number') {
    const hops = trustProxy
    return (_address, hop) => hop < hops
  }
  return trustProxy as boolean | string
}

/**
 * The one set of Fastify options, shared by the server, every test and the benchmarks.
 */
export async function serverOptions (config: Config, overrides: ServerOptionsOverrides = {}): Promise<FastifyServerOptions & { https?: object, http?: ServerOptions }> {
  const destination = await openLogDestination(config, overrides.logStream)
  const logger = pino(loggerOptions(config), destination)
  return {
    loggerInstance: logger,
    logController: new AccessLog(logger, destination),
    genReqId: () => randomUUID(),
    trustProxy: trustProxyOption(config.trustProxy),
    // Small by default; the message routes raise it for themselves.
    bodyLimit: 16 * 1024,
    // Slow clients cannot hold a connection forever; keep-alive outlives a typical LB idle timeout.
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    keepAliveTimeout: 72_000,
    // Node answers an HTTP/1.1 request without Host with a bare 400; plugins/security-headers.ts
    // answers it instead, with the error body and the headers.
    http: { requireHostHeader: false },
    // Requests that arrive while closing are served (with Connection: close, plugins/shutdown.ts),
    // not answered with Fastify's bare 503.
    return503OnClosing: false,
    schemaErrorFormatter: formatSchemaErrors,
    clientErrorHandler: rejectMalformedRequest,
    frameworkErrors: answerMalformedUrl,
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 200, ignoreTrailingSlash: false, caseSensitive: true },
    ajv: ajvOptions as unknown as FastifyServerOptions['ajv'],
    // (cast: @fastify/ajv-compiler's types describe raw ajv schemas, Fastify passes route schema defs)
    schemaController: { compilersFactory: { buildValidator: buildValidator as never, buildSerializer: buildSerializer as never } },
    ...(config.tls !== null ? { https: { cert: config.tls.cert, key: config.tls.key, minVersion: 'TLSv1.2', ciphers: TLS_CIPHERS, honorCipherOrder: true, requireHostHeader: false } } : {})
  }
}
