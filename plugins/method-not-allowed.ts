import FindMyWay from 'find-my-way'
import type { preHandlerAsyncHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { MethodNotAllowed, RouteNotFound } from '../src/errors.js'

/**
 * Unknown paths get 404; a known path with a method it does not serve gets 405 with an
 * `Allow` header; OPTIONS on a known path (that is not a CORS preflight, which the cors
 * plugin answers first) gets 204 with `Allow`. Every route's path is mirrored into a
 * private router as it is added, so this works for routes of every plugin and any method,
 * and costs nothing on requests that match a route. Both answers come from the not-found
 * handler, which is rate-limited like any read (except on /health and /ready).
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
  const limitUnlessOperations: preHandlerAsyncHookHandler = async function (request, reply) {
    if (unlimited.has(request.url.split('?')[0] ?? '')) return
    await app.readLimit.call(this, request, reply)
  }

  app.setNotFoundHandler({ preHandler: limitUnlessOperations }, async function notFound (request, reply) {
    const path = request.url.split('?')[0] ?? '/'
    const match = paths.find('GET', path)
    if (match === null) throw new RouteNotFound()
    const allow = [...(match.store as { allow: Set<string> }).allow].sort().join(', ')
    reply.header('allow', allow)
    if (request.method === 'OPTIONS') return reply.code(204).send()
    throw new MethodNotAllowed(request.method)
  })
}, { name: 'method-not-allowed', dependencies: ['rate-limit'] })
