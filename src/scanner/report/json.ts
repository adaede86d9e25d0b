// The machine-readable report: a versioned document (docs/security-report.schema.json).
// "missive-security-report/1" keeps its number while fields are only added; any change that
// breaks a reader (a field removed, renamed or retyped, a meaning changed) takes /2.
// It copies what the result holds, field by field: findings are already redacted by the checks,
// and nothing else (no secret, no extra property a finding may carry at run time) is added.
import type { Finding, Severity, Status } from '../check.js'
import type { ScanResult } from '../runner.js'
import type { Grade, Score } from '../score.js'

export const REPORT_SCHEMA = 'missive-security-report/1'
export const TOOL_NAME = 'missive-security'

export interface JsonFinding {
  status: Status
  seen: string
  route?: string
  evidence?: string
  curl?: string
}

export interface JsonCheck {
  id: string
  family: string
  title: string
  severity: Severity
  owasp: string
  cwe: number
  status: Status
  baseline: 'new' | 'accepted' | 'expired' | null
  baselineReason?: string
  requests: number
  fix: string
  findings: JsonFinding[]
}

export interface JsonReport {
  schema: typeof REPORT_SCHEMA
  tool: { name: typeof TOOL_NAME, version: string }
  runId: string
  target: string
  profile: 'safe' | 'full'
  startedAt: string
  finishedAt: string
  routesFrom: 'docs' | 'contract'
  requests: number
  maxRequests: number
  complete: boolean
  incomplete: string[]
  exitCode: 0 | 1 | 3
  score: { score: number | null, grade: Grade | null }
  families: Record<string, { score: number | null, grade: Grade | null }>
  checks: JsonCheck[]
  leftBehind: Array<{ kind: string, id: string, reason: string }>
}

/** The target URL without credentials: a base URL given as https://user:pass@host keeps neither in a report. */
export function publicTarget (target: string): string {
  try {
    const url = new URL(target)
    if (url.username === '' && url.password === '') return url.toString()
    url.username = ''
    url.password = ''
    return url.toString()
  } catch {
    return target
  }
}

const scoreOf = (s: Score): { score: number | null, grade: Grade | null } => ({ score: s.score, grade: s.grade })

function findingOf (f: Finding): JsonFinding {
  return {
    status: f.status,
    seen: f.seen,
    ...(f.route === undefined ? {} : { route: f.route }),
    ...(f.evidence === undefined ? {} : { evidence: f.evidence }),
    ...(f.curl === undefined ? {} : { curl: f.curl })
  }
}

export function jsonReport (result: ScanResult, version: string): JsonReport {
  return {
    schema: REPORT_SCHEMA,
    tool: { name: TOOL_NAME, version },
    runId: result.runId,
    target: publicTarget(result.target),
    profile: result.profile,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    routesFrom: result.routesFrom,
    requests: result.requests,
    maxRequests: result.maxRequests,
    complete: result.incomplete.length === 0,
    incomplete: [...result.incomplete],
    exitCode: result.exitCode,
    score: scoreOf(result.score),
    families: Object.fromEntries(Object.entries(result.families).map(([family, s]) => [family, scoreOf(s)])),
    checks: result.results.map((r) => ({
      id: r.check.id,
      family: r.check.family,
      title: r.check.title,
      severity: r.check.severity,
      owasp: r.check.owasp,
      cwe: r.check.cwe,
      status: r.status,
      baseline: r.baseline,
      ...(r.baselineReason === undefined ? {} : { baselineReason: r.baselineReason }),
      requests: r.requests,
      fix: r.check.fix,
      findings: r.findings.map(findingOf)
    })),
    leftBehind: result.leftBehind.map((l) => ({ kind: l.kind, id: l.id, reason: l.reason }))
  }
}
