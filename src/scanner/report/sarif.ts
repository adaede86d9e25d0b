// SARIF 2.1.0 for GitHub code scanning: one rule per check the run selected, one result per
// failed finding. Every result points at a real file of this repository (the route's source
// file, or the check's own source) and carries partialFingerprints made from the check id and
// the route, so GitHub deduplicates the same failure across runs. A failure the baseline
// accepts is reported with an external suppression, not left out.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { basename, dirname, isAbsolute, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Check, Finding, Severity } from '../check.js'
import { sourceOf } from '../contract.js'
import type { CheckResult, ScanResult } from '../runner.js'
import { publicTarget, TOOL_NAME } from './json.js'

export const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json'
export const INFORMATION_URI = 'https://github.com/missive/missive#check-your-deployment'

const SECURITY_SEVERITY: Record<Severity, string> = { critical: '9.5', high: '8.0', medium: '5.5', low: '3.0' }
const LEVEL: Record<Severity, 'error' | 'warning' | 'note'> = { critical: 'error', high: 'error', medium: 'warning', low: 'note' }
const PROBLEM_SEVERITY: Record<Severity, 'error' | 'warning' | 'recommendation'> = { critical: 'error', high: 'error', medium: 'warning', low: 'recommendation' }

/** The repository root: this file is src/scanner/report/sarif.ts, or dist/src/scanner/report/sarif.js once built. */
export function repositoryRoot (moduleUrl: string = import.meta.url): string {
  const up3 = resolve(dirname(fileURLToPath(moduleUrl)), '..', '..', '..')
  return basename(up3) === 'dist' ? dirname(up3) : up3
}

const ROOT = repositoryRoot()
const files = new Map<string, string[] | null>()

/** The lines of a repository file (cached), or null when it cannot be read or lies outside the repository. */
function linesOf (file: string): string[] | null {
  if (files.has(file)) return files.get(file) ?? null
  let lines: string[] | null = null
  const full = resolve(ROOT, file)
  const rel = relative(ROOT, full)
  if (rel !== '' && !rel.startsWith('..') && !isAbsolute(rel)) {
    try { lines = readFileSync(full, 'utf8').split(/\r?\n/) } catch {}
  }
  files.set(file, lines)
  return lines
}

/** "GET /api/v1/messages/{id}" → method and path (a route without a method is all path). */
export function splitRoute (route: string): { method: string, path: string } {
  const space = route.indexOf(' ')
  return space < 0 ? { method: '', path: route } : { method: route.slice(0, space).toUpperCase(), path: route.slice(space + 1).trim() }
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * The first line of `lines` that mentions `path`. Route files register paths under a prefix
 * ('/messages/:id' in a plugin mounted at /api/v1) and in Fastify's ':id' form, so the longest
 * tail of the path that appears as a whole string literal wins, on a line that registers the
 * method when there is one; else the first line containing the path at all; else null.
 */
export function lineOf (lines: readonly string[], method: string, path: string): number | null {
  const segments = (p: string): string[] => p.split('/').filter(Boolean)
  const forms = [...new Set([path.replace(/\{([^}/]+)\}/g, ':$1'), path])]
  for (let drop = 0; drop <= Math.max(0, ...forms.map((f) => segments(f).length - 1)); drop++) {
    for (const form of forms) {
      const segs = segments(form)
      if (drop > 0 && drop >= segs.length) continue
      const tail = '/' + segs.slice(drop).join('/')
      const literal = new RegExp(`(['"\`])${escape(tail)}\\1`)
      const verb = method === '' ? null : new RegExp(`\\.(${escape(method.toLowerCase())}|route)\\s*\\(`)
      const registering = verb === null ? -1 : lines.findIndex((l) => literal.test(l) && verb.test(l))
      if (registering >= 0) return registering + 1
      const any = lines.findIndex((l) => literal.test(l))
      if (any >= 0) return any + 1
    }
  }
  const loose = lines.findIndex((l) => l.includes(path))
  return loose >= 0 ? loose + 1 : null
}

/** Where a failure is reported: the route's source file and its line, else the check's source at line 1. */
export function locationOf (check: Check, finding: Finding): { uri: string, startLine: number } {
  if (finding.route !== undefined) {
    const { method, path } = splitRoute(finding.route)
    const uri = sourceOf(method, path)
    const lines = linesOf(uri)
    return { uri, startLine: lines === null ? 1 : lineOf(lines, method, path) ?? 1 }
  }
  return { uri: check.source, startLine: 1 }
}

/** A stable identity for GitHub's deduplication: the check and the route, nothing that changes between runs. */
export function fingerprint (checkId: string, route: string | undefined): string {
  return createHash('sha256').update(`${checkId}|${route ?? ''}`).digest('hex')
}

/** "Security headers on every response kind" → "SecurityHeadersOnEveryResponseKind". */
export function pascalCase (title: string): string {
  const name = title.split(/[^A-Za-z0-9]+/).filter(Boolean).map((w) => w[0]!.toUpperCase() + w.slice(1)).join('')
  return /^[A-Za-z]/.test(name) ? name : `Check${name}`
}

/** "API2:2023" → "API2". */
const owaspId = (owasp: string): string => owasp.replace(/:2023$/, '')

function ruleOf (check: Check): object {
  const fullDescription = `${check.title}. Severity ${check.severity}; OWASP API Security Top 10 2023 ${check.owasp}; CWE-${check.cwe}.`
  return {
    id: check.id,
    name: pascalCase(check.title),
    shortDescription: { text: check.title },
    fullDescription: { text: fullDescription },
    helpUri: INFORMATION_URI,
    help: {
      text: `${fullDescription}\nFix: ${check.fix}`,
      markdown: `**${check.id}**: ${check.title}\n\n- Severity: ${check.severity}\n- OWASP API Security Top 10 2023: ${check.owasp}\n- CWE: [CWE-${check.cwe}](https://cwe.mitre.org/data/definitions/${check.cwe}.html)\n\n**Fix:** ${check.fix}`
    },
    defaultConfiguration: { level: LEVEL[check.severity] },
    properties: {
      tags: ['security', `external/cwe/cwe-${check.cwe}`, `owasp-api-2023/${owaspId(check.owasp)}`],
      'security-severity': SECURITY_SEVERITY[check.severity],
      precision: 'high',
      'problem.severity': PROBLEM_SEVERITY[check.severity]
    }
  }
}

function messageOf (finding: Finding): string {
  const lines = [finding.route === undefined ? finding.seen : `${finding.seen} (${finding.route})`]
  if (finding.curl !== undefined) lines.push(`Reproduce: ${finding.curl}`)
  return lines.join('\n')
}

function resultsOf (r: CheckResult, ruleIndex: number): object[] {
  return r.findings.filter((f) => f.status === 'fail').map((f) => {
    const { uri, startLine } = locationOf(r.check, f)
    const id = fingerprint(r.check.id, f.route)
    return {
      ruleId: r.check.id,
      ruleIndex,
      level: LEVEL[r.check.severity],
      message: { text: messageOf(f) },
      locations: [{ physicalLocation: { artifactLocation: { uri, uriBaseId: '%SRCROOT%' }, region: { startLine } } }],
      partialFingerprints: { primaryLocationLineHash: id, 'missiveFinding/v1': id },
      ...(r.baseline === 'accepted' ? { suppressions: [{ kind: 'external', justification: r.baselineReason ?? 'accepted in the baseline' }] } : {}),
      properties: {
        ...(f.route === undefined ? {} : { route: f.route }),
        ...(f.evidence === undefined ? {} : { evidence: f.evidence }),
        ...(r.baseline === null ? {} : { baseline: r.baseline })
      }
    }
  })
}

function hostOf (target: string): string {
  try { return new URL(target).host } catch { return 'unknown' }
}

export function sarifReport (result: ScanResult, version: string): object {
  const rules = result.results.map((r) => ruleOf(r.check))
  const results = result.results.flatMap((r, i) => resultsOf(r, i))
  // What kept the run from testing everything: a check in error, the reasons it is incomplete.
  const notifications = [
    ...result.results.flatMap((r, i) => r.findings.filter((f) => f.status === 'error').map((f) => ({
      level: 'error',
      message: { text: `${r.check.id}: ${f.seen}` },
      associatedRule: { id: r.check.id, index: i }
    }))),
    ...result.incomplete.map((reason) => ({ level: 'warning', message: { text: `incomplete: ${reason}` } }))
  ]
  return {
    $schema: SARIF_SCHEMA,
    version: '2.1.0',
    runs: [{
      tool: {
        driver: {
          name: TOOL_NAME,
          version,
          semanticVersion: version,
          informationUri: INFORMATION_URI,
          rules
        }
      },
      automationDetails: { id: `missive-security/${hostOf(result.target)}/` },
      invocations: [{
        executionSuccessful: result.incomplete.length === 0,
        exitCode: result.exitCode,
        startTimeUtc: result.startedAt.toISOString(),
        endTimeUtc: result.finishedAt.toISOString(),
        ...(notifications.length === 0 ? {} : { toolExecutionNotifications: notifications }),
        properties: {
          runId: result.runId,
          target: publicTarget(result.target),
          profile: result.profile,
          requests: result.requests,
          maxRequests: result.maxRequests,
          leftBehind: result.leftBehind.length
        }
      }],
      results,
      columnKind: 'utf16CodeUnits'
    }]
  }
}

/** The root this module resolved, for the tests. */
export const REPOSITORY_ROOT = ROOT
