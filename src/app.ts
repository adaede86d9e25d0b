import accepts from '@fastify/accepts'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyInstance } from 'fastify'
import configPlugin from '../plugins/config.js'
import cors from '../plugins/cors.js'
import errorHandler from '../plugins/error-handler.js'
import methodNotAllowed from '../plugins/method-not-allowed.js'
import rateLimit from '../plugins/rate-limit.js'
import securityHeaders from '../plugins/security-headers.js'
import storage from '../plugins/storage.js'
import healthRoutes from '../routes/health.js'
import publicRoutes from '../routes/public.js'
import type { Config } from './config.js'
import { serverOptions, type ServerOptionsOverrides } from './server-options.js'

export type App = FastifyInstance

/**
 * The one factory for the app: the server, every test and the benchmarks call it, so
 * they all run the same server options and the same plugins in the same order.
 */
export async function buildApp (config: Config, overrides: ServerOptionsOverrides = {}): Promise<App> {
  const app = Fastify(serverOptions(config, overrides)).withTypeProvider<TypeBoxTypeProvider>()

  // Order matters, and each plugin's `dependencies` make a wrong order fail at start-up.
  await app.register(configPlugin, { config })
  await app.register(errorHandler)
  await app.register(securityHeaders)
  await app.register(cors)
  await app.register(storage)
  await app.register(rateLimit)
  await app.register(accepts)
  await app.register(methodNotAllowed)

  await app.register(healthRoutes)
  await app.register(publicRoutes)

  return app
}
