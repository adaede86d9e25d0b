import { randomBytes, randomInt } from 'node:crypto'
import t from 'tap'
import { build, createMessage } from './helper.js'

// Bad input always gets a clear 4xx and never a 5xx, a stack trace or a crash: a few hundred
// malformed requests, chosen at random but from a fixed menu, against every route.
const ERROR_KEYS = new Set(['statusCode', 'error', 'message', 'code'])

t.test('random malformed requests get 4xx with the error body, never a 5xx', async (t) => {
  const app = await build(t, { store: 'redis', config: { AUTH_FAILURE_MAX: 100_000 } })
  const { id } = await createMessage(app, { content: 'keep me', maxViews: 1000 })
  const pick = <T>(items: readonly T[]): T => items[randomInt(items.length)] as T
  const paths = ['/', `/msg/${id}`, '/msg/', '/msg/%00', '/msg/%E0%A4%A', `/msg/${id}?x=%ff`, '/api/v1/messages', `/api/v1/messages/${id}`,
    '/api/v1/keys', '/api/v1/keys/zzzzzzzzzzzz', '/api/v1/keys/zzzzzzzzzzzz/rotate', '/api/v1/auth/token', '/api/v1/auth/revoke',
    '/metrics', '/ready', '/?ttl=abc', '/?maxViews=-1&ttl=1e99', '/%2e%2e/etc/passwd', '/msg/' + 'A'.repeat(300)]
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'] as const
  const types = ['application/json', 'text/plain', 'application/json; charset=latin1', 'application/x-www-form-urlencoded', 'multipart/form-data', '', 'application/json;;', 'text/plain; charset=utf-16']
  const bodies = ['', '{', '[]', 'null', '"x"', '{"content":null}', '{"content":"x","ttl":"60"}', '{"__proto__":{"x":1}}',
    '{"content":"x","maxViews":1.5}', '{"scopes":["*"]}', '{"name":"","scopes":[]}', '{"graceSeconds":-1}', randomBytes(64).toString('latin1'),
    JSON.stringify({ content: 'x'.repeat(70_000) }), '{"content":"\\ud800"}']
  const auth = [{}, { 'x-api-key': 'msk_zzzzzzzzzzzz_' + 'A'.repeat(43) }, { authorization: 'Bearer a.b.c' }, { authorization: 'Basic Zm9vOmJhcg==' }, { 'x-api-key': '' }]

  let serverErrors = 0
  for (let i = 0; i < 400; i++) {
    const type = pick(types)
    const request = {
      method: pick(methods),
      url: pick(paths),
      headers: { ...pick(auth), ...(type === '' ? {} : { 'content-type': type }), accept: pick(['*/*', 'text/html', 'text/plain', 'application/xml', 'application/json;q=0']) },
      payload: pick(bodies)
    }
    const res = await app.inject(request)
    if (res.statusCode >= 500) {
      serverErrors++
      t.fail(`${request.method} ${request.url} (${type}) → ${res.statusCode} ${res.body.slice(0, 200)}`)
    }
    if (res.statusCode >= 400 && request.method !== 'HEAD') {
      const body = res.json()
      if (!Object.keys(body).every((key) => ERROR_KEYS.has(key)) || typeof body.message !== 'string') t.fail(`not the error body: ${res.body.slice(0, 200)}`)
      if (/\bat .+:\d+:\d+|node_modules|\/work\/|redis/i.test(res.body)) t.fail(`leaks internals: ${res.body.slice(0, 200)}`)
    }
  }
  t.equal(serverErrors, 0, 'no 5xx')
  t.equal((await app.inject(`/msg/${id}`)).json().content, 'keep me', 'nothing stored was lost or changed')
})
