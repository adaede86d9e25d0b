// Shared by the scanner's tests: a real Missive on this file's real Redis, listening on a
// loopback port, with an admin key; the CLI run in-process; and a small proxy to build
// deliberately misconfigured targets in front of the real app (test doubles, not switches
// in the product).
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { App } from '../../src/app.js'
import { main, parseOptions } from '../../src/cli/security.js'
import type { ScanOptions } from '../../src/scanner/context.js'
import type { ConfigOverrides } from '../../src/config.js'
import { ALL_SCOPES, makeKey } from '../api/api-helper.js'
import { Redis } from 'ioredis'
import { build, testRedis } from '../helper.js'

/** The CLI's defaults for a URL (parsed as the CLI parses them), fast, with overrides. */
export function scanOptions (url: URL, overrides: Partial<ScanOptions> = {}): ScanOptions {
  return { ...parseOptions(['--url', url.origin], {}), rate: 1000, timeoutMs: 5000, ...overrides }
}

export interface Target { app: App, url: string, adminKey: string }

/** The contract's default limits: the build helper lifts them, a scan must see the real ones. */
export const DEFAULT_LIMITS: ConfigOverrides = { RATE_LIMIT_CREATE_MAX: 30, RATE_LIMIT_READ_MAX: 300 }

export async function startTarget (t: Test, config: ConfigOverrides = {}): Promise<Target> {
  const app = await build(t, { store: 'redis', config: { ...DEFAULT_LIMITS, ...config } })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const { key } = await makeKey(app, ALL_SCOPES, { name: 'operator' })
  return { app, url: `http://127.0.0.1:${port}`, adminKey: key }
}

export interface ScanRun { code: number, out: string, err: string, report?: ScanReport }
export interface ScanReport {
  exitCode: number
  complete: boolean
  incomplete: string[]
  requests: number
  score: { score: number | null, grade: string | null }
  families: Record<string, { score: number | null, grade: string | null }>
  checks: Array<{ id: string, family: string, severity: string, status: string, findings: Array<{ status: string, seen: string, route?: string }> }>
  leftBehind: unknown[]
}

/** Runs the CLI in-process; with `json`, parses the report it wrote. */
export async function scan (argv: string[], options: { json?: string, signal?: AbortSignal } = {}): Promise<ScanRun> {
  let out = ''
  let err = ''
  const args = options.json === undefined ? argv : [...argv, '--json', options.json]
  const code = await main(args, {}, { out: (s) => { out += `${s}\n` }, err: (s) => { err += `${s}\n` } }, options.signal)
  const run: ScanRun = { code, out, err }
  if (options.json !== undefined) {
    const { readFileSync } = await import('node:fs')
    try { run.report = JSON.parse(readFileSync(options.json, 'utf8')) as ScanReport } catch {}
  }
  return run
}

export const statusOf = (report: ScanReport | undefined, id: string): string | undefined => report?.checks.find((c) => c.id === id)?.status
export const failedFamilies = (report: ScanReport | undefined): string[] => [...new Set((report?.checks ?? []).filter((c) => c.status === 'fail').map((c) => c.family))].sort()
export const failedIds = (report: ScanReport | undefined): string[] => (report?.checks ?? []).filter((c) => c.status === 'fail').map((c) => c.id)

export interface ProxyExchange {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: Buffer
}
export interface ProxyAnswer {
  status: number
  headers: Record<string, string | string[]>
  body: Buffer
}
export interface ProxyHooks {
  /** change the request before it goes on (headers may be rewritten in place) */
  request?: (req: ProxyExchange) => void | Promise<void>
  /** change the answer before it goes back; `send` forwards another request to the target */
  response?: (req: ProxyExchange, res: ProxyAnswer, send: (req: ProxyExchange) => Promise<ProxyAnswer>) => ProxyAnswer | Promise<ProxyAnswer>
}

/**
 * A misconfigured proxy in front of `target` (several targets: round robin, as a balancer), on a
 * loopback port; closed when the test ends.
 */
export async function startProxy (t: Test, target: string | string[], hooks: ProxyHooks = {}): Promise<string> {
  const targets = (Array.isArray(target) ? target : [target]).map((u) => new URL(u))
  let turn = 0
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
  const send = async (req: ProxyExchange): Promise<ProxyAnswer> => await new Promise((resolve, reject) => {
    const base = targets[turn++ % targets.length] as URL
    const headers = { ...req.headers, host: base.host }
    delete headers['content-length']
    if (req.body.length > 0) headers['content-length'] = String(req.body.length)
    const out = http.request({ host: base.hostname, port: base.port, method: req.method, path: req.url, headers, agent }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const answerHeaders: Record<string, string | string[]> = {}
        for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) answerHeaders[name] = value
        resolve({ status: res.statusCode ?? 502, headers: answerHeaders, body: Buffer.concat(chunks) })
      })
      res.on('error', reject)
    })
    out.on('error', reject)
    out.end(req.body)
  })
  const server = http.createServer((incoming, reply) => {
    const chunks: Buffer[] = []
    incoming.on('data', (c: Buffer) => chunks.push(c))
    incoming.on('end', () => {
      const relay = async (): Promise<void> => {
        const req: ProxyExchange = { method: incoming.method ?? 'GET', url: incoming.url ?? '/', headers: { ...incoming.headers }, body: Buffer.concat(chunks) }
        await hooks.request?.(req)
        let answer = await send(req)
        if (hooks.response !== undefined) answer = await hooks.response(req, answer, send)
        const headers = { ...answer.headers }
        delete headers['content-length']
        delete headers['transfer-encoding']
        delete headers.connection
        delete headers['keep-alive']
        reply.writeHead(answer.status, { ...headers, 'content-length': String(answer.body.length) })
        reply.end(req.method === 'HEAD' ? undefined : answer.body)
      }
      relay().catch((err: Error) => { reply.writeHead(502); reply.end(err.message) })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(async () => {
    agent.destroy()
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** Keys the scanner minted that are still usable, and messages still stored (receipts, kept by design after a delete, are not messages). */
export async function leftovers (target: Target): Promise<{ liveScanKeys: string[], messages: number }> {
  // Through the key service, not HTTP: after the full profile's lockout this address gets 429.
  const items = await target.app.apiKeys.list()
  const redis = new Redis((await testRedis()).url)
  const messages = (await redis.keys('msg:*')).filter((key) => !key.endsWith(':receipt') && !key.endsWith(':events')).length
  redis.disconnect()
  return { liveScanKeys: items.filter((k) => k.name.startsWith('missive-security') && k.revokedAt === null).map((k) => k.name), messages }
}
