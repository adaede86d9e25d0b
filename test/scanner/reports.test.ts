import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import ajvDraft04 from 'ajv-draft-04'
import ajv2020 from 'ajv/dist/2020.js'
import ajvFormats from 'ajv-formats'
import { type Check, type Finding, overallStatus } from '../../src/scanner/check.js'
import type { CheckResult, ScanResult } from '../../src/scanner/runner.js'
import { scoreOf, scoresByFamily } from '../../src/scanner/score.js'
import { acceptance, type Baseline, BaselineError, parseBaseline } from '../../src/scanner/report/baseline.js'
import { jsonReport } from '../../src/scanner/report/json.js'
import { fingerprint, lineOf, pascalCase, REPOSITORY_ROOT, repositoryRoot, sarifReport, splitRoute } from '../../src/scanner/report/sarif.js'

// CommonJS modules: under NodeNext their default import is module.exports; the class is .default.
const AjvDraft04 = ajvDraft04.default
const Ajv2020 = ajv2020.default
const addFormats = ajvFormats.default

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const VERSION = '0.1.0'

// Secrets the synthetic run "held": a check plans with them, a finding object carries one in a
// property that is not part of Finding, the target URL has credentials. Reports copy only
// what findings hold (already redacted), so none of them may appear in a report.
const PLANTED = ['msv_live_PLANTEDKEY0123456789', 'eyJhbGciOiJIUzI1NiJ9.PLANTED.TOKEN', 'PLANTED-DELETE-TOKEN-abcdef', 'PLANTED-URL-PASSWORD']

interface Sarif {
  $schema: string
  version: string
  runs: Array<{
    tool: { driver: { name: string, version: string, semanticVersion: string, rules: Array<{ id: string, name: string, help: { text: string, markdown: string }, defaultConfiguration: { level: string }, properties: { tags: string[], 'security-severity': string, precision: string, 'problem.severity': string } }> } }
    automationDetails: { id: string }
    invocations: Array<{ executionSuccessful: boolean, toolExecutionNotifications?: Array<{ level: string, message: { text: string } }> }>
    results: Array<{
      ruleId: string
      ruleIndex: number
      level: string
      message: { text: string }
      locations: Array<{ physicalLocation: { artifactLocation: { uri: string, uriBaseId: string }, region: { startLine: number } } }>
      partialFingerprints: Record<string, string>
      suppressions?: Array<{ kind: string, justification: string }>
      properties?: { route?: string }
    }>
  }>
}

interface JsonDoc {
  schema: string
  tool: unknown
  target: string
  startedAt: string
  score: { score: number | null, grade: string | null }
  families: Record<string, unknown>
  checks: Array<{ id: string, status: string, baseline: string | null, baselineReason?: string, findings: Array<Record<string, unknown>> }>
}

function check (over: Partial<Check> & Pick<Check, 'id' | 'family' | 'title' | 'severity'>): Check {
  return {
    owasp: 'API8:2023',
    cwe: 16,
    profile: 'safe',
    budget: 10,
    order: 10,
    fix: 'set CORS_ORIGINS to the exact origins',
    source: 'plugins/security-headers.ts',
    plan: [`GET /api/v1/keys with x-api-key: ${PLANTED[0]!}`],
    run: async () => [],
    ...over
  }
}

function resultOf (c: Check, findings: Finding[], baseline: CheckResult['baseline'] = null, baselineReason?: string): CheckResult {
  return { check: c, status: overallStatus(findings), findings, requests: findings.length, baseline, ...(baselineReason === undefined ? {} : { baselineReason }) }
}

function synthetic (incomplete: string[] = []): ScanResult {
  const headers = check({ id: 'MSV-HDR-001', family: 'HDR', title: 'Security headers on every response kind', severity: 'medium', fix: 'keep the security-headers plugin on (SECURITY_HEADERS)' })
  const auth = check({ id: 'MSV-AUTH-002', family: 'AUTH', title: 'Authentication bypass: alg none, tampered tokens', severity: 'critical', owasp: 'API2:2023', cwe: 287, source: 'plugins/auth.ts', fix: 'verify tokens with the configured algorithm only (JWT_*)' })
  const cors = check({ id: 'MSV-CORS-001', family: 'CORS', title: 'CORS: no foreign origin allowed', severity: 'high', cwe: 942, source: 'plugins/cors.ts' })
  const tls = check({ id: 'MSV-TLS-001', family: 'TLS', title: 'TLS 1.0/1.1 refused', severity: 'high', owasp: 'API8:2023', cwe: 326, source: 'src/server.ts', fix: 'TLS_MIN_VERSION' })
  const errors = check({ id: 'MSV-ERR-001', family: 'ERR', title: "Error bodies follow the contract's shape", severity: 'low', cwe: 209, source: 'plugins/error-handler.ts', fix: 'keep the error handler' })

  // A finding object that carries, at run time, more than Finding declares.
  const leaky = { status: 'fail', seen: 'a token with alg none was accepted', route: 'GET /api/v1/messages/{id}', evidence: 'Authorization: Bearer $TOKEN', curl: "curl -H 'Authorization: Bearer $TOKEN' https://scan.example/api/v1/messages/x", rawToken: PLANTED[1], deleteToken: PLANTED[2] } as Finding

  const results: CheckResult[] = [
    resultOf(headers, [
      { status: 'fail', seen: '404 has no Content-Security-Policy', evidence: 'HTTP/1.1 404\ncontent-type: application/json' },
      { status: 'pass', seen: '200 JSON carries every header' }
    ], 'new'),
    resultOf(auth, [
      leaky,
      { status: 'fail', seen: 'a token with a tampered payload was accepted', route: 'DELETE /api/v1/messages/{id}', curl: 'curl -X DELETE -H "Authorization: Bearer $TOKEN" https://scan.example/api/v1/messages/x' },
      { status: 'pass', seen: '401 without a credential', route: 'GET /api/v1/keys' }
    ], 'new'),
    resultOf(cors, [
      { status: 'fail', seen: 'Access-Control-Allow-Origin reflects https://evil.example', route: 'GET /api/v1/keys' }
    ], 'accepted', 'the partner portal needs it until the migration'),
    resultOf(tls, [{ status: 'skip', seen: 'the target is http: nothing to test' }]),
    resultOf(errors, [{ status: 'error', seen: 'check budget exceeded: 11 > 10' }])
  ]
  const scored = results.map((r) => ({ family: r.check.family, severity: r.check.severity, status: r.status }))
  return {
    runId: 'run-1a2b3c',
    target: `https://scanner:${PLANTED[3]!}@scan.example:8443/`,
    profile: 'safe',
    startedAt: new Date('2026-03-01T10:00:00.000Z'),
    finishedAt: new Date('2026-03-01T10:01:30.500Z'),
    routesFrom: 'docs',
    results,
    requests: 42,
    maxRequests: 2000,
    incomplete,
    leftBehind: [{ kind: 'token', id: 'eyJh…(masked)', reason: 'revoke answered 503' }],
    score: scoreOf(scored),
    families: scoresByFamily(scored),
    exitCode: 1
  }
}

/** parseBaseline refuses it with a BaselineError. (t.throws matches a class by its name against err.name, and a BaselineError's name is 'Error'.) */
function throwsBaseline (t: Test, fn: () => unknown, what: string): void {
  try {
    fn()
    t.fail(`${what}: accepted`)
  } catch (err) {
    t.ok(err instanceof BaselineError, `${what}: ${(err as Error).message}`)
  }
}

const sarifOf = (result: ScanResult): Sarif => JSON.parse(JSON.stringify(sarifReport(result, VERSION))) as Sarif

t.test('SARIF validates against the SARIF 2.1.0 schema (test/fixtures)', async (t) => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'test/fixtures/sarif-schema-2.1.0.json'), 'utf8')) as object
  const ajv = new AjvDraft04({ strict: false, allErrors: true })
  addFormats(ajv)
  const validate = ajv.compile(schema)
  for (const incomplete of [[], ['--max-requests 2000 reached during MSV-AUTH-002']]) {
    const sarif = sarifOf(synthetic(incomplete))
    t.ok(validate(sarif), `valid (incomplete: ${incomplete.length}): ${ajv.errorsText(validate.errors)}`)
  }
  // The validator does reject what the schema forbids.
  const broken = sarifOf(synthetic()) as unknown as { runs: Array<{ results: Array<{ level: string }> }> }
  broken.runs[0]!.results[0]!.level = 'critical'
  t.notOk(validate(broken), 'an unknown level is refused')
})

t.test('SARIF: what GitHub code scanning needs', async (t) => {
  const result = synthetic()
  const sarif = sarifOf(result)
  t.equal(sarif.$schema, 'https://json.schemastore.org/sarif-2.1.0.json')
  t.equal(sarif.version, '2.1.0')
  t.equal(sarif.runs.length, 1)
  const run = sarif.runs[0]!
  const { driver } = run.tool
  t.match(driver, { name: 'missive-security', version: VERSION, semanticVersion: VERSION })
  t.same(driver.rules.map((r) => r.id), result.results.map((r) => r.check.id), 'one rule per check, in order')
  t.equal(run.automationDetails.id, 'missive-security/scan.example:8443/')
  t.equal(run.invocations[0]!.executionSuccessful, true)
  t.equal(sarifOf(synthetic(['interrupted'])).runs[0]!.invocations[0]!.executionSuccessful, false)
  t.ok(run.invocations[0]!.toolExecutionNotifications?.some((n) => n.level === 'error' && n.message.text.startsWith('MSV-ERR-001')), 'a check in error is a notification, not a result')

  for (const rule of driver.rules) {
    t.ok(rule.properties.tags.includes('security'), `${rule.id} tagged security`)
    t.ok(rule.properties.tags.some((tag) => /^external\/cwe\/cwe-\d+$/.test(tag)), `${rule.id} tagged with its CWE`)
    t.match(rule.properties['security-severity'], /^\d+\.\d$/, `${rule.id} has a security-severity`)
    t.equal(rule.properties.precision, 'high')
    t.match(rule.name, /^[A-Z][A-Za-z0-9]*$/, `${rule.id} name is PascalCase`)
    t.ok(rule.help.markdown.includes(result.results.find((r) => r.check.id === rule.id)!.check.fix), `${rule.id} help names the fix`)
  }
  const auth = driver.rules.find((r) => r.id === 'MSV-AUTH-002')!
  t.equal(auth.properties['security-severity'], '9.5')
  t.equal(auth.defaultConfiguration.level, 'error')
  t.ok(auth.properties.tags.includes('external/cwe/cwe-287') && auth.properties.tags.includes('owasp-api-2023/API2'))
  t.equal(driver.rules.find((r) => r.id === 'MSV-HDR-001')!.properties['security-severity'], '5.5')
  t.equal(driver.rules.find((r) => r.id === 'MSV-ERR-001')!.defaultConfiguration.level, 'note')

  // One result per failed finding: HDR 1, AUTH 2, CORS 1 (baselined); none for pass, skip, error.
  t.same(run.results.map((r) => r.ruleId), ['MSV-HDR-001', 'MSV-AUTH-002', 'MSV-AUTH-002', 'MSV-CORS-001'])
  for (const r of run.results) {
    t.equal(driver.rules[r.ruleIndex]?.id, r.ruleId, `${r.ruleId}: ruleIndex points at its rule`)
    t.equal(r.locations.length, 1)
    const { artifactLocation, region } = r.locations[0]!.physicalLocation
    t.ok(region.startLine >= 1, `${r.ruleId}: startLine ${region.startLine}`)
    t.equal(artifactLocation.uriBaseId, '%SRCROOT%')
    t.notOk(artifactLocation.uri.startsWith('/') || artifactLocation.uri.includes('..'), `${artifactLocation.uri} is repository-relative`)
    t.ok(existsSync(join(ROOT, artifactLocation.uri)), `${artifactLocation.uri} exists in the repository`)
    t.ok(r.message.text.length > 0)
    t.equal(r.partialFingerprints.primaryLocationLineHash, r.partialFingerprints['missiveFinding/v1'])
    t.match(r.partialFingerprints.primaryLocationLineHash, /^[0-9a-f]{64}$/)
  }

  const [hdr, get, del, cors] = run.results
  t.equal(hdr!.locations[0]!.physicalLocation.artifactLocation.uri, 'plugins/security-headers.ts', 'no route: the check source')
  t.equal(hdr!.locations[0]!.physicalLocation.region.startLine, 1)
  // A route: its source file, at the line that registers it.
  const messages = readFileSync(join(ROOT, 'routes/api/v1/messages.ts'), 'utf8').split('\n')
  for (const [r, verb] of [[get!, 'get'], [del!, 'delete']] as const) {
    const loc = r.locations[0]!.physicalLocation
    t.equal(loc.artifactLocation.uri, 'routes/api/v1/messages.ts')
    const line = messages[loc.region.startLine - 1] ?? ''
    t.ok(line.includes(`.${verb}(`) && line.includes("'/messages/:id'"), `${verb}: line ${loc.region.startLine} registers the route: ${line.trim()}`)
  }
  t.match(get!.message.text, /alg none was accepted \(GET \/api\/v1\/messages\/\{id\}\)\nReproduce: curl /)
  t.equal(cors!.locations[0]!.physicalLocation.artifactLocation.uri, 'routes/api/v1/keys.ts')

  t.same(cors!.suppressions, [{ kind: 'external', justification: 'the partner portal needs it until the migration' }], 'a baselined failure is suppressed with its reason')
  t.ok([hdr, get, del].every((r) => r!.suppressions === undefined), 'new failures are not suppressed')
})

t.test('SARIF fingerprints: stable across runs, distinct across routes', async (t) => {
  const first = sarifOf(synthetic()).runs[0]!.results.map((r) => r.partialFingerprints)
  const later = synthetic()
  later.runId = 'run-other'
  later.startedAt = new Date('2026-04-01T00:00:00Z')
  later.finishedAt = new Date('2026-04-01T00:02:00Z')
  // What a run sees changes between runs; the identity of the failure does not.
  later.results[1]!.findings[0] = { ...later.results[1]!.findings[0]!, seen: 'a token with alg None was accepted (second run)' }
  const second = sarifOf(later).runs[0]!.results.map((r) => r.partialFingerprints)
  t.same(second, first, 'same check and route: same fingerprints')
  const hashes = first.map((f) => f.primaryLocationLineHash)
  t.equal(new Set(hashes).size, hashes.length, 'different check or route: different fingerprints')
  t.not(fingerprint('MSV-AUTH-002', 'GET /api/v1/messages/{id}'), fingerprint('MSV-AUTH-002', 'DELETE /api/v1/messages/{id}'))
  t.not(fingerprint('MSV-AUTH-002', undefined), fingerprint('MSV-AUTH-003', undefined))
})

t.test('SARIF helpers: route split, line search, names, repository root', async (t) => {
  t.same(splitRoute('GET /api/v1/messages/{id}'), { method: 'GET', path: '/api/v1/messages/{id}' })
  t.same(splitRoute('/health'), { method: '', path: '/health' })
  const lines = ["app.post('/messages', {", "app.get('/messages', {", "app.get('/messages/:id', {", "app.delete('/messages/:id', {"]
  t.equal(lineOf(lines, 'GET', '/api/v1/messages'), 2)
  t.equal(lineOf(lines, 'POST', '/api/v1/messages'), 1)
  t.equal(lineOf(lines, 'DELETE', '/api/v1/messages/{id}'), 4)
  t.equal(lineOf(lines, 'GET', '/api/v1/nowhere'), null)
  t.equal(pascalCase('CORS: no foreign origin allowed'), 'CORSNoForeignOriginAllowed')
  t.equal(pascalCase('TLS 1.0/1.1 refused'), 'TLS1011Refused')
  t.equal(pascalCase('429 honoured'), 'Check429Honoured')
  t.equal(REPOSITORY_ROOT, ROOT, 'the module finds the repository root')
  t.equal(repositoryRoot('file:///srv/missive/src/scanner/report/sarif.ts'), resolve('/srv/missive'), 'from the sources')
  t.equal(repositoryRoot('file:///srv/missive/dist/src/scanner/report/sarif.js'), resolve('/srv/missive'), 'from the build')
})

t.test('JSON report validates against docs/security-report.schema.json', async (t) => {
  const schema = JSON.parse(readFileSync(join(ROOT, 'docs/security-report.schema.json'), 'utf8')) as object
  const ajv = new Ajv2020({ strict: true, allErrors: true })
  addFormats(ajv)
  const validate = ajv.compile(schema)
  for (const incomplete of [[], ['cleanup failed: 1 left behind']]) {
    const doc = JSON.parse(JSON.stringify(jsonReport(synthetic(incomplete), VERSION))) as Record<string, unknown>
    t.ok(validate(doc), `valid (incomplete: ${incomplete.length}): ${ajv.errorsText(validate.errors)}`)
    t.equal(doc.complete, incomplete.length === 0)
  }

  const doc = JSON.parse(JSON.stringify(jsonReport(synthetic(), VERSION))) as JsonDoc
  t.equal(doc.schema, 'missive-security-report/1')
  t.same(doc.tool, { name: 'missive-security', version: VERSION })
  t.equal(doc.startedAt, '2026-03-01T10:00:00.000Z')
  t.equal(doc.target, 'https://scan.example:8443/', 'credentials are dropped from the target')
  t.same(doc.score, synthetic().score, 'the overall score as computed')
  t.equal(doc.score.grade, 'F', 'a critical failure: grade F')
  t.same(doc.families.TLS, { score: null, grade: null }, 'an untested family has no score')
  t.same(doc.checks.map((c) => [c.id, c.status, c.baseline]), [
    ['MSV-HDR-001', 'fail', 'new'], ['MSV-AUTH-002', 'fail', 'new'], ['MSV-CORS-001', 'fail', 'accepted'], ['MSV-TLS-001', 'skip', null], ['MSV-ERR-001', 'error', null]
  ])
  t.equal(doc.checks[2]!.baselineReason, 'the partner portal needs it until the migration')
  t.same(Object.keys(doc.checks[1]!.findings[0]!).sort(), ['curl', 'evidence', 'route', 'seen', 'status'], 'a finding keeps only the documented fields')

  // The schema refuses what it does not describe.
  const bad = (mutate: (d: Record<string, any>) => void): boolean => {
    const d = JSON.parse(JSON.stringify(jsonReport(synthetic(), VERSION))) as Record<string, any>
    mutate(d)
    return validate(d)
  }
  t.notOk(bad((d) => { d.checks[0].status = 'passed' }), 'unknown status')
  t.notOk(bad((d) => { d.checks[0].severity = 'severe' }), 'unknown severity')
  t.notOk(bad((d) => { d.score = { score: 95, grade: 'E' } }), 'unknown grade')
  t.notOk(bad((d) => { d.score = { score: 95, grade: null } }), 'a score without a grade')
  t.notOk(bad((d) => { d.complete = true; d.incomplete = ['interrupted'] }), 'complete with reasons')
  t.notOk(bad((d) => { d.checks[3].baseline = 'new' }), 'a baseline state on a check that did not fail')
  t.notOk(bad((d) => { d.checks[0].findings[0].secret = 'x' }), 'an undocumented finding field')
  t.notOk(bad((d) => { d.schema = 'missive-security-report/2' }), 'another major version')
  t.notOk(bad((d) => { delete d.exitCode }), 'a required field missing')
})

t.test('reports hold no secret the run held: only what findings carry', async (t) => {
  const result = synthetic(['interrupted'])
  const texts = [JSON.stringify(jsonReport(result, VERSION)), JSON.stringify(sarifReport(result, VERSION))]
  for (const text of texts) {
    for (const secret of PLANTED) t.notOk(text.includes(secret), `${secret.slice(0, 12)}… is not in the report`)
  }
  // The planted values were there to be leaked.
  t.ok(JSON.stringify(result.results[1]!.findings[0]).includes(PLANTED[1]!))
})

t.test('baseline: every entry needs a reason and an expiry date', async (t) => {
  const doc = (entry: Record<string, unknown>): string => JSON.stringify({ version: 1, accepted: [entry] })
  throwsBaseline(t, () => parseBaseline(doc({ check: 'MSV-CORS-001', expires: '2026-06-30' })), 'no reason')
  throwsBaseline(t, () => parseBaseline(doc({ check: 'MSV-CORS-001', reason: '   ', expires: '2026-06-30' })), 'a blank reason')
  throwsBaseline(t, () => parseBaseline(doc({ check: 'MSV-CORS-001', reason: 'partner portal' })), 'no expiry')
  throwsBaseline(t, () => parseBaseline(doc({ check: 'MSV-CORS-001', reason: 'partner portal', expires: '30/06/2026' })), 'an expiry that is not YYYY-MM-DD')
  throwsBaseline(t, () => parseBaseline(doc({ check: 'CORS', reason: 'partner portal', expires: '2026-06-30' })), 'not a check id')
  throwsBaseline(t, () => parseBaseline('{"version":2,"accepted":[]}'), 'another version')
  throwsBaseline(t, () => parseBaseline('not json'), 'not JSON')
  t.same(parseBaseline(doc({ check: 'MSV-CORS-001', reason: 'partner portal', expires: '2026-06-30' })), {
    version: 1, accepted: [{ check: 'MSV-CORS-001', reason: 'partner portal', expires: '2026-06-30' }]
  })
})

t.test('baseline: accepted on and before its expiry day, expired the day after', async (t) => {
  const baseline: Baseline = parseBaseline(JSON.stringify({ version: 1, accepted: [{ check: 'MSV-CORS-001', reason: 'partner portal', expires: '2026-06-30' }] }))
  const at = (iso: string): string => acceptance(baseline, 'MSV-CORS-001', 'GET /api/v1/keys', new Date(iso)).state
  t.equal(at('2026-01-01T00:00:00.000Z'), 'accepted', 'long before')
  t.equal(at('2026-06-30T00:00:00.000Z'), 'accepted', 'the expiry day, first instant')
  t.equal(at('2026-06-30T23:59:59.999Z'), 'accepted', 'the expiry day, last instant')
  t.equal(at('2026-07-01T00:00:00.000Z'), 'expired', 'the day after')
  const expired = acceptance(baseline, 'MSV-CORS-001', undefined, new Date('2026-07-02T12:00:00Z'))
  t.equal(expired.state, 'expired')
  t.equal(expired.state !== 'new' && expired.entry.reason, 'partner portal', 'an expired verdict names its entry')
  t.equal(acceptance(baseline, 'MSV-CORS-002', undefined, new Date('2026-01-01')).state, 'new', 'another check')
  t.equal(acceptance(null, 'MSV-CORS-001', undefined, new Date('2026-01-01')).state, 'new', 'no baseline')
})

t.test('baseline: an entry with a route accepts only that route', async (t) => {
  const baseline = parseBaseline(JSON.stringify({ version: 1, accepted: [{ check: 'MSV-AUTH-002', route: 'GET /api/v1/keys', reason: 'legacy client', expires: '2026-06-30' }] }))
  const now = new Date('2026-03-01T00:00:00Z')
  t.equal(acceptance(baseline, 'MSV-AUTH-002', 'GET /api/v1/keys', now).state, 'accepted')
  t.equal(acceptance(baseline, 'MSV-AUTH-002', 'GET /api/v1/keys/{id}', now).state, 'new', 'another route')
  t.equal(acceptance(baseline, 'MSV-AUTH-002', 'POST /api/v1/keys', now).state, 'new', 'another method')
  t.equal(acceptance(baseline, 'MSV-AUTH-002', undefined, now).state, 'new', 'a finding without a route')
  throwsBaseline(t, () => parseBaseline(JSON.stringify({ version: 1, accepted: [{ check: 'MSV-AUTH-002', route: 7, reason: 'x', expires: '2026-06-30' }] })), 'a route that is not a string')
})
