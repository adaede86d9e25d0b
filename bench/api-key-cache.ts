// Micro-benchmark: repeated requests with one API key cost at most one argon2 verification
// per cache period. Build, then: node dist/bench/api-key-cache.js [--requests N] [--ttl-ms N] [--seconds N]
// Exits 1 when the bound is broken.
//
// Part 1 sends requests through the real app (buildApp, in-memory store): with the default
// cache period they all share one verification. Part 2 drives the key service with a short
// cache period for a few seconds to show one verification per period, concurrency included.
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import { ApiKeys, hashSecret, parseKey, verifySecret } from '../src/api-keys.js'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { MemoryKeyStore } from '../src/storage/memory/memory-key-store.js'

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '2000' },
    'ttl-ms': { type: 'string', default: '250' },
    seconds: { type: 'string', default: '2' }
  }
})
const requests = Number(values.requests)
const ttlMs = Number(values['ttl-ms'])
const seconds = Number(values.seconds)
const lines: string[] = []
let ok = true

// What one argon2 verification costs here, for scale.
const hash = await hashSecret('x'.repeat(43))
const argonStarted = performance.now()
for (let i = 0; i < 5; i++) await verifySecret(hash, 'x'.repeat(43))
const argonMs = (performance.now() - argonStarted) / 5
lines.push(`argon2id verification: ${argonMs.toFixed(1)} ms each`)

// Part 1: the real app.
{
  const app = await buildApp(loadConfig({}, { LOG_LEVEL: 'silent', RATE_LIMIT_API_MAX: requests * 2 }))
  await app.ready()
  const { key } = await app.apiKeys.create({ name: 'bench', scopes: ['messages:read'] })
  const started = performance.now()
  let refused = 0
  for (let sent = 0; sent < requests; sent += 50) {
    const batch = await Promise.all(Array.from({ length: 50 }, async () => await app.inject({ url: '/api/v1/messages', headers: { 'x-api-key': key } })))
    refused += batch.filter((res) => res.statusCode !== 200).length
  }
  const elapsed = performance.now() - started
  const runs = app.apiKeys.verifications
  lines.push(`app: ${requests} requests with one key in ${elapsed.toFixed(0)} ms (${(elapsed * 1000 / requests).toFixed(0)} µs each, ${refused} refused): ${runs} argon2 verification(s)`)
  if (runs > 1 || refused > 0) ok = false
  await app.close()
}

// Part 2: the key service with a short cache period.
{
  const store = new MemoryKeyStore()
  const keys = new ApiKeys(store, { cacheTtlMs: ttlMs, epochPollMs: 0 })
  const { key } = await keys.create({ name: 'bench', scopes: ['messages:read'] })
  if (parseKey(key) === null) throw new Error('bad key')
  const started = performance.now()
  let verified = 0
  while (performance.now() - started < seconds * 1000) {
    const results = await Promise.all(Array.from({ length: 100 }, async () => await keys.verifyKey(key)))
    verified += results.filter((result) => result !== null).length
    // Let the event loop turn, as it does between real requests (timers, lru-cache's clock).
    await new Promise((resolve) => setImmediate(resolve))
  }
  const elapsed = performance.now() - started
  // A period starts with the first verification after the last one expired, so a run of
  // `elapsed` ms holds at most ceil(elapsed / ttl) periods (the runs themselves take time too).
  const periods = Math.ceil(elapsed / ttlMs)
  lines.push(`service: ${verified} verifications of one key over ${elapsed.toFixed(0)} ms with a ${ttlMs} ms cache: ${keys.verifications} argon2 run(s), at most ${periods} allowed`)
  if (keys.verifications > periods) ok = false
  keys.close()
  await store.close()
}

lines.push(ok ? 'ok: at most one argon2 verification per cache period' : 'FAILED: more argon2 verifications than cache periods')
process.stdout.write(`${lines.join('\n')}\n`)
process.exitCode = ok ? 0 : 1
