import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { build, sleep } from './helper.js'

t.test('logs never contain message content, delete tokens or full message ids', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'redis', logs })
  const content = 'TOP-SECRET-CONTENT-7f3a'
  const created = await app.inject({ method: 'POST', url: '/', payload: { content, maxViews: 5 } })
  const { id, deleteToken } = created.json()
  await app.inject(`/msg/${id}`)
  await app.inject({ url: `/msg/${id}`, headers: { accept: 'text/plain' } })
  await app.inject({ method: 'POST', url: '/?ttl=60', headers: { 'content-type': 'text/plain' }, payload: content })
  await app.inject({ method: 'POST', url: '/', headers: { 'content-type': 'application/json' }, payload: `{"content":"${content}",` })
  await app.inject({ method: 'POST', url: '/', payload: { content, unknown: content } })
  await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': `${deleteToken}x` } })
  await app.inject({ method: 'PUT', url: `/msg/${id}` })
  await app.inject({ method: 'DELETE', url: `/msg/${id}`, headers: { 'x-delete-token': deleteToken } })

  t.ok(logs.length > 10, `${logs.length} lines captured`)
  const all = logs.join('\n')
  t.notMatch(all, content, 'no content')
  t.notMatch(all, deleteToken, 'no delete token')
  t.notMatch(all, id, 'no full message id')
  t.match(all, `/msg/${id.slice(0, 4)}…`, 'ids are shortened, so lines can still be correlated')
  for (const line of logs) {
    const entry = JSON.parse(line)
    if (entry.req !== undefined || entry.res !== undefined) t.type(entry.reqId, 'string', 'request lines carry the request id')
  }
})

t.test('one access line per request, with the request id, method, short path, status and time', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'memory', logs })
  const { id } = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).json()
  logs.length = 0
  const read = await app.inject({ url: `/msg/${id}`, remoteAddress: '198.51.100.7' })
  t.equal(logs.length, 1, 'a single line')
  const entry = JSON.parse(logs[0] ?? '{}')
  t.same(Object.keys(entry), ['level', 'time', 'pid', 'hostname', 'reqId', 'req', 'res', 'responseTime', 'msg'])
  t.match(entry, {
    level: 30,
    reqId: read.headers['x-request-id'],
    req: { method: 'GET', url: `/msg/${id.slice(0, 4)}…`, remoteAddress: '198.51.100.7' },
    res: { statusCode: 200 },
    msg: 'request completed'
  })
  t.same(Object.keys(entry.req), ['method', 'url', 'remoteAddress'], 'no headers, no body')
  t.type(entry.responseTime, 'number')
})

t.test('the access line is the JSON pino would write for the same fields', async (t) => {
  const logs: string[] = []
  const app = await build(t, { store: 'memory', logs })
  const { default: pino } = await import('pino')
  const paths = ['/health', '/nowhere?q=%22quoted%22&x=\\u2028', '/msg/AAAAAAAAAAAAAAAAAAAAAA/extra', '/%E2%9C%93?"a"']
  for (const url of paths) {
    logs.length = 0
    const res = await app.inject({ url, remoteAddress: '2001:db8::"1' })
    const access = logs.filter((line) => line.includes('"msg":"request completed"'))
    t.equal(access.length, 1, url)
    const line = access[0] ?? ''
    const entry = JSON.parse(line)
    const expected: string[] = []
    pino({ level: 'info' }, { write: (s: string) => { expected.push(s) } }).info({
      reqId: res.headers['x-request-id'],
      req: { method: 'GET', url: entry.req.url, remoteAddress: '2001:db8::"1' },
      res: { statusCode: res.statusCode },
      responseTime: entry.responseTime
    }, 'request completed')
    t.equal(line, (expected[0] ?? '').trimEnd().replace(/"time":\d+/, `"time":${String(entry.time)}`), `${url}: byte for byte`)
  }
})

t.test('LOG_FILE: JSON lines go to a file (rotated daily by pino-roll)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'missive-logs-'))
  const app = await build(t, { store: 'memory', config: { LOG_FILE: join(dir, 'missive.log'), LOG_LEVEL: 'info' } })
  await app.inject('/')
  let text = ''
  for (let i = 0; i < 50 && !text.includes('request completed'); i++) {
    await sleep(100)
    text = readdirSync(dir).map((file) => readFileSync(join(dir, file), 'utf8')).join('')
  }
  t.match(readdirSync(dir).join(','), /missive\.\d{4}-\d{2}-\d{2}\.1\.log/, 'a dated file')
  t.match(text, /"msg":"request completed"/)
})
