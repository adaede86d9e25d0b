import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'

/**
 * The OpenAPI 3 document, built from the route schemas (GET /docs/json), and its UI at
 * /docs. Registered before the routes so it sees every one. Both credentials of API.md
 * section 2 are declared as security schemes; protected routes name them.
 */
export default fp(async function swaggerDocs (app) {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Missive',
        description: 'Secure message sharing: anonymous burn-after-reading messages and an authenticated service API.',
        version: app.config.version
      },
      tags: [
        { name: 'auth', description: 'API key to bearer token exchange' },
        { name: 'messages', description: 'messages owned by an API key' },
        { name: 'keys', description: 'API key administration (keys:admin)' },
        { name: 'operations', description: 'health, readiness and metrics' }
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'msk_<keyId>_<secret>' },
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'from POST /api/v1/auth/token' }
        }
      }
    }
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    staticCSP: false,
    // Anonymous reads like any other: one read of the IP's budget per page, asset or document.
    uiHooks: { onRequest: app.readLimit },
    uiConfig: { docExpansion: 'list', deepLinking: false }
  })
}, { name: 'swagger', dependencies: ['config', 'rate-limit'] })
