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
//   npm run --silent keys -- policy get | policy set --file F|- [--if-match VERSION] | policy reset [--if-match VERSION]
//   npm run --silent keys -- blocks | block CIDR --duration-seconds N --reason TEXT | unblock ID
import { readFileSync, realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { blockView, Blocks } from '../src/abuse/blocks.js'
import { SecurityEvents } from '../src/abuse/events.js'
import { RuntimePolicy } from '../src/abuse/policy.js'
import { ApiKeys, isScope, KEY_ID_PATTERN, type Scope } from '../src/api-keys.js'
import { type Io, UsageError } from '../src/cli/io.js'
import { loadConfig } from '../src/config.js'
import { createRedisClient, waitUntilReady } from '../src/storage/redis/client.js'
import { RedisAbuseStore } from '../src/storage/redis/redis-abuse-store.js'
import { RedisEventLog } from '../src/storage/redis/redis-event-log.js'
import { RedisKeyStore } from '../src/storage/redis/redis-key-store.js'
import { RedisPolicyStore } from '../src/storage/redis/redis-policy-store.js'

const USAGE = `usage:
  keys create --name NAME --scopes a,b[,c] [--expires-in-days 1..3650] [--rate-limit N]
              [--allowed-ips CIDR[,CIDR…]] [--require-signature]
  keys update ID [--name NAME] [--scopes a,b] [--rate-limit N|default] [--allowed-ips CIDR[,CIDR…]|any]
                 [--require-signature | --no-require-signature]
  keys list
  keys revoke ID
  keys policy get
  keys policy set --file FILE|- [--if-match VERSION]   (JSON: corsOrigins, rateLimits, maxTtlSeconds, anonymousCreate)
  keys policy reset [--if-match VERSION]
  keys blocks
  keys block CIDR --duration-seconds 60..2592000 --reason TEXT
  keys unblock ID
scopes: messages:read, messages:write, messages:delete, keys:admin, metrics:read, security:admin
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

/** who the security events of the tool's changes name as their author */
const BY_KEY_TOOL = { by: 'key-tool' } as const

/** The runtime policy commands' tools (API.md section 8: what PUT/DELETE /api/v1/security/policy do). */
interface PolicyTools { policy: RuntimePolicy, blocks: Blocks }

/** who the policy's updatedBy names for a change made here */
const KEY_TOOL = 'key-tool'

async function readPolicyFile (file: string | undefined, io: Io): Promise<unknown> {
  if (file === undefined || file === '') throw new UsageError('policy set needs --file FILE (or - for stdin): the whole policy as JSON')
  let text: string
  try {
    if (file === '-') {
      if (io.in === undefined) throw new UsageError('this caller has no stdin')
      text = await io.in()
    } else {
      text = readFileSync(file, 'utf8')
    }
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new UsageError(`${file === '-' ? 'stdin' : file} is not JSON`)
  }
}

async function policyCommand (tools: PolicyTools, [action, ...extra]: string[], values: { file?: string, 'if-match'?: string }, io: Io): Promise<void> {
  if (extra.length > 0) throw new UsageError(`unexpected argument: ${extra.join(' ')}`)
  if (action !== 'set' && values.file !== undefined) throw new UsageError('--file goes with policy set')
  if (action === 'get' && values['if-match'] !== undefined) throw new UsageError('--if-match goes with policy set or policy reset')
  const { policy } = tools
  const shown = (current: Awaited<ReturnType<RuntimePolicy['refresh']>>): void => {
    if (current.updatedAt === null || current.updatedBy === null || current.version === 'env') {
      io.err('note: no policy is stored: each server applies its own environment (shown here with this shell\'s)')
    }
    io.out(JSON.stringify(current))
  }
  switch (action) {
    case 'get':
      shown(await policy.refresh())
      return
    case 'set': {
      const input = await readPolicyFile(values.file, io)
      const changed = await policy.replace(input, values['if-match'], KEY_TOOL)
      io.err(`policy.changed ${changed.version}: every server applies it within seconds`)
      io.out(JSON.stringify(changed))
      return
    }
    case 'reset': {
      const reset = await policy.reset(values['if-match'], KEY_TOOL)
      io.err(`policy.reset ${reset.version}: every server goes back to its environment within seconds`)
      io.out(JSON.stringify(reset))
      return
    }
    default:
      throw new UsageError(action === undefined ? 'policy needs get, set or reset' : `unknown policy command: ${action}`)
  }
}

async function run (keys: ApiKeys, argv: string[], io: Io, tools?: PolicyTools): Promise<void> {
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
      'no-require-signature': { type: 'boolean' },
      file: { type: 'string' },
      'if-match': { type: 'string' },
      'duration-seconds': { type: 'string' },
      reason: { type: 'string' }
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
      }, BY_KEY_TOOL)
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
      const updated = await keys.update(id, changes, BY_KEY_TOOL)
      io.err(`key.updated ${id}`)
      io.out(JSON.stringify(updated))
      return
    }
    case 'list':
      io.out(JSON.stringify({ items: await keys.list() }))
      return
    case 'revoke': {
      const id = keyId(rest[0], 'revoke')
      const revoked = await keys.revoke(id, BY_KEY_TOOL)
      io.err(`key.revoked ${id}`)
      io.out(JSON.stringify(revoked))
      return
    }
    case 'policy':
      if (tools === undefined) throw new Error('the policy tools are missing')
      await policyCommand(tools, rest, values, io)
      return
    // Blocks (API.md section 8), as GET/POST/DELETE /api/v1/security/blocks do them; from a
    // shell there is no caller address to protect, the other guards hold.
    case 'blocks':
      if (tools === undefined) throw new Error('the block tools are missing')
      io.out(JSON.stringify({ items: (await tools.blocks.list()).map(blockView) }))
      return
    case 'block': {
      if (tools === undefined) throw new Error('the block tools are missing')
      const cidr = rest[0]
      if (cidr === undefined || rest.length > 1) throw new UsageError('block needs one CIDR (or address)')
      const durationSeconds = integer('duration-seconds', values['duration-seconds'], 60, 2_592_000)
      if (durationSeconds === undefined) throw new UsageError('block needs --duration-seconds (60 to 2592000)')
      const reason = values.reason ?? ''
      if (reason.length < 1 || reason.length > 200) throw new UsageError('block needs --reason (1 to 200 characters)')
      const block = await tools.blocks.block({ cidr, durationSeconds, reason, by: KEY_TOOL, callerIp: null })
      io.err(`block.added ${block.id} ${block.cidr} until ${new Date(block.until).toISOString()}: every server applies it within seconds`)
      io.out(JSON.stringify(blockView(block)))
      return
    }
    case 'unblock': {
      if (tools === undefined) throw new Error('the block tools are missing')
      const id = rest[0]
      if (id === undefined || !/^blk_[A-Za-z0-9_-]{12}$/.test(id)) throw new UsageError('unblock needs a block id (blk_…, from keys blocks)')
      if (!await tools.blocks.lift(id, KEY_TOOL)) throw Object.assign(new Error('no block with that id'), { statusCode: 404, block: true })
      io.err(`block.lifted ${id}: every server lifts it within seconds`)
      io.out(JSON.stringify({ id, lifted: true }))
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
    // The tool's changes reach the server's security event feed (the same store); people's lines stay on stderr.
    const events = new SecurityEvents({
      store: new RedisEventLog(client, config.SECURITY_EVENTS_MAX),
      log: { info: () => {}, warn: () => {}, error: () => { io.err('warning: the change was made, but the security event feed (REDIS_URL) did not record it') } }
    })
    try {
      await run(new ApiKeys(new RedisKeyStore(client), { epochPollMs: 0, events }), argv, io,
        {
          policy: new RuntimePolicy(new RedisPolicyStore(client), config, { pollMs: 0, events }),
          blocks: new Blocks(new RedisAbuseStore(client), { pollMs: 0, exempt: config.penaltyExemptIps, events })
        })
    } finally {
      await events.flush()
    }
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
    io.err(known ? `${(err as Error).message}\n${USAGE}` : statusCode === 412 ? 'the policy changed since that version (--if-match): get it again' : statusCode === 404 ? ((err as { block?: boolean }).block === true ? 'no block with that id' : 'no key with that id') : statusCode === 409 ? 'the key is revoked or expired' : `failed: ${(err as Error).message}`)
    return known ? 2 : 1
  } finally {
    await client.quit().catch(() => client.disconnect())
  }
}

const invoked = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
if (invoked) {
  const code = await main(process.argv.slice(2), process.env, {
    out: (line) => process.stdout.write(`${line}\n`),
    in: async () => {
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      return Buffer.concat(chunks).toString('utf8')
    },
    err: (line) => process.stderr.write(`${line}\n`)
  })
  process.exitCode = code
}
