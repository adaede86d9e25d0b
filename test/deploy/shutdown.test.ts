import type { ChildProcess } from 'node:child_process'
import { cpSync, existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { build, sleep, testRedis } from '../helper.js'
import { spawnNode } from '../helpers/node-process.js'
import { freePort } from '../helpers/redis-server.js'

// The real server process (dist/src/server.js as `npm start` runs it: `npm test` builds dist/
// first), copied into a directory of this test's own so a build someone else starts meanwhile
// never rewrites it under the running server.
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const dist = join(root, 'dist')
const cacheDir = join(root, 'node_modules', '.cache')
mkdirSync(cacheDir, { recursive: true })
const outDir = mkdtempSync(join(cacheDir, 'missive-shutdown-'))
const serverJs = join(outDir, 'src', 'server.js')
t.teardown(() => rmSync(outDir, { recursive: true, force: true }))

t.before(() => {
  if (!existsSync(join(dist, 'src', 'server.js'))) throw new Error('dist/ is missing: run `npm run build` (npm test does it first)')
  cpSync(dist, outDir, { recursive: true })
  if (!existsSync(serverJs)) throw new Error(`the copy did not produce ${serverJs}`)
})

interface Server { child: ChildProcess, logs: Array<Record<string, unknown>>, stderr: string[], exited: Promise<number | null> }

async function startServer (env: Record<string, string>): Promise<Server> {
  const child = spawnNode([serverJs], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  const logs: Array<Record<string, unknown>> = []
  let buffered = ''
  child.stdout?.on('data', (chunk: Buffer) => {
    buffered += chunk.toString()
    const lines = buffered.split('\n')
    buffered = lines.pop() ?? ''
    for (const line of lines) {
      try { logs.push(JSON.parse(line) as Record<string, unknown>) } catch {}
    }
  })
  const stderr: string[] = []
  child.stderr?.on('data', (chunk: Buffer) => { stderr.push(chunk.toString()) })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  return { child, logs, stderr, exited }
}

// Logs go to stdout through a buffer (flushed at exit), so readiness is asked over HTTP.
// 45 s, as test/helpers/server-process.ts: on a loaded 2-core CI machine a start took over 10 s.
async function waitForHealth (server: Server, port: number, timeoutMs = 45_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null) break
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`)).status === 200) return
    } catch {}
    await sleep(50)
  }
  throw new Error(`the server did not start: ${server.stderr.join('')}`)
}

async function connectionRefused (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(false) })
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'))
  })
}

async function connected (port: number): Promise<Socket> {
  const socket = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject) })
  return socket
}

/** The built server on a free port and this file's Redis, answering /health; killed if the test fails. */
async function startedServer (test: { teardown: (fn: () => void) => void }): Promise<{ server: Server, port: number }> {
  const redis = await testRedis()
  const port = await freePort()
  const server = await startServer({ PORT: String(port), REDIS_URL: redis.url })
  test.teardown(() => { if (server.child.exitCode === null) server.child.kill('SIGKILL') })
  await waitForHealth(server, port)
  return { server, port }
}

t.test('SIGTERM: new connections are refused, the in-flight request completes, the process exits 0', async (t) => {
  const { server, port } = await startedServer(t)

  // A keep-alive request whose body arrives in two parts, with SIGTERM in between.
  const content = 'written before and after SIGTERM'
  const body = JSON.stringify({ content })
  const socket = await connected(port)
  let response = ''
  socket.on('data', (chunk: Buffer) => { response += chunk.toString() })
  const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write(`POST / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`)
  socket.write(body.slice(0, 10))
  await sleep(200)

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')

  let refused = false
  for (let i = 0; i < 100 && !refused; i++) {
    refused = await connectionRefused(port)
    if (!refused) await sleep(20)
  }
  t.ok(refused, 'a new connection is refused while the request is still in flight')
  t.equal(response, '', 'the in-flight request has not been answered yet')

  socket.write(body.slice(10))
  await socketClosed
  const [head = '', payload = ''] = response.split('\r\n\r\n')
  t.match(head, /^HTTP\/1\.1 201 Created\r\n/, 'the in-flight request completes with 201')
  t.match(head, /\r\nconnection: close\r\n/i, 'the client is told to hang up, so the keep-alive connection does not hold the exit')
  const created = JSON.parse(payload) as { id: string }
  t.match(created.id, /^[A-Za-z0-9_-]{22}$/)

  const code = await Promise.race([server.exited, sleep(5000).then(() => 'still running')])
  t.equal(code, 0, 'the process exits 0')
  t.ok(Date.now() - signalledAt < 5000, 'within 5 s of SIGTERM')
  t.ok(server.logs.some((line) => line.msg === 'shutting down' && line.signal === 'SIGTERM'), 'the shutdown is logged')
  t.notOk(server.logs.some((line) => typeof line.msg === 'string' && line.msg.startsWith('killed by timeout')), 'close-with-grace did not have to kill it')
  t.ok(await connectionRefused(port), 'nothing listens after the exit')

  // The message written during the shutdown really reached the store.
  const app = await build(t, { store: 'redis', flush: false })
  const read = await app.inject(`/msg/${created.id}`)
  t.equal(read.statusCode, 200)
  t.equal(read.json().content, content)
})

t.test('SIGTERM with nothing in flight exits 0 at once', async (t) => {
  const { server, port } = await startedServer(t)

  // An idle keep-alive connection must not hold the shutdown open either.
  const idle = await connected(port)
  idle.write(`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`)
  await new Promise((resolve) => idle.once('data', resolve))

  const signalledAt = Date.now()
  server.child.kill('SIGTERM')
  const code = await Promise.race([server.exited, sleep(5000).then(() => 'still running')])
  t.equal(code, 0)
  t.ok(Date.now() - signalledAt < 2000, 'an idle keep-alive connection is closed, not waited for')
  idle.destroy()
})
