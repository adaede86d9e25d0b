// A service whose key must sign every request (RFC 9421) and works only from its network.
// The admin part runs once, with a keys:admin key; the service part on every call.
import { generateSigningKey } from '../src/auth/http-signatures/sign.js'
import { signedFetch } from '../src/client/signed-fetch.js'

export async function sensitiveIntegration (baseUrl: string, adminKey: string, network: string[]): Promise<Response> {
  const admin = { 'x-api-key': adminKey, 'content-type': 'application/json' }

  // 1. The service's key: limited to its network from the start.
  const created = await fetch(`${baseUrl}/api/v1/keys`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ name: 'billing', scopes: ['messages:write', 'messages:read'], allowedIps: network })
  }).then(async (res) => await res.json() as { id: string, key: string })

  // 2. Its signing key pair: the private JWK never leaves the service; only the public one is registered.
  const { privateJwk, publicJwk } = generateSigningKey('ed25519')
  const registered = await fetch(`${baseUrl}/api/v1/keys/${created.id}/signing-keys`, {
    method: 'POST',
    headers: admin,
    body: JSON.stringify({ jwk: publicJwk })
  }).then(async (res) => await res.json() as { keyid: string, alg: string })

  // 3. From now on the key (and every token issued to it) is refused without a valid signature.
  await fetch(`${baseUrl}/api/v1/keys/${created.id}`, {
    method: 'PATCH',
    headers: admin,
    body: JSON.stringify({ requireSignature: true })
  })

  // The service: each request signed (@method, @target-uri, content-digest; created, keyid, nonce).
  const send = signedFetch({ jwk: privateJwk, keyid: registered.keyid }, { apiKey: created.key })
  return await send(`${baseUrl}/api/v1/messages`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ content: 'the invoice password', maxViews: 1 })
  })
}
