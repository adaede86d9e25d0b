import fp from 'fastify-plugin'
import { RuntimePolicy } from '../src/abuse/policy.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the runtime policy (API.md section 8): `app.policy.current()` per request, synchronous */
    policy: RuntimePolicy
  }
}

export interface PolicyPluginOptions {
  /** how often the store's policy version is read (ms); tests shorten it */
  pollMs?: number
}

/**
 * The runtime policy service on the app's store: the stored policy is read once when the app
 * is ready (before it listens), then its version every second (src/abuse/policy.ts). Until
 * then, and while the store does not answer, the environment's values (or the last policy
 * read) are in force. Security events for changes are emitted by the routes
 * (routes/api/v1/security-policy.ts), which run once every plugin is there.
 */
export default fp<PolicyPluginOptions>(async function policy (app, options) {
  const runtimePolicy = new RuntimePolicy(app.policyStore, app.config, { pollMs: options.pollMs, log: app.log })
  app.decorate('policy', runtimePolicy)
  app.addHook('onReady', async () => { await runtimePolicy.start() })
  app.addHook('onClose', async () => { runtimePolicy.close() })
}, { name: 'policy', dependencies: ['config', 'storage'] })
