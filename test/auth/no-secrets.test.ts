import t from 'tap'
import { formatKey, newSecret, parseKey } from '../../src/api-keys.js'
import { build } from '../helper.js'
import { makeKey, withKey, withToken } from '../api/api-helper.js'

t.test('no response or log line ever holds a key, a token or a hash; security events are logged', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'redis', logs })
  const admin = await makeKey(app, ['keys:admin', 'messages:read', 'messages:write', 'messages:delete', 'metrics:read'])
  const secrets: string[] = [admin.key, parseKey(admin.key)?.secret ?? '']
  const bodies: string[] = []
  const ip = '192.0.2.44'
  const call = async (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string>, payload?: object): Promise<void> => {
    const res = await app.inject({ method, url, headers, payload, remoteAddress: ip })
    bodies.push(JSON.stringify(res.headers) + res.body)
  }

  // Responses that issue a secret are the only ones allowed to hold it: collect it, check the rest.
  const issued = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'svc', scopes: ['messages:read', 'messages:write'] }, remoteAddress: ip })
  const svc = issued.json()
  secrets.push(svc.key, parseKey(svc.key)?.secret ?? '')
  const tokenRes = await app.inject({ method: 'POST', url: '/api/v1/auth/token', headers: withKey(svc.key), remoteAddress: ip })
  const token = tokenRes.json().access_token
  secrets.push(token, token.split('.')[2])
  const rotatedRes = await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id as string}/rotate`, headers: withKey(admin.key), payload: { graceSeconds: 60 }, remoteAddress: ip })
  const rotated = rotatedRes.json()
  secrets.push(rotated.key, parseKey(rotated.key)?.secret ?? '')

  await call('POST', '/api/v1/messages', withToken(token), { content: 'hello' })
  await call('GET', '/api/v1/messages', withKey(rotated.key))
  await call('GET', '/api/v1/keys', withKey(admin.key))
  await call('GET', `/api/v1/keys/${svc.id as string}`, withKey(admin.key))
  await call('GET', '/metrics', withKey(admin.key))
  await call('GET', '/.well-known/jwks.json', {})
  await call('GET', '/api/v1/messages', withKey(formatKey(svc.id, newSecret())))
  await call('GET', '/api/v1/messages', withToken(`${token.slice(0, -3)}xyz`))
  await call('GET', '/api/v1/messages', { authorization: `Basic ${Buffer.from(svc.key).toString('base64')}` })
  await call('POST', '/api/v1/auth/revoke', withToken(token))
  await call('GET', '/api/v1/messages', withToken(token))
  await call('DELETE', `/api/v1/keys/${svc.id as string}`, withKey(admin.key))
  await call('GET', '/api/v1/messages', withKey(rotated.key))

  // The private half of every issuer key (stored as a JWK, plain without ENCRYPTION_KEY).
  const issuerKeys = await app.issuerKeyStore.list()
  t.ok(issuerKeys.length > 0, 'the app has an issuer key')
  for (const issuerKey of issuerKeys) {
    const privateJwk = JSON.parse(issuerKey.sealedPrivateJwk) as { d?: string }
    secrets.push(issuerKey.sealedPrivateJwk, privateJwk.d ?? '')
  }
  const stored = await app.keyStore.get(svc.id)
  const adminStored = await app.keyStore.get(admin.id)
  for (const hash of [stored?.hash, stored?.previousHash, adminStored?.hash]) if (hash != null) secrets.push(hash, hash.split('$').at(-1) ?? '')

  t.ok(secrets.every((s) => s.length >= 20), 'every secret checked is a real one')
  t.ok(logs.length > 20, 'the requests were logged')
  for (const secret of secrets) {
    t.notOk(logs.some((line) => line.includes(secret)), `no log line holds ${secret.slice(0, 6)}…`)
    t.notOk(bodies.some((body) => body.includes(secret)), `no other response holds ${secret.slice(0, 6)}…`)
  }
  t.notOk(logs.some((line) => /msk_|\$argon2|eyJ/.test(line)), 'nothing that looks like a key, a hash or a JWT')
  t.notOk(issued.body.includes('argon2') || rotatedRes.body.includes('argon2'), 'issuing answers hold the key, never its hash')

  const events = logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.event !== undefined)
  for (const [event, keyId] of [['key.created', svc.id], ['key.rotated', svc.id], ['key.revoked', svc.id], ['token.revoked', svc.id], ['auth.failure', svc.id], ['auth.success', admin.id]]) {
    t.ok(events.some((e) => e.event === event && e.keyId === keyId && e.ip === ip), `${event as string} is logged with keyId and ip`)
  }
  t.ok(events.some((e) => e.event === 'auth.success' && e.level === 20), 'auth.success is at debug')
})
