// MSV-CLEAN-001: the run undid everything it made (messages, keys, tokens).
import { type Check, fail, pass } from '../check.js'

export const cleanChecks: Check[] = [{
  id: 'MSV-CLEAN-001',
  family: 'CLEAN',
  title: 'The scan left nothing behind',
  owasp: 'API8:2023',
  cwe: 459,
  severity: 'high',
  profile: 'safe',
  order: 100,
  budget: 0,
  fix: 'delete or revoke what the report lists by hand (its ids are in the report), then find why cleanup failed (rate limit, network)',
  source: 'src/scanner/ledger.ts',
  plan: ['no request of its own: the ledger undoes every message, key and token the run made'],
  run: async () => [],
  finalize: (ctx) => {
    const left = ctx.ledger.leftBehind
    if (left.length === 0) return [pass('left behind: 0')]
    return left.map(({ entry, reason }) => fail(`left behind: ${entry.kind} ${entry.kind === 'token' ? ctx.redact(entry.token) : entry.id} (${reason})`))
  }
}]
