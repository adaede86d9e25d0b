import fp from 'fastify-plugin'
import { RuntimePolicy } from '../src/abuse/policy.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** the runtime policy (API.md section 8): `app.policy.current()` per request, synchronous */
    policy: RuntimePolicy
  }
}

/** The runtime policy service. SKELETON (issue 17 in progress): the environment's defaults only. */
export default fp(async function policy (app) {
  app.decorate('policy', new RuntimePolicy(app.config))
}, { name: 'policy', dependencies: ['config', 'storage'] })
