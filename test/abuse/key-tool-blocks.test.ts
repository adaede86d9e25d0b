import t from 'tap'
import { build, sleep, testRedis } from '../helper.js'
import { runKeyTool } from '../helpers/key-tool.js'

t.test('blocks / block / unblock from a shell: one JSON object on stdout, the running server follows', async (t) => {
  const app = await build(t, { store: 'redis' })
  const env = { REDIS_URL: (await testRedis()).url }

  const made = await runKeyTool(['block', '198.51.100.0/24', '--duration-seconds', '600', '--reason', 'scraping'], env)
  t.equal(made.code, 0, made.err.join('\n'))
  t.equal(made.stray, '')
  t.equal(made.out.length, 1)
  const block = JSON.parse(made.out[0] ?? '{}')
  t.match(block, { id: /^blk_[A-Za-z0-9_-]{12}$/, cidr: '198.51.100.0/24', reason: 'scraping', level: 0, manual: true })
  t.match(made.err.join('\n'), /block\.added/)

  let started = Date.now()
  const status = async (): Promise<number> => (await app.inject({ method: 'POST', url: '/', remoteAddress: '198.51.100.8', payload: { content: 'x' } })).statusCode
  while (await status() !== 429 && Date.now() - started < 5000) await sleep(100)
  t.equal(await status(), 429, `the server applies it (${Date.now() - started} ms)`)

  const listed = await runKeyTool(['blocks'], env)
  t.equal(listed.code, 0)
  t.same(JSON.parse(listed.out[0] ?? '{}').items, [block])

  const lifted = await runKeyTool(['unblock', block.id], env)
  t.equal(lifted.code, 0, lifted.err.join('\n'))
  t.same(JSON.parse(lifted.out[0] ?? '{}'), { id: block.id, lifted: true })
  started = Date.now()
  while (await status() !== 201 && Date.now() - started < 5000) await sleep(100)
  t.equal(await status(), 201, 'lifted on the server')

  const again = await runKeyTool(['unblock', block.id], env)
  t.equal(again.code, 1)
  t.match(again.err.join('\n'), /no block with that id/)
})

t.test('the guards and usage errors: exit 2 with one clear line, nothing blocked', async (t) => {
  await build(t, { store: 'redis', config: { PENALTY_EXEMPT_IPS: '10.0.0.0/24' } })
  const env = { REDIS_URL: (await testRedis()).url, PENALTY_EXEMPT_IPS: '10.0.0.0/24' }
  for (const [argv, message] of [
    [['block', '10.0.0.0/8', '--duration-seconds', '600', '--reason', 'r'], /wider than \/16/],
    [['block', '10.0.0.5', '--duration-seconds', '600', '--reason', 'r'], /PENALTY_EXEMPT_IPS/],
    [['block', 'not-an-ip', '--duration-seconds', '600', '--reason', 'r'], /cidr/],
    [['block', '192.0.2.1', '--reason', 'r'], /--duration-seconds/],
    [['block', '192.0.2.1', '--duration-seconds', '59', '--reason', 'r'], /duration-seconds/],
    [['block', '192.0.2.1', '--duration-seconds', '600'], /--reason/],
    [['block'], /one CIDR/],
    [['unblock', 'nope'], /block id/]
  ] as Array<[string[], RegExp]>) {
    const result = await runKeyTool(argv, env)
    t.equal(result.code, 2, argv.join(' '))
    t.match(result.err.join('\n'), message, argv.join(' '))
    t.same(result.out, [])
  }
  const listed = await runKeyTool(['blocks'], env)
  t.same(JSON.parse(listed.out[0] ?? '{}'), { items: [] })
})
