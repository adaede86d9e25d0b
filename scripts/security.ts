#!/usr/bin/env node
// Entry point of `npm run security` and the `missive-security` bin: the CLI lives in src/cli/security.ts.
// Ctrl-C (SIGINT) or SIGTERM stops the checks; the cleanup ledger still runs before the exit.
import { main } from '../src/cli/security.js'

const controller = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`missive-security: ${signal}: stopping, cleaning up what the run made\n`)
    controller.abort()
  })
}
const io = { out: (text: string) => process.stdout.write(`${text}\n`), err: (text: string) => process.stderr.write(`${text}\n`) }
main(process.argv.slice(2), process.env, io, controller.signal).then(
  (code) => { process.exitCode = code },
  (err: unknown) => { process.stderr.write(`missive-security: ${(err as Error).message}\n`); process.exitCode = 3 }
)
