// Runs the built `missive` (dist/: `npm test` builds first) as a child process against a
// real server listening on a loopback port, the way a person runs it.
import { existsSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { type App } from '../../src/app.js'
import { type ConfigOverrides } from '../../src/config.js'
import { build } from '../helper.js'
import { spawnNode } from '../helpers/node-process.js'

export const missiveEntry = fileURLToPath(new URL('../../dist/src/cli/missive.js', import.meta.url))

export interface Served { app: App, base: string, logs: string[] }

/** The real app (memory store) on 127.0.0.1, a free port; its log lines collected. */
export async function serve (t: Test, config: ConfigOverrides = {}): Promise<Served> {
  const logs: string[] = []
  const app = await build(t, { config, logs })
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { app, base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, logs }
}

/**
 * A tiny HTTP server on 127.0.0.1 answering with `handler` (a redirect, a 429, an answer too
 * large, no answer at all): what the real app never does. Closed when the test ends.
 */
export async function fakeServer (t: Test, handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createHttpServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  server.unref() // (never what keeps the test process alive)
  t.teardown(async () => {
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => { resolve() }))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A loopback port nothing listens on. */
export async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>((resolve) => server.close(() => { resolve() }))
  return port
}

export interface Run {
  code: number | null
  stdout: Buffer
  out: string
  err: string
  /** stderr's lines */
  lines: string[]
  /** the last line of stderr: where an error is */
  last: string
}

export interface RunOptions {
  input?: string | Buffer
  env?: Record<string, string>
  cwd?: string
}

/**
 * `missive args…`, with only PATH, NODE_ENV=test and `env` in its environment. Detached (a
 * session of its own): no controlling terminal, so a prompt never waits on the terminal of
 * whoever runs the tests; MISSIVE_TEST_PASSPHRASES answers it instead.
 */
export async function missive (args: string[], options: RunOptions = {}): Promise<Run> {
  if (!existsSync(missiveEntry)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)')
  const child = spawnNode([missiveEntry, ...args], {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true
  })
  const stdout: Buffer[] = []
  const stderr: Buffer[] = []
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk))
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk))
  child.stdin.on('error', () => {}) // (a child that exits before reading its stdin)
  child.stdin.end(options.input ?? '')
  const timer = setTimeout(() => { child.kill('SIGKILL') }, 60_000)
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  clearTimeout(timer)
  const err = Buffer.concat(stderr).toString('utf8')
  const lines = err.split('\n').filter((line) => line !== '')
  const out = Buffer.concat(stdout)
  return { code, stdout: out, out: out.toString('utf8'), err, lines, last: lines.at(-1) ?? '' }
}

/** The parts of a link: its id and the key in its fragment. */
export function partsOf (link: string): { id: string, secret: string } {
  const match = /\/msg\/([A-Za-z0-9_-]{22})#([A-Za-z0-9_-]{43})$/.exec(link.trim())
  if (match === null) throw new Error(`not a link: ${link}`)
  return { id: match[1] ?? '', secret: match[2] ?? '' }
}

/** The delete token `missive send` printed on stderr. */
export function deleteTokenOf (run: Run): string {
  const line = run.lines.find((l) => l.startsWith('delete token: '))
  if (line === undefined) throw new Error(`no delete token in: ${run.err}`)
  return line.slice('delete token: '.length)
}
