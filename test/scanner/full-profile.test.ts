// --profile full: the 60 s expiry (and the expired case of the oracle check), then the
// auth-failure lockout, run last, after cleanup, with the operator's own key.
import { join } from 'node:path'
import t from 'tap'
import { leftovers, scan, startTarget, statusOf } from './scan-helper.js'

t.test('the full profile checks expiry and the lockout, and still leaves nothing behind', async (t) => {
  const target = await startTarget(t)
  const json = join(t.testdir(), 'report.json')
  const run = await scan(['--url', target.url, '--api-key', target.adminKey, '--rate', '1000', '--profile', 'full', '--only', 'BURN,ORACLE,AUTH-009,CLEAN'], { json })
  t.equal(run.code, 0, run.out)
  t.equal(statusOf(run.report, 'MSV-BURN-004'), 'pass', 'expired messages are gone')
  const oracle = run.report?.checks.find((c) => c.id === 'MSV-ORACLE-001')
  t.match(oracle?.findings.map((f) => f.seen).join(' '), /expired/, 'the expired case is compared too')
  t.equal(statusOf(run.report, 'MSV-AUTH-009'), 'pass', run.report?.checks.find((c) => c.id === 'MSV-AUTH-009')?.findings[0]?.seen ?? '')
  t.same(run.report?.leftBehind, [])
  t.same(await leftovers(target), { liveScanKeys: [], messages: 0 }, 'cleanup ran before the lockout')
  const locked = await target.app.inject({ method: 'GET', url: '/api/v1/messages', headers: { 'x-api-key': target.adminKey } })
  t.equal(locked.statusCode, 429, 'the address is locked out afterwards, as the profile warns')
})
