import type { Cluster, Redis } from 'ioredis'

export interface ScriptDefinition {
  /** absent: the caller passes the number of keys first (a script whose key count varies) */
  numberOfKeys?: number
  lua: string
}

/**
 * The client with these Lua scripts as commands (ioredis `defineCommand`: EVALSHA, with a
 * fallback to EVAL when Redis has not seen the script). Each is defined once per client, however
 * many stores share it; `Commands` types them for the caller.
 */
export function withScripts<Commands> (client: Redis | Cluster, scripts: Record<string, ScriptDefinition>): (Redis | Cluster) & Commands {
  for (const [name, script] of Object.entries(scripts)) {
    if (!(name in client)) client.defineCommand(name, script)
  }
  return client as (Redis | Cluster) & Commands
}
