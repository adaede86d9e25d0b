import { readFileSync } from 'node:fs'
import type { Test } from 'tap'

/** The README this repository ships. */
export const README = new URL('../../README.md', import.meta.url)

/**
 * Asserts that an example file is in the README whole, as one TypeScript code block, so the
 * code a user copies is the code the tests run. `marker` names what the test imports from it.
 */
export function assertQuotedInReadme (t: Test, example: URL, marker: string): void {
  const code = readFileSync(example, 'utf8')
  const readme = readFileSync(README, 'utf8')
  t.ok(code.includes(marker), 'the example is the one the test runs')
  t.ok(readme.includes(code), 'the whole file, as it is, is in the README')
  t.ok(readme.includes('```ts\n' + code + '```'), 'as one TypeScript code block')
}
