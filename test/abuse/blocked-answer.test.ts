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
