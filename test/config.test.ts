import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../src/config.js'

t.test('defaults are those of API.md', async (t) => {
  const config = loadConfig({})
  t.match(config, {
    HOST: '127.0.0.1',
    PORT: 3000,
    REDIS_URL: undefined,
    JWT_TTL_SECONDS: 900,
    JWT_ALG: 'ES256',
    JWT_KEY_ROTATION_DAYS: 30,
    JWT_SECRET: undefined,
    CORS_ORIGINS: '',
    trustProxy: false,
    MESSAGE_MAX_BYTES: 65536,
    API_MESSAGE_MAX_BYTES: 1048576,
    MESSAGE_DEFAULT_TTL_SECONDS: 86400,
    MESSAGE_MAX_TTL_SECONDS: 2592000,
    RATE_LIMIT_WINDOW_MS: 60000,
    RATE_LIMIT_CREATE_MAX: 30,
    RATE_LIMIT_READ_MAX: 300,
    RATE_LIMIT_API_MAX: 6000,
    AUTH_FAILURE_MAX: 10,
    LOG_LEVEL: 'info',
    LOG_FILE: undefined,
    tls: null,
    encryptionKey: null,
    RECEIPT_RETENTION_SECONDS: 604800,
    WEBHOOK_ALLOW_PRIVATE: false
  })
  t.notOk('jwtSecret' in config, 'no HMAC secret any more: tokens are signed with the issuer keys')
  t.notOk('jwtSecretGenerated' in config)
  t.ok(Object.isFrozen(config))
})

t.test('values are read from the environment and coerced', async (t) => {
  const config = loadConfig({ PORT: '8080', HOST: '0.0.0.0', TRUST_PROXY: '2', CORS_ORIGINS: 'https://a.example, https://b.example:8443', REDIS_URL: 'redis://:pw@localhost:6379/1', JWT_ALG: 'EdDSA', JWT_KEY_ROTATION_DAYS: '7' })
  t.equal(config.PORT, 8080)
  t.equal(config.HOST, '0.0.0.0')
  t.equal(config.trustProxy, 2)
  t.same(config.corsOrigins, ['https://a.example', 'https://b.example:8443'])
  t.equal(config.JWT_ALG, 'EdDSA')
  t.equal(config.JWT_KEY_ROTATION_DAYS, 7)
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true)
  t.equal(loadConfig({ TRUST_PROXY: '10.0.0.0/8,127.0.0.1' }).trustProxy, '10.0.0.0/8,127.0.0.1')
  t.same(loadConfig({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis-b:7001' }).redisClusterNodes, [{ host: '10.0.0.1', port: 7000 }, { host: 'redis-b', port: 7001 }])
  t.equal(loadConfig({ PORT: '' }).PORT, 3000, 'an empty variable counts as unset')
  t.equal(loadConfig({ RECEIPT_RETENTION_SECONDS: '0' }).RECEIPT_RETENTION_SECONDS, 0, '0: no receipts')
  t.equal(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'true' }).WEBHOOK_ALLOW_PRIVATE, true)
})

t.test('each bad value: one line that names the variable, never its value', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'missive-config-'))
  writeFileSync(join(dir, 'cert.pem'), 'not really a cert')
  const secret = 'short-secret-value'
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ PORT: '-1' }, 'PORT'],
    [{ RECEIPT_RETENTION_SECONDS: '-1' }, 'RECEIPT_RETENTION_SECONDS'],
    [{ RECEIPT_RETENTION_SECONDS: 'week' }, 'RECEIPT_RETENTION_SECONDS'],
    [{ WEBHOOK_ALLOW_PRIVATE: 'sometimes' }, 'WEBHOOK_ALLOW_PRIVATE'],
    [{ NODE_ENV: 'production' }, 'PUBLIC_URL'],
    [{ NODE_ENV: 'production', JWT_SECRET: 's'.repeat(32) }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'missive.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'ftp://missive.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://user:pw@missive.example.com' }, 'PUBLIC_URL'],
    [{ PUBLIC_URL: 'https://missive.example.com/?a=1' }, 'PUBLIC_URL'],
    [{ JWT_TTL_SECONDS: 'soon' }, 'JWT_TTL_SECONDS'],
    [{ JWT_ALG: 'HS256' }, 'JWT_ALG'],
    [{ JWT_ALG: 'none' }, 'JWT_ALG'],
    [{ JWT_ALG: 'RS256' }, 'JWT_ALG'],
    [{ JWT_ALG: 'es256' }, 'JWT_ALG'],
    [{ JWT_KEY_ROTATION_DAYS: '0' }, 'JWT_KEY_ROTATION_DAYS'],
    [{ JWT_KEY_ROTATION_DAYS: '1.5' }, 'JWT_KEY_ROTATION_DAYS'],
    [{ JWT_KEY_ROTATION_DAYS: '366' }, 'JWT_KEY_ROTATION_DAYS'],
    [{ JWT_KEY_ROTATION_DAYS: '-1' }, 'JWT_KEY_ROTATION_DAYS'],
    [{ JWT_KEY_ROTATION_DAYS: 'monthly' }, 'JWT_KEY_ROTATION_DAYS'],
    [{ REDIS_URL: 'localhost:6379' }, 'REDIS_URL'],
    [{ REDIS_CLUSTER_NODES: 'a,b' }, 'REDIS_CLUSTER_NODES'],
    [{ REDIS_URL: 'redis://x:1', REDIS_CLUSTER_NODES: 'x:1' }, 'REDIS_CLUSTER_NODES'],
    [{ CORS_ORIGINS: 'not an origin' }, 'CORS_ORIGINS'],
    [{ TRUST_PROXY: 'maybe' }, 'TRUST_PROXY'],
    [{ MESSAGE_MAX_BYTES: '0' }, 'MESSAGE_MAX_BYTES'],
    [{ API_MESSAGE_MAX_BYTES: 'lots' }, 'API_MESSAGE_MAX_BYTES'],
    [{ MESSAGE_DEFAULT_TTL_SECONDS: '30' }, 'MESSAGE_DEFAULT_TTL_SECONDS'],
    [{ MESSAGE_DEFAULT_TTL_SECONDS: '7200', MESSAGE_MAX_TTL_SECONDS: '3600' }, 'MESSAGE_DEFAULT_TTL_SECONDS'],
    [{ RATE_LIMIT_WINDOW_MS: '1.5' }, 'RATE_LIMIT_WINDOW_MS'],
    [{ RATE_LIMIT_CREATE_MAX: '0' }, 'RATE_LIMIT_CREATE_MAX'],
    [{ RATE_LIMIT_READ_MAX: 'x' }, 'RATE_LIMIT_READ_MAX'],
    [{ RATE_LIMIT_API_MAX: '-5' }, 'RATE_LIMIT_API_MAX'],
    [{ AUTH_FAILURE_MAX: 'ten' }, 'AUTH_FAILURE_MAX'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ TLS_CERT_FILE: join(dir, 'cert.pem') }, 'TLS_KEY_FILE'],
    [{ TLS_CERT_FILE: join(dir, 'missing.pem'), TLS_KEY_FILE: join(dir, 'cert.pem') }, 'TLS_CERT_FILE'],
    [{ TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'missing.pem') }, 'TLS_KEY_FILE'],
    [{ TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'cert.pem') }, 'TLS_CERT_FILE'],
    [{ ENCRYPTION_KEY: Buffer.alloc(16).toString('base64') }, 'ENCRYPTION_KEY'],
    [{ ENCRYPTION_KEY: 'not base64 at all!' }, 'ENCRYPTION_KEY']
  ]
  for (const [env, variable] of cases) {
    try {
      loadConfig(env)
      t.fail(`${JSON.stringify(env)} was accepted`)
    } catch (err) {
      t.ok(err instanceof ConfigError, `${variable}: a ConfigError`)
      const message = (err as Error).message
      t.match(message, new RegExp(`^Invalid configuration: ${variable} `), `${JSON.stringify(env)} → ${message}`)
      t.notMatch(message, /\n/, 'one line')
      t.notMatch(message, secret, 'the value is not echoed')
    }
  }
})

t.test('ENCRYPTION_KEY: 32 bytes of base64', async (t) => {
  const key = Buffer.alloc(32, 7)
  t.same(loadConfig({ ENCRYPTION_KEY: key.toString('base64') }).encryptionKey, key)
})

t.test('PUBLIC_URL: validated, without a trailing slash; by default the listening address', async (t) => {
  t.equal(loadConfig({}).publicUrl, 'http://127.0.0.1:3000')
  t.equal(loadConfig({ HOST: '::1', PORT: '8080' }).publicUrl, 'http://[::1]:8080')
  t.equal(loadConfig({ PUBLIC_URL: 'https://missive.example.com/' }).publicUrl, 'https://missive.example.com')
  t.equal(loadConfig({ PUBLIC_URL: 'https://example.com/missive/' }).publicUrl, 'https://example.com/missive')
  t.equal(loadConfig({ NODE_ENV: 'production', PUBLIC_URL: 'https://missive.example.com' }).publicUrl, 'https://missive.example.com')
})

t.test('JWT_SECRET is no longer used: never required, any value accepted (plugins/config.ts warns)', async (t) => {
  const production = loadConfig({ NODE_ENV: 'production', PUBLIC_URL: 'https://missive.example.com' })
  t.equal(production.JWT_SECRET, undefined, 'production starts without it')
  for (const value of ['x', 'too-short', 's'.repeat(32)]) {
    const config = loadConfig({ NODE_ENV: 'production', PUBLIC_URL: 'https://missive.example.com', JWT_SECRET: value })
    t.equal(config.JWT_SECRET, value, `a JWT_SECRET of ${value.length} characters does not stop the start`)
    t.notOk('jwtSecret' in config, 'and nothing is derived from it')
  }
})

/** The error loadConfig throws for `env`, or null when it accepts it. */
function refusal (env: Record<string, string>): ConfigError | null {
  try {
    loadConfig(env)
    return null
  } catch (err) {
    return err as ConfigError
  }
}

t.test('JWT_ALG: ES256 (default) or EdDSA, nothing else', async (t) => {
  t.equal(loadConfig({}).JWT_ALG, 'ES256')
  t.equal(loadConfig({ JWT_ALG: 'ES256' }).JWT_ALG, 'ES256')
  t.equal(loadConfig({ JWT_ALG: 'EdDSA' }).JWT_ALG, 'EdDSA')
  t.equal(loadConfig({}, { JWT_ALG: 'EdDSA' }).JWT_ALG, 'EdDSA', 'as an override too')
  for (const alg of ['HS256', 'HS512', 'none', 'None', 'RS256', 'ES384', 'Ed25519', 'es256', ' ES256']) {
    const err = refusal({ JWT_ALG: alg })
    t.ok(err instanceof ConfigError, `${JSON.stringify(alg)} is refused with a ConfigError`)
    t.equal(err?.variable, 'JWT_ALG')
    t.match(err?.message, /^Invalid configuration: JWT_ALG /)
  }
})

t.test('JWT_KEY_ROTATION_DAYS: an integer from 1 to 365, 30 by default', async (t) => {
  t.equal(loadConfig({}).JWT_KEY_ROTATION_DAYS, 30)
  t.equal(loadConfig({ JWT_KEY_ROTATION_DAYS: '1' }).JWT_KEY_ROTATION_DAYS, 1)
  t.equal(loadConfig({ JWT_KEY_ROTATION_DAYS: '365' }).JWT_KEY_ROTATION_DAYS, 365)
  t.equal(loadConfig({}, { JWT_KEY_ROTATION_DAYS: 90 }).JWT_KEY_ROTATION_DAYS, 90)
  for (const days of ['0', '-1', '366', '1.5', '0.5', '30d', 'monthly', '1e9']) {
    const err = refusal({ JWT_KEY_ROTATION_DAYS: days })
    t.ok(err instanceof ConfigError, `${JSON.stringify(days)} is refused with a ConfigError`)
    t.equal(err?.variable, 'JWT_KEY_ROTATION_DAYS')
    t.match(err?.message, /^Invalid configuration: JWT_KEY_ROTATION_DAYS /)
  }
})

t.test('CORS_ORIGINS: exact origins and one-label subdomain wildcards, kept as written', async (t) => {
  const config = loadConfig({ CORS_ORIGINS: 'https://*.example.com, https://app.example.net,http://*.example.co.uk:8080' })
  t.same(config.corsOrigins, ['https://*.example.com', 'https://app.example.net', 'http://*.example.co.uk:8080'])
  t.ok(Object.isFrozen(config.corsOrigins))
  t.same(loadConfig({ CORS_ORIGINS: ' , https://a.example.com ,' }).corsOrigins, ['https://a.example.com'], 'empty items and spaces around items are dropped')
  t.same(loadConfig({}).corsOrigins, [])
})

t.test('CORS_ORIGINS: a dangerous or malformed entry stops the start, naming the variable, the entry and why', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['https://*.co.uk', 'https://*.co.uk', /puts the wildcard on a public suffix \(co\.uk\): it would match every site under it$/],
    ['https://app.example.com, https://*.com', 'https://*.com', /public suffix \(com\)/],
    ['https://*.github.io', 'https://*.github.io', /public suffix \(github\.io\)/],
    ['*', '*', /bare wildcard/],
    ['https://app.example.com,*', '*', /bare wildcard/],
    ['null', 'null', /"null" origin/],
    ['https://app.example.com/', 'https://app.example.com/', /has a path \("\/"\)/],
    ['https://*.example.com/api', 'https://*.example.com/api', /has a path \("\/api"\)/],
    ['https://a*.example.com', 'https://a*.example.com', /whole leftmost label/],
    ['https://*.*.example.com', 'https://*.*.example.com', /more than one wildcard/],
    ['*://example.com', '*://example.com', /wildcard in the scheme/],
    ['http://*.localhost', 'http://*.localhost', /single-label host/],
    ['https://*.10.0.0.1', 'https://*.10.0.0.1', /IP address/],
    ['https://App.example.com', 'https://App.example.com', /write "https:\/\/app\.example\.com"/],
    ['app.example.com', 'app.example.com', /is not an origin/]
  ]
  for (const [value, entry, why] of cases) {
    const err = refusal({ CORS_ORIGINS: value })
    t.ok(err instanceof ConfigError, `${value}: a ConfigError`)
    t.equal(err?.variable, 'CORS_ORIGINS')
    t.ok(err?.message.startsWith(`Invalid configuration: CORS_ORIGINS ${JSON.stringify(entry)} `), `${value} → ${String(err?.message)}`)
    t.match(err?.message, why)
    t.notMatch(err?.message, /\n/, 'one line')
  }
  const many = Array.from({ length: 101 }, (_, i) => `https://app${i}.example.com`).join(',')
  t.match(refusal({ CORS_ORIGINS: many })?.message, /^Invalid configuration: CORS_ORIGINS "https:\/\/app100\.example\.com" is origin number 101 of 101: at most 100 origins may be listed$/)
})
