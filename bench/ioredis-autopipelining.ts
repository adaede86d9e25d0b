// Micro-benchmark: what ioredis auto-pipelining does to garbage collection, with no server
// around it. Build, then: node dist/bench/ioredis-autopipelining.js [--seconds N] [--concurrency N]
//
// Drives a throwaway Redis with `concurrency` loops of EVALSHA (a read script like the
// message consume script), once with enableAutoPipelining and once without, and reports
// commands per second and the young-generation collections (count, mean and worst pause)
// seen by a PerformanceObserver.
//
// It found the cause of most of the server's GC and p99 gap (2026-11-23, 50 loops, 5 s):
// unpatched ioredis 6.0.0 defined `length` on every Pipeline with its own closure, so each
// auto-pipeline got its own hidden class, which kept it (commands, replies) alive through
// scavenges: ~2.5 MB promoted per scavenge, mean pause ~5.5 ms, 40-51k commands/s with
// auto-pipelining against ~0.6 ms and 57-67k without. With patches/ioredis+6.0.0.patch
// (one getter on the prototype): ~0.55 ms pauses and 94-103k commands/s with it, 78-84k
// without.
import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { Redis } from 'ioredis'
import { RedisServer } from '../scripts/lib/redis-server.js'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, concurrency: { type: 'string', default: '50' } } })
const seconds = Number(values.seconds)
const concurrency = Number(values.concurrency)
const script = "local body = redis.call('GET', KEYS[1]) if not body then return nil end return {body, -1}"

type ScriptedRedis = Redis & { consume: (message: string, views: string) => Promise<[string, number] | null> }

async function run (server: RedisServer, autoPipelining: boolean): Promise<string> {
  const redis = new Redis(server.url, { enableAutoPipelining: autoPipelining }) as ScriptedRedis
  redis.defineCommand('consume', { numberOfKeys: 2, lua: script })
  await redis.set('m:1', 'x'.repeat(300))
  await redis.consume('m:1', 'v:1')

  const pauses: number[] = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries() as Array<PerformanceEntry & { detail?: { kind?: number } }>) {
      if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) pauses.push(entry.duration)
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  const end = Date.now() + seconds * 1000
  let commands = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) {
      await redis.consume('m:1', 'v:1')
      commands++
    }
  }))
  observer.disconnect()
  redis.disconnect()
  const mean = pauses.reduce((sum, p) => sum + p, 0) / Math.max(pauses.length, 1)
  return `${autoPipelining ? 'auto-pipelining on ' : 'auto-pipelining off'}: ${Math.round(commands / seconds)} commands/s, ` +
    `${pauses.length} scavenges, mean pause ${mean.toFixed(2)} ms, worst ${Math.max(0, ...pauses).toFixed(2)} ms`
}

const server = await RedisServer.start()
try {
  for (const auto of [true, false, true, false]) process.stdout.write(`${await run(server, auto)}\n`)
} finally {
  await server.destroy()
}
