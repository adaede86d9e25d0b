import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply } from 'fastify'
import { principalOf } from '../../../plugins/auth.js'
import { eitherCredential } from '../../../schemas/auth.js'
import { errorResponses } from '../../../schemas/common.js'
import { PolicyBodySchema, PolicyHeadersSchema, type PolicyResponse, PolicySchema } from '../../../schemas/security-policy.js'
import type { PolicySnapshot } from '../../../src/abuse/policy.js'

/** The runtime policy (API.md section 8), under the security:admin scope. */
const securityPolicyRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // JSON only: a text/plain body gets 415 rather than a confusing 400.
  app.removeContentTypeParser('text/plain')
  const common = {
    tags: ['security'],
    security: eitherCredential('security:admin'),
    headers: PolicyHeadersSchema
  }
  const onRequest = app.authorize('security:admin')
  const withEtag = (reply: FastifyReply, policy: PolicySnapshot): PolicyResponse => {
    reply.header('etag', `"${policy.version}"`)
    return { ...policy, corsOrigins: [...policy.corsOrigins] }
  }

  app.get('/security/policy', {
    onRequest,
    schema: {
      ...common,
      summary: 'The runtime policy in force (read from the store), with its version as ETag',
      response: { 200: PolicySchema, ...errorResponses(401, 403, 429, 503, 507) }
    }
  }, async (_request, reply) => withEtag(reply, await app.policy.refresh()))

  app.put('/security/policy', {
    onRequest,
    // a whole policy at its schema's largest (100 origins of up to 267 characters) is ~28 KB
    bodyLimit: 64 * 1024,
    schema: {
      ...common,
      summary: 'Replace the runtime policy (every field); every instance applies it within seconds',
      description: 'With If-Match (the version, bare or quoted), 412 when the policy changed since; without it (or *), unconditional.',
      body: PolicyBodySchema,
      response: { 200: PolicySchema, ...errorResponses(401, 403, 412, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const keyId = principalOf(request).keyId
    const policy = await app.policy.replace(request.body, request.headers['if-match'], keyId, { ip: request.ip, requestId: request.id })
    return withEtag(reply, policy)
  })

  app.delete('/security/policy', {
    onRequest,
    schema: {
      ...common,
      summary: 'Back to the environment\'s defaults (a change of its own, with a new version)',
      description: 'If-Match is honoured as for PUT.',
      response: { 200: PolicySchema, ...errorResponses(401, 403, 412, 413, 415, 429, 503, 507) }
    }
  }, async (request, reply) => {
    const keyId = principalOf(request).keyId
    const policy = await app.policy.reset(request.headers['if-match'], keyId, { ip: request.ip, requestId: request.id })
    return withEtag(reply, policy)
  })
}

export default securityPolicyRoutes
