import formBody from '@fastify/formbody'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from '@sinclair/typebox'
import type { VerifiedKey } from '../src/api-keys.js'
import type { VerifiedToken } from '../src/auth/access-tokens.js'
import { bodyEncodingError } from '../src/body-encoding.js'
import { grantedScopes, GRANT_TYPE } from '../src/auth/oauth/client-credentials.js'
import { type ClientForm, readClientCredentials } from '../src/auth/oauth/client-auth.js'
import { INTROSPECTION_PATH, REVOCATION_PATH, TOKEN_PATH } from '../src/auth/oauth/metadata.js'
import { OAuthError } from '../src/auth/oauth/oauth-errors.js'
import { ProofRefused } from '../src/auth/proof-refused.js'
import {
  ClientAuthHeadersSchema, IntrospectionResponseSchema, oauthErrorResponses,
  TokenFormSchema, TokenOperationFormSchema, type TokenOperationForm
} from '../schemas/oauth.js'
import { TokenResponseSchema } from '../schemas/auth.js'

/** a token request is a few hundred bytes; an introspected JWT about one kilobyte */
const FORM_BODY_LIMIT = 8192
const FORM = 'application/x-www-form-urlencoded'

/**
 * OAuth 2.0 for services (API.md section 6): the client credentials grant (RFC 6749 §4.4),
 * revocation (RFC 7009) and introspection (RFC 7662). Encapsulated, so that its form body
 * parser and its error handler (RFC 6749 §5.2 bodies) apply to these routes only; 429,
 * 503 and 500 go on to the app's handler and keep the standard body.
 *
 * The client is an API key: client_id = keyId, client_secret = the whole key. Its
 * verification is the one /api/v1 uses (argon2 once per cache period, the lockout before
 * any hash, revocation), and a failed one counts toward the per-IP lockout.
 */
const oauthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Form bodies only (RFC 6749 §4.4.2, RFC 7009 §2.1, RFC 7662 §2.1): the app's JSON parser
  // is removed in this context, so a JSON body is refused instead of read.
  app.removeAllContentTypeParsers()
  await app.register(formBody, { bodyLimit: FORM_BODY_LIMIT })
  // @fastify/formbody reads the bytes as they come: a compressed or non-UTF-8 body is
  // refused here, before it is parsed into nonsense (the JSON parser does the same).
  app.addHook('preParsing', async (request, _reply, payload) => {
    const unreadable = bodyEncodingError(request.headers)
    if (unreadable !== null) throw new OAuthError('invalid_request', `the body must be ${FORM}, UTF-8, without Content-Encoding`)
    // RFC 9530: a Content-Digest is checked against the bytes before they are parsed; for a
    // signed request a mismatch is a failed client authentication.
    return app.proof.digestCheckedStream(request, payload, (signed) => signed
      ? Object.assign(new OAuthError('invalid_client', 'the request signature does not hold'), { acceptSignature: app.proof.acceptSignature(request) })
      : new OAuthError('invalid_request', 'Content-Digest does not match the body'))
  })

  // RFC 6749 §3.1: "Parameters sent without a value MUST be treated as if they were omitted
  // from the request" (grant_type=, scope=, client_secret=, token= all mean: not sent).
  app.addHook('preValidation', async (request) => {
    const form = request.body
    if (form === null || typeof form !== 'object') return
    for (const [name, value] of Object.entries(form)) if (value === '') Reflect.deleteProperty(form, name)
  })

  app.setErrorHandler(function oauthErrors (error: FastifyError | OAuthError, request, reply) {
    const oauth = toOAuthError(error)
    // Not an OAuth failure (rate limit, store down, a bug): the app's handler answers.
    if (oauth === null) throw error
    request.log.info({ statusCode: oauth.statusCode, error: oauth.error }, oauth.description)
    if (oauth.statusCode === 401) reply.header('www-authenticate', 'Basic realm="missive"')
    if (oauth.acceptSignature !== undefined) reply.header('accept-signature', oauth.acceptSignature)
    return reply.code(oauth.statusCode).type('application/json; charset=utf-8')
      .send({ error: oauth.error, error_description: oauth.description })
  })

  /** The client behind the request, or an OAuthError; the lockout applies before any hash. */
  async function authenticateClient (request: FastifyRequest, reply: FastifyReply, form: ClientForm): Promise<VerifiedKey> {
    let credentials
    try {
      credentials = readClientCredentials(request.headers.authorization, form)
    } catch (err) {
      if (err instanceof OAuthError && err.error === 'invalid_client') {
        await app.authFailures.ensureNotLocked(request, reply)
        await app.authFailures.count(request, reply, 'oauth-client-malformed')
      }
      throw err
    }
    if (credentials === null) throw new OAuthError('invalid_client', 'client authentication is required (HTTP Basic or client_secret_post)')
    await app.authFailures.ensureNotLocked(request, reply)
    // The key's allow-list is checked before its secret is hashed (ApiKeys.checkKey).
    const check = await app.apiKeys.checkKey(credentials.clientSecret, request.ip)
    if (!check.ok) {
      await app.authFailures.count(request, reply, check.reason === 'ip-denied' ? 'ip-denied' : 'oauth-client', credentials.clientId)
      throw new OAuthError('invalid_client', 'client authentication failed')
    }
    const key = check.key
    // RFC 9421 (API.md section 7): a signature the request carries, or the key requires, must hold.
    if (key.requireSignature || request.headers['signature-input'] !== undefined || request.headers.signature !== undefined) {
      try {
        await app.proof.checkSignature(request, key.keyId, key.requireSignature)
      } catch (err) {
        if (!(err instanceof ProofRefused)) throw err
        await app.authFailures.count(request, reply, err.message, key.keyId)
        throw Object.assign(new OAuthError('invalid_client', 'client authentication failed: the request must carry a valid signature'), { acceptSignature: app.proof.acceptSignature(request) })
      }
    }
    app.apiKeys.noteUse(key.keyId)?.catch((err: unknown) => request.log.warn({ err }, 'could not record lastUsedAt'))
    return key
  }

  /** RFC 9449 §5: the key to bind the token to, or null without a DPoP header; 400 invalid_dpop_proof when it does not hold. */
  async function dpopBinding (request: FastifyRequest): Promise<string | null> {
    try {
      return await app.proof.dpopBinding(request)
    } catch (err) {
      if (!(err instanceof ProofRefused)) throw err
      throw new OAuthError('invalid_dpop_proof', 'the DPoP proof is malformed, stale, replayed or not for this request')
    }
  }

  /**
   * The first steps of revocation and introspection: the client, the `token` it names, and
   * that token when it is live and the client may see it (RFC 7009 §2.1, RFC 7662 §2.1: its
   * own tokens; every token for a keys:admin client), else null.
   */
  async function visibleToken (request: FastifyRequest, reply: FastifyReply, form: TokenOperationForm): Promise<{ client: VerifiedKey, live: VerifiedToken | null }> {
    const client = await authenticateClient(request, reply, form)
    if (form.token === undefined) throw new OAuthError('invalid_request', 'token is required')
    const live = await app.liveToken(form.token)
    const visible = live !== null && (live.claims.sub === client.keyId || client.scopes.includes('keys:admin'))
    return { client, live: visible ? live : null }
  }

  app.post(TOKEN_PATH, {
    onRequest: app.readLimit,
    schema: {
      summary: 'OAuth 2.0 token endpoint: the client credentials grant',
      description: 'RFC 6749 §4.4. client_id = key id, client_secret = the whole API key, by HTTP Basic or in the form. ' +
        'The response carries Cache-Control: no-store and Pragma: no-cache.',
      tags: ['oauth'],
      consumes: [FORM],
      // Client authentication (Basic or form) is described, not declared as a security
      // scheme: OpenAPI's oauth2 scheme is what these routes implement, not what they take.
      headers: ClientAuthHeadersSchema,
      body: TokenFormSchema,
      response: { 200: TokenResponseSchema, ...oauthErrorResponses }
    }
  }, async (request, reply) => {
    const { grant_type: grantType, scope } = request.body
    // The cheap checks first: a request that cannot succeed costs no hash.
    if (grantType === undefined) throw new OAuthError('invalid_request', 'grant_type is required')
    if (grantType !== GRANT_TYPE) throw new OAuthError('unsupported_grant_type', 'only the client_credentials grant is supported')
    const client = await authenticateClient(request, reply, request.body)
    const scopes = grantedScopes(scope, client.scopes)
    const jkt = await dpopBinding(request)
    const { token, expiresIn } = await app.issueToken({
      keyId: client.keyId, scopes: client.scopes, via: 'api-key', rateLimit: client.rateLimit, validUntil: client.expiresAt, token: null
    }, scopes, jkt)
    request.log.info({ event: 'token.issued', keyId: client.keyId, via: 'oauth', bound: jkt !== null, ip: request.ip }, 'access token issued')
    // RFC 6749 §5.1: a token response is never cached.
    reply.header('cache-control', 'no-store').header('pragma', 'no-cache')
    return { access_token: token, token_type: jkt === null ? 'Bearer' as const : 'DPoP' as const, expires_in: expiresIn, scope: scopes.join(' ') }
  })

  app.post(REVOCATION_PATH, {
    onRequest: app.readLimit,
    schema: {
      summary: 'OAuth 2.0 token revocation',
      description: 'RFC 7009. 200 for any token, known or not; revokes it when it was issued to the client (any token for a keys:admin client).',
      tags: ['oauth'],
      consumes: [FORM],
      headers: ClientAuthHeadersSchema,
      body: TokenOperationFormSchema,
      response: { 200: Type.Null({ description: 'revoked, or nothing to revoke (an empty body)' }), ...oauthErrorResponses }
    }
  }, async (request, reply) => {
    // An invalid, expired or foreign token gets the same 200 (RFC 7009 §2.2): nothing is learnt.
    const { client, live } = await visibleToken(request, reply, request.body)
    if (live !== null) {
      await app.keyStore.denyToken(live.claims.jti, live.claims.exp * 1000)
      request.log.info({ event: 'token.revoked', keyId: live.claims.sub, by: client.keyId, via: 'oauth', ip: request.ip }, 'access token revoked')
    }
    return reply.code(200).send(null)
  })

  app.post(INTROSPECTION_PATH, {
    onRequest: app.readLimit,
    schema: {
      summary: 'OAuth 2.0 token introspection',
      description: 'RFC 7662. A live token of the client (any token for a keys:admin client) is described; anything else is exactly {"active":false}.',
      tags: ['oauth'],
      consumes: [FORM],
      headers: ClientAuthHeadersSchema,
      body: TokenOperationFormSchema,
      response: { 200: IntrospectionResponseSchema, ...oauthErrorResponses }
    }
  }, async (request, reply) => {
    const { live } = await visibleToken(request, reply, request.body)
    if (live === null) return { active: false as const }
    const { scope, client_id: clientId, sub, iss, aud, exp, iat, jti, cnf } = live.claims
    const described = { active: true as const, scope, client_id: clientId, sub, iss, aud, exp, iat, jti }
    // RFC 9449 §6.2: a bound token is described with its binding.
    return cnf === undefined ? { ...described, token_type: 'Bearer' } : { ...described, token_type: 'DPoP', cnf: { jkt: cnf.jkt } }
  })
}

/** What a failure of these routes is in RFC 6749 terms; null when it is not an OAuth matter. */
function toOAuthError (error: FastifyError | OAuthError): OAuthError | null {
  if (error instanceof OAuthError) return error
  if (error.validation !== undefined && error.validationContext === 'body' && /must be object/.test(error.message)) {
    return new OAuthError('invalid_request', `the body must be ${FORM}`)
  }
  if (error.validation !== undefined) return new OAuthError('invalid_request', 'the form is malformed: each parameter at most once and at most 4096 characters')
  switch (error.statusCode) {
    case 413: return new OAuthError('invalid_request', `the body is larger than ${FORM_BODY_LIMIT} bytes`, 413)
    case 415: return new OAuthError('invalid_request', `the body must be ${FORM}`)
    case 400: return new OAuthError('invalid_request', 'the request is malformed')
    default: return null
  }
}

export default oauthRoutes
