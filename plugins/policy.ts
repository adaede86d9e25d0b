import fp from 'fastify-plugin'
import type { SecurityEvent } from '../src/abuse/events.js'
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
 * read) are in force. The service emits the security event of each change, whoever makes it
 * (the routes in routes/api/v1/security-policy.ts, the key tool).
 */
export default fp<PolicyPluginOptions>(async function policy (app, options) {
  // The event feed's plugin comes later; policy changes are only made at request time or later.
  const events = { emit: (event: SecurityEvent) => { app.securityEvents?.emit(event) } }
  const runtimePolicy = new RuntimePolicy(app.policyStore, app.config, { pollMs: options.pollMs, log: app.log, events })
  app.decorate('policy', runtimePolicy)
  app.addHook('onReady', async () => { await runtimePolicy.start() })
  app.addHook('onClose', async () => { runtimePolicy.close() })
}, { name: 'policy', dependencies: ['config', 'storage'] })
