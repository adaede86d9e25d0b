// The key tool (API.md section 2): makes the first admin key, lists and revokes keys, on the
// same store as the server. stdout carries exactly one JSON object; everything else goes
// to stderr.
//
//   npm run --silent keys -- create --name NAME --scopes a,b[,c] [--expires-in-days N] [--rate-limit N]
//                                   [--allowed-ips CIDR[,CIDR]] [--require-signature]
//   npm run --silent keys -- update ID [--name N] [--scopes a,b] [--rate-limit N|default] [--allowed-ips CIDRs|any]
//                                   [--require-signature | --no-require-signature]
//   npm run --silent keys -- list
//   npm run --silent keys -- revoke ID
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ApiKeys, isScope, KEY_ID_PATTERN, type Scope } from '../src/api-keys.js'
import { type Io, UsageError } from '../src/cli/io.js'
import { loadConfig } from '../src/config.js'
import { createRedisClient, waitUntilReady } from '../src/storage/redis/client.js'
import { RedisKeyStore } from '../src/storage/redis/redis-key-store.js'

const USAGE = `usage:
  keys create --name NAME --scopes a,b[,c] [--expires-in-days 1..3650] [--rate-limit N]
              [--allowed-ips CIDR[,CIDR…]] [--require-signature]
  keys update ID [--name NAME] [--scopes a,b] [--rate-limit N|default] [--allowed-ips CIDR[,CIDR…]|any]
                 [--require-signature | --no-require-signature]
  keys list
  keys revoke ID
scopes: messages:read, messages:write, messages:delete, keys:admin, metrics:read
The store is the server's: REDIS_URL (or REDIS_CLUSTER_NODES) must be set.`

function integer (name: string, raw: string | undefined, min: number, max: number): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`)
  return value
}

function parseScopes (raw: string | undefined): Scope[] {
  if (raw === undefined || raw === '') throw new UsageError('--scopes is required')
  const scopes = [...new Set(raw.split(',').map((scope) => scope.trim()).filter(Boolean))]
  const unknown = scopes.filter((scope) => !isScope(scope))
  if (unknown.length > 0) throw new UsageError(`unknown scope: ${unknown.join(', ')}`)
  return scopes as Scope[]
}

/** --allowed-ips a,b: the CIDRs (checked by ApiKeys); 'any' (update only) clears the list */
function parseAllowedIps (raw: string | undefined, allowAny: boolean): string[] | undefined {
  if (raw === undefined) return undefined
  if (allowAny && raw.trim() === 'any') return []
  const entries = raw.split(',').map((entry) => entry.trim()).filter(Boolean)
  if (entries.length === 0) throw new UsageError(allowAny ? '--allowed-ips needs CIDRs, or "any"' : '--allowed-ips needs at least one CIDR')
  return entries
}

function keyId (raw: string | undefined, command: string): string {
  if (raw === undefined || !new RegExp(KEY_ID_PATTERN).test(raw)) throw new UsageError(`${command} needs a key id (12 characters of a-z0-9)`)
  return raw
}

async function run (keys: ApiKeys, argv: string[], io: Io): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      name: { type: 'string' },
      scopes: { type: 'string' },
      'expires-in-days': { type: 'string' },
      'rate-limit': { type: 'string' },
      'allowed-ips': { type: 'string' },
      'require-signature': { type: 'boolean' },
      'no-require-signature': { type: 'boolean' }
    }
  })
  if (values['require-signature'] === true && values['no-require-signature'] === true) {
    throw new UsageError('--require-signature and --no-require-signature contradict each other')
  }
  const [command, ...rest] = positionals
  switch (command) {
    case 'create': {
      const name = values.name ?? ''
      if (name.length < 1 || name.length > 64) throw new UsageError('--name is required (1 to 64 characters)')
      const created = await keys.create({
        name,
        scopes: parseScopes(values.scopes),
        expiresInDays: integer('expires-in-days', values['expires-in-days'], 1, 3650),
        rateLimit: integer('rate-limit', values['rate-limit'], 1, 10_000_000),
        allowedIps: parseAllowedIps(values['allowed-ips'], false),
        requireSignature: values['require-signature'] === true
      })
      io.err(`key.created ${created.id} (${created.scopes.join(' ')}): the key is shown only now`)
      io.out(JSON.stringify(created))
      return
    }
    case 'update': {
      const id = keyId(rest[0], 'update')
      if (values['expires-in-days'] !== undefined) throw new UsageError('update cannot change --expires-in-days: a key keeps its expiry (rotate or make a new key)')
      if (values.name !== undefined && (values.name.length < 1 || values.name.length > 64)) throw new UsageError('--name must be 1 to 64 characters')
      const changes = {
        name: values.name,
        scopes: values.scopes === undefined ? undefined : parseScopes(values.scopes),
        rateLimit: values['rate-limit'] === 'default' ? null : integer('rate-limit', values['rate-limit'], 1, 10_000_000),
        allowedIps: parseAllowedIps(values['allowed-ips'], true),
        requireSignature: values['require-signature'] === true ? true : values['no-require-signature'] === true ? false : undefined
      }
      if (Object.values(changes).every((value) => value === undefined)) throw new UsageError('update needs at least one field to change')
      const updated = await keys.update(id, changes)
      io.err(`key.updated ${id}`)
      io.out(JSON.stringify(updated))
      return
    }
    case 'list':
      io.out(JSON.stringify({ items: await keys.list() }))
      return
    case 'revoke': {
      const id = keyId(rest[0], 'revoke')
      const revoked = await keys.revoke(id)
      io.err(`key.revoked ${id}`)
      io.out(JSON.stringify(revoked))
      return
    }
    default:
      throw new UsageError(command === undefined ? 'a command is required' : `unknown command: ${command}`)
  }
}

/** Runs the tool; resolves to the process exit code. */
export async function main (argv: string[], env: NodeJS.ProcessEnv, io: Io): Promise<number> {
  let config
  try {
    config = loadConfig(env, { LOG_LEVEL: 'silent' })
  } catch (err) {
    io.err((err as Error).message)
    return 2
  }
  if (config.REDIS_URL === undefined && config.redisClusterNodes.length === 0) {
    // A key made in this process's memory would vanish with it, and no server could see it.
    io.err('REDIS_URL is not set: the in-memory store lives inside one server process and cannot be shared with the key tool.\n' +
      'Set REDIS_URL (or REDIS_CLUSTER_NODES) to the server\'s store and run the tool again.')
    return 2
  }
  const client = createRedisClient(config, 'keys-tool')
  client.on('error', () => {})
  try {
    if (!await waitUntilReady(client, 5000)) {
      io.err('the store (REDIS_URL) does not answer')
      return 1
    }
    await run(new ApiKeys(new RedisKeyStore(client), { epochPollMs: 0 }), argv, io)
    return 0
  } catch (err) {
    const known = err instanceof UsageError || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      (err as { code?: string }).code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (err as { code?: string }).code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL'
    const statusCode = (err as { statusCode?: number }).statusCode
    // A value the key service refuses (a bad CIDR) is a usage error too; 409: the key is revoked.
    if (statusCode === 400) {
      io.err(`${(err as Error).message}\n${USAGE}`)
      return 2
    }
    io.err(known ? `${(err as Error).message}\n${USAGE}` : statusCode === 404 ? 'no key with that id' : statusCode === 409 ? 'the key is revoked or expired' : `failed: ${(err as Error).message}`)
    return known ? 2 : 1
  } finally {
    await client.quit().catch(() => client.disconnect())
  }
}

const invoked = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
if (invoked) {
  const code = await main(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`)
  })
  process.exitCode = code
}
