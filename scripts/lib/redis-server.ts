import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * A throwaway redis-server on a free loopback port: no persistence unless asked for,
 * its own temporary directory, stopped by its owner (a test file or the benchmark). Never a mock.
 */
export class RedisServer {
  private process: ChildProcess | null = null
  readonly dir: string

  private constructor (readonly port: number, private readonly extraArgs: string[]) {
    this.dir = mkdtempSync(join(tmpdir(), 'missive-redis-'))
  }

  get url (): string { return `redis://127.0.0.1:${this.port}` }

  static async start (extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), extraArgs)
    await server.start()
    return server
  }

  async start (): Promise<void> {
    const child = spawn('redis-server', [
      '--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir,
      '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning',
      ...this.extraArgs
    ], { stdio: ['ignore', 'ignore', 'inherit'] })
    this.process = child
    child.once('error', (err) => {
      process.stderr.write(`cannot start redis-server (${err.message}): npm test installs it, or run: apt-get install redis-server\n`)
    })
    await waitForPing(this.port, 5000)
  }

  /** Kills the server (as an outage would) and waits until it has exited. */
  async stop (): Promise<void> {
    const child = this.process
    this.process = null
    if (child === null || child.exitCode !== null) return
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve())
      child.kill('SIGKILL')
    })
  }

  async restart (): Promise<void> {
    await this.stop()
    await this.start()
  }

  async destroy (): Promise<void> {
    await this.stop()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

async function waitForPing (port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await ping(port)) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`)
}

async function ping (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.setTimeout(500)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => { socket.destroy(); resolve(data.toString().startsWith('+PONG')) })
    socket.once('error', () => { socket.destroy(); resolve(false) })
    socket.once('timeout', () => { socket.destroy(); resolve(false) })
  })
}
