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

  /**
   * Starts one on a free port. A free port can be taken by another process (another test file's
   * server) before redis-server binds it: then this one exits, and it is tried again on other
   * ports (`extraArgs` as a function gives fresh ports of its own, as a cluster bus port).
   */
  static async start (extraArgs: string[] | (() => Promise<string[]>) = []): Promise<RedisServer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await RedisServer.startOn(await freePort(), typeof extraArgs === 'function' ? await extraArgs() : extraArgs)
      } catch (err) {
        if (!(err instanceof PortTakenError) || attempt === START_ATTEMPTS) throw err
      }
    }
  }

  /** Starts one on `port`; rejects (PortTakenError) if another process serves it. */
  static async startOn (port: number, extraArgs: string[] = []): Promise<RedisServer> {
    const server = new RedisServer(port, extraArgs)
    try {
      await server.start()
      return server
    } catch (err) {
      await server.destroy()
      throw err
    }
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
    await waitUntilServing(child, this.port, 5000)
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

const START_ATTEMPTS = 5

export class PortTakenError extends Error {}

/**
 * Waits until `child` answers on `port`. Checked by its process id: a PONG could come from
 * another process's server that holds the port, while this one exits.
 */
async function waitUntilServing (child: ChildProcess, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new PortTakenError(`redis-server for port ${port} exited (${child.exitCode ?? child.signalCode}): port taken?`)
    const pid = await serverPid(port)
    if (pid === child.pid) return
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  if (await serverPid(port) !== null) throw new PortTakenError(`port ${port} is served by another process`)
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms`)
}

/** The process id of the redis-server answering on `port` (INFO server), or null. */
async function serverPid (port: number): Promise<number | null> {
  return await new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let reply = ''
    const done = (pid: number | null): void => { socket.destroy(); resolve(pid) }
    socket.setTimeout(500)
    socket.once('connect', () => socket.write('INFO server\r\n'))
    socket.on('data', (data: Buffer) => {
      reply += data.toString()
      const match = /\r\nprocess_id:(\d+)\r\n/.exec(reply)
      if (match !== null) done(Number(match[1]))
      else if (reply.startsWith('-') || reply.length > 64 * 1024) done(null)
    })
    socket.once('error', () => done(null))
    socket.once('timeout', () => done(null))
    socket.once('end', () => done(null))
  })
}
