import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { main } from '../../scripts/keys.js'
import { build, sleep, testRedis } from '../helper.js'
import { runKeyTool } from '../helpers/key-tool.js'

const POLICY = {
  corsOrigins: ['https://*.example.com'],
  rateLimits: { windowMs: 60_000, create: 100_000, read: 100_000, api: 6000 },
  maxTtlSeconds: 86_400,
  anonymousCreate: false
}

function policyFile (content: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'missive-policy-'))
  const file = join(dir, 'policy.json')
  writeFileSync(file, content)
  return file
}

t.test('policy get / set / reset from a shell: one JSON object on stdout, the running server follows', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }

  const initial = await runKeyTool(['policy', 'get'], env)
  t.equal(initial.code, 0, initial.err.join('\n'))
  t.equal(initial.stray, '')
  t.equal(initial.out.length, 1)
  t.match(JSON.parse(initial.out[0] ?? '{}'), { version: 'env', updatedBy: null, anonymousCreate: true })
  t.match(initial.err.join('\n'), /no policy is stored/)

  const set = await runKeyTool(['policy', 'set', '--file', policyFile(JSON.stringify(POLICY)), '--if-match', 'env'], env)
  t.equal(set.code, 0, set.err.join('\n'))
  t.equal(set.out.length, 1)
  const changed = JSON.parse(set.out[0] ?? '{}')
  t.match(changed, { ...POLICY, updatedBy: 'key-tool' })
  t.match(set.err.join('\n'), /^policy\.changed /)

  let status = 201
  for (let waited = 0; waited < 5000 && status !== 403; waited += 100) {
    status = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode
    if (status !== 403) await sleep(100)
  }
  t.equal(status, 403, 'the running server closed anonymous creation within 5 s')
  t.equal(app.policy.current().version, changed.version)
  t.same(JSON.parse((await runKeyTool(['policy', 'get'], env)).out[0] ?? '{}'), changed, 'get shows it')

  const stale = await runKeyTool(['policy', 'set', '--file', policyFile(JSON.stringify(POLICY)), '--if-match', 'env'], env)
  t.equal(stale.code, 1, 'a stale --if-match')
  t.same(stale.out, [])
  t.match(stale.err.join('\n'), /changed since that version/)

  const reset = await runKeyTool(['policy', 'reset', '--if-match', `"${changed.version}"`], env)
  t.equal(reset.code, 0, reset.err.join('\n'))
  const after = JSON.parse(reset.out[0] ?? '{}')
  t.match(after, { anonymousCreate: true, updatedBy: 'key-tool' })
  t.not(after.version, changed.version)
  for (let waited = 0; waited < 5000 && status !== 201; waited += 100) {
    status = (await app.inject({ method: 'POST', url: '/', payload: { content: 'x' } })).statusCode
    if (status !== 201) await sleep(100)
  }
  t.equal(status, 201, 'open again within 5 s')

  await app.securityEvents.flush()
  const events = (await app.eventLog.list(null, 1000)).items.filter((event) => event.type.startsWith('policy.'))
  t.match(events, [
    { type: 'policy.changed', detail: { version: changed.version, by: 'key-tool' } },
    { type: 'policy.reset', detail: { version: after.version, by: 'key-tool' } }
  ], 'the feed sees changes made from a shell')
})

t.test('policy set --file - reads stdin', async (t) => {
  await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const out: string[] = []
  const err: string[] = []
  const code = await main(['policy', 'set', '--file', '-'], env, { out: (line) => out.push(line), err: (line) => err.push(line), in: async () => JSON.stringify(POLICY) })
  t.equal(code, 0, err.join('\n'))
  t.match(JSON.parse(out[0] ?? '{}'), POLICY)
})

t.test('policy mistakes: exit 2, nothing on stdout, nothing written; a bad value names its field', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }
  const cases: Array<[string[], RegExp]> = [
    [['policy'], /policy needs get, set or reset/],
    [['policy', 'frob'], /unknown policy command/],
    [['policy', 'set'], /needs --file/],
    [['policy', 'set', '--file', '/nonexistent/policy.json'], /cannot read/],
    [['policy', 'set', '--file', policyFile('{not json')], /is not JSON/],
    [['policy', 'set', '--file', policyFile(JSON.stringify({ ...POLICY, rateLimits: { ...POLICY.rateLimits, windowMs: 999 } }))], /body\/rateLimits\/windowMs: must be an integer from 1000/],
    [['policy', 'set', '--file', policyFile(JSON.stringify({ ...POLICY, maxTtlSeconds: 3600 }))], /body\/maxTtlSeconds: must be at least MESSAGE_DEFAULT_TTL_SECONDS/],
    [['policy', 'set', '--file', policyFile(JSON.stringify({ ...POLICY, corsOrigins: ['https://*.co.uk'] }))], /body\/corsOrigins\/0: "https:\/\/\*\.co\.uk"/],
    [['policy', 'set', '--file', policyFile(JSON.stringify({ ...POLICY, extra: 1 }))], /body\/extra: is not a field/],
    [['policy', 'get', '--file', 'x'], /--file goes with policy set/],
    [['policy', 'get', 'more'], /unexpected argument/]
  ]
  for (const [argv, message] of cases) {
    const res = await runKeyTool(argv, env)
    t.equal(res.code, 2, argv.join(' '))
    t.same(res.out, [])
    t.equal(res.stray, '')
    t.match(res.err.join('\n'), message, argv.join(' '))
    t.match(res.err.join('\n'), /usage:/)
  }
  t.equal((await app.policyStore.read()), null, 'nothing was written')
})
