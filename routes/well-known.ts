import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { authorizationServerMetadata, JWKS_PATH, METADATA_PATH } from '../src/auth/oauth/metadata.js'
import { errorResponses } from '../schemas/common.js'
import { JwksSchema, MetadataSchema } from '../schemas/oauth.js'

/**
 * How long a client may cache these. The JWKS is short-lived on purpose: a new issuer key is
 * published a day before it signs, so five minutes is far inside that margin, and a gateway
 * that meets an unknown kid re-fetches anyway (jose's createRemoteJWKSet does).
 */
const JWKS_MAX_AGE_SECONDS = 300
const METADATA_MAX_AGE_SECONDS = 3600

/** RFC 8414 metadata and the RFC 7517 key set (API.md section 6); anonymous, budgeted like reads. */
const wellKnownRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Built once: it depends on PUBLIC_URL only.
  const metadata = authorizationServerMetadata(app.config.publicUrl)

  // RFC 8414 §3.1: for an issuer with a path (PUBLIC_URL https://host/base), a client asks
  // https://host/.well-known/oauth-authorization-server/base. A proxy that routes /.well-known/*
  // to the app as is then needs this route too; the plain one stays for the proxy that strips
  // the path and for the contract's URL.
  const issuerPath = new URL(app.config.publicUrl).pathname.replace(/\/+$/, '')
  // (only a plain path: ':' or '*' would be a route parameter or a wildcard to the router)
  const metadataPaths = /^(\/[A-Za-z0-9._~-]+)+$/.test(issuerPath) ? [METADATA_PATH, METADATA_PATH + issuerPath] : [METADATA_PATH]
  for (const url of metadataPaths) {
    app.get(url, {
      onRequest: app.readLimit,
      schema: {
        summary: 'OAuth 2.0 authorization server metadata (RFC 8414)',
        tags: ['oauth'],
        response: { 200: MetadataSchema, ...errorResponses(429) }
      }
    }, async (_request, reply) => {
      reply.header('cache-control', `public, max-age=${METADATA_MAX_AGE_SECONDS}`)
      return metadata
    })
  }

  app.get(JWKS_PATH, {
    onRequest: app.readLimit,
    schema: {
      summary: 'The public keys that sign access tokens (RFC 7517)',
      description: 'Every key a live token may be signed with: the signing key, the next one (a day before it signs), and retired ones until their last token expires.',
      tags: ['oauth'],
      response: { 200: JwksSchema, ...errorResponses(429, 503) }
    }
  }, async (_request, reply) => {
    let jwks = app.issuerKeys.jwks()
    // Empty only when this instance has never read the store (it was down at start): read it
    // now rather than at the next periodic refresh, and answer 503 (StoreUnavailable) if it is
    // still down. An empty set must never be served as cacheable: a gateway or CDN would keep
    // it for max-age and refuse every token meanwhile.
    if (jwks.keys.length === 0) {
      await app.issuerKeys.refresh()
      jwks = app.issuerKeys.jwks()
    }
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
    return jwks
  })
}

export default wellKnownRoutes
