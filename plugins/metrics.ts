import promClient from '@platformatic/prom-client'
import type { onResponseHookHandler } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** this app's own Prometheus registry (GET /metrics serves it) */
    metricsRegistry: promClient.Registry
  }
  interface FastifyContextConfig {
    /** leave this route out of the request-duration histogram */
    disableMetrics?: boolean
  }
}

const STATUS_CLASSES = ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'] as const
type Labels = Record<'method' | 'route' | 'status_code', string>

/**
 * Prometheus metrics with prom-client: the process metrics and a request-duration histogram
 * per route, method and status class (`http_request_duration_seconds`, the names
 * fastify-metrics uses). Each app gets its own registry instead of prom-client's global one,
 * so several apps in one process (tests, the benchmark) never collide.
 *
 * Not fastify-metrics, for the hot path's sake: it timed every request with two hooks, a
 * WeakMap entry, two hrtime arrays, a fresh labels object and three `request.routeOptions`
 * copies, about 5 µs per request (4% of a message read). Here one onResponse hook per route
 * reads the time Fastify already measured (`reply.elapsedTime`) and observes it under a
 * labels object made once per route, method and status class.
 *
 * Registered before the routes: it learns them as they are added. Unknown paths (404s
 * without a route) are not observed, so a scan of random URLs cannot grow the label set.
 */
export default fp(async function metrics (app) {
  const registry = new promClient.Registry()
  promClient.collectDefaultMetrics({ register: registry })
  const duration = new promClient.Histogram({
    name: 'http_request_duration_seconds',
    help: 'request duration in seconds',
    labelNames: ['method', 'route', 'status_code'],
    registers: [registry]
  })

  // The abuse defence's state (API.md section 8), read when /metrics is scraped: no request pays for it.
  // eslint-disable-next-line no-new
  new promClient.Gauge({
    name: 'missive_adaptive_limit_factor',
    help: 'the factor the anonymous rate limits are scaled by under pressure (1: none)',
    registers: [registry],
    collect () { this.set(app.adaptiveLimits.factor()) }
  })
  // eslint-disable-next-line no-new
  new promClient.Gauge({
    name: 'missive_blocked_addresses',
    help: 'blocks in force on this instance (client addresses and manual networks)',
    registers: [registry],
    collect () { this.set(app.abuse.blocks.active().length) }
  })

  app.addHook('onRoute', (routeOptions) => {
    if (routeOptions.config?.disableMetrics === true) return
    const route = routeOptions.url
    // keyed by method and status class; a handful of entries per route
    const labelsFor = new Map<string, Labels>()
    const observeDuration: onResponseHookHandler = function observeDuration (request, reply, done) {
      const statusClass = STATUS_CLASSES[Math.floor(reply.statusCode / 100)] ?? '5xx'
      const key = request.method + statusClass
      let labels = labelsFor.get(key)
      if (labels === undefined) {
        labels = { method: request.method, route, status_code: statusClass }
        labelsFor.set(key, labels)
      }
      duration.observe(labels, reply.elapsedTime / 1000)
      done()
    }
    const existing = routeOptions.onResponse
    routeOptions.onResponse = existing === undefined ? [observeDuration] : [...(Array.isArray(existing) ? existing : [existing]), observeDuration]
  })

  app.decorate('metricsRegistry', registry)
}, { name: 'metrics', dependencies: ['config', 'under-pressure', 'abuse'] })
