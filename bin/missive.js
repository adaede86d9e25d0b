#!/usr/bin/env node
// The `missive` command (`npx missive …` from a checkout): the client is TypeScript
// (src/cli/missive.ts), so this runs its build in dist/, building it once when it is missing
// with the project's own build (`npm run build`: tsc, and the web files it copies). It does
// not rebuild a dist/ that is there: after pulling new code, run `npm run build`.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const entry = join(root, 'dist', 'src', 'cli', 'missive.js')

if (!existsSync(entry)) {
  process.stderr.write('missive: dist/ is missing: building it once (npm run build)\n')
  // the build reports on stdout: sent to stderr, so that stdout stays the command's own output
  // (npm is npm.cmd on Windows, which only a shell runs)
  const windows = process.platform === 'win32'
  const build = spawnSync(windows ? 'npm.cmd' : 'npm', ['run', '--silent', 'build'], { cwd: root, stdio: ['ignore', 2, 2], shell: windows })
  if (build.status !== 0 || !existsSync(entry)) {
    process.stderr.write('missive: the build failed: run `npm ci`, then `npm run build` to see why\n')
    process.exit(1)
  }
}

const { run } = await import(pathToFileURL(entry).href)
await run()
