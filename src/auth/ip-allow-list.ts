import { isIP } from 'node:net'

/**
 * Per-key client-address allow-lists (API.md `allowedIps`): CIDRs, checked on every request
 * of a restricted key.
 *
 * Decisions:
 * - A bare IPv4 address is its /32. An IPv6 entry is at least a /64: a bare address, or a
 *   longer prefix, is widened to its /64, because a host's privacy addresses (RFC 8981) change
 *   within its /64, and the abuse defence already treats a /64 as one client.
 * - Host bits beyond the prefix are refused (`10.0.0.1/8` is probably a typo), except inside
 *   an IPv6 /64, where the widening makes them meaningless.
 * - An IPv4-mapped IPv6 entry (`::ffff:10.0.0.0/104`) is taken as the IPv4 it maps
 *   (`10.0.0.0/8`; /96 or longer only), as client addresses in that form (dual-stack sockets)
 *   are checked as IPv4. So an IPv6 entry never matches an IPv4 client, even `::/0`.
 * - Zone ids, ranges, hostnames, leading zeros in IPv4 octets (octal to some parsers) are refused.
 */

export const MAX_ALLOWED_IPS = 32
/** the longest valid entry: a full IPv6 with an embedded IPv4, and a /128 */
const MAX_ENTRY_CHARS = 49
const IPV6_HOST_PREFIX = 64

/** A CIDR list entry that cannot be accepted; the message names the entry and what is wrong (for a 400). */
export class InvalidCidr extends Error {
  constructor (readonly entry: string | null, readonly problem: string) {
    super(entry === null ? problem : `${show(entry)}: ${problem}`)
    this.name = 'InvalidCidr'
  }
}

function show (entry: string): string {
  return JSON.stringify(entry.length > 64 ? `${entry.slice(0, 64)}…` : entry)
}

interface V4Rule { family: 4, net: number, prefix: number }
/** the first 64 bits only: no IPv6 rule is longer than /64 */
interface V6Rule { family: 6, hi: number, lo: number, prefix: number }
type Rule = V4Rule | V6Rule

/**
 * The canonical form of an allow-list (what is stored and shown): `203.0.113.7/32`,
 * `2001:db8::/64` (RFC 5952 text), in the given order, duplicates removed. Throws InvalidCidr.
 */
export function normalizeCidrs (entries: readonly string[]): string[] {
  if (entries.length > MAX_ALLOWED_IPS) throw new InvalidCidr(null, `at most ${MAX_ALLOWED_IPS} entries (got ${entries.length})`)
  return [...new Set(entries.map((entry) => format(parseEntry(entry))))]
}

/** The allow-list of a key, ready for the per-request check. */
export class IpAllowList {
  // Flat typed arrays, precomputed masks: the check is a parse and two or four integer comparisons per rule.
  private readonly v4: Uint32Array
  private readonly v6: Uint32Array

  private constructor (rules: readonly Rule[]) {
    const v4 = rules.filter((r): r is V4Rule => r.family === 4)
    const v6 = rules.filter((r): r is V6Rule => r.family === 6)
    this.v4 = new Uint32Array(v4.flatMap((r) => [r.net, mask(r.prefix)]))
    this.v6 = new Uint32Array(v6.flatMap((r) => [r.hi, r.lo, mask(Math.min(r.prefix, 32)), mask(Math.max(r.prefix - 32, 0))]))
  }

  /**
   * From a stored list (normally normalizeCidrs' output; an entry that does not parse throws
   * InvalidCidr rather than being skipped, which could leave an empty list: any address).
   * Null for an empty list: any address.
   */
  static from (cidrs: readonly string[]): IpAllowList | null {
    if (cidrs.length === 0) return null
    return new IpAllowList(cidrs.map(parseEntry))
  }

  /** Whether a client address (as Node reports it) is in the list. An unparseable address is not. */
  allows (ip: string): boolean {
    if (typeof ip !== 'string') return false
    if (ip.includes(':')) {
      const h = parseV6(ip)
      if (h === null) return false
      if (isMapped(h)) return this.allowsV4(((h[6]! << 16) | h[7]!) >>> 0)
      const hi = ((h[0]! << 16) | h[1]!) >>> 0
      const lo = ((h[2]! << 16) | h[3]!) >>> 0
      const rules = this.v6
      for (let i = 0; i < rules.length; i += 4) {
        if (((hi & rules[i + 2]!) >>> 0) === rules[i] && ((lo & rules[i + 3]!) >>> 0) === rules[i + 1]) return true
      }
      return false
    }
    const v4 = parseV4(ip)
    return v4 !== null && this.allowsV4(v4)
  }

  private allowsV4 (ip: number): boolean {
    const rules = this.v4
    for (let i = 0; i < rules.length; i += 2) {
      if (((ip & rules[i + 1]!) >>> 0) === rules[i]) return true
    }
    return false
  }
}

function parseEntry (entry: string): Rule {
  if (typeof entry !== 'string') throw new InvalidCidr(String(entry), 'not a string')
  if (entry === '') throw new InvalidCidr(entry, 'empty')
  if (entry.length > MAX_ENTRY_CHARS) throw new InvalidCidr(entry, 'too long for an address or CIDR')
  if (/\s/.test(entry)) throw new InvalidCidr(entry, 'contains whitespace')
  if (entry.includes('%')) throw new InvalidCidr(entry, 'zone ids are not allowed')
  if (/^[0-9a-fA-F:.]+-[0-9a-fA-F:.]+$/.test(entry)) throw new InvalidCidr(entry, 'ranges are not supported: use CIDRs')
  const [address, prefixText, extra] = entry.split('/') as [string, string | undefined, string | undefined]
  if (extra !== undefined) throw new InvalidCidr(entry, 'more than one /')
  if (prefixText !== undefined && !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) throw new InvalidCidr(entry, 'the prefix length is not a decimal number (without leading zeros)')
  const prefix = prefixText === undefined ? undefined : Number(prefixText)

  // net.isIP picks the family and the error message; the own parsers (agreeing with it) give the bits.
  const family = isIP(address)
  const v4 = family === 4 ? parseV4(address) : null
  if (v4 !== null) return v4Rule(entry, v4, prefix ?? 32, '')
  const h = family === 6 ? parseV6(address) : null
  if (h !== null) {
    if (prefix !== undefined && prefix > 128) throw new InvalidCidr(entry, 'an IPv6 prefix is at most /128')
    if (!isMapped(h)) return v6Rule(entry, h, prefix ?? IPV6_HOST_PREFIX)
    if (prefix !== undefined && prefix < 96) throw new InvalidCidr(entry, 'an IPv4-mapped network must be /96 or longer')
    return v4Rule(entry, ((h[6]! << 16) | h[7]!) >>> 0, prefix === undefined ? 32 : prefix - 96, ' of the mapped IPv4')
  }
  if (/^[0-9.]+$/.test(address)) {
    throw new InvalidCidr(entry, /(^|\.)0[0-9]/.test(address) ? 'leading zeros in an IPv4 address (octal to some parsers)' : 'not an IPv4 address')
  }
  throw new InvalidCidr(entry, address.includes(':') ? 'not an IPv6 address' : 'not an IP address or CIDR (hostnames are not supported)')
}

function v4Rule (entry: string, ip: number, prefix: number, what: string): V4Rule {
  if (prefix > 32) throw new InvalidCidr(entry, 'an IPv4 prefix is at most /32')
  const net = (ip & mask(prefix)) >>> 0
  if (net !== ip) throw new InvalidCidr(entry, `host bits set beyond /${prefix}${what} (the network is ${formatV4(net)}/${prefix})`)
  return { family: 4, net, prefix }
}

function v6Rule (entry: string, h: number[], prefix: number): V6Rule {
  const hi = ((h[0]! << 16) | h[1]!) >>> 0
  const lo = ((h[2]! << 16) | h[3]!) >>> 0
  // Longer than /64: widened, whatever the bits within the /64 (see the top of this file).
  if (prefix >= IPV6_HOST_PREFIX) return { family: 6, hi, lo, prefix: IPV6_HOST_PREFIX }
  const net = { family: 6 as const, hi: (hi & mask(Math.min(prefix, 32))) >>> 0, lo: (lo & mask(Math.max(prefix - 32, 0))) >>> 0, prefix }
  if (net.hi !== hi || net.lo !== lo || h.slice(4).some((x) => x !== 0)) {
    throw new InvalidCidr(entry, `host bits set beyond /${prefix} (the network is ${format(net)})`)
  }
  return net
}

/** The first `prefix` bits of 32 set. */
function mask (prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

function format (rule: Rule): string {
  if (rule.family === 4) return `${formatV4(rule.net)}/${rule.prefix}`
  const h = [rule.hi >>> 16, rule.hi & 0xffff, rule.lo >>> 16, rule.lo & 0xffff, 0, 0, 0, 0]
  return `${formatV6(h)}/${rule.prefix}`
}

function formatV4 (ip: number): string {
  return `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`
}

/** RFC 5952 §4: lowercase, no leading zeros, the first longest run of two or more zero groups as '::'. */
export function formatV6 (h: readonly number[]): string {
  let best = -1
  let bestLength = 1
  for (let i = 0; i < 8;) {
    if (h[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && h[j] === 0) j++
    if (j - i > bestLength) { best = i; bestLength = j - i }
    i = j
  }
  const hex = (groups: readonly number[]): string => groups.map((x) => x.toString(16)).join(':')
  if (best === -1) return hex(h)
  return `${hex(h.slice(0, best))}::${hex(h.slice(best + bestLength))}`
}

export function isMapped (h: readonly number[]): boolean {
  return h[0] === 0 && h[1] === 0 && h[2] === 0 && h[3] === 0 && h[4] === 0 && h[5] === 0xffff
}

/** Dotted-quad IPv4, four decimal octets without leading zeros (what net.isIPv4 accepts); null otherwise. */
function parseV4 (s: string): number | null {
  let value = 0
  let octets = 0
  let octet = -1
  let digits = 0
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 46 // a final '.' closes the last octet
    if (c === 46) {
      if (digits === 0 || ++octets > 4) return null
      value = value * 256 + octet
      octet = -1
      digits = 0
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return null // a leading zero
      octet = digits === 0 ? c - 48 : octet * 10 + c - 48
      if (++digits > 3 || octet > 255) return null
    } else {
      return null
    }
  }
  return octets === 4 ? value : null
}

/** RFC 4291 §2.2 text (what net.isIPv6 accepts, zone ids aside) as eight 16-bit groups; null otherwise. */
export function parseV6 (s: string): number[] | null {
  const n = s.length
  if (n < 2 || n > 45) return null
  const groups: number[] = []
  let gap = -1 // where '::' stands, in groups
  let i = 0
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return null
    gap = 0
    i = 2
  }
  // A char loop, not split and regexes: this runs on every request of a restricted key.
  while (i < n) {
    const start = i
    let value = 0
    for (; i < n && i - start <= 4; i++) {
      const c = s.charCodeAt(i)
      const digit = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1
      if (digit === -1) break
      value = value * 16 + digit
    }
    if (i < n && s.charCodeAt(i) === 46) { // an IPv4 ending
      const v4 = parseV4(s.slice(start))
      if (v4 === null) return null
      groups.push(v4 >>> 16, v4 & 0xffff)
      break
    }
    if (i === start || i - start > 4 || groups.length === 8) return null
    groups.push(value)
    if (i === n) break
    if (s.charCodeAt(i) !== 58) return null
    i++
    if (s.charCodeAt(i) === 58) {
      if (gap !== -1) return null
      gap = groups.length
      i++
    } else if (i === n) {
      return null // a single trailing ':'
    }
  }
  if (gap === -1) return groups.length === 8 ? groups : null
  // '::' stands for at least one group
  if (groups.length > 7) return null
  groups.splice(gap, 0, ...new Array<number>(8 - groups.length).fill(0))
  return groups
}
