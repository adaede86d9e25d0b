import t from 'tap'
import { build } from '../helper.js'

t.test('a blocked answer: the contract\'s error body, Retry-After and every security header, nothing logged but the access line', async (t) => {
  const logs: string[] = []
  const app = await build(t, { logs })
  await app.abuse.blocks.block({ cidr: '192.0.2.0/24', durationSeconds: 120, reason: 'r', by: 'test', callerIp: null })
  const blocked = await app.inject({ method: 'POST', url: '/api/v1/messages', remoteAddress: '192.0.2.1', headers: { 'content-type': 'application/json', 'x-api-key': 'msk_x' }, payload: '{' })
  t.equal(blocked.statusCode, 429)
  t.same(blocked.json(), { statusCode: 429, error: 'Too Many Requests', message: 'This address is blocked after repeated abuse, retry in 120 seconds', code: 'BLOCKED' })
  t.equal(blocked.headers['retry-after'], '120')
  t.match(blocked.headers['content-type'], /^application\/json/)
  for (const header of ['content-security-policy', 'strict-transport-security', 'x-content-type-options', 'referrer-policy', 'cross-origin-opener-policy', 'cross-origin-resource-policy']) {
    t.ok(blocked.headers[header] !== undefined, header)
  }
  t.equal(blocked.headers['x-request-id'] !== undefined, true, 'a request id, to find it in the access log')
  t.notOk(logs.some((line) => line.includes('blocked after repeated abuse')), 'no error-handler line for it')
  t.ok(logs.some((line) => line.includes(blocked.headers['x-request-id'] as string)), 'the access line')
  t.notOk(logs.some((line) => line.includes('msk_x')), 'nothing of the request\'s credential')
})

t.test('a blocked answer carries the CORS headers of an allowed origin, so a browser client can read it', async (t) => {
  const app = await build(t, { config: { CORS_ORIGINS: 'https://app.example.com' } })
  await app.abuse.blocks.block({ cidr: '192.0.2.0/24', durationSeconds: 120, reason: 'r', by: 'test', callerIp: null })
  const blocked = await app.inject({ method: 'GET', url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '192.0.2.1', headers: { origin: 'https://app.example.com' } })
  t.equal(blocked.statusCode, 429)
  t.equal(blocked.headers['access-control-allow-origin'], 'https://app.example.com')
  t.match(blocked.headers['access-control-expose-headers'], /Retry-After/)
  const other = await app.inject({ method: 'GET', url: '/msg/AAAAAAAAAAAAAAAAAAAAAA', remoteAddress: '192.0.2.1', headers: { origin: 'https://evil.example.net' } })
  t.equal(other.headers['access-control-allow-origin'], undefined, 'not for an origin that is not allowed')
})

t.test('the security routes take JSON only: a text/plain body is a 415, not a 400', async (t) => {
  const app = await build(t)
  const { makeKey, withKey } = await import('../api/api-helper.js')
  const headers = { ...withKey((await makeKey(app, ['security:admin'])).key), 'content-type': 'text/plain' }
  for (const [method, url] of [['POST', '/api/v1/security/blocks'], ['PUT', '/api/v1/security/policy']] as const) {
    const res = await app.inject({ method, url, headers, payload: 'cidr=192.0.2.1' })
    t.equal(res.statusCode, 415, `${method} ${url}`)
    t.equal(res.json().code, 'UNSUPPORTED_MEDIA_TYPE')
  }
  const docs = (await app.inject('/docs/json')).json()
  const limit = docs.paths['/api/v1/security/events'].get.parameters.find((p: { name: string }) => p.name === 'limit')
  t.equal(limit.required, false, '/docs/json: the events limit is optional')
})
