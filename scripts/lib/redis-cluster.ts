import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import { freePort, RedisServer } from './redis-server.js'

const run = promisify(execFile)

/**
 * A throwaway local Redis Cluster: three masters, no replicas, each a RedisServer (its
 * own temporary directory, no persistence, loopback only) started with cluster mode on,
 * then joined with `redis-cli --cluster create`. For the cluster tests; never a mock.
 */
export class RedisCluster {
  private constructor (readonly servers: RedisServer[]) {}

  /** `host:port,host:port,…`, the form REDIS_CLUSTER_NODES takes */
  get nodes (): string { return this.servers.map((server) => `127.0.0.1:${server.port}`).join(',') }

  static async start (masters = 3): Promise<RedisCluster> {
    const servers: RedisServer[] = []
    try {
      for (let i = 0; i < masters; i++) {
        // The cluster bus port gets its own free port: port + 10000 (the default) can be
        // taken, or past 65535 for a port from the ephemeral range.
        servers.push(await RedisServer.start(async () => [
          '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
          '--cluster-port', String(await freePort()), '--cluster-node-timeout', '5000'
        ]))
      }
      const cluster = new RedisCluster(servers)
      await run('redis-cli', ['--cluster', 'create', ...servers.map((s) => `127.0.0.1:${s.port}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 20_000 })
      await cluster.waitUntilOk(20_000)
      return cluster
    } catch (err) {
      await Promise.all(servers.map(async (server) => { await server.destroy() }))
      throw err
    }
  }

  /** Waits until every node reports `cluster_state:ok` (slots assigned and agreed on). */
  async waitUntilOk (timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      const states = await this.eachNode(async (client) => String(await client.call('CLUSTER', 'INFO')))
      if (states.every((info) => info.includes('cluster_state:ok'))) return
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    throw new Error(`the Redis Cluster on ${this.nodes} did not reach cluster_state:ok within ${timeoutMs} ms`)
  }

  /** Empties every master (each holds its own slots' keys). */
  async flushAll (): Promise<void> {
    await this.eachNode(async (client) => await client.flushall())
  }

  /** Runs `fn` on a plain connection to each node in turn. */
  async eachNode<T> (fn: (client: Redis) => Promise<T>): Promise<T[]> {
    const results: T[] = []
    for (const server of this.servers) {
      const client = new Redis(server.port, '127.0.0.1', { lazyConnect: true, maxRetriesPerRequest: 1 })
      try {
        await client.connect()
        results.push(await fn(client))
      } finally {
        client.disconnect()
      }
    }
    return results
  }

  async stop (): Promise<void> {
    await Promise.all(this.servers.map(async (server) => { await server.stop() }))
  }

  async destroy (): Promise<void> {
    await Promise.all(this.servers.map(async (server) => { await server.destroy() }))
  }
}
