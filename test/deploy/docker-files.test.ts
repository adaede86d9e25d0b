import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { build } from '../helper.js'
import { spawnNode } from '../helpers/node-process.js'
import { freePort } from '../helpers/redis-server.js'

// There is no Docker engine where the tests run: the files are read and their properties
// checked here; `docker compose config` runs too wherever the CLI has compose.
const root = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const read = (file: string): string => readFileSync(join(root, file), 'utf8')

// ---------- Dockerfile ----------

interface Instruction { keyword: string, args: string }

/** Instructions with their line continuations joined; comment lines dropped, as Docker does. */
function parseDockerfile (text: string): Instruction[] {
  const logical: string[] = []
  let current = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line.startsWith('#') || (line === '' && current === '')) continue
    if (line.endsWith('\\')) {
      current += line.slice(0, -1) + ' '
      continue
    }
    current += line
    if (current.trim() !== '') logical.push(current.trim())
    current = ''
  }
  return logical.map((line) => {
    const space = line.search(/\s/)
    return { keyword: line.slice(0, space).toUpperCase(), args: line.slice(space + 1).trim() }
  })
}

/** `KEY=value KEY2="value"` of ENV and ARG. */
function assignments (args: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)(?:=("[^"]*"|\S*))?/g)) {
    const name = match[1] as string
    out[name] = (match[2] ?? '').replace(/^"(.*)"$/, '$1')
  }
  return out
}

const instructions = parseDockerfile(read('Dockerfile'))
const args = Object.assign({}, ...instructions.filter((i) => i.keyword === 'ARG').map((i) => assignments(i.args))) as Record<string, string>
const stages: Instruction[][] = []
for (const instruction of instructions) {
  if (instruction.keyword === 'FROM') stages.push([])
  stages.at(-1)?.push(instruction)
}
const buildStage = stages[0] ?? []
const runtime = stages.at(-1) ?? []
const runs = (stage: Instruction[]): string => stage.filter((i) => i.keyword === 'RUN').map((i) => i.args).join('\n')
const envOf = (stage: Instruction[]): Record<string, string> => Object.assign({}, ...stage.filter((i) => i.keyword === 'ENV').map((i) => assignments(i.args))) as Record<string, string>
const one = (stage: Instruction[], keyword: string): string => stage.filter((i) => i.keyword === keyword).at(-1)?.args ?? ''

t.test('Dockerfile: multi-stage on a slim Node 20 base', async (t) => {
  t.ok(stages.length >= 2, 'a build stage and a runtime stage')
  for (const stage of stages) {
    const image = (stage[0]?.args.split(/\s+/)[0] ?? '').replace(/^\$\{?(\w+)\}?$/, (_, name: string) => args[name] ?? '')
    t.match(image, /^node:20(\.\d+)*(\.\d+)?-bookworm-slim$/, `stage "${stage[0]?.args}" is on node:20-bookworm-slim`)
  }
  t.match(stage0Name(), /\bAS\s+build$/i, 'the first stage is named build')

  t.match(runs(buildStage), /\bnpm ci\b/, 'the build stage installs with npm ci')
  t.notMatch(runs(buildStage), /--omit=dev|--production/, 'with the dev dependencies (TypeScript)')
  t.match(runs(buildStage), /npm run build|tsc -p tsconfig\.build\.json/, 'and compiles')

  t.match(runs(runtime), /\bnpm ci\b[^\n&]*--omit=dev/, 'the runtime stage installs production dependencies only')
  t.ok(runtime.some((i) => i.keyword === 'COPY' && /--from=build\b.*\bdist\b/.test(i.args)), 'and takes dist/ from the build stage')
  t.notOk(runtime.some((i) => i.keyword === 'COPY' && /^\.\s|\bsrc\b/.test(i.args)), 'and no sources or build context wholesale')
  t.same(JSON.parse(one(runtime, 'CMD')), ['node', 'dist/src/server.js'], 'node runs the compiled server directly (it gets SIGTERM)')

  // argon2's prebuilt glibc binary crashes on load on Debian 12 + Node 20: it is compiled in
  // the build stage for this base image, and both stages prove it loads.
  t.match(runs(buildStage), /npm rebuild argon2 --build-from-source/)
  t.ok(runtime.some((i) => i.keyword === 'COPY' && /--from=build\s+\S*argon2\/build\/Release\/argon2\.node/.test(i.args)), 'the runtime takes the compiled argon2')
  t.match(runs(runtime), /import\('argon2'\)/, 'and the image build fails if it does not load')

  // Scripts are off in both stages, so the postinstall (patch-package) is run by hand there.
  for (const [name, stage] of [['build', buildStage], ['runtime', runtime]] as const) {
    const copiesPatches = stage.findIndex((i) => i.keyword === 'COPY' && /^patches\s/.test(i.args))
    const install = stage.findIndex((i) => i.keyword === 'RUN' && /\bnpm ci\b/.test(i.args))
    t.ok(copiesPatches >= 0 && copiesPatches < install, `the ${name} stage copies patches/ before npm ci`)
    t.match(stage[install]?.args ?? '', /npm ci\b[^]*&& npx --no-install patch-package\b/, 'and applies them right after it')
  }
})

function stage0Name (): string { return buildStage[0]?.args ?? '' }

t.test('Dockerfile: production settings, an unprivileged user, no secrets', async (t) => {
  const env = envOf(runtime)
  t.equal(env.NODE_ENV, 'production')
  t.equal(env.HOST, '0.0.0.0', 'listens on every interface inside the container')

  const user = one(runtime, 'USER')
  t.ok(user !== '', 'a USER is set')
  t.notMatch(user, /^(root|0)(:|$)/, `and it is not root (${user})`)
  t.ok(runtime.findIndex((i) => i.keyword === 'USER') > runtime.findIndex((i) => i.keyword === 'RUN'), 'after the last RUN that needs root')

  const secretNames = /SECRET|PASSWORD|PASSWD|TOKEN|ENCRYPTION_KEY|PRIVATE|REDIS_URL|API_KEY|TLS_KEY/i
  for (const instruction of instructions.filter((i) => i.keyword === 'ENV' || i.keyword === 'ARG')) {
    for (const name of Object.keys(assignments(instruction.args))) {
      t.notMatch(name, secretNames, `${instruction.keyword} ${name} is not a secret`)
    }
  }
  t.notOk(instructions.some((i) => (i.keyword === 'COPY' || i.keyword === 'ADD') && /\.env\b|\.pem\b|\bcerts?\b/.test(i.args)), 'no env file or key is copied in')
  t.notOk(instructions.some((i) => i.keyword === 'ADD'), 'no ADD (no remote fetches, no auto-extraction)')
})

t.test('Dockerfile: works with a read-only root filesystem', async (t) => {
  const env = envOf(runtime)
  // npm (`npm run keys` in the container) writes a cache and logs: only under /tmp (a tmpfs).
  t.match(env.NPM_CONFIG_CACHE, /^\/tmp\//, 'npm keeps its cache in /tmp')
  t.equal(env.NPM_CONFIG_UPDATE_NOTIFIER, 'false', 'npm does not try to check for updates')
  t.match(runs(runtime), /chown\s+\S+\s+\/var\/log\/missive/, 'the log directory (a volume) belongs to the runtime user')
  t.match(runs(runtime), /npm pkg set [^\n]*scripts\.keys="node dist\/scripts\/keys\.js"/, 'npm run keys runs the compiled tool, with no build step in the image')
  t.match(runs(runtime), /npm pkg set [^\n]*scripts\.security="node dist\/scripts\/security\.js"/, 'npm run security runs the compiled scanner in the image')
})

t.test('.dockerignore keeps secrets and local state out of the build context', async (t) => {
  const rules = read('.dockerignore').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#'))
  t.equal(rules[0], '*', 'everything is excluded first, then the build inputs allowed back')
  const allowed = rules.filter((rule) => rule.startsWith('!')).map((rule) => rule.slice(1).replace(/\/$/, ''))
  for (const never of ['.env', 'node_modules', 'dist', '.git', 'test', 'logs']) {
    t.notOk(allowed.includes(never), `${never} is not allowed back in`)
  }
  t.ok(rules.includes('**/.env') && rules.includes('**/.env.*'), 'an .env anywhere in an allowed folder stays out too')
})

/** The health check as Docker would run it (exec form, with the container's environment): its exit code. */
async function healthCheckCommand (command: string[], env: Record<string, string>): Promise<number | null> {
  const [program, ...rest] = command
  const options = { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore', timeout: 10_000 } as const
  const child = program === 'node' ? spawnNode(rest, options) : spawn(program as string, rest, options)
  return await new Promise((resolve) => child.once('exit', (code) => resolve(code)))
}

// One real app for the health checks to ask.
let appPort = 0
t.before(async () => {
  const app = await build(t)
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  appPort = typeof address === 'object' && address !== null ? address.port : 0
})

t.test('the HEALTHCHECK runs node against /health (the slim image has no curl)', async (t) => {
  const healthcheck = one(runtime, 'HEALTHCHECK')
  t.match(healthcheck, /--interval=\d+s/)
  t.match(healthcheck, /--timeout=\d+s/)
  const command = JSON.parse(healthcheck.replace(/^.*?\bCMD\s+/, '')) as string[]
  t.equal(command[0], 'node')
  t.match(command.join(' '), /\/health/)
  t.notMatch(command.join(' '), /\b(curl|wget)\b/)

  t.equal(await healthCheckCommand(command, { PORT: String(appPort) }), 0, 'healthy while /health answers 200')
  t.equal(await healthCheckCommand(command, { PORT: String(await freePort()) }), 1, 'unhealthy when nothing answers')
})

// ---------- docker-compose.yml ----------

interface Service {
  image?: string
  build?: unknown
  command?: string[] | string
  environment?: Record<string, string> | string[]
  env_file?: unknown
  ports?: unknown[]
  expose?: unknown[]
  networks?: string[] | Record<string, unknown>
  depends_on?: Record<string, { condition?: string }> | string[]
  healthcheck?: { test?: string[] | string, interval?: string, timeout?: string, retries?: number, disable?: boolean }
  restart?: string
  read_only?: boolean
  cap_drop?: string[]
  security_opt?: string[]
  tmpfs?: string[] | string
  volumes?: Array<string | { target?: string, source?: string, type?: string }>
}
interface Compose { services: Record<string, Service>, networks?: Record<string, { internal?: boolean } | null>, volumes?: Record<string, unknown> }

const compose = parse(read('docker-compose.yml')) as Compose
const api = compose.services.api as Service
const redis = compose.services.redis as Service
const networksOf = (service: Service): string[] => Array.isArray(service.networks) ? service.networks : Object.keys(service.networks ?? {})
const envList = (service: Service): Record<string, string> => Array.isArray(service.environment)
  ? Object.fromEntries(service.environment.map((entry) => [entry.split('=')[0], entry.split('=').slice(1).join('=')]))
  : Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v)]))
const commandText = (service: Service): string => Array.isArray(service.command) ? service.command.join(' ') : service.command ?? ''

t.test('compose: Redis is reachable only from the backend network', async (t) => {
  t.ok(api !== undefined && redis !== undefined, 'an api and a redis service')
  t.equal(compose.networks?.backend?.internal, true, 'the backend network is internal: no route to or from outside')
  t.notOk(compose.networks?.frontend?.internal, 'the frontend network is not')
  t.same(networksOf(redis), ['backend'], 'redis is on the backend network only')
  t.same(networksOf(api).sort(), ['backend', 'frontend'], 'the api is on both')
  t.equal(redis.ports, undefined, 'redis publishes no port')
  t.ok((api.ports ?? []).length > 0, 'the api publishes its port')
})

t.test('compose: Redis has a password from the env file, AOF and noeviction', async (t) => {
  const command = commandText(redis)
  t.match(command, /--requirepass \$\{REDIS_PASSWORD(:\?[^}]*)?\}/, 'requirepass comes from REDIS_PASSWORD in .env')
  t.match(command, /--appendonly yes\b/)
  t.match(command, /--maxmemory \S+/)
  t.match(command, /--maxmemory-policy noeviction\b/)
  t.match(envList(api).REDIS_URL, /^redis:\/\/:\$\{REDIS_PASSWORD(:\?[^}]*)?\}@redis:6379/, 'the api connects with that password')
  t.ok((redis.volumes ?? []).some((v) => typeof v === 'string' ? /:\/data$/.test(v) : v.target === '/data'), 'the AOF lives on a volume')
})

t.test('compose: health checks, start order and restarts', async (t) => {
  for (const [name, service] of Object.entries({ api, redis })) {
    t.ok(Array.isArray(service.healthcheck?.test) && service.healthcheck.test.length > 1, `${name} has a health check`)
    t.not(service.healthcheck?.disable, true)
    t.match(service.restart, /^(always|unless-stopped|on-failure(:\d+)?)$/, `${name} restarts (${service.restart})`)
  }
  t.match(JSON.stringify(redis.healthcheck?.test), /redis-cli[^"]*ping/)
  t.match(JSON.stringify(api.healthcheck?.test), /\/health/)
  const dependsOn = api.depends_on as Record<string, { condition?: string }>
  t.equal(dependsOn.redis?.condition, 'service_healthy', 'the api starts once redis is healthy')

  // The compose health check is the image's, and it really works.
  const command = (api.healthcheck?.test as string[]).slice(1)
  t.equal(api.healthcheck?.test?.[0], 'CMD')
  t.equal(await healthCheckCommand(command, { PORT: String(appPort) }), 0)
})

t.test('compose: the api container is locked down', async (t) => {
  t.equal(api.read_only, true, 'read-only root filesystem')
  t.same(api.cap_drop, ['ALL'])
  t.ok(api.security_opt?.includes('no-new-privileges:true'), 'no-new-privileges')
  const tmpfs = Array.isArray(api.tmpfs) ? api.tmpfs : [api.tmpfs ?? '']
  t.ok(tmpfs.some((entry) => /^\/tmp(:|$)/.test(entry)), 'a tmpfs for /tmp')

  const env = envList(api)
  t.equal(env.NODE_ENV, 'production')
  t.equal(env.HOST, '0.0.0.0')
  const logVolume = (api.volumes ?? []).map((v) => typeof v === 'string' ? v.split(':') : [v.source, v.target]).find(([source]) => source !== undefined && source in (compose.volumes ?? {}))
  t.ok(logVolume, 'a named volume')
  t.ok(env.LOG_FILE?.startsWith(`${logVolume?.[1] ?? '?'}/`), `LOG_FILE (${env.LOG_FILE}) is inside it, so rotated logs survive and nothing else is written`)
})

t.test('compose: secrets come from the env file, never from the compose file', async (t) => {
  const env = envList(api)
  for (const name of ['ENCRYPTION_KEY', 'PUBLIC_URL']) {
    t.match(env[name], new RegExp(`^\\$\\{${name}(:\\?[^}]*)?\\}$`), `${name} is \${${name}} from .env`)
  }
  t.notMatch(read('docker-compose.yml'), /requirepass\s+[^$\s-]/, 'no literal Redis password')

  const example = read('.env.example')
  for (const name of ['REDIS_PASSWORD', 'PUBLIC_URL', 'ENCRYPTION_KEY']) {
    t.match(example, new RegExp(`^${name}=$`, 'm'), `.env.example names ${name}, with no value`)
  }
  t.notMatch(example, /^JWT_SECRET=/m, 'JWT_SECRET is no longer asked for')
  t.equal(env.JWT_SECRET, undefined, 'nor passed by compose')
  const ignored = (file: string): boolean => spawnSync('git', ['check-ignore', '-q', file], { cwd: root }).status === 0
  t.ok(ignored('.env'), '.env is git-ignored')
  t.notOk(ignored('.env.example'), '.env.example is not')
})

const composeCli = spawnSync('docker', ['compose', 'version'], { cwd: root, encoding: 'utf8', timeout: 20_000 })
const noCompose = composeCli.status === 0
  ? false
  : `docker compose is not available here (${(composeCli.error?.message ?? composeCli.stderr ?? '').split('\n')[0]?.trim() ?? 'no output'}): the properties above are checked from the parsed file instead`

t.test('docker compose config accepts the file', { skip: noCompose }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'missive-compose-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const envFile = join(dir, 'env')
  writeFileSync(envFile, 'REDIS_PASSWORD=0123456789abcdef\nPUBLIC_URL=https://missive.example.com\nENCRYPTION_KEY=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n')
  const config = spawnSync('docker', ['compose', '--env-file', envFile, '-f', join(root, 'docker-compose.yml'), 'config', '--format', 'json'], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.equal(config.status, 0, config.stderr)
  const resolved = JSON.parse(config.stdout) as Compose
  t.equal(resolved.networks?.backend?.internal, true)
  t.match(envList(resolved.services.api as Service).REDIS_URL, /^redis:\/\/:0123456789abcdef@redis:6379/)

  const missing = spawnSync('docker', ['compose', '--env-file', '/dev/null', '-f', join(root, 'docker-compose.yml'), 'config', '--quiet'], { cwd: root, encoding: 'utf8', timeout: 60_000 })
  t.not(missing.status, 0, 'without the secrets, compose refuses to start anything')
})
