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
