// DPoP (RFC 9449) with a stock OAuth client, openid-client: the token it gets is bound to a
// key pair that never leaves the service, so a leaked token is useless on its own.
import * as client from 'openid-client'

export async function dpopService (issuer: string, keyId: string, apiKey: string): Promise<Response> {
  const config = await client.discovery(new URL(issuer), keyId, apiKey, client.ClientSecretBasic(apiKey), {
    algorithm: 'oauth2', // RFC 8414 metadata at /.well-known/oauth-authorization-server
    execute: issuer.startsWith('http:') ? [client.allowInsecureRequests] : []
  })
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))

  // token_type "DPoP": the token carries cnf.jkt, the thumbprint of the DPoP key
  const tokens = await client.clientCredentialsGrant(config, { scope: 'messages:write' }, { DPoP: dpop })

  // Authorization: DPoP <token>, with a fresh proof (htm, htu, iat, jti, ath) on every request
  return await client.fetchProtectedResource(config, tokens.access_token, new URL('/api/v1/messages', issuer), 'POST',
    JSON.stringify({ content: 'hello' }), new Headers({ 'content-type': 'application/json' }), { DPoP: dpop })
}
