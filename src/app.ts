import accepts from '@fastify/accepts'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import auth from '../plugins/auth.js'
import configPlugin from '../plugins/config.js'
import cors from '../plugins/cors.js'
import errorHandler from '../plugins/error-handler.js'
import jsonBody from '../plugins/json-body.js'
import methodNotAllowed from '../plugins/method-not-allowed.js'
import metrics from '../plugins/metrics.js'
import rateLimit from '../plugins/rate-limit.js'
import securityHeaders from '../plugins/security-headers.js'
import shutdown from '../plugins/shutdown.js'
import storage from '../plugins/storage.js'
import swagger from '../plugins/swagger.js'
import underPressure from '../plugins/under-pressure.js'
import apiAuthRoutes from '../routes/api/v1/auth.js'
import apiKeyRoutes from '../routes/api/v1/keys.js'
import apiMessageRoutes from '../routes/api/v1/messages.js'
import healthRoutes from '../routes/health.js'
import metricsRoutes from '../routes/metrics.js'
import oauthRoutes from '../routes/oauth.js'
import proof from '../plugins/proof.js'
import policy from '../plugins/policy.js'
import abuse from '../plugins/abuse.js'
import events from '../plugins/events.js'
import webhooks from '../plugins/webhooks.js'
import webhookRelay from '../plugins/webhook-relay.js'
import apiSecurityBlockRoutes from '../routes/api/v1/security-blocks.js'
import apiSigningKeyRoutes from '../routes/api/v1/signing-keys.js'
import apiSecurityPolicyRoutes from '../routes/api/v1/security-policy.js'
import apiSecurityEventRoutes from '../routes/api/v1/security-events.js'
import apiWebhookRoutes from '../routes/api/v1/webhooks.js'
import publicRoutes from '../routes/public.js'
import assetRoutes from '../routes/assets.js'
import wellKnownRoutes from '../routes/well-known.js'
import type { Config } from './config.js'
import { serverOptions, type ServerOptionsOverrides } from './server-options.js'

export type App = FastifyInstance

/**
 * The one factory for the app: the server, every test and the benchmarks call it, so
 * they all run the same server options and the same plugins in the same order.
 */
export async function buildApp (config: Config, overrides: ServerOptionsOverrides = {}): Promise<App> {
  const app = Fastify(await serverOptions(config, overrides)).withTypeProvider<TypeBoxTypeProvider>()

  // Order matters, and each plugin's `dependencies` make a wrong order fail at start-up.
  await app.register(configPlugin, { config })
  await app.register(errorHandler)
  await app.register(securityHeaders)
  await app.register(shutdown)
  await app.register(storage)
  await app.register(policy)
  // The first gate: a blocked address is answered before CORS, limits, bodies and credentials.
  await app.register(abuse)
  await app.register(events)
  // The delivery queue and its worker: needs the webhook endpoints (storage) and the security events.
  await app.register(webhooks)
  // Events from the message store into that queue (after it: closed before it).
  await app.register(webhookRelay)
  await app.register(cors)
  await app.register(underPressure)
  await app.register(rateLimit)
  await app.register(accepts)
  await app.register(methodNotAllowed)
  await app.register(auth)
  await app.register(proof)
  await app.register(jsonBody)
  // Both learn the routes as they are added, so they come before every route.
  await app.register(swagger)
  await app.register(metrics)

  await app.register(healthRoutes)
  await app.register(publicRoutes)
  await app.register(assetRoutes)
  await app.register(metricsRoutes)
  await app.register(wellKnownRoutes)
  await app.register(oauthRoutes)
  await app.register(apiAuthRoutes, { prefix: '/api/v1' })
  await app.register(apiMessageRoutes, { prefix: '/api/v1' })
  await app.register(apiKeyRoutes, { prefix: '/api/v1' })
  await app.register(apiSigningKeyRoutes, { prefix: '/api/v1' })
  await app.register(apiSecurityBlockRoutes, { prefix: '/api/v1' })
  await app.register(apiSecurityPolicyRoutes, { prefix: '/api/v1' })
  await app.register(apiSecurityEventRoutes, { prefix: '/api/v1' })
  await app.register(apiWebhookRoutes, { prefix: '/api/v1' })

  return app
}
