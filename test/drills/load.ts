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
  const request = async (kind: Outcome['kind']): Promise<Outcome> => {
    const at = Date.now() - started
    try {
      const res = kind === 'create'
        ? await fetch(`${url}/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ content: `load ${at}`, ttl: 600 }), signal: AbortSignal.timeout(timeoutMs) })
        : await fetch(`${url}/msg/${ids[Math.floor(Math.random() * ids.length)] ?? 'AAAAAAAAAAAAAAAAAAAAAA'}`, { signal: AbortSignal.timeout(timeoutMs) })
      const body = await res.text()
      if (kind === 'create' && res.status === 201) ids.push((JSON.parse(body) as { id: string }).id)
      return { at, kind, status: res.status }
    } catch {
      return { at, kind, status: 0 }
    }
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
  return await Promise.all(pending)
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
