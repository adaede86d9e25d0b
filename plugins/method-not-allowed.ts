import FindMyWay from 'find-my-way'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { MethodNotAllowed, RouteNotFound } from '../src/errors.js'
import { rejectMalformedUrl, rejectOutsideHooks } from '../src/server-options.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** answers a request Fastify could not route (frameworkErrors): limit, CORS, then 400 */
    answerMalformedUrl?: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

/**
 * Unknown paths get 404; a known path with a method it does not serve gets 405 with an
 * `Allow` header; OPTIONS on a known path (CORS preflights included, see plugins/cors.ts)
 * gets 204 with `Allow`. Every route's path is mirrored into a private router as it is
 * added, so this works for routes of every plugin and any method, and costs nothing on
 * requests that match a route. Every such answer is rate-limited like any read (except on
 * /health and /ready), and is decided before any body is read: `PUT /` with a broken or
 * oversized body is a 405, not a 400 or a 413, and it costs one read of the budget.
 */
export default fp(async function methodNotAllowed (app) {
  const paths = FindMyWay({ ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 200 })
  const methodsByPath = new Map<string, Set<string>>()

  app.addHook('onRoute', (route) => {
    if (route.url === '*' || route.url.endsWith('/*')) return
    let methods = methodsByPath.get(route.url)
    if (methods === undefined) {
      methods = new Set(['OPTIONS'])
      methodsByPath.set(route.url, methods)
      const store = { allow: methods }
      paths.on('GET', route.url, () => {}, store)
    }
    for (const method of [route.method].flat()) methods.add(method)
  })

  // API.md: /health and /ready are never rate-limited, a wrong method on them included.
  const unlimited = new Set(['/health', '/ready'])
  async function limitUnlessOperations (this: FastifyInstance, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (unlimited.has(request.url.split('?')[0] ?? '')) return
    await app.readLimit.call(this, request, reply)
  }

  /** 404, or 405 / 204 with `Allow` when the path is known. */
  function answerUnrouted (request: FastifyRequest, reply: FastifyReply): FastifyReply {
    const path = request.url.split('?')[0] ?? '/'
    const match = paths.find('GET', path)
    if (match === null) throw new RouteNotFound()
    const allow = [...(match.store as { allow: Set<string> }).allow].sort().join(', ')
    reply.header('allow', allow)
    if (request.method === 'OPTIONS') return reply.code(204).send()
    throw new MethodNotAllowed(request.method)
  }

  // Fastify reads a request's body before its not-found handler runs, so an unrouted
  // request is answered here, in the first hook that can tell (`is404`), before parsing.
  // A callback hook: on routed requests it is one property read, no promise.
  const answerUnroutedBeforeBody: onRequestHookHandler = function (request, reply, done) {
    if (!request.is404) { done(); return }
    limitUnlessOperations.call(this, request, reply)
      .then(() => { if (!reply.sent) answerUnrouted(request, reply) })
      .catch(done)
  }
  app.addHook('onRequest', answerUnroutedBeforeBody)

  // A URL Fastify cannot decode (`/msg/%ff`) or with an over-long segment is answered
  // before routing and before any hook (src/server-options.ts, frameworkErrors): here it
  // gets what the hooks give every other unrouted request, its CORS headers and a read of
  // the budget (a 429 past it), then its 400.
  app.decorate('answerMalformedUrl', async function answerMalformedUrl (error: FastifyError, request: FastifyRequest, reply: FastifyReply): Promise<void> {
    app.corsHeadersOutsideHooks(request, reply)
    try {
      await limitUnlessOperations.call(app, request, reply)
    } catch (limited) {
      rejectOutsideHooks(limited as FastifyError, request, reply)
      return
    }
    if (!reply.sent) rejectMalformedUrl(error, request, reply)
  })

  // Fastify's own fallback for a request no route and no hook above answered (and for
  // reply.callNotFound()), which runs only the preHandler hooks and this handler.
  app.setNotFoundHandler({ preHandler: limitUnlessOperations }, async function notFound (request, reply) {
    return answerUnrouted(request, reply)
  })
}, { name: 'method-not-allowed', dependencies: ['rate-limit', 'cors'] })
