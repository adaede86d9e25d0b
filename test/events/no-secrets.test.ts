import t from 'tap'
import { formatKey, newSecret, parseKey } from '../../src/api-keys.js'
import { makeKey, tokenFor, withKey, withToken } from '../api/api-helper.js'
import { createRequest, send, settledBuild, signedHeaders, signer, signingService, STORES } from '../proof/proof-helper.js'
import { makeProof, proofKey, requestToken } from '../proof/dpop-helper.js'
import { wholeFeed } from './events-helper.js'

// The log scan of test/auth/no-secrets.test.ts, extended to the feed: after a run that makes
// keys, tokens, signing keys and messages and fails authentication with real-looking secrets,
// no event holds a key secret, a JWT, a delete token, a private JWK or message content.
for (const store of STORES) {
  t.test(`${store}: no event in the feed holds a secret or message content`, async (t) => {
    const logs: string[] = []
    const app = await settledBuild(t, { store, logs, config: { AUTH_FAILURE_MAX: 1000 } })
    const security = await makeKey(app, ['security:admin'])
    const admin = await makeKey(app, ['keys:admin'])
    const secrets: string[] = [security.key, admin.key]
    const contents: string[] = []
    const ip = '192.0.2.50'

    const issued = await app.inject({ method: 'POST', url: '/api/v1/keys', headers: withKey(admin.key), payload: { name: 'svc', scopes: ['messages:read', 'messages:write', 'messages:delete'] }, remoteAddress: ip })
    const svc = issued.json() as { id: string, key: string }
    secrets.push(svc.key)
    const rotated = (await app.inject({ method: 'POST', url: `/api/v1/keys/${svc.id}/rotate`, headers: withKey(admin.key), payload: { graceSeconds: 60 } })).json() as { key: string }
    secrets.push(rotated.key)
    const token = await tokenFor(app, rotated.key)
    secrets.push(token)

    // messages, anonymous and owned: their content and delete tokens
    for (let i = 0; i < 3; i++) {
      const content = `the door code is 47${i}1-${newSecret().slice(0, 10)}`
      contents.push(content)
      const anonymous = await app.inject({ method: 'POST', url: '/', payload: { content } })
      secrets.push(anonymous.json().deleteToken)
      const owned = await app.inject({ method: 'POST', url: '/api/v1/messages', headers: withToken(token), payload: { content: `${content} (owned)` } })
      t.equal(owned.statusCode, 201)
      secrets.push(owned.json().deleteToken)
      await app.inject({ url: `/msg/${anonymous.json().id as string}`, headers: { accept: 'application/json' } })
    }

    // signing keys and a replayed signature; a DPoP-bound token and a replayed proof
    const signing = await signingService(app)
    secrets.push(signing.key, signing.pair.privateJwk.d as string)
    const request = createRequest(withKey(signing.key), contents[0])
    const headers = signedHeaders(app, request, signer(signing.pair))
    await send(app, request, headers)
    await send(app, request, headers)
    secrets.push(headers.signature as string)
    const dpopKey = await proofKey()
    secrets.push(dpopKey.privateJwk.d as string)
    const proof = await makeProof(dpopKey)
    secrets.push(proof)
    const bound = await requestToken(app, '/api/v1/auth/token', svc.id, rotated.key, proof)
    secrets.push(bound.json().access_token)
    await requestToken(app, '/api/v1/auth/token', svc.id, rotated.key, proof)

    // failed authentications with real-looking secrets everywhere a client can put them
    const wrongSecret = formatKey(svc.id, newSecret())
    secrets.push(wrongSecret)
    const tampered = `${token.slice(0, -3)}xyz`
    const attempts: Array<Record<string, string>> = [
      withKey(wrongSecret),
      withKey(token),
      withKey(`${rotated.key}x`),
      withToken(tampered),
      withToken(rotated.key),
      { authorization: `Basic ${Buffer.from(`${svc.id}:${rotated.key}x`).toString('base64')}` },
      { authorization: `DPoP ${token}`, dpop: proof }
    ]
    for (const attempt of attempts) await app.inject({ url: '/api/v1/messages', headers: attempt, remoteAddress: ip })
    await app.inject({
      method: 'POST',
      url: '/oauth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'client_credentials', client_id: rotated.key, client_secret: rotated.key }).toString(),
      remoteAddress: ip
    })
    await app.inject({ method: 'POST', url: '/api/v1/auth/revoke', headers: withToken(token) })
    await app.inject({ method: 'DELETE', url: `/api/v1/keys/${svc.id}`, headers: withKey(admin.key) })

    const issuerKeys = await app.issuerKeyStore.list()
    for (const issuerKey of issuerKeys) secrets.push((JSON.parse(issuerKey.sealedPrivateJwk) as { d: string }).d)
    for (const stored of [await app.keyStore.get(svc.id), await app.keyStore.get(admin.id)]) if (stored?.hash != null) secrets.push(stored.hash.split('$').at(-1) as string)
    // each key's secret on its own, and each JWT's signature part
    for (const value of [...secrets]) {
      const parsed = parseKey(value)
      if (parsed !== null) secrets.push(parsed.secret)
      if (value.split('.').length === 3) secrets.push(value.split('.')[2] as string)
    }

    const events = await wholeFeed(app, security.key)
    const feed = JSON.stringify(events)
    const types = new Set(events.map(e => e.type))
    for (const type of ['key.created', 'key.rotated', 'key.revoked', 'signing_key.added', 'auth.failure', 'proof.replayed']) t.ok(types.has(type), `the run produced ${type}`)
    t.ok(events.filter(e => e.type === 'auth.failure').length >= attempts.length, 'every failed attempt is in the feed')
    t.ok(secrets.every(s => typeof s === 'string' && s.length >= 20), `${secrets.length} real secrets checked`)
    for (const secret of secrets) t.notOk(feed.includes(secret), `the feed does not hold ${secret.slice(0, 6)}…`)
    for (const content of contents) t.notOk(feed.includes(content.slice(0, 20)), 'nor message content')
    t.notOk(/msk_|\$argon2|eyJ/.test(feed), 'nothing that looks like a key, a hash or a JWT')
    t.notOk(/[A-Za-z0-9_-]{43}/.test(feed.replace(/"keyid":"[A-Za-z0-9_-]{43}"/g, '')), 'no 32-byte value but a signing key\'s thumbprint')
    // the log lines of the same events hold none either (the log scan of test/auth/no-secrets.test.ts)
    const eventLines = logs.filter(line => line.includes('"event":'))
    t.ok(eventLines.length >= events.length, 'the events are logged too')
    for (const secret of secrets) t.notOk(eventLines.some(line => line.includes(secret)), `no event log line holds ${secret.slice(0, 6)}…`)
  })
}
