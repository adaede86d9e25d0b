import { readFileSync } from 'node:fs'
import t from 'tap'
import { RedisServer } from '../helpers/redis-server.js'
import { countByStatus, serverForLoad, steadyLoad } from './load.js'

// A steady load well below capacity (`npm run bench` measures capacity) against the real
// server process: zero errors, and a resident set that stays flat once warmed up.
// SOAK_SECONDS (default 60) sets the length; SOAK_RATE (default 200 req/s) the rate.
const SOAK_SECONDS = Number(process.env.SOAK_SECONDS ?? 60)
const RATE = Number(process.env.SOAK_RATE ?? 200)
const WARMUP_SECONDS = 10
// What a warmed-up process may still grow by: V8's heap settling and allocator slack, not
// a leak (a leak of even 1 KB per request would be 12 MB a minute at 200 req/s).
const MARGIN_MB = 40

function rssMb (pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? ''
  return Number(line.replace(/\D+/g, '')) / 1024
}

t.test(`soak: ${SOAK_SECONDS} s at ${RATE} req/s, half creates, half reads`, { timeout: (WARMUP_SECONDS + SOAK_SECONDS + 60) * 1000 }, async (t) => {
  const redis = await RedisServer.start()
  t.teardown(async () => { await redis.destroy() })
  const server = await serverForLoad(t, redis.url)
  const pid = server.child.pid as number

  const initial = rssMb(pid)
  const warmup = await steadyLoad({ url: server.url, ratePerSecond: RATE, durationMs: WARMUP_SECONDS * 1000 })
  const start = rssMb(pid)
  const samples: number[] = []
  let nextSample = 0
  const outcomes = await steadyLoad({
    url: server.url,
    ratePerSecond: RATE,
    durationMs: SOAK_SECONDS * 1000,
    onTick: (elapsed) => {
      if (elapsed >= nextSample) { samples.push(Math.round(rssMb(pid))); nextSample += 10_000 }
    }
  })
  const end = rssMb(pid)
  t.comment(`RSS: ${initial.toFixed(1)} MB idle, ${start.toFixed(1)} MB after ${WARMUP_SECONDS} s warm-up (start), ${end.toFixed(1)} MB at the end; every 10 s: ${samples.join(', ')} MB`)
  t.comment(`statuses: warm-up ${JSON.stringify(countByStatus(warmup))}, soak ${JSON.stringify(countByStatus(outcomes))}`)

  const expected = SOAK_SECONDS * RATE
  t.ok(outcomes.length >= expected * 0.95, `${outcomes.length} requests sent (${expected} due)`)
  const errors = outcomes.filter(({ kind, status }) => status !== (kind === 'create' ? 201 : 200))
  t.same(errors.slice(0, 5), [], `zero errors (${errors.length})`)
  t.ok(end < start + MARGIN_MB, `RSS flat: ${start.toFixed(1)} → ${end.toFixed(1)} MB (margin ${MARGIN_MB} MB)`)
  t.equal(server.child.exitCode, null, 'the process is still running')
})
