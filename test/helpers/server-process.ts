import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { spawnNode } from './node-process.js'

export const serverEntry = fileURLToPath(new URL('../../dist/src/server.js', import.meta.url))

export interface ServerProcess {
  child: ChildProcess
  url: string
  stdout: () => string
  stderr: () => string
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

/**
 * Runs the built server (`npm test` builds it first) as a separate process, with only the
 * environment given (plus PATH), and waits until /health answers.
 */
export async function startServer (env: Record<string, string>, port: number): Promise<ServerProcess> {
  if (!existsSync(serverEntry)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)')
  const child = spawnNode([serverEntry], {
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let out = ''
  let err = ''
  child.stdout?.on('data', (chunk: Buffer) => { out += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = `http://127.0.0.1:${port}`
  // Generous: on a loaded 2-core CI machine a cold start has taken over 15 s. A server that
  // never answers fails here, saying why, rather than in the test's first request.
  const deadline = Date.now() + 45_000
  let healthy = false
  while (!healthy && Date.now() < deadline && child.exitCode === null) {
    try {
      healthy = (await fetch(`${url}/health`)).ok
    } catch {}
    if (!healthy) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  if (!healthy) {
    if (child.exitCode === null) child.kill('SIGKILL')
    throw new Error(`the server on port ${port} did not answer /health (exit code ${String(child.exitCode)}): ${err.slice(-500)}`)
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal)
      return await exited
    }
  }
}

/**
 * Runs the built server to completion (for start-up failures). A server that starts after
 * all is killed after `timeoutMs` (code null), so a test that expected a refusal fails
 * instead of hanging with a server left running.
 */
export async function runServerToExit (env: Record<string, string>, timeoutMs = 15_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawnNode([serverEntry], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const timer = setTimeout(() => { child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
  clearTimeout(timer)
  return { code, stdout, stderr }
}
