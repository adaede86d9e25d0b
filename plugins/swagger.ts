import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import fp from 'fastify-plugin'
import type { Scope } from '../src/api-keys.js'

const SCOPE_DESCRIPTIONS: Record<Scope, string> = {
  'messages:read': 'list and read messages',
  'messages:write': 'create messages',
  'messages:delete': 'delete the key\'s own messages',
  'keys:admin': 'manage API keys; revoke and introspect any token',
  'metrics:read': 'read GET /metrics',
  'security:admin': 'see and change the abuse defence: blocks, runtime policy, the security event feed'
}

/**
 * The OpenAPI 3 document, built from the route schemas (GET /docs/json), and its UI at
 * /docs. Registered before the routes so it sees every one. The credentials of API.md
 * section 2 are declared as security schemes (API key, bearer token, and the OAuth 2.0
 * client credentials flow that issues it); protected routes name them.
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
        { name: 'oauth', description: 'OAuth 2.0 for services: client credentials, revocation, introspection, metadata, JWKS' },
        { name: 'auth', description: 'API key to bearer token exchange' },
        { name: 'messages', description: 'messages owned by an API key' },
        { name: 'keys', description: 'API key administration (keys:admin)' },
        { name: 'webhooks', description: 'signed, replay-safe event deliveries (Standard Webhooks 1.0) for a key\'s own messages' },
        { name: 'operations', description: 'health, readiness and metrics' }
      ],
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'msk_<keyId>_<secret>' },
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'an RFC 9068 access token from POST /oauth/token or POST /api/v1/auth/token' },
          oauth2: {
            type: 'oauth2',
            description: 'client credentials: client_id = key id, client_secret = the whole API key (HTTP Basic or form)',
            flows: { clientCredentials: { tokenUrl: `${app.config.publicUrl}/oauth/token`, scopes: SCOPE_DESCRIPTIONS } }
          }
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
