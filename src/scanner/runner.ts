// Runs the checks in order within the budgets, keeps the cleanup ledger honest, and turns the
// findings into a result: statuses, scores, what stayed behind and the exit code.
import { type Check, type Finding, overallStatus, Skip, type Status } from './check.js'
import { Aborted, CapReached, CheckBudgetExceeded, CheckHttp, Throttled, Unreachable } from './client.js'
import type { ScanContext } from './context.js'
import { contractRoutes, routesFromOpenApi, withContractAuth } from './discover.js'
import { acceptance, type Baseline } from './report/baseline.js'
import { type Score, scoreOf, scoresByFamily } from './score.js'

export interface CheckResult {
  check: Check
  status: Status
  findings: Finding[]
  requests: number
  /** for a failure: 'new', accepted by the baseline, or accepted once but expired */
  baseline: 'new' | 'accepted' | 'expired' | null
  baselineReason?: string
}

export interface ScanResult {
  runId: string
  target: string
  profile: 'safe' | 'full'
  startedAt: Date
  finishedAt: Date
  routesFrom: 'docs' | 'contract'
  results: CheckResult[]
  requests: number
  maxRequests: number
  /** why the run is incomplete; empty when it is complete */
  incomplete: string[]
  leftBehind: Array<{ kind: string, id: string, reason: string }>
  score: Score
  families: Record<string, Score>
  exitCode: 0 | 1 | 3
}

/** Setup: the routes to probe and what the operator's key may do. Throws Unreachable when the target does not answer. */
async function setup (ctx: ScanContext): Promise<void> {
  ctx.http = new CheckHttp(ctx.client, 'setup', 4)
  const docs = await ctx.request({ method: 'GET', path: '/docs/json', headers: { accept: 'application/json' } })
  if (docs.status === 200) {
    try {
      ctx.routes = withContractAuth(routesFromOpenApi(docs.json))
      ctx.routesFrom = 'docs'
    } catch {}
  }
  if (ctx.routesFrom !== 'docs') ctx.routes = contractRoutes()
  if (ctx.options.apiKey !== undefined) {
    const key = ctx.keep(ctx.options.apiKey)
    const res = await ctx.request({ method: 'POST', path: '/api/v1/auth/token', creates: true, headers: { 'x-api-key': key, 'content-type': 'application/json' }, body: '{}' })
    const body = res.json as { access_token?: unknown, scope?: unknown } | undefined
    if (res.status !== 200 || typeof body?.access_token !== 'string' || typeof body.scope !== 'string') {
      throw new OperatorKeyRefused(`the --api-key was refused: POST /api/v1/auth/token answered ${res.status}`)
    }
    ctx.keep(body.access_token)
    ctx.ledger.add({ kind: 'token', token: body.access_token, keyId: null })
    ctx.operator = { id: null, key, scopes: body.scope.split(' ').filter(Boolean), minted: false }
    ctx.operatorTokenPending = Promise.resolve(body.access_token)
  }
}

export class OperatorKeyRefused extends Error { override name = 'OperatorKeyRefused' }

function applies (check: Check, ctx: ScanContext): boolean {
  const { only, skip, profile } = ctx.options
  const named = (list: string[]): boolean => list.some((raw) => {
    const n = raw.toUpperCase()
    return n === check.id || n === check.family || `MSV-${n}` === check.id
  })
  if (only.length > 0 && !named(only)) return false
  if (named(skip)) return false
  return profile === 'full' || check.profile === 'safe'
}

export function selectChecks (checks: readonly Check[], ctx: Pick<ScanContext, 'options'>): Check[] {
  return checks.filter((c) => applies(c, ctx as ScanContext)).sort((a, b) => a.order - b.order)
}

export async function runScan (checks: readonly Check[], ctx: ScanContext, baseline: Baseline | null): Promise<ScanResult> {
  const startedAt = new Date()
  const selected = selectChecks(checks, ctx)
  const findings = new Map<Check, Finding[]>()
  const used = new Map<Check, number>()
  const incomplete: string[] = []
  let stopped: string | null = null

  await setup(ctx)
  ctx.selected = new Set(selected.map((c) => c.id))
  for (const check of selected) {
    const applicable = check.needs === undefined || (check.needs === 'api-key' ? ctx.operator !== null : ctx.isAdmin)
    if (check.authFailures !== undefined && applicable) ctx.authReserve.set(check.id, check.authFailures)
  }

  const checkpoints = new Set<number>()
  const needsMissing = new Set<Check>()
  for (const check of selected) {
    // Before the rate-limit checks spend the anonymous budget, and before the lockout, undo
    // what was made: cleanup must never meet a limit the run itself set off.
    const checkpoint = check.order >= 99 ? 99 : check.order >= 90 ? 90 : null
    if (checkpoint !== null && !checkpoints.has(checkpoint) && stopped === null) {
      checkpoints.add(checkpoint)
      await ctx.undo()
    }
    if (stopped !== null) {
      ctx.releaseAuthReserve(check.id)
      findings.set(check, [{ status: 'skip', seen: stopped }])
      continue
    }
    if (check.needs === 'api-key' && ctx.operator === null) {
      needsMissing.add(check)
      findings.set(check, [{ status: 'skip', seen: 'needs --api-key' }])
      continue
    }
    if (check.needs === 'admin' && !ctx.isAdmin) {
      needsMissing.add(check)
      findings.set(check, [{ status: 'skip', seen: ctx.operator === null ? 'needs --api-key with keys:admin' : 'needs an --api-key with keys:admin (to mint keys)' }])
      continue
    }
    ctx.http = new CheckHttp(ctx.client, check.id, check.budget)
    try {
      findings.set(check, await check.run(ctx))
    } catch (err) {
      if (err instanceof Skip) findings.set(check, [{ status: 'skip', seen: err.message }])
      else if (err instanceof CapReached) {
        stopped = `not run: ${err.message}`
        incomplete.push(`--max-requests ${ctx.options.maxRequests} reached during ${check.id}`)
        findings.set(check, [{ status: 'skip', seen: `stopped: ${err.message}` }])
      } else if (err instanceof Throttled) {
        stopped = `not run: ${err.message}`
        incomplete.push(err.message)
        findings.set(check, [{ status: 'skip', seen: `stopped: ${err.message}` }])
      } else if (err instanceof Aborted) {
        stopped = 'not run: interrupted'
        incomplete.push('interrupted')
        findings.set(check, [{ status: 'skip', seen: 'interrupted' }])
      } else if (err instanceof CheckBudgetExceeded || err instanceof Unreachable) {
        findings.set(check, [{ status: 'error', seen: err.message }])
      } else {
        findings.set(check, [{ status: 'error', seen: ctx.redact((err as Error).message) }])
      }
    }
    used.set(check, ctx.http.used)
    ctx.releaseAuthReserve(check.id)
  }

  await ctx.undo()
  // Passive checks judge what was seen even when the run stopped early (no request of their own).
  for (const check of selected) {
    if (check.finalize === undefined || needsMissing.has(check)) continue
    const active = findings.get(check) ?? []
    findings.set(check, [...active.filter((f) => f.status !== 'skip'), ...check.finalize(ctx)])
  }

  const now = new Date()
  const results: CheckResult[] = selected.map((check) => {
    const list = findings.get(check) ?? [{ status: 'skip', seen: 'not run' }]
    const status = overallStatus(list)
    let state: CheckResult['baseline'] = null
    let reason: string | undefined
    if (status === 'fail') {
      // A failure is accepted only when every failing route is.
      const verdicts = list.filter((f) => f.status === 'fail').map((f) => acceptance(baseline, check.id, f.route, now))
      state = verdicts.some((v) => v.state === 'new') ? 'new' : verdicts.some((v) => v.state === 'expired') ? 'expired' : 'accepted'
      for (const v of verdicts) if (v.state !== 'new') { reason = v.entry.reason; break }
    }
    return { check, status, findings: list, requests: used.get(check) ?? 0, baseline: state, ...(reason === undefined ? {} : { baselineReason: reason }) }
  })

  const leftBehind = ctx.ledger.leftBehind.map(({ entry, reason }) => ({
    kind: entry.kind,
    id: entry.kind === 'token' ? ctx.redact(entry.token) : entry.id,
    reason
  }))
  if (leftBehind.length > 0) incomplete.push(`cleanup failed: ${leftBehind.length} left behind`)
  if (!results.some((r) => r.status === 'pass' || r.status === 'fail')) incomplete.push('nothing testable')
  const errored = results.filter((r) => r.status === 'error')
  if (errored.length > 0) incomplete.push(`${errored.length} check(s) ended in error`)

  const scored = results.map((r) => ({ family: r.check.family, severity: r.check.severity, status: r.status }))
  // A failed cleanup is "incomplete" (exit 3), as the contract of the exit codes says, not a finding about the target.
  const blocking = results.some((r) => r.status === 'fail' && r.baseline !== 'accepted' && r.check.family !== 'CLEAN' && (r.check.severity === 'critical' || r.check.severity === 'high'))
  return {
    runId: ctx.runId,
    target: ctx.options.url.toString(),
    profile: ctx.options.profile,
    startedAt,
    finishedAt: new Date(),
    routesFrom: ctx.routesFrom,
    results,
    requests: ctx.client.sent,
    maxRequests: ctx.options.maxRequests,
    incomplete,
    leftBehind,
    score: scoreOf(scored),
    families: scoresByFamily(scored),
    exitCode: blocking ? 1 : incomplete.length > 0 ? 3 : 0
  }
}
