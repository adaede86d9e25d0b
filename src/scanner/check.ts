// What a check is and what it reports. The scanner is black-box: it speaks HTTP to a base URL
// and imports nothing of the server (no plugin, route or store).
import type { ScanContext } from './context.js'

export type Severity = 'critical' | 'high' | 'medium' | 'low'
export type Status = 'pass' | 'fail' | 'skip' | 'error'
export type Profile = 'safe' | 'full'

export const SEVERITY_WEIGHT: Record<Severity, number> = { critical: 10, high: 5, medium: 3, low: 1 }

/** One verdict of a check; a check may report one per route or per case. */
export interface Finding {
  status: Status
  /** what was seen, in one line a person reads (never a secret: see redact()) */
  seen: string
  /** "GET /msg/{id}" when the finding is about one route (SARIF fingerprints use it) */
  route?: string
  /** a request/response excerpt, already redacted */
  evidence?: string
  /** a curl command that reproduces a failure, secrets as $API_KEY / $TOKEN placeholders */
  curl?: string
}

export interface Check {
  /** stable: MSV-<FAMILY>-<NNN> */
  id: `MSV-${string}`
  family: string
  title: string
  /** OWASP API Security Top 10 2023 id, e.g. API2:2023 */
  owasp: string
  cwe: number
  severity: Severity
  /** safe checks run in both profiles; full ones only in --profile full */
  profile: Profile
  /** the most requests this check may send; more is a bug of the check (reported as error) */
  budget: number
  /** when it runs: lower first. Rate limits spend the anonymous budget (90s), the lockout is last (99). */
  order: number
  /** what it needs from the operator; without it the check is a skip with the reason */
  needs?: 'api-key' | 'admin'
  /** counted failed authentications it needs at least (reserved for it before the others spend) */
  authFailures?: number
  /** the knob that fixes a failure, shown in the report */
  fix: string
  /** the repository file a SARIF result points at when the finding names no route */
  source: string
  /** the requests it would send, for --dry-run */
  plan: string[]
  run: (ctx: ScanContext) => Promise<Finding[]>
  /** passive checks judge what every other check saw, after all of them ran (no requests) */
  finalize?: (ctx: ScanContext) => Finding[]
}

/** Thrown by a check that cannot run here: becomes one skip finding with the reason. */
export class Skip extends Error { override name = 'Skip' }

/** The worst status of a check's findings: fail > error > pass > skip. */
export function overallStatus (findings: readonly Finding[]): Status {
  if (findings.some((f) => f.status === 'fail')) return 'fail'
  if (findings.some((f) => f.status === 'error')) return 'error'
  if (findings.some((f) => f.status === 'pass')) return 'pass'
  return 'skip'
}

export const pass = (seen: string, route?: string): Finding => ({ status: 'pass', seen, ...(route === undefined ? {} : { route }) })
export const skip = (seen: string, route?: string): Finding => ({ status: 'skip', seen, ...(route === undefined ? {} : { route }) })
export const fail = (seen: string, extra: Omit<Finding, 'status' | 'seen'> = {}): Finding => ({ status: 'fail', seen, ...extra })
