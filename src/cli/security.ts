// missive-security: the contract-aware scanner's command line (README "Check your deployment").
// main(argv, env, io, signal) → exit code: 0 no high/critical failure, 1 a high or critical
// failure not accepted by the baseline, 2 usage error or target unreachable, 3 incomplete.
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type Io, UsageError } from './io.js'
import { allChecks } from '../scanner/checks/index.js'
import { ScanClient, Throttled, Unreachable } from '../scanner/client.js'
import { type ScanOptions, ScanContext } from '../scanner/context.js'
import { BaselineError, loadBaseline, type Baseline } from '../scanner/report/baseline.js'
import { jsonReport } from '../scanner/report/json.js'
import { sarifReport } from '../scanner/report/sarif.js'
import { planReport, tableReport } from '../scanner/report/table.js'
import { OperatorKeyRefused, runScan, selectChecks } from '../scanner/runner.js'
import { version } from '../version.js'

export const USAGE = `usage: missive-security --url BASE_URL [options]
  --api-key KEY          enables the authenticated checks (or MISSIVE_API_KEY); with keys:admin the
                         scanner mints the keys it needs and revokes them at the end
  --profile safe|full    safe (default): production-safe and bounded; full adds the 60 s expiry
                         check and the auth-failure lockout (locks this address out for 15 min)
  --max-requests N       hard cap on requests (default 2000)
  --rate N               requests per second (default 20)
  --timeout S            seconds to wait for an answer (default 10)
  --dry-run              print the plan and the budget of each check; send nothing
  --only A,B / --skip A,B   check ids (MSV-AUTH-003) or families (AUTH)
  --json FILE            the report as JSON (missive-security-report/1)
  --sarif FILE           the report as SARIF 2.1.0 (GitHub code scanning)
  --baseline FILE        accepted findings: {"version":1,"accepted":[{"check","route"?,"reason","expires"}]}
  --allowed-origin O     an origin the deployment allows (CORS_ORIGINS), repeatable
  --samples N            ids sampled for the entropy checks (default 200)
  --max-bytes N / --api-max-bytes N   the target's MESSAGE_MAX_BYTES / API_MESSAGE_MAX_BYTES
                         (defaults 65536 / 1048576)
  --auth-failures N      failed authentications the run may cause (default 8: under the default
                         AUTH_FAILURE_MAX of 10, so a safe run never locks its own address out)
  --ca FILE              extra CA certificate (PEM) to trust for an https target
exit codes: 0 no high or critical failure, 1 a high or critical failure, 2 usage error or
target unreachable, 3 incomplete (budget spent, cleanup failed, nothing testable)`

function integer (values: Record<string, unknown>, name: string, fallback: number, min: number, max: number): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
  return Number(raw)
}

const list = (raw: unknown): string[] => typeof raw === 'string' ? raw.split(',').map((s) => s.trim()).filter(Boolean) : []

export function parseOptions (argv: string[], env: NodeJS.ProcessEnv): ScanOptions {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        'api-key': { type: 'string' },
        profile: { type: 'string' },
        'max-requests': { type: 'string' },
        rate: { type: 'string' },
        timeout: { type: 'string' },
        'dry-run': { type: 'boolean' },
        only: { type: 'string' },
        skip: { type: 'string' },
        json: { type: 'string' },
        sarif: { type: 'string' },
        baseline: { type: 'string' },
        'allowed-origin': { type: 'string', multiple: true },
        samples: { type: 'string' },
        'max-bytes': { type: 'string' },
        'api-max-bytes': { type: 'string' },
        'auth-failures': { type: 'string' },
        ca: { type: 'string' },
        help: { type: 'boolean' }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const v = parsed.values as Record<string, unknown>
  if (v.help === true) throw new UsageError('')
  if (typeof v.url !== 'string') throw new UsageError('--url is required')
  let url: URL
  try { url = new URL(v.url) } catch { throw new UsageError('--url must be an absolute http(s) URL') }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('--url must be an absolute http(s) URL')
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '') throw new UsageError('--url must be the base URL (no path, query or fragment)')
  // Credentials in the URL would be sent as Basic on every request (a second credential) and printed in the report.
  if (url.username !== '' || url.password !== '') throw new UsageError('--url must not carry a user name or password')
  const profile = v.profile ?? 'safe'
  if (profile !== 'safe' && profile !== 'full') throw new UsageError('--profile must be safe or full')
  const origins = (v['allowed-origin'] as string[] | undefined) ?? []
  for (const o of origins) {
    let parsedOrigin: URL | null = null
    try { parsedOrigin = new URL(o) } catch {}
    if (parsedOrigin === null || parsedOrigin.origin !== o) throw new UsageError(`--allowed-origin ${JSON.stringify(o)} is not an origin such as https://app.example.com`)
  }
  let ca: Buffer | undefined
  if (typeof v.ca === 'string') {
    try { ca = readFileSync(v.ca) } catch { throw new UsageError(`cannot read --ca ${v.ca}`) }
  }
  const apiKey = typeof v['api-key'] === 'string' ? v['api-key'] : env.MISSIVE_API_KEY
  return {
    url,
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
    profile,
    maxRequests: integer(v, 'max-requests', 2000, 1, 1_000_000),
    rate: integer(v, 'rate', 20, 1, 10_000),
    timeoutMs: integer(v, 'timeout', 10, 1, 600) * 1000,
    dryRun: v['dry-run'] === true,
    only: list(v.only),
    skip: list(v.skip),
    ...(typeof v.json === 'string' ? { json: v.json } : {}),
    ...(typeof v.sarif === 'string' ? { sarif: v.sarif } : {}),
    ...(typeof v.baseline === 'string' ? { baseline: v.baseline } : {}),
    allowedOrigins: origins,
    samples: integer(v, 'samples', 200, 30, 5000),
    maxBytes: integer(v, 'max-bytes', 65536, 1, 1 << 30),
    apiMaxBytes: integer(v, 'api-max-bytes', 1_048_576, 1, 1 << 30),
    authFailures: integer(v, 'auth-failures', 8, 0, 100_000),
    ...(ca === undefined ? {} : { ca })
  }
}

export async function main (argv: string[], env: NodeJS.ProcessEnv, io: Io, signal: AbortSignal = new AbortController().signal): Promise<number> {
  let options: ScanOptions
  let baseline: Baseline | null = null
  try {
    options = parseOptions(argv, env)
    if (options.baseline !== undefined) baseline = loadBaseline(options.baseline)
    const known = new Set(allChecks.flatMap((c) => [c.id, c.family]))
    for (const name of [...options.only, ...options.skip]) {
      if (!known.has(name.toUpperCase()) && !known.has(`MSV-${name.toUpperCase()}`)) throw new UsageError(`unknown check or family: ${name}`)
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof BaselineError) {
      if (err.message !== '') io.err(`missive-security: ${err.message}`)
      io.err(USAGE)
      return 2
    }
    throw err
  }
  if (options.dryRun) {
    io.out(planReport(selectChecks(allChecks, { options }), options.maxRequests))
    return 0
  }
  const runId = randomBytes(6).toString('hex')
  const client = new ScanClient({
    baseUrl: options.url,
    userAgent: `missive-security/${version}`,
    runId,
    rate: options.rate,
    timeoutMs: options.timeoutMs,
    maxRequests: options.maxRequests,
    signal,
    ...(options.ca === undefined ? {} : { ca: options.ca })
  })
  const ctx = new ScanContext(options, client, runId, signal)
  io.err(`missive-security ${version}: run ${runId} against ${options.url.origin} (profile ${options.profile}, at most ${options.maxRequests} requests at ${options.rate}/s)`)
  try {
    const result = await runScan(allChecks, ctx, baseline)
    io.out(tableReport(result))
    if (options.json !== undefined) writeFileSync(options.json, `${JSON.stringify(jsonReport(result, version), null, 2)}\n`)
    if (options.sarif !== undefined) writeFileSync(options.sarif, `${JSON.stringify(sarifReport(result, version), null, 2)}\n`)
    return result.exitCode
  } catch (err) {
    if (err instanceof Unreachable || err instanceof OperatorKeyRefused || err instanceof Throttled) {
      await ctx.undo().catch(() => {})
      io.err(`missive-security: ${err instanceof Unreachable ? `the target is unreachable: ${err.message}` : err.message}`)
      return 2
    }
    await ctx.undo().catch(() => {})
    throw err
  } finally {
    client.close()
  }
}
