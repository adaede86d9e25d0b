import http from 'node:http'
import type { Test } from 'tap'
import { freePort } from '../helpers/redis-server.js'
import { type ServerProcess, startServer } from '../helpers/server-process.js'

// A steady request rate against a real server process, for the failure drills and the soak.
// Requests are fired on a clock (not one after another), so a slow answer does not slow
// the load down, as with real clients. Load goes to 127.0.0.1 only.

export interface Outcome { at: number, kind: 'create' | 'read', status: number }

export interface LoadOptions {
  url: string
  ratePerSecond: number
  durationMs: number
  /** share of creates among requests (0..1); the rest read messages created earlier */
  createShare?: number
  /** aborts a request that takes longer (ms); counted as status 0 */
  timeoutMs?: number
  onTick?: (elapsedMs: number) => void
}

/** Runs the load and resolves with every request's outcome once all have answered. */
export async function steadyLoad (options: LoadOptions): Promise<Outcome[]> {
  const { url, ratePerSecond, durationMs, createShare = 0.5, timeoutMs = 5000 } = options
  const ids: string[] = []
  const pending: Array<Promise<Outcome>> = []
  const started = Date.now()
  // node:http with keep-alive, as fetch pooled its connections: the load costs this process
  // less than half the CPU fetch took (~0.9 ms a request instead of ~2), CPU that the soak's
  // 14 000 requests took from the server under test and from the other test files.
  const agent = new http.Agent({ keepAlive: true })
  const request = async (kind: Outcome['kind']): Promise<Outcome> => {
    const at = Date.now() - started
    const body = kind === 'create' ? JSON.stringify({ content: `load ${at}`, ttl: 600 }) : undefined
    const target = kind === 'create' ? `${url}/` : `${url}/msg/${ids[Math.floor(Math.random() * ids.length)] ?? 'AAAAAAAAAAAAAAAAAAAAAA'}`
    const status = await new Promise<number>((resolve) => {
      const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }
      const req = http.request(target, { method: kind === 'create' ? 'POST' : 'GET', headers, agent }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => { text += chunk })
        res.on('error', () => { clearTimeout(timer); resolve(0) })
        res.on('end', () => {
          clearTimeout(timer)
          if (kind === 'create' && res.statusCode === 201) {
            try { ids.push((JSON.parse(text) as { id: string }).id) } catch { resolve(0); return }
          }
          resolve(res.statusCode ?? 0)
        })
      })
      // the whole exchange within timeoutMs, or status 0 (as AbortSignal.timeout did with fetch)
      const timer = setTimeout(() => { req.destroy(); resolve(0) }, timeoutMs)
      req.on('error', () => { clearTimeout(timer); resolve(0) })
      req.end(body)
    })
    return { at, kind, status }
  }
  const interval = 1000 / ratePerSecond
  let sent = 0
  while (Date.now() - started < durationMs) {
    // Catch up on the clock: every request due by now goes out.
    const due = Math.floor((Date.now() - started) / interval)
    while (sent < due) {
      sent++
      pending.push(request(ids.length === 0 || Math.random() < createShare ? 'create' : 'read'))
    }
    options.onTick?.(Date.now() - started)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
  const outcomes = await Promise.all(pending)
  agent.destroy()
  return outcomes
}

/** { status: count } for a report line */
export function countByStatus (outcomes: Outcome[]): Record<number, number> {
  const counts: Record<number, number> = {}
  for (const { status } of outcomes) counts[status] = (counts[status] ?? 0) + 1
  return counts
}

/**
 * The built server as its own process on `redisUrl`, limits and the penalty ladder out of the
 * load's way (its reads of messages lost with Redis are 404s, which would block the load's
 * address); killed when the test ends.
 */
export async function serverForLoad (t: Test, redisUrl: string, extraEnv: Record<string, string> = {}): Promise<ServerProcess> {
  const server = await startServer({
    REDIS_URL: redisUrl,
    LOG_LEVEL: 'warn',
    RATE_LIMIT_CREATE_MAX: '1000000',
    RATE_LIMIT_READ_MAX: '1000000',
    PENALTY_EXEMPT_IPS: '127.0.0.1',
    ...extraEnv
  }, await freePort())
  t.teardown(async () => { await server.stop('SIGKILL') })
  return server
}
