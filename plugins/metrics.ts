import promClient from '@platformatic/prom-client'
import fastifyMetrics from 'fastify-metrics'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** this app's own Prometheus registry (GET /metrics serves it) */
    metricsRegistry: promClient.Registry
  }
}

/**
 * Prometheus metrics through fastify-metrics: process metrics and a request-duration
 * histogram per route. Each app gets its own registry instead of prom-client's global one,
 * so several apps in one process (tests, the benchmark) never collide. The endpoint is a
 * route of our own (routes/metrics.ts) so it sits behind the auth plugin like any other.
 * Registered before the routes: it learns them as they are added.
 */
export default fp(async function metrics (app) {
  const registry = new promClient.Registry()
  // A CommonJS module whose plugin is its `default` export.
  await app.register(fastifyMetrics.default, {
    // fastify-metrics is typed against prom-client; @platformatic/prom-client is its faster drop-in.
    promClient: promClient as never,
    endpoint: null,
    defaultMetrics: { enabled: true, register: registry as never },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      groupStatusCodes: true,
      overrides: { histogram: { registers: [registry as never] }, summary: { registers: [registry as never] } }
    }
  })
  app.decorate('metricsRegistry', registry)
}, { name: 'metrics', dependencies: ['config'] })
