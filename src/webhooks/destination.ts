import { type LookupAddress, Resolver } from 'node:dns'
import type { LookupFunction } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Where a webhook may be delivered (API.md section 9, issue 19): only to public addresses, unless
 * WEBHOOK_ALLOW_PRIVATE=true. A webhook URL is chosen by a key's owner and fetched by the server,
 * so without this check a key could make the server call its own network (Redis, the cloud
 * metadata service at 169.254.169.254, an admin port on localhost): server-side request forgery.
 *
 * The check runs on the addresses the name resolves to at each delivery, inside the socket's own
 * lookup (`checkedLookup`): the connection goes to an address that was checked, with no second
 * resolution between the check and the connect that a DNS-rebinding name could answer
 * differently. Every address of the name must be public, not just the first: a name that
 * resolves to one public and one private address is refused.
 */

/** Why a destination is refused; the message names the address and its kind, for the delivery log. */
export class DestinationRefused extends Error {
  readonly code = 'DESTINATION_REFUSED'
  constructor (readonly address: string, readonly kind: string) {
    super(`${address} is a ${kind} address: webhooks go to public addresses only (WEBHOOK_ALLOW_PRIVATE=true allows others)`)
    this.name = 'DestinationRefused'
  }
}

/**
 * The kind of an address as ipaddr.js classifies it ('unicast' is public), after unwrapping
 * the IPv6 forms that carry an IPv4 address a connection would reach: IPv4-mapped
 * (::ffff:127.0.0.1) and NAT64 (64:ff9b::/96, RFC 6052). Tunnel prefixes (6to4, Teredo) keep
 * their own kind and are refused: what they lead to is not known from here.
 */
export function addressKind (address: string): string {
  if (!ipaddr.isValid(address)) return 'invalid'
  let parsed = ipaddr.parse(address)
  if (parsed.kind() === 'ipv6') {
    const v6 = parsed as ipaddr.IPv6
    if (v6.isIPv4MappedAddress()) parsed = v6.toIPv4Address()
    else if (v6.range() === 'rfc6052') parsed = ipaddr.IPv4.parse(v6.toNormalizedString().split(':').slice(-2).map((h) => parseInt(h, 16)).flatMap((n) => [n >> 8, n & 255]).join('.'))
    // The deprecated IPv4-compatible form (::a.b.c.d, ::/96, RFC 4291 2.5.5.1) is 'unicast' to
    // ipaddr.js; some stacks still route it to the IPv4 address: never public here.
    else if (v6.range() === 'unicast' && v6.parts.slice(0, 6).every((part) => part === 0)) return 'ipv4Compatible'
  }
  return parsed.range()
}

/** Whether a webhook may connect to `address`. */
export function isPublicAddress (address: string): boolean {
  return addressKind(address) === 'unicast'
}

type Resolve = (hostname: string, options: { all: true, verbatim: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void

/**
 * Webhook names are resolved by c-ares (dns.Resolver: DNS queries on the event loop), not by
 * dns.lookup, whose getaddrinfo runs on libuv's thread pool: four threads that argon2 (every API
 * key check) and the file system share, so a webhook name served by a slow DNS server (chosen by
 * whoever registered it) could stall key verification. A resolver per lookup (it reads
 * /etc/resolv.conf then, so a changed one counts), its queries cancelled after
 * RESOLVE_TIMEOUT_MS in all. Decisions: the hosts file and resolv.conf's search list are not
 * used for webhook names (give fully qualified names); `localhost` and `*.localhost` are
 * loopback as RFC 6761 says (refused unless WEBHOOK_ALLOW_PRIVATE=true).
 */
export const RESOLVE_TIMEOUT_MS = 4000

const LOOPBACK: readonly LookupAddress[] = Object.freeze([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }])

/** Every A and AAAA address of `hostname` (IPv4 first), or the first error when it has none. */
export const resolveWithDns: Resolve = (hostname, _options, callback) => {
  const name = hostname.toLowerCase().replace(/\.$/, '')
  if (name === 'localhost' || name.endsWith('.localhost')) {
    callback(null, [...LOOPBACK])
    return
  }
  const resolver = new Resolver({ timeout: RESOLVE_TIMEOUT_MS / 2, tries: 1 })
  const found: LookupAddress[] = []
  let firstError: NodeJS.ErrnoException | null = null
  let pending = 2
  let timedOut = false
  // Both families must answer: every address of a name is checked, not only the first.
  const timer = setTimeout(() => { timedOut = true; resolver.cancel() }, RESOLVE_TIMEOUT_MS)
  const answer = (family: 4 | 6) => (err: NodeJS.ErrnoException | null, addresses: string[]): void => {
    if (err !== null) firstError ??= err
    else for (const address of addresses) found.push({ address, family })
    if (--pending > 0) return
    clearTimeout(timer)
    found.sort((a, b) => a.family - b.family)
    if (timedOut) callback(Object.assign(new Error(`${hostname}: no answer within ${RESOLVE_TIMEOUT_MS} ms`), { code: 'ETIMEOUT' }), [])
    else if (found.length > 0) callback(null, found)
    else callback(firstError ?? Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), [])
  }
  resolver.resolve4(name, answer(4))
  resolver.resolve6(name, answer(6))
}

/**
 * A `lookup` for http(s).request / net.connect that resolves the name, refuses it unless every
 * address is public (or `allowPrivate`), and hands the socket a checked address.
 * `resolve` is resolveWithDns; tests pass their own resolver.
 */
export function checkedLookup (allowPrivate: boolean, resolve: Resolve = resolveWithDns): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { all: true, verbatim: true }, (err, addresses) => {
      if (err !== null) {
        callback(err, '', 4)
        return
      }
      const family = typeof options.family === 'number' ? options.family : 0
      const usable = addresses.filter((a) => family === 0 || a.family === family)
      if (usable.length === 0) {
        callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '', 4)
        return
      }
      if (!allowPrivate) {
        const refused = usable.find((a) => !isPublicAddress(a.address))
        if (refused !== undefined) {
          callback(new DestinationRefused(refused.address, addressKind(refused.address)), '', 4)
          return
        }
      }
      if (options.all === true) callback(null, usable)
      else callback(null, (usable[0] as LookupAddress).address, (usable[0] as LookupAddress).family)
    })
  }
}

/** A webhook URL that cannot be used, and why (a 400 at registration, a failed attempt at delivery). */
export class InvalidDestination extends Error {
  readonly code = 'INVALID_DESTINATION'
  constructor (message: string) {
    super(message)
    this.name = 'InvalidDestination'
  }
}

/**
 * What can be checked of a webhook URL without resolving it: `https` only, no user or password
 * in it (they would travel as credentials, and sit in the store in clear), and a host that is an
 * IP literal must be public here, because a connection to a literal makes no lookup
 * (`checkedLookup` never sees it). Names are checked when they are resolved, at each delivery.
 */
export function checkDestinationUrl (url: string, allowPrivate: boolean): URL {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new InvalidDestination('the webhook url is not a URL')
  }
  if (parsed.protocol !== 'https:') throw new InvalidDestination('the webhook url must be https')
  if (parsed.username !== '' || parsed.password !== '') throw new InvalidDestination('the webhook url must not carry a user or password')
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1')
  if (!allowPrivate && ipaddr.isValid(host) && !isPublicAddress(host)) throw new DestinationRefused(host, addressKind(host))
  return parsed
}
