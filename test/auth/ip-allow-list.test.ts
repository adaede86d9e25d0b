import { randomInt } from 'node:crypto'
import { BlockList, isIP } from 'node:net'
import t from 'tap'
import { InvalidCidr, IpAllowList, MAX_ALLOWED_IPS, normalizeCidrs } from '../../src/auth/ip-allow-list.js'

const list = (cidrs: string[]): IpAllowList => {
  const made = IpAllowList.from(normalizeCidrs(cidrs))
  if (made === null) throw new Error('empty')
  return made
}

t.test('canonical output', async (t) => {
  const cases: Array<[string, string]> = [
    ['203.0.113.7', '203.0.113.7/32'],
    ['203.0.113.7/32', '203.0.113.7/32'],
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8::1', '2001:db8::/64'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::/64'],
    ['2001:db8::1/128', '2001:db8::/64'],
    ['2001:db8:0:0:1::/80', '2001:db8::/64'],
    ['2001:db8:aa:bb::/64', '2001:db8:aa:bb::/64'],
    ['2001:db8::/32', '2001:db8::/32'],
    ['2001:db8:0:0:0:0:0:0/48', '2001:db8::/48'],
    ['1:0:0:2:0:0:0:0', '1:0:0:2::/64'],
    ['0:0:1::/48', '0:0:1::/48'],
    ['::/0', '::/0'],
    ['1:2:3:4:5:6:7::', '1:2:3:4::/64'],
    ['64:ff9b::192.0.2.1/96', '64:ff9b::/64'],
    // IPv4-mapped: taken as the IPv4 it maps
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['::ffff:203.0.113.7', '203.0.113.7/32'],
    ['::FFFF:cb00:7107/128', '203.0.113.7/32'],
    ['::ffff:0.0.0.0/96', '0.0.0.0/0']
  ]
  for (const [entry, canonical] of cases) t.same(normalizeCidrs([entry]), [canonical], `${entry} → ${canonical}`)
  t.same(normalizeCidrs(['10.0.0.1', '2001:db8::1', '10.0.0.1/32', '2001:db8::2', '::ffff:10.0.0.1', '192.0.2.0/24']),
    ['10.0.0.1/32', '2001:db8::/64', '192.0.2.0/24'], 'duplicates removed, first order kept')
  t.same(normalizeCidrs([]), [])
  t.same(normalizeCidrs(normalizeCidrs(cases.map(([entry]) => entry))), normalizeCidrs(cases.map(([entry]) => entry)), 'canonical output is a fixed point')
})

t.test('every invalid form is an InvalidCidr naming the entry', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /empty/],
    [' 10.0.0.1', /whitespace/],
    ['10.0.0.1 ', /whitespace/],
    ['10.0.0.1/8', /host bits set beyond \/8 \(the network is 10\.0\.0\.0\/8\)/],
    ['192.168.1.1/24', /host bits/],
    ['2001:db8::1:0:0:0/32', /host bits set beyond \/32 \(the network is 2001:db8::\/32\)/],
    ['2001:db8:1::/32', /host bits/],
    ['2001:db8::1/63', /host bits/],
    ['::ffff:10.0.0.1/104', /host bits set beyond \/8 of the mapped IPv4/],
    ['::ffff:0:0/95', /mapped network must be \/96 or longer/],
    ['fe80::1%eth0', /zone ids/],
    ['fe80::1%25eth0/64', /zone ids/],
    ['10.0.0.1-10.0.0.5', /ranges/],
    ['2001:db8::1-2001:db8::5', /ranges/],
    ['example.com', /hostnames/],
    ['my-host.example', /hostnames/],
    ['localhost', /hostnames/],
    ['010.0.0.1', /leading zeros/],
    ['10.0.0.01', /leading zeros/],
    ['10.0.0.0/08', /prefix length/],
    ['10.0.0.0/', /prefix length/],
    ['10.0.0.0/8/8', /more than one \//],
    ['10.0.0.0/255.0.0.0', /prefix length/],
    ['10.0.0.1/33', /at most \/32/],
    ['2001:db8::/129', /at most \/128/],
    ['::ffff:1.2.3.4/129', /at most \/128/],
    ['10.0.0', /not an IPv4 address/],
    ['10.0.0.256', /not an IPv4 address/],
    ['1.2.3.4.5', /not an IPv4 address/],
    ['0x0a.0.0.1', /hostnames/],
    ['2001:db8:::1', /not an IPv6 address/],
    ['2001:db8::1::2', /not an IPv6 address/],
    ['12345::', /not an IPv6 address/],
    ['1:2:3:4:5:6:7:8:9', /not an IPv6 address/],
    ['[2001:db8::1]', /not an IPv6 address/],
    ['1'.repeat(50), /too long/]
  ]
  for (const [entry, problem] of cases) {
    const error = t.throws(() => normalizeCidrs([entry]), InvalidCidr, JSON.stringify(entry)) as InvalidCidr
    t.match(error.message, problem, error.message)
    t.ok(error.message.startsWith(JSON.stringify(entry.length > 64 ? `${entry.slice(0, 64)}…` : entry)), 'the message names the entry')
    t.equal(error.entry, entry)
  }
  t.throws(() => normalizeCidrs(['10.0.0.0/8', 'nope']), InvalidCidr, 'one bad entry spoils the list')
  t.throws(() => normalizeCidrs([42 as unknown as string]), InvalidCidr, 'not a string')

  const max = Array.from({ length: MAX_ALLOWED_IPS }, (_, i) => `10.0.${i}.0/24`)
  t.equal(normalizeCidrs(max).length, 32, '32 entries')
  const over = t.throws(() => normalizeCidrs([...max, '10.1.0.0/16']), InvalidCidr) as InvalidCidr
  t.match(over.message, /at most 32 entries \(got 33\)/)
  t.equal(over.entry, null)
})

t.test('IPv4 and IPv6 CIDRs, in and out', async (t) => {
  const allow = list(['203.0.113.0/24', '198.51.100.7', '2001:db8:1234::/48', '0.0.0.0/32'])
  const cases: Array<[string, boolean]> = [
    ['203.0.113.0', true], ['203.0.113.255', true], ['203.0.112.255', false], ['203.0.114.0', false],
    ['198.51.100.7', true], ['198.51.100.8', false], ['198.51.100.6', false],
    ['0.0.0.0', true], ['0.0.0.1', false],
    ['2001:db8:1234::1', true], ['2001:db8:1234:ffff:ffff:ffff:ffff:ffff', true], ['2001:DB8:1234:abcd::', true],
    ['2001:db8:1235::1', false], ['2001:db8:1233:ffff::1', false], ['::1', false], ['127.0.0.1', false]
  ]
  for (const [ip, allowed] of cases) t.equal(allow.allows(ip), allowed, `${ip} ${allowed ? 'in' : 'out'}`)
  const any4 = list(['0.0.0.0/0'])
  t.ok(any4.allows('255.255.255.255') && any4.allows('1.2.3.4'), '/0: every IPv4')
  t.notOk(any4.allows('2001:db8::1'), 'but no IPv6')
  const any6 = list(['::/0'])
  t.ok(any6.allows('2001:db8::1') && any6.allows('::'), '::/0: every IPv6')
  t.notOk(any6.allows('::ffff:1.2.3.4'), 'but not an IPv4 in its mapped form')
  t.notOk(any6.allows('1.2.3.4'), 'nor plainly')
})

t.test('the /64 rule: an IPv6 entry covers its /64, and nothing outside it', async (t) => {
  for (const entry of ['2001:db8:aa:bb::1/128', '2001:db8:aa:bb:1:2:3:4', '2001:db8:aa:bb:ffff::/96']) {
    const allow = list([entry])
    t.ok(allow.allows('2001:db8:aa:bb::1'), `${entry}: the address itself`)
    t.ok(allow.allows('2001:db8:aa:bb:dead:beef:cafe:1'), `${entry}: a privacy address of the same /64`)
    t.ok(allow.allows('2001:db8:aa:bb::'), `${entry}: the /64's first address`)
    t.ok(allow.allows('2001:db8:aa:bb:ffff:ffff:ffff:ffff'), `${entry}: and its last`)
    t.notOk(allow.allows('2001:db8:aa:bc::1'), `${entry}: the next /64`)
    t.notOk(allow.allows('2001:db8:aa:ba:ffff:ffff:ffff:ffff'), `${entry}: the previous one's last address`)
  }
  const wide = list(['2001:db8::/33'])
  t.ok(wide.allows('2001:db8:7fff:ffff::1'))
  t.notOk(wide.allows('2001:db8:8000::1'), 'a prefix shorter than /64 is kept as it is')
})

t.test('IPv4-mapped client addresses are checked as IPv4', async (t) => {
  const allow = list(['203.0.113.0/24', '2001:db8::/64'])
  t.ok(allow.allows('::ffff:203.0.113.7'), 'what Node reports on a dual-stack socket')
  t.ok(allow.allows('::FFFF:203.0.113.7'))
  t.ok(allow.allows('::ffff:cb00:7107'), 'the same address in hex')
  t.ok(allow.allows('0:0:0:0:0:ffff:203.0.113.7'))
  t.notOk(allow.allows('::ffff:203.0.114.7'))
  t.notOk(allow.allows('::203.0.113.7'), 'IPv4-compatible (deprecated) is plain IPv6, not IPv4')
  t.notOk(allow.allows('64:ff9b::203.0.113.7'), 'nor is NAT64')
  const mappedEntry = list(['::ffff:203.0.113.0/120'])
  t.ok(mappedEntry.allows('203.0.113.7') && mappedEntry.allows('::ffff:203.0.113.7'), 'a mapped entry allows both forms')
})

t.test('net.BlockList on Node 20, for the record: why the list does its own matching', async (t) => {
  const v4 = new BlockList()
  v4.addSubnet('203.0.113.0', 24, 'ipv4')
  t.ok(v4.check('::ffff:203.0.113.7', 'ipv6'), 'an IPv4 rule matches the mapped form checked as ipv6')
  t.notOk(v4.check('::ffff:203.0.113.7', 'ipv4'), 'but the mapped form checked as ipv4 is silently false')
  const v6 = new BlockList()
  v6.addSubnet('::', 64, 'ipv6')
  t.ok(v6.check('203.0.113.7', 'ipv4'), 'and an IPv6 rule covering ::ffff:0:0/96 matches plain IPv4 (here ::/64 would)')
  t.notOk(v6.check('garbage', 'ipv6'), 'junk is false, not an error')
  // so ::/64 in a BlockList would let every IPv4 client in; here it does not
  t.notOk(list(['::/64']).allows('203.0.113.7'))
  t.notOk(list(['::/64']).allows('::ffff:203.0.113.7'))
})

t.test('unparseable client addresses are not allowed', async (t) => {
  const allow = list(['0.0.0.0/0', '::/0'])
  for (const ip of ['', 'garbage', '203.0.113', '203.0.113.7.1', '203.0.113.256', '010.0.0.1', ' 203.0.113.7', '203.0.113.7/32',
    'fe80::1%eth0', '2001:db8::1%1', '2001:db8:::1', ':::', '1::2::3', '[2001:db8::1]', '::ffff:1.2.3', 'localhost', '1:2:3:4:5:6:7:8:9',
    undefined as unknown as string, null as unknown as string]) {
    t.notOk(allow.allows(ip), `${JSON.stringify(ip)}`)
  }
})

// The own parsers must agree with net.isIP (zone ids aside, which are refused): a list
// allowing everything allows exactly what net.isIP accepts.
t.test('the address parser agrees with net.isIP', async (t) => {
  const any = list(['0.0.0.0/0', '::/0', '::ffff:0.0.0.0/96'])
  const fixed = ['::', '::1', '1::', '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8', '1::8', '1:2:3:4:5:6::8',
    '::1.2.3.4', '::ffff:1.2.3.4', '1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5::1.2.3.4', '1:2:3:4:5:6:7:1.2.3.4', '1::1.2.3.4',
    ':1.2.3.4', '1.2.3.4::', '::1.2.3', '::01.2.3.4', ':', ':1', '1:', '1::2:', ':1::2', '0000::', '00000::', 'g::', '1:2:3:4:5:6:7:8::',
    '::1:2:3:4:5:6:7:8', '0.0.0.0', '255.255.255.255', '256.0.0.0', '1.2.3.04', '1.2.3.4.', '.1.2.3.4', '1..2.3']
  for (const ip of fixed) t.equal(any.allows(ip), isIP(ip) !== 0, `${ip}: ${isIP(ip)}`)
  const alphabet = '0123456789abcdefABCDEF:.:.::'
  let disagreements = 0
  for (let i = 0; i < 20000; i++) {
    const s = Array.from({ length: randomInt(1, 24) }, () => alphabet[randomInt(alphabet.length)]).join('')
    if (any.allows(s) !== (isIP(s) !== 0)) { disagreements++; t.fail(`disagree on ${s}`) }
  }
  for (let i = 0; i < 5000; i++) {
    const ip = randomV6(randomInt(0, 8))
    if (!any.allows(ip) || isIP(ip) !== 6) { disagreements++; t.fail(`disagree on ${ip}`) }
  }
  t.equal(disagreements, 0, 'random strings and random valid addresses')
})

// An oracle: the list against a net.BlockList of the same canonical rules, on random
// addresses, where BlockList's mapped-address quirks cannot apply (IPv6 rules outside ::/16).
t.test('matches net.BlockList on random rules and addresses', async (t) => {
  let mismatches = 0
  for (let round = 0; round < 200; round++) {
    const entries = Array.from({ length: randomInt(1, 8) }, () => randomInt(2) === 0
      ? `${randomV4()}/${randomInt(1, 33)}`
      : `${randomV6(0, 0x2000)}/${randomInt(16, 129)}`)
    // host bits set are refused: keep each entry's network, as normalizeCidrs said it
    const canonical = normalizeCidrs(entries.map(networkOf))
    const allow = IpAllowList.from(canonical) as IpAllowList
    const oracle = new BlockList()
    for (const cidr of canonical) {
      const [net, prefix] = cidr.split('/') as [string, string]
      oracle.addSubnet(net, Number(prefix), net.includes(':') ? 'ipv6' : 'ipv4')
    }
    const probes = canonical.flatMap((cidr) => near(cidr))
    for (let i = 0; i < 50; i++) probes.push(randomV4(), randomV6(0, 0x2000))
    for (const ip of probes) {
      const mapped = !ip.includes(':') && randomInt(2) === 0 ? `::ffff:${ip}` : null
      const expected = oracle.check(ip, ip.includes(':') ? 'ipv6' : 'ipv4')
      if (allow.allows(mapped ?? ip) !== expected) { mismatches++; t.fail(`${canonical.join(' ')}: ${mapped ?? ip}, BlockList says ${expected}`) }
    }
  }
  t.equal(mismatches, 0)
})

t.test('an empty list is no restriction', async (t) => {
  t.equal(IpAllowList.from([]), null, 'null: any address')
  t.throws(() => IpAllowList.from(['10.0.0.1/8']), InvalidCidr, 'a stored list that does not parse throws (never read as "any")')
  t.ok(IpAllowList.from(['10.0.0.0/8'])?.allows('10.1.2.3'), 'a stored canonical list')
})

t.test('the check is cheap', async (t) => {
  const allow = list(Array.from({ length: 16 }, (_, i) => `10.${i}.0.0/16`).concat(Array.from({ length: 16 }, (_, i) => `2001:db8:${i.toString(16)}::/48`)))
  const ips = ['10.15.1.2', '::ffff:10.15.1.2', '2001:db8:f::1', '192.0.2.1', '2001:db8:99::1']
  const n = 100_000
  const start = process.hrtime.bigint()
  let hits = 0
  for (let i = 0; i < n; i++) if (allow.allows(ips[i % ips.length] as string)) hits++
  const ns = Number(process.hrtime.bigint() - start) / n
  t.equal(hits, n * 3 / 5)
  t.ok(ns < 5000, `${ns.toFixed(0)} ns a check with 32 entries (a loose bound: CI machines vary)`)
})

function randomV4 (): string {
  return Array.from({ length: 4 }, () => randomInt(256)).join('.')
}

/** A random IPv6 in RFC 5952-ish or full form, its first group at least `firstMin`, with `zeros` groups zeroed. */
function randomV6 (zeros: number, firstMin = 0): string {
  const h = Array.from({ length: 8 }, () => randomInt(0x10000))
  h[0] = randomInt(firstMin, 0x10000)
  for (let i = 0; i < zeros; i++) h[randomInt(8)] = 0
  // avoid the mapped prefix, where BlockList and the list differ on purpose
  if (h.slice(0, 5).every((x) => x === 0) && h[5] === 0xffff) h[5] = 0
  const full = h.map((x) => x.toString(16)).join(':')
  return randomInt(2) === 0 ? full : (new URL(`http://[${full}]/`)).hostname.slice(1, -1)
}

/** The entry with its host bits cleared (the /64 widening keeps an IPv6's bits within the /64 out anyway). */
function networkOf (entry: string): string {
  const [address, prefixText] = entry.split('/') as [string, string]
  const prefix = Number(prefixText)
  if (!address.includes(':')) {
    const value = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0)
    const net = prefix === 0 ? 0 : Number(BigInt(value) & ((1n << 32n) - (1n << BigInt(32 - prefix))))
    return `${[24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.')}/${prefix}`
  }
  const bits = toBigInt(address)
  const keep = Math.min(prefix, 64)
  const net = bits & (((1n << 128n) - 1n) ^ ((1n << BigInt(128 - keep)) - 1n))
  return `${fromBigInt(net)}/${prefix}`
}

/** Addresses at the edges of a canonical CIDR, just inside and just outside. */
function near (cidr: string): string[] {
  const [address, prefixText] = cidr.split('/') as [string, string]
  const prefix = Number(prefixText)
  if (!address.includes(':')) {
    const net = address.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0)
    const size = 2 ** (32 - prefix)
    return [net, net + size - 1, net - 1, net + size].filter((x) => x >= 0 && x < 2 ** 32)
      .map((x) => [24, 16, 8, 0].map((s) => Math.floor(x / 2 ** s) % 256).join('.'))
  }
  const net = toBigInt(address)
  const size = 1n << BigInt(128 - prefix)
  return [net, net + size - 1n, net - 1n, net + size].filter((x) => x >= 0n && x < (1n << 128n)).map(fromBigInt)
}

function toBigInt (ip: string): bigint {
  const [head, tail] = ip.split('::') as [string, string | undefined]
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...new Array<string>(8 - left.length - right.length).fill('0'), ...right]
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n)
}

function fromBigInt (value: bigint): string {
  return Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16)).join(':')
}
