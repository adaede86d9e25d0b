import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { addressKind, checkDestinationUrl, checkedLookup, DestinationRefused, InvalidDestination, isPublicAddress, RESOLVE_TIMEOUT_MS, resolveWithDns } from '../../src/webhooks/destination.js'

/** The SSRF guard of webhook deliveries (API.md section 9, issue 19). */

t.test('only public unicast addresses are deliverable; mapped and NAT64 forms are judged by their IPv4', async (t) => {
  const refused: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'], ['127.255.0.9', 'loopback'], ['::1', 'loopback'],
    ['10.0.0.1', 'private'], ['172.16.5.4', 'private'], ['192.168.1.1', 'private'],
    ['169.254.169.254', 'linkLocal'], ['fe80::1', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'], ['0.0.0.0', 'unspecified'], ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'], ['ff02::1', 'multicast'], ['255.255.255.255', 'broadcast'],
    ['fd00:ec2::254', 'uniqueLocal'], ['fc00::1', 'uniqueLocal'],
    ['::ffff:127.0.0.1', 'loopback'], ['::ffff:169.254.169.254', 'linkLocal'], ['::ffff:10.1.2.3', 'private'],
    ['::7f00:1', 'ipv4Compatible'], ['::808:808', 'ipv4Compatible'],
    ['64:ff9b::7f00:1', 'loopback'], ['64:ff9b::a9fe:a9fe', 'linkLocal'],
    ['2002:7f00:1::1', '6to4'], ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo'],
    ['2001:db8::1', 'reserved'], ['192.0.2.1', 'reserved'], ['198.51.100.7', 'reserved'], ['203.0.113.9', 'reserved'],
    ['not an address', 'invalid'], ['', 'invalid']
  ]
  for (const [address, kind] of refused) {
    t.equal(addressKind(address), kind, `${address}: ${kind}`)
    t.notOk(isPublicAddress(address), `${address} refused`)
  }
  for (const address of ['8.8.8.8', '1.1.1.1', '2606:4700::1111', '::ffff:8.8.8.8', '64:ff9b::808:808']) {
    t.ok(isPublicAddress(address), `${address} is public`)
  }
})

type Addresses = Array<{ address: string, family: number }>
const resolver = (table: Record<string, Addresses>) => (hostname: string, _options: unknown, callback: (err: NodeJS.ErrnoException | null, addresses: Addresses) => void): void => {
  const found = table[hostname]
  if (found === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), [])
  else callback(null, found)
}
const table = {
  'public.test': [{ address: '93.184.216.34', family: 4 }, { address: '2606:2800:220:1:248:1893:25c8:1946', family: 6 }],
  'mixed.test': [{ address: '93.184.216.34', family: 4 }, { address: '10.0.0.5', family: 4 }],
  'local.test': [{ address: '127.0.0.1', family: 4 }],
  'metadata.test': [{ address: '169.254.169.254', family: 4 }]
}

async function lookupWith (allowPrivate: boolean, hostname: string, options: { all?: boolean, family?: number } = {}): Promise<{ err: Error | null, address: unknown, family?: number }> {
  const lookup = checkedLookup(allowPrivate, resolver(table) as never)
  return await new Promise((resolve) => {
    lookup(hostname, options as never, (err, address, family) => { resolve({ err, address, family }) })
  })
}

t.test('the lookup refuses a name unless every address is public, and hands the socket a checked one', async (t) => {
  t.same(await lookupWith(false, 'public.test'), { err: null, address: '93.184.216.34', family: 4 })
  t.same((await lookupWith(false, 'public.test', { family: 6 })).address, '2606:2800:220:1:248:1893:25c8:1946', 'the family asked for')
  t.same((await lookupWith(false, 'public.test', { all: true })).address, table['public.test'], 'all: every (checked) address')
  for (const host of ['mixed.test', 'local.test', 'metadata.test']) {
    const { err } = await lookupWith(false, host)
    t.ok(err instanceof DestinationRefused, `${host} refused`)
  }
  const mixed = (await lookupWith(false, 'mixed.test')).err as DestinationRefused
  t.equal(mixed.address, '10.0.0.5', 'one private address among public ones is enough')
  t.match(mixed.message, /10\.0\.0\.5 is a private address/)
  t.same(await lookupWith(true, 'local.test'), { err: null, address: '127.0.0.1', family: 4 }, 'WEBHOOK_ALLOW_PRIVATE lets it through')
  t.match((await lookupWith(false, 'nowhere.test')).err, { code: 'ENOTFOUND' }, 'a resolution failure passes through')
  t.match((await lookupWith(false, 'local.test', { family: 6 })).err, { code: 'ENOTFOUND' }, 'no address of the family asked for')
})

t.test('a real request: refused before any connection, and made when private addresses are allowed', async (t) => {
  let connections = 0
  const server = createServer((_req, res) => { res.end('reached') })
  server.on('connection', () => { connections++ })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { server.close() })
  const { port } = server.address() as AddressInfo
  const send = async (allowPrivate: boolean): Promise<string> => await new Promise((resolve, reject) => {
    const req = request({ host: 'local.test', port, path: '/', lookup: checkedLookup(allowPrivate, resolver(table) as never) }, (res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => { body += chunk.toString() })
      res.on('end', () => { resolve(body) })
    })
    req.on('error', reject)
    req.end()
  })
  await t.rejects(send(false), DestinationRefused)
  t.equal(connections, 0, 'nothing reached the server')
  t.equal(await send(true), 'reached')
  t.equal(connections, 1)
})

t.test('the URL: https only, no credentials, and an IP literal host is checked at once (a literal makes no lookup)', async (t) => {
  t.equal(checkDestinationUrl('https://hooks.example.com/missive?x=1', false).hostname, 'hooks.example.com')
  for (const [url, why] of [['http://hooks.example.com/', /https/], ['ftp://x/', /https/], ['not a url', /not a URL/], ['https://user:pw@hooks.example.com/', /user or password/]] as const) {
    t.throws(() => checkDestinationUrl(url, false), InvalidDestination, url)
    t.throws(() => checkDestinationUrl(url, false), { message: why })
  }
  for (const url of ['https://127.0.0.1/', 'https://[::1]:8443/', 'https://[::ffff:10.0.0.1]/', 'https://169.254.169.254/latest/meta-data/', 'https://2130706433/', 'https://0x7f.1/', 'https://[::127.0.0.1]/', 'https://[::7f00:1]/']) {
    t.throws(() => checkDestinationUrl(url, false), DestinationRefused, url)
  }
  t.equal(checkDestinationUrl('https://127.0.0.1:8443/hook', true).port, '8443', 'allowed with WEBHOOK_ALLOW_PRIVATE')
  t.equal(checkDestinationUrl('https://93.184.216.34/', false).hostname, '93.184.216.34')
})

t.test('names are resolved with DNS (c-ares, off the thread pool argon2 needs): localhost names are loopback, an unknown name fails in bounded time', async (t) => {
  const resolve = async (hostname: string): Promise<{ err: NodeJS.ErrnoException | null, addresses: Addresses }> =>
    await new Promise((resolve) => { resolveWithDns(hostname, { all: true, verbatim: true }, (err, addresses) => { resolve({ err, addresses }) }) })
  for (const name of ['localhost', 'LocalHost.', 'hooks.localhost']) {
    t.same(await resolve(name), { err: null, addresses: [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }] }, `${name}: loopback (RFC 6761)`)
  }
  const started = Date.now()
  const unknown = await resolve('no-such-host.invalid')
  t.ok(unknown.err !== null && typeof unknown.err.code === 'string', `an error with a code (${unknown.err?.code ?? ''})`)
  t.same(unknown.addresses, [])
  t.ok(Date.now() - started < RESOLVE_TIMEOUT_MS + 1000, `within the ${RESOLVE_TIMEOUT_MS} ms a lookup is allowed (both families at once)`)
  const refused = await new Promise<Error | null>((resolve) => { checkedLookup(false)('localhost', {} as never, (err) => { resolve(err) }) })
  t.ok(refused instanceof DestinationRefused, 'the default lookup: a localhost name is refused without WEBHOOK_ALLOW_PRIVATE')
})
