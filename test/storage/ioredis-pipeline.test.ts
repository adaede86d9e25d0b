// patches/ioredis+6.0.0.patch: ioredis defined `length` on every Pipeline instance with a
// closure of its own, which gave each pipeline its own hidden class. Those classes live in
// old space and hold their closure, so every auto-pipeline (and its commands and replies)
// survived young-generation GCs until the next full GC: ~2.5 MB promoted per scavenge and
// 5 ms pauses in bench/ioredis-autopipelining.ts, against 0.1 MB and 1 ms with the patch.
import { readdirSync, readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { Redis } from 'ioredis'
import t from 'tap'
import { testRedis } from '../helper.js'

setFlagsFromString('--allow-natives-syntax')
// eslint-disable-next-line no-new-func -- V8's own check of hidden classes
const haveSameHiddenClass = new Function('a', 'b', 'return %HaveSameMap(a, b)') as (a: object, b: object) => boolean

t.test('the patch is for the installed ioredis', async (t) => {
  const installed = (JSON.parse(readFileSync('node_modules/ioredis/package.json', 'utf8')) as { version: string }).version
  t.same(readdirSync('patches').filter((name) => name.startsWith('ioredis+')), [`ioredis+${installed}.patch`])
  const wanted = (JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies: Record<string, string> }).dependencies.ioredis
  t.equal(wanted, installed, 'package.json pins ioredis exactly, so an upgrade is a decision about the patch')
})

t.test('pipelines share one hidden class and count their commands', async (t) => {
  const redis = new Redis((await testRedis()).url, { lazyConnect: true })
  t.teardown(() => { redis.disconnect() })
  const first = redis.pipeline()
  const second = redis.pipeline()
  t.ok(haveSameHiddenClass(first, second), 'no per-instance accessor')
  t.notOk(Object.hasOwn(first, 'length'))
  first.get('a').get('b')
  t.equal(first.length, 2)
  t.equal(second.length, 0)
})

t.test('auto-pipelined commands still get their own replies', async (t) => {
  const redis = new Redis((await testRedis()).url, { enableAutoPipelining: true })
  t.teardown(() => { redis.disconnect() })
  const keys = Array.from({ length: 100 }, (_, i) => `ioredis-pipeline:${i}`)
  await Promise.all(keys.map(async (key, i) => await redis.set(key, String(i), 'EX', 60)))
  t.same(await Promise.all(keys.map(async (key) => await redis.get(key))), keys.map((_, i) => String(i)))
  await redis.del(...keys)
})

// The patch's second part: a pipeline took every script of its client (and every added command)
// as properties of its own, copied one by one in its constructor. With the 29 scripts Missive
// defines, that was 4% of the server's CPU on GET /msg/:id (autopipelining makes a pipeline
// per tick). Pipelines of a client now share a class whose prototype has them.
t.test('a client\'s pipelines find its scripts on their shared prototype, including scripts defined later', async (t) => {
  const redis = new Redis((await testRedis()).url, { enableAutoPipelining: true })
  t.teardown(() => { redis.disconnect() })
  redis.defineCommand('pipelineTestEcho', { numberOfKeys: 1, lua: 'return ARGV[1]' })
  interface Scripted { pipelineTestEcho: (key: string, value: string) => Scripted, pipelineTestTwice: (value: string) => Scripted, exec: () => Promise<unknown> }
  const first = redis.pipeline() as unknown as Scripted
  t.notOk(Object.hasOwn(first, 'pipelineTestEcho'), 'not copied onto the pipeline')
  t.ok(haveSameHiddenClass(first as object, redis.pipeline()), 'one hidden class')
  t.same(await first.pipelineTestEcho('k', 'one').exec(), [[null, 'one']])
  redis.defineCommand('pipelineTestTwice', { numberOfKeys: 0, lua: 'return ARGV[1] .. ARGV[1]' })
  const later = redis.multi() as unknown as Scripted
  t.same(await later.pipelineTestTwice('ab').pipelineTestEcho('k', 'two').exec(), [[null, 'abab'], [null, 'two']], 'a transaction made after a new script has it')
  const scripted = redis as Redis & { pipelineTestEcho: (key: string, value: string) => Promise<string> }
  t.same(await Promise.all(['a', 'b', 'c'].map(async (v) => await scripted.pipelineTestEcho('k', v))), ['a', 'b', 'c'], 'auto-pipelined script calls')
  const other = new Redis((await testRedis()).url, { lazyConnect: true })
  t.teardown(() => { other.disconnect() })
  t.equal((other.pipeline() as unknown as Record<string, unknown>).pipelineTestEcho, undefined, 'another client\'s pipelines do not see them')
})

// patches/ioredis+6.0.0.patch: every Command ran `args.flat()`, which V8 runs at ~100 ns an
// argument (7-9 µs for the 62 arguments of a turn's read script). Now a copy unless something
// is nested; nested arguments are still flattened one level, as ioredis documents.
t.test('commands copy their arguments without Array.prototype.flat, and still flatten nested ones', async (t) => {
  const { default: Command } = await import('ioredis/built/Command.js') as unknown as { default: new (name: string, args: unknown[]) => { args: unknown[] } }
  const flat = Array.prototype.flat
  let flatCalls = 0
  // eslint-disable-next-line no-extend-native -- a spy, put back below
  Array.prototype.flat = function (this: unknown[], ...rest: []) { flatCalls++; return flat.apply(this, rest) } as typeof flat
  try {
    const args = ['k1', 'k2', 3]
    const command = new Command('evalsha', args)
    t.same(command.args, ['k1', 'k2', 3])
    t.not(command.args, args, 'a copy: the caller\'s array is not the command\'s')
    t.equal(flatCalls, 0, 'no flat() for arguments that nest nothing')
    t.same(new Command('mset', ['a', ['b', 'c'], 'd']).args, ['a', 'b', 'c', 'd'])
    t.same(new Command('x', [[['a', 'b']]]).args, ['a,b'], 'one level, then each argument a string, as before')
    t.equal(flatCalls, 2, 'flat() where something nests')
  } finally {
    // eslint-disable-next-line no-extend-native
    Array.prototype.flat = flat
  }
  const redis = new Redis((await testRedis()).url)
  t.teardown(() => { redis.disconnect() })
  await redis.del('ioredis-pipeline:list')
  t.equal(await redis.rpush('ioredis-pipeline:list', ...['a', 'b'], 'c'), 3)
  t.same(await redis.lrange('ioredis-pipeline:list', 0, -1), ['a', 'b', 'c'])
  await redis.del('ioredis-pipeline:list')
})
