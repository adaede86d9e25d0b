// The report a person reads: one line per check, then what failed with its evidence, the
// fix and a curl that reproduces it; scores; and what the run left behind.
import type { Check } from '../check.js'
import type { ScanResult } from '../runner.js'

const MARK = { pass: 'PASS', fail: 'FAIL', skip: 'skip', error: 'ERR ' } as const

const pad = (s: string, n: number): string => s.length >= n ? s : s + ' '.repeat(n - s.length)
const fmt = (s: { score: number | null, grade: string | null }): string => s.score === null ? 'not tested' : `${s.score}/100 (${s.grade ?? ''})`

export function tableReport (result: ScanResult): string {
  const lines: string[] = []
  lines.push(`missive-security run ${result.runId} against ${result.target} (profile ${result.profile}, routes from ${result.routesFrom === 'docs' ? '/docs/json' : 'the contract table'})`)
  lines.push('')
  for (const r of result.results) {
    const first = r.findings.find((f) => f.status === r.status) ?? r.findings[0]
    const count = r.findings.filter((f) => f.status === 'fail').length
    const note = r.status === 'fail' ? (count > 1 ? `${count} failures: ${first?.seen ?? ''}` : first?.seen ?? '') : first?.seen ?? ''
    const untried = r.status === 'pass' ? r.findings.filter((f) => f.status === 'skip') : []
    const more = untried.length > 0 ? ` (also: ${untried.map((f) => f.seen).join('; ')})` : ''
    const accepted = r.baseline === 'accepted' ? ' [accepted by baseline]' : r.baseline === 'expired' ? ' [baseline entry expired]' : ''
    lines.push(`${MARK[r.status]}  ${pad(r.check.severity, 8)} ${pad(r.check.id, 13)} ${r.check.title}${accepted}`)
    if (note !== '' || more !== '') lines.push(`      ${note}${more}`)
  }
  const failures = result.results.filter((r) => r.status === 'fail' || r.status === 'error')
  if (failures.length > 0) {
    lines.push('', 'Details')
    for (const r of failures) lines.push(...details(r.check, r.findings.filter((f) => f.status === 'fail' || f.status === 'error')))
  }
  lines.push('', `score ${fmt(result.score)}`)
  for (const [family, score] of Object.entries(result.families)) lines.push(`  ${pad(family, 7)} ${fmt(score)}`)
  const counts = { pass: 0, fail: 0, skip: 0, error: 0 }
  for (const r of result.results) counts[r.status]++
  // A check that passed what it tried but left probes untried (a budget) says so: not tested is never passed.
  const partly = result.results.filter((r) => r.status === 'pass' && r.findings.some((f) => f.status === 'skip')).length
  lines.push('', `${counts.pass} passed${partly > 0 ? ` (${partly} of them in part: see "also" above)` : ''}, ${counts.fail} failed, ${counts.skip} skipped, ${counts.error} errors; ${result.requests} of ${result.maxRequests} requests`)
  lines.push('the score counts only what was tested; skipped checks and untried probes count neither way')
  if (result.incomplete.length > 0) lines.push(`incomplete: ${result.incomplete.join('; ')}`)
  for (const item of result.leftBehind) lines.push(`  left behind: ${item.kind} ${item.id} (${item.reason})`)
  lines.push(`left behind: ${result.leftBehind.length}`)
  return lines.join('\n')
}

function details (check: Check, findings: ReadonlyArray<{ status: string, seen: string, route?: string, evidence?: string, curl?: string }>): string[] {
  const lines = ['', `${check.id} ${check.title} (${check.severity}, ${check.owasp}, CWE-${check.cwe})`, `  fix: ${check.fix}`]
  for (const f of findings.slice(0, 5)) {
    lines.push(`  - ${f.route === undefined ? '' : `${f.route}: `}${f.seen}`)
    if (f.evidence !== undefined) lines.push(...f.evidence.split('\n').slice(0, 8).map((l) => `      ${l}`))
    if (f.curl !== undefined) lines.push(`      reproduce: ${f.curl}`)
  }
  if (findings.length > 5) lines.push(`  … and ${findings.length - 5} more (all of them in --json)`)
  return lines
}

/** The --dry-run plan: what each selected check would send, and its budget. */
export function planReport (checks: readonly Check[], maxRequests: number): string {
  const lines = ['missive-security --dry-run: nothing is sent', '']
  let total = 0
  for (const check of checks) {
    total += check.budget
    lines.push(`${pad(check.id, 13)} budget ${pad(String(check.budget), 4)} ${check.title}${check.needs === undefined ? '' : ` (needs ${check.needs === 'admin' ? '--api-key with keys:admin' : '--api-key'})`}`)
    for (const step of check.plan) lines.push(`      ${step}`)
  }
  lines.push('', `at most ${total} requests by the budgets, capped at --max-requests ${maxRequests} (plus setup: GET /docs/json, POST /api/v1/auth/token)`)
  return lines.join('\n')
}
