import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { compileOriginPatterns, type OriginMatcher } from '../src/abuse/origin-patterns.js'
import type { PolicySnapshot } from '../src/abuse/policy.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** sets the CORS headers of a non-preflight response where the plugin's hook did not run */
    corsHeadersOutsideHooks: (request: FastifyRequest, reply: FastifyReply) => void
  }
}

// WWW-Authenticate and Accept-Signature: a browser client of DPoP or signatures must read why it was refused.
const EXPOSED_HEADERS = ['Location', 'Retry-After', 'X-Request-Id', 'x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset', 'WWW-Authenticate', 'Accept-Signature', 'ETag'].join(', ')
// PUT and If-Match: the runtime policy (API.md section 8), whose ETag a browser reads back
const ALLOWED_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].join(', ')
// DPoP, Signature, Signature-Input, Content-Digest: the proof-of-possession headers (API.md section 7);
// X-Read-Token: a browser client on another origin reads key-gated messages (section 1)
const ALLOWED_HEADERS = ['Content-Type', 'Authorization', 'X-API-Key', 'X-Delete-Token', 'X-Read-Token', 'DPoP', 'Signature', 'Signature-Input', 'Content-Digest', 'If-Match'].join(', ')
const MAX_AGE_SECONDS = '600'
const VARY_ORIGIN = /(?:^|,)\s*(?:origin|\*)\s*(?:,|$)/i

/**
 * CORS for the origins of the runtime policy in force (`app.policy.current().corsOrigins`,
 * CORS_ORIGINS by default, API.md sections 4 and 8): exact origins and one-label subdomain
 * wildcards (src/abuse/origin-patterns.ts), and nobody else. An origin not on the list gets
 * no Access-Control-* header at all (a static list would still leak the method and header
 * lists on preflights). No credentials, ever: callers authenticate with headers, so `*` and
 * credentials can never meet, and `*` itself is never sent (an allowed origin is echoed).
 *
 * The list is read on every request, as the policy may change without a restart: each policy
 * snapshot (frozen, replaced and never mutated) is compiled once, on its first request. While
 * the list in force is empty (the default) a request costs one snapshot read: no header, no
 * `Vary` (no response varies by origin). Otherwise every response gets `Vary: Origin`, and one
 * from an allowed origin gets Access-Control-Allow-Origin and -Expose-Headers, plus, on any
 * OPTIONS request, -Allow-Methods, -Allow-Headers and -Max-Age.
 *
 * The plugin only adds headers, in the first onRequest hook, and registers no route: every
 * OPTIONS request, preflight or not, is then answered by plugins/method-not-allowed.ts, so a
 * preflight to a known path gets 204 with `Allow` (and the CORS headers when its origin is
 * allowed), and one to an unknown path gets the 404 error body like any request there. (It
 * replaces @fastify/cors, which always sends `Vary`, answers 204 to a preflight on any path and
 * a text/plain 400 to an OPTIONS without Access-Control-Request-Method.)
 */
export default fp(async function corsPolicy (app) {
  const matchers = new WeakMap<PolicySnapshot, OriginMatcher>()
  // the last snapshot seen: a request under an unchanged policy skips even the WeakMap
  let lastSnapshot: PolicySnapshot | null = null
  let lastMatcher: OriginMatcher = compileOriginPatterns([])

  function matcherInForce (): OriginMatcher {
    const snapshot = app.policy.current()
    if (snapshot === lastSnapshot) return lastMatcher
    let matcher = matchers.get(snapshot)
    if (matcher === undefined) {
      try {
        matcher = compileOriginPatterns(snapshot.corsOrigins)
      } catch (err) {
        // The policy validates its origins before it takes them: this is a bug, and it fails closed.
        app.log.error({ err, policyVersion: snapshot.version }, 'the policy in force has an invalid CORS origin: no origin is allowed')
        matcher = compileOriginPatterns([])
      }
      matchers.set(snapshot, matcher)
    }
    lastSnapshot = snapshot
    lastMatcher = matcher
    return matcher
  }

  function addHeaders (matcher: OriginMatcher, request: FastifyRequest, reply: FastifyReply, preflight: boolean): void {
    const vary = reply.getHeader('vary')
    if (vary === undefined || vary === '') reply.header('vary', 'Origin')
    else if (!VARY_ORIGIN.test(String(vary))) reply.header('vary', `${String(vary)}, Origin`)
    const origin = request.headers.origin
    if (!matcher.allows(origin)) return
    reply.header('access-control-allow-origin', origin).header('access-control-expose-headers', EXPOSED_HEADERS)
    if (preflight) {
      reply.header('access-control-allow-methods', ALLOWED_METHODS)
        .header('access-control-allow-headers', ALLOWED_HEADERS)
        .header('access-control-max-age', MAX_AGE_SECONDS)
    }
  }

  // A callback hook: with no origin allowed it is a snapshot read and a property read, no promise.
  const corsHeaders: onRequestHookHandler = function (request, reply, done) {
    const matcher = matcherInForce()
    if (!matcher.empty) addHeaders(matcher, request, reply, request.method === 'OPTIONS')
    done()
  }
  app.addHook('onRequest', corsHeaders)

  // The headers the hook gives a response that is not a preflight, for the one answer no
  // hook sees (a URL Fastify cannot decode, plugins/method-not-allowed.ts). A test checks
  // they are the hook's own, header for header.
  app.decorate('corsHeadersOutsideHooks', (request: FastifyRequest, reply: FastifyReply) => {
    const matcher = matcherInForce()
    if (!matcher.empty) addHeaders(matcher, request, reply, false)
  })
}, { name: 'cors', dependencies: ['config', 'policy'] })
