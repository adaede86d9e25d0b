import { readFileSync } from 'node:fs'
import t from 'tap'
import { sensitiveIntegration } from '../../examples/signed-requests.js'
import { runKeyTool } from '../helpers/key-tool.js'
import { assertQuotedInReadme, README } from '../helpers/readme.js'
import { testRedis } from '../helper.js'
import { freePort } from '../helpers/redis-server.js'
import { makeKey, withKey } from '../api/api-helper.js'
import { ACCEPT_WITH_BODY, ACCEPT_WITHOUT_BODY, registeredPair, settle, settledBuild, signedInject, signer, within } from './proof-helper.js'

/**
 * The README's "Sensitive integrations" section as it is: examples/signed-requests.ts against a
 * listening server, the file quoted verbatim, and the key tool's `update` line.
 */

const EXAMPLE = new URL('../../examples/signed-requests.ts', import.meta.url)

interface Seen { method: string, url: string, status: number, body: unknown }

t.test('README.md carries examples/signed-requests.ts verbatim', async (t) => {
  assertQuotedInReadme(t, EXAMPLE, 'export async function sensitiveIntegration')
})

t.test('sensitiveIntegration against a listening server: 201, and the same key unsigned is refused', async (t) => {
  const port = await freePort()
  const baseUrl = `http://127.0.0.1:${port}`
  const app = await settledBuild(t, { store: 'memory', config: { HOST: '127.0.0.1', PORT: port, PUBLIC_URL: baseUrl } })
  await app.listen({ host: '127.0.0.1', port })
  await settle(app)
  const admin = await makeKey(app, ['keys:admin'], { name: 'admin' })

  // Watch what the example sends and gets (the service key is in the answer of step 1).
  const seen: Seen[] = []
  const realFetch = globalThis.fetch
  globalThis.fetch = async (input, init) => {
    const res = await realFetch(input, init)
    const text = await res.clone().text()
    let body: unknown = text
    try { body = JSON.parse(text) } catch {}
    seen.push({ method: init?.method ?? 'GET', url: String(input), status: res.status, body })
    return res
  }
  let res: Response
  try {
    res = await sensitiveIntegration(baseUrl, admin.key, ['127.0.0.1'])
  } finally {
    globalThis.fetch = realFetch
  }
  const created = await res.json() as Record<string, unknown>
  t.equal(res.status, 201, `the signed POST /api/v1/messages: 201 (${JSON.stringify(created)})`)
  t.same(seen.map(({ method, url, status }) => `${method} ${url.slice(baseUrl.length)} ${status}`).map((line) => line.replace(/[a-z0-9]{12}/, ':id')), [
    'POST /api/v1/keys 201',
    'POST /api/v1/keys/:id/signing-keys 201',
    'PATCH /api/v1/keys/:id 200',
    'POST /api/v1/messages 201'
  ], 'each step succeeded')
  const service = seen[0]?.body as { id: string, key: string }
  t.equal(created.owner, service.id, 'the message belongs to the service key')
  t.match(seen[1]?.body, { alg: 'ed25519', keyid: /^[A-Za-z0-9_-]{43}$/ })
  t.match(seen[2]?.body, { id: service.id, allowedIps: ['127.0.0.1/32'], requireSignature: true }, 'the key: its network and requireSignature')

  // the same service key, unsigned: refused, with what to sign
  const unsigned = await fetch(`${baseUrl}/api/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': service.key, 'content-type': 'application/json' },
    body: JSON.stringify({ content: 'the invoice password', maxViews: 1 })
  })
  t.equal(unsigned.status, 401, 'unsigned POST: 401')
  t.equal((await unsigned.json() as { code: string }).code, 'UNAUTHORIZED')
  t.equal(unsigned.headers.get('accept-signature'), ACCEPT_WITH_BODY)
  const unsignedGet = await fetch(`${baseUrl}/api/v1/messages`, { headers: { 'x-api-key': service.key } })
  t.equal(unsignedGet.status, 401, 'unsigned GET: 401')
  t.equal(unsignedGet.headers.get('accept-signature'), ACCEPT_WITHOUT_BODY)
  const token = await fetch(`${baseUrl}/api/v1/auth/token`, { method: 'POST', headers: { 'x-api-key': service.key } })
  t.equal(token.status, 401, 'an unsigned token request: 401 (no token to get around the signature)')
  // from another address, even signed: refused (its allow-list is 127.0.0.1)
  const pair = await registeredPair(app, admin.key, service.id)
  const elsewhere = await signedInject(app, { method: 'POST', url: '/api/v1/messages', headers: withKey(service.key), body: { content: 'x' }, remoteAddress: '192.0.2.1' }, signer(pair))
  t.equal(elsewhere.statusCode, 401, 'signed, from outside its network: 401')
  const home = await signedInject(app, { method: 'POST', url: '/api/v1/messages', headers: withKey(service.key), body: { content: 'x' } }, signer(pair))
  t.equal(home.statusCode, 201, 'signed, from its network: 201')
})

const keys = runKeyTool

t.test('the README\'s key-tool line: keys -- update <id> --allowed-ips … --require-signature', async (t) => {
  const readme = readFileSync(README, 'utf8')
  const line = readme.split('\n').find((l) => l.startsWith('npm run --silent keys -- update <id> --allowed-ips 10.20.0.0/16,2001:db8:42::/48'))
  t.ok(line, 'the line is in the README')
  const app = await settledBuild(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const admin = await makeKey(app, ['keys:admin'], { name: 'admin' })
  const svc = await makeKey(app, ['messages:read', 'messages:write'], { name: 'svc' })
  t.equal((await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key) })).statusCode, 200, 'before: the key works unsigned from 127.0.0.1')

  const argv = (line ?? '').split('--silent keys -- ')[1]?.trim().split(/\s+/).map((arg) => arg === '<id>' ? svc.id : arg) ?? []
  t.same(argv, ['update', svc.id, '--allowed-ips', '10.20.0.0/16,2001:db8:42::/48', '--require-signature'], 'the README\'s arguments')
  const ran = await keys(argv, env)
  t.equal(ran.code, 0, ran.err.join('\n'))
  t.equal(ran.stray, '', 'nothing else on stdout')
  t.equal(ran.out.length, 1, 'one JSON object')
  const updated = JSON.parse(ran.out[0] ?? '{}')
  t.match(updated, { id: svc.id, name: 'svc', scopes: ['messages:read', 'messages:write'], allowedIps: ['10.20.0.0/16', '2001:db8:42::/48'], requireSignature: true })
  t.notMatch(ran.out[0], /msk_|argon2/, 'never a secret')

  const stored = await app.keyStore.get(svc.id)
  t.same(stored?.allowedIps, ['10.20.0.0/16', '2001:db8:42::/48'], 'stored: the allow-list')
  t.equal(stored?.requireSignature, true, 'stored: requireSignature')
  const item = await app.inject({ url: `/api/v1/keys/${svc.id}`, headers: withKey(admin.key) })
  t.match(item.json(), { allowedIps: ['10.20.0.0/16', '2001:db8:42::/48'], requireSignature: true }, 'and so says the API')

  // the running server applies it within 5 s
  const refused = await within(5000, async () => (await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: '10.20.0.1' })).statusCode === 401)
  t.ok(refused !== null && refused < 5000, `unsigned from inside the network: refused within 5 s (${refused ?? 'never'} ms)`)
  const pair = await registeredPair(app, admin.key, svc.id, 'p-256')
  for (const ip of ['10.20.0.1', '2001:db8:42:7::1']) {
    t.equal((await signedInject(app, { url: '/api/v1/messages', headers: withKey(svc.key), remoteAddress: ip }, signer(pair))).statusCode, 200, `signed from ${ip}: 200`)
  }
  t.equal((await signedInject(app, { url: '/api/v1/messages', headers: withKey(svc.key) }, signer(pair))).statusCode, 401, 'signed from 127.0.0.1: 401')

  // and back: any address, no signature
  const reset = await keys(['update', svc.id, '--allowed-ips', 'any', '--no-require-signature'], env)
  t.equal(reset.code, 0, reset.err.join('\n'))
  t.match(JSON.parse(reset.out[0] ?? '{}'), { allowedIps: [], requireSignature: false })
  const open = await within(5000, async () => (await app.inject({ url: '/api/v1/messages', headers: withKey(svc.key) })).statusCode === 200)
  t.ok(open !== null && open < 5000, 'unsigned from anywhere again within 5 s')
  const bad = await keys(['update', svc.id, '--allowed-ips', '10.0.0.1/8'], env)
  t.equal(bad.code, 2, 'a CIDR with host bits: a usage error')
  t.same(bad.out, [])
})
