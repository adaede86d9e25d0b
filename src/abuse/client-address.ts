import { formatV6, isMapped, parseV6 } from '../auth/ip-allow-list.js'

/**
 * The client an abuse score, a block or the auth-failure lockout is kept for: an IPv4 address
 * as is, an IPv6 client as its /64 network (`2001:db8:1:2::/64`), because one host owns a whole
 * /64 and its privacy addresses (RFC 8981) change within it; an IPv4-mapped IPv6 address
 * (`::ffff:203.0.113.7`, a dual-stack socket) is its IPv4. The rate limiter groups IPv6 the same
 * way, so one client is one thing everywhere.
 *
 * Cheap for IPv4 (no parse: the string as Node reports it), which is what a block check on
 * every request pays while a block exists.
 */
export function clientAddress (ip: string): string {
  // A request whose socket is already gone has no address: one client, "unknown", never a throw.
  if (typeof ip !== 'string') return 'unknown'
  if (!ip.includes(':')) return ip
  const h = parseV6(ip)
  // Node only reports valid addresses; a stray value is its own client, never merged with another.
  if (h === null) return ip
  if (isMapped(h)) return `${h[6]! >>> 8}.${h[6]! & 255}.${h[7]! >>> 8}.${h[7]! & 255}`
  return `${formatV6([h[0]!, h[1]!, h[2]!, h[3]!, 0, 0, 0, 0])}/64`
}
