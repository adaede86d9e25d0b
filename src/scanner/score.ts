// The score: severity-weighted share of the tested checks that passed, per family and overall.
// Caps keep a number from hiding a bypass: any critical failure → at most 59 (F), any high
// failure → at most 79 (C at best). Skipped and errored checks are not tested: they count
// neither way, and a family with nothing tested has no score (null), never 100.
import { type Severity, SEVERITY_WEIGHT, type Status } from './check.js'

export interface Scored { family: string, severity: Severity, status: Status }

export interface Score { score: number | null, grade: Grade | null }
export type Grade = 'A' | 'B' | 'C' | 'D' | 'F'

export function grade (score: number): Grade {
  if (score >= 90) return 'A'
  if (score >= 80) return 'B'
  if (score >= 70) return 'C'
  if (score >= 60) return 'D'
  return 'F'
}

export function scoreOf (items: readonly Scored[]): Score {
  const tested = items.filter((i) => i.status === 'pass' || i.status === 'fail')
  if (tested.length === 0) return { score: null, grade: null }
  const total = tested.reduce((sum, i) => sum + SEVERITY_WEIGHT[i.severity], 0)
  const passed = tested.filter((i) => i.status === 'pass').reduce((sum, i) => sum + SEVERITY_WEIGHT[i.severity], 0)
  let score = Math.round((100 * passed) / total)
  const failed = tested.filter((i) => i.status === 'fail')
  if (failed.some((i) => i.severity === 'critical')) score = Math.min(score, 59)
  else if (failed.some((i) => i.severity === 'high')) score = Math.min(score, 79)
  return { score, grade: grade(score) }
}

export function scoresByFamily (items: readonly Scored[]): Record<string, Score> {
  const families = [...new Set(items.map((i) => i.family))]
  return Object.fromEntries(families.map((f) => [f, scoreOf(items.filter((i) => i.family === f))]))
}
