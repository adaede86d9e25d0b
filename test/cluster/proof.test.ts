import { createHash, randomBytes } from 'node:crypto'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import t, { type Test } from 'tap'
import type { App } from '../../src/app.js'
import { generateSigningKey, signRequest } from '../../src/auth/http-signatures/sign.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { build, sleep } from '../helper.js'
import { testCluster } from './cluster.js'

// Proof of possession (API.md section 7) on a real 3-master Redis Cluster: the signing keys,
// the nonce and jti replay caches and the allow-lists are shared by two instances.

async function onCluster (t: Test): Promise<App> {
  const cluster = await testCluster()
  return await build(t, { store: 'redis', config: { REDIS_CLUSTER_NODES: cluster.nodes } })
}

t.test('signed requests: a nonce is single-use across instances; a removed signing key is refused by the other instance within 5 s', async (t) => {
  const a = await onCluster(t)
  const b = await onCluster(t)
  const admin = await makeKey(a)
  const service = await makeKey(a, ['messages:write', 'messages:read'])
  const signer = generateSigningKey('p-256')
  const registered = await a.inject({ method: 'POST', url: `/api/v1/keys/${service.id}/signing-keys`, headers: withKey(admin.key), payload: { jwk: signer.publicJwk } })
  t.equal(registered.statusCode, 201)
  t.equal(registered.json().keyid, signer.keyid)
  const patched = await a.inject({ method: 'PATCH', url: `/api/v1/keys/${service.id}`, headers: withKey(admin.key), payload: { requireSignature: true } })
  t.equal(patched.json().requireSignature, true)

  const body = JSON.stringify({ content: 'on the cluster' })
  const signedCreate = (app: App, headers: Record<string, string>) => app.inject({
    method: 'POST', url: '/api/v1/messages', headers: { ...withKey(service.key), 'content-type': 'application/json', ...headers }, payload: body
  })
  const sign = (): Record<string, string> => signRequest({ method: 'POST', url: `${a.config.publicUrl}/api/v1/messages`, headers: { 'content-type': 'application/json' }, body }, { jwk: signer.privateJwk, keyid: signer.keyid })

  // b learns of requireSignature within a poll of the epoch
  const started = Date.now()
  while ((await signedCreate(b, {})).statusCode !== 401 && Date.now() - started < 5000) await sleep(100)
  t.equal((await signedCreate(b, {})).statusCode, 401, 'unsigned: refused on the other instance too')

  const headers = sign()
  t.equal((await signedCreate(a, headers)).statusCode, 201, 'signed: accepted')
  const replayed = await signedCreate(b, headers)
  t.equal(replayed.statusCode, 401, 'the same nonce on the other instance: refused')
  t.match(replayed.headers['accept-signature'], /^sig1=\("@method" "@target-uri" "content-digest"\);created;keyid;nonce$/)
  t.equal((await signedCreate(b, sign())).statusCode, 201, 'a fresh signature: accepted by the other instance')

  const removed = await a.inject({ method: 'DELETE', url: `/api/v1/keys/${service.id}/signing-keys/${signer.keyid}`, headers: withKey(admin.key) })
  t.equal(removed.statusCode, 204)
  const removedAt = Date.now()
  while ((await signedCreate(b, sign())).statusCode === 201 && Date.now() - removedAt < 6000) await sleep(100)
  t.ok(Date.now() - removedAt < 5000, `refused by the other instance after ${Date.now() - removedAt} ms`)
  t.equal((await signedCreate(a, sign())).statusCode, 401, 'and at once by the instance that removed it')
})

t.test('DPoP: a jti is single-use across instances; the bound token works on both', async (t) => {
  const a = await onCluster(t)
  const b = await onCluster(t)
  const service = await makeKey(a, ['messages:read'])
  const { publicKey, privateKey } = await generateKeyPair('ES256')
  const jwk = await exportJWK(publicKey)
  const proof = async (htm: string, path: string, ath?: string): Promise<string> => await new SignJWT({ htm, htu: a.config.publicUrl + path, jti: randomBytes(12).toString('base64url'), iat: Math.floor(Date.now() / 1000), ...(ath === undefined ? {} : { ath }) })
    .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk }).sign(privateKey)
  const issued = await a.inject({ method: 'POST', url: '/api/v1/auth/token', headers: { ...withKey(service.key), dpop: await proof('POST', '/api/v1/auth/token') } })
  t.equal(issued.json().token_type, 'DPoP')
  const token = issued.json().access_token as string
  const ath = createHash('sha256').update(token).digest('base64url')
  const list = (app: App, dpop: string) => app.inject({ method: 'GET', url: '/api/v1/messages', headers: { authorization: `DPoP ${token}`, dpop } })
  const once = await proof('GET', '/api/v1/messages', ath)
  t.equal((await list(b, once)).statusCode, 200, 'the other instance takes the bound token')
  const replayed = await list(a, once)
  t.equal(replayed.statusCode, 401, 'the same proof again, on the first instance: refused')
  t.match(replayed.headers['www-authenticate'], /DPoP algs="ES256 EdDSA Ed25519", error="invalid_dpop_proof"/)
  t.equal((await list(a, await proof('GET', '/api/v1/messages', ath))).statusCode, 200)
})

t.test('allowedIps on the cluster: a PATCH reaches the other instance within 5 s', async (t) => {
  const a = await onCluster(t)
  const b = await onCluster(t)
  const admin = await makeKey(a)
  const service = await makeKey(a, ['messages:read'])
  const list = (app: App) => app.inject({ method: 'GET', url: '/api/v1/messages', headers: withKey(service.key), remoteAddress: '198.51.100.7' })
  t.equal((await list(b)).statusCode, 200, 'any address while the list is empty')
  const patched = await a.inject({ method: 'PATCH', url: `/api/v1/keys/${service.id}`, headers: withKey(admin.key), payload: { allowedIps: ['203.0.113.0/24'] } })
  t.same(patched.json().allowedIps, ['203.0.113.0/24'])
  t.equal((await list(a)).statusCode, 401, 'at once on the instance that changed it')
  const changedAt = Date.now()
  while ((await list(b)).statusCode === 200 && Date.now() - changedAt < 6000) await sleep(100)
  t.ok(Date.now() - changedAt < 5000, `the other instance within ${Date.now() - changedAt} ms`)
  const inside = await b.inject({ method: 'GET', url: '/api/v1/messages', headers: withKey(service.key), remoteAddress: '203.0.113.9' })
  t.equal(inside.statusCode, 200, 'from inside the network')
})
