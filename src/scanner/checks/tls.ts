// TLS (issue #14, item 12, and the HSTS part of item 1): what Node's own tls module can see of
// the target's HTTPS: the protocol versions it accepts, forward secrecy, the certificate and HSTS.
// What Node cannot test (SSLv2/3, Heartbleed, ROBOT, renegotiation) is a skip, never a pass.
// Every handshake counts as one request against the check's budget and the global cap.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import tls from 'node:tls'
import { type Check, fail, type Finding, pass, skip, Skip } from '../check.js'
import { CapReached, CheckBudgetExceeded, Unreachable } from '../client.js'
import type { ScanContext } from '../context.js'

const SOURCE = 'src/server-options.ts'
const OWASP = 'API8:2023'
const NOT_HTTPS = 'not an https URL'
const USE_TESTSSL = 'not testable here, use testssl.sh'
/** HSTS max-age that browsers' preload lists and scanners expect: 180 days */
export const HSTS_MIN_SECONDS = 15_552_000
/** A certificate that expires sooner than this is a failure: renewal has failed or is late. */
export const CERT_MIN_DAYS = 14
const DAY_MS = 86_400_000

// Errors OpenSSL raises on this side before a ClientHello leaves: the server said nothing.
const LOCAL_CODES = new Set([
  'ERR_SSL_NO_PROTOCOLS_AVAILABLE',
  'ERR_SSL_NO_CIPHERS_AVAILABLE',
  'ERR_SSL_NO_CIPHER_MATCH',
  'ERR_SSL_UNSUPPORTED_SSL_VERSION'
])
// Raised once the server has chosen the (old) version: the server accepted it, our side then
// refused its signature algorithm.
const SERVER_ACCEPTED_CODES = new Set(['ERR_SSL_LEGACY_SIGALG_DISALLOWED_OR_UNSUPPORTED'])

/** What one handshake came to. Network failures (no TCP connection, no answer) throw Unreachable. */
export type HandshakeOutcome =
  | {
    kind: 'accepted'
    protocol: string | null
    /** absent when our side stopped the handshake after the server chose its version */
    cipher?: tls.CipherNameAndProtocol
    cert?: tls.PeerCertificate
    authorized?: boolean
    authorizationError?: string | null
  }
  /** the server refused (an alert, a reset or a close after the ClientHello, a version it would not lower) */
  | { kind: 'refused', reason: string }
  /** our own TLS library refused to offer it: nothing was sent */
  | { kind: 'local', reason: string }

/** The URL's host as tls.connect wants it (IPv6 without brackets). */
export function hostOf (url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1')
}

/** Loopback, private and local names: where a plain-HTTP URL usually sits behind a TLS proxy. */
export function isPrivateHost (host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '')
  if (h === 'localhost' || h.endsWith('.localhost')) return true
  const v4 = isIP(h) === 4 ? h : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h)?.[1]
  if (v4 !== undefined && isIP(v4) === 4) {
    const [a = 0, b = 0] = v4.split('.').map(Number)
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)
  }
  if (isIP(h) === 6) return h === '::1' || /^f[cd][0-9a-f]{2}:/.test(h)
  return false
}

/** Counts one handshake as one request: against the check's budget and the run's cap. */
function spendHandshake (ctx: ScanContext): void {
  if (ctx.http.used + 1 > ctx.http.budget) throw new CheckBudgetExceeded(`${ctx.http.checkId} needs more than its budget of ${ctx.http.budget} requests`)
  if (!ctx.http.canAfford(1)) throw new CapReached(`--max-requests ${ctx.options.maxRequests} reached`)
  ctx.http.used++
  ctx.client.sent++
}

function codeOf (err: unknown): string {
  const e = err as NodeJS.ErrnoException & { reason?: string }
  return e.code ?? e.reason ?? e.message
}

/**
 * One TLS handshake with the target (counted), then the socket is closed. Certificates are
 * never refused here (rejectUnauthorized: false): the result carries the verdict instead.
 */
export async function tlsHandshake (ctx: ScanContext, options: tls.ConnectionOptions): Promise<HandshakeOutcome> {
  spendHandshake(ctx)
  const url = ctx.options.url
  const host = hostOf(url)
  const port = url.port === '' ? 443 : Number(url.port)
  const where = `${host}:${port}`
  return await new Promise<HandshakeOutcome>((resolve, reject) => {
    let socket: tls.TLSSocket
    try {
      socket = tls.connect({
        host,
        port,
        rejectUnauthorized: false,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...options
      })
    } catch (err) {
      // An option this OpenSSL cannot build a context for (a cipher list that matches nothing).
      resolve({ kind: 'local', reason: codeOf(err) })
      return
    }
    let connected = false
    let settled = false
    const finish = (outcome: HandshakeOutcome | Error): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (outcome instanceof Error) reject(outcome)
      else resolve(outcome)
    }
    const timer = setTimeout(() => {
      finish(new Unreachable(connected ? `TLS ${where}: no handshake within ${ctx.options.timeoutMs} ms` : `TLS ${where}: no connection within ${ctx.options.timeoutMs} ms`))
    }, ctx.options.timeoutMs)
    socket.once('connect', () => { connected = true })
    socket.once('secureConnect', () => {
      const authError = socket.authorizationError as unknown
      finish({
        kind: 'accepted',
        protocol: socket.getProtocol(),
        cipher: socket.getCipher(),
        cert: socket.getPeerCertificate(false),
        authorized: socket.authorized,
        authorizationError: authError === undefined || authError === null ? null : String((authError as { code?: string }).code ?? authError)
      })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      const code = codeOf(err)
      if (LOCAL_CODES.has(code)) finish({ kind: 'local', reason: code })
      else if (!connected) finish(new Unreachable(`TLS ${where}: ${err.message}`))
      else if (SERVER_ACCEPTED_CODES.has(code)) finish({ kind: 'accepted', protocol: socket.getProtocol() })
      else finish({ kind: 'refused', reason: code })
    })
    socket.once('close', () => {
      finish(connected ? { kind: 'refused', reason: 'connection closed' } : new Unreachable(`TLS ${where}: connection closed`))
    })
  })
}

/** Throws the skip every check but MSV-TLS-001 reports for a plain-HTTP URL. */
function requireHttps (ctx: ScanContext): void {
  if (ctx.options.url.protocol !== 'https:') throw new Skip(NOT_HTTPS)
}

const hasForwardSecrecy = (cipher: tls.CipherNameAndProtocol): boolean =>
  cipher.version === 'TLSv1.3' || /^(ECDHE|DHE|EDH)-/.test(cipher.name) || /^TLS_(EC)?DHE_/.test(cipher.standardName ?? '')

const describe = (outcome: HandshakeOutcome): string =>
  outcome.kind === 'accepted' ? `accepted (${outcome.protocol ?? '?'}${outcome.cipher === undefined ? '' : `, ${outcome.cipher.name}`})` : `${outcome.kind === 'refused' ? 'refused' : 'not offered by this client'} (${outcome.reason})`

/** The directives of a Strict-Transport-Security value (the first header when several were joined). */
export function hstsMaxAge (value: string | undefined): number | null {
  if (value === undefined) return null
  for (const part of value.split(/[;,]/)) {
    const m = /^\s*max-age\s*=\s*"?(\d+)"?\s*$/i.exec(part)
    if (m?.[1] !== undefined) return Number(m[1])
  }
  return null
}

const httpsUrl: Check = {
  id: 'MSV-TLS-001',
  family: 'TLS',
  title: 'HTTPS in use',
  owasp: OWASP,
  cwe: 319,
  severity: 'high',
  profile: 'safe',
  budget: 0,
  order: 10,
  fix: 'serve HTTPS: TLS_CERT_FILE/TLS_KEY_FILE, or end TLS at the proxy and scan the public https URL',
  source: SOURCE,
  plan: ['no request: judges the scheme and host of --url'],
  async run (ctx) {
    const url = ctx.options.url
    if (url.protocol === 'https:') return [pass(`the URL is https (${url.host})`)]
    if (isPrivateHost(url.hostname)) return [skip('plain HTTP on a private address (TLS is usually ended by a proxy in front; scan the public URL)')]
    // An internal name (a compose service, a cluster DNS name) that resolves only to private addresses is the same case.
    const addresses = isIP(hostOf(url)) === 0 ? await lookup(hostOf(url), { all: true }).catch(() => []) : []
    if (addresses.length > 0 && addresses.every((a) => isPrivateHost(a.address))) {
      return [skip(`plain HTTP to ${url.hostname}, which resolves to private addresses only (${addresses.map((a) => a.address).join(', ')}): scan the public URL for TLS`)]
    }
    return [fail(`plain HTTP on a public host (${url.host}): messages, keys and tokens cross the network in clear`)]
  }
}

const oldProtocols: Check = {
  id: 'MSV-TLS-002',
  family: 'TLS',
  title: 'TLS 1.0 and 1.1 refused',
  owasp: OWASP,
  cwe: 327,
  severity: 'high',
  profile: 'safe',
  budget: 1,
  order: 10,
  fix: 'accept TLS 1.2 and 1.3 only: Missive sets minVersion TLSv1.2 (src/server-options.ts); set the same minimum on the proxy that ends TLS',
  source: SOURCE,
  plan: ['TLS handshake offering only TLS 1.0-1.1 (lowest security level, so a refusal is the server\'s)'],
  async run (ctx) {
    requireHttps(ctx)
    const outcome = await tlsHandshake(ctx, { minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT:@SECLEVEL=0' })
    if (outcome.kind === 'local') throw new Skip(`this Node/OpenSSL cannot offer TLS 1.0/1.1 (${outcome.reason}); use testssl.sh`)
    if (outcome.kind === 'accepted') return [fail(`a TLS 1.0/1.1-only handshake was ${describe(outcome)}`)]
    return [pass(`a TLS 1.0/1.1-only handshake was refused by the server (${outcome.reason})`)]
  }
}

const modernProtocols: Check = {
  id: 'MSV-TLS-003',
  family: 'TLS',
  title: 'TLS 1.2 or 1.3 offered',
  owasp: OWASP,
  cwe: 327,
  severity: 'high',
  profile: 'safe',
  budget: 2,
  order: 10,
  fix: 'offer TLS 1.2 and 1.3 (Node does by default; check the proxy\'s protocol list)',
  source: SOURCE,
  plan: ['TLS handshake offering only TLS 1.2', 'TLS handshake offering only TLS 1.3'],
  async run (ctx) {
    requireHttps(ctx)
    const v12 = await tlsHandshake(ctx, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
    const v13 = await tlsHandshake(ctx, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' })
    const seen = `TLS 1.2 ${describe(v12)}; TLS 1.3 ${describe(v13)}`
    if (v12.kind === 'accepted' || v13.kind === 'accepted') return [pass(seen)]
    if (v12.kind === 'local' || v13.kind === 'local') throw new Skip(`this Node/OpenSSL could not offer every version, and the server accepted none: ${seen}; use testssl.sh`)
    return [fail(seen)]
  }
}

const NON_FS_CIPHERS = 'AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA'

const forwardSecrecy: Check = {
  id: 'MSV-TLS-004',
  family: 'TLS',
  title: 'Forward secrecy',
  owasp: OWASP,
  cwe: 327,
  severity: 'medium',
  profile: 'safe',
  budget: 2,
  order: 10,
  fix: 'offer only ECDHE/DHE suites in TLS 1.2 (the `ciphers` of the https options in src/server-options.ts, or the proxy\'s cipher list, e.g. Mozilla\'s "intermediate")',
  source: SOURCE,
  plan: ['TLS 1.2 handshake with the default cipher list: the suite agreed', `TLS 1.2 handshake offering only RSA key exchange (${NON_FS_CIPHERS})`],
  async run (ctx) {
    requireHttps(ctx)
    const findings: Finding[] = []
    const v12 = await tlsHandshake(ctx, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' })
    if (v12.kind === 'local') throw new Skip(`this Node/OpenSSL cannot offer TLS 1.2 (${v12.reason}); use testssl.sh`)
    if (v12.kind === 'refused') findings.push(pass(`TLS 1.2 refused (${v12.reason}): TLS 1.3 only, whose suites are all forward secret`))
    else if (v12.cipher === undefined) findings.push(skip('TLS 1.2 was chosen but the handshake stopped before a suite was agreed'))
    else if (hasForwardSecrecy(v12.cipher)) findings.push(pass(`TLS 1.2 agreed on ${v12.cipher.name} (forward secret)`))
    else findings.push(fail(`TLS 1.2 agreed on ${v12.cipher.name}, without forward secrecy`))

    if (v12.kind === 'refused') return findings
    const rsa = await tlsHandshake(ctx, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2', ciphers: NON_FS_CIPHERS })
    if (rsa.kind === 'local') findings.push(skip(`this Node/OpenSSL cannot offer RSA key exchange suites (${rsa.reason}); use testssl.sh`))
    else if (rsa.kind === 'accepted') findings.push(fail(`a TLS 1.2 handshake offering only RSA key exchange was ${describe(rsa)}: a client can be served without forward secrecy`))
    else findings.push(pass(`a TLS 1.2 handshake offering only RSA key exchange was refused (${rsa.reason})`))
    return findings
  }
}

const certificate: Check = {
  id: 'MSV-TLS-005',
  family: 'TLS',
  title: 'Certificate trusted, valid for the host, not near expiry',
  owasp: OWASP,
  cwe: 295,
  severity: 'high',
  profile: 'safe',
  budget: 1,
  order: 10,
  fix: `serve a certificate from a trusted CA that names the host and is renewed ≥ ${CERT_MIN_DAYS} days before expiry (TLS_CERT_FILE, or the proxy); pass --ca for a private CA`,
  source: SOURCE,
  plan: ['TLS handshake (default versions): the certificate chain, its names and dates'],
  async run (ctx) {
    requireHttps(ctx)
    const host = hostOf(ctx.options.url)
    // The CA the operator names is trusted on top of Node's store, not instead of it.
    const ca = ctx.options.ca === undefined ? {} : { ca: [...tls.rootCertificates, ctx.options.ca.toString('utf8')] }
    const outcome = await tlsHandshake(ctx, ca)
    if (outcome.kind !== 'accepted' || outcome.cert === undefined || Object.keys(outcome.cert).length === 0) {
      return [fail(`no certificate to judge: the handshake was ${describe(outcome)}`)]
    }
    const cert = outcome.cert
    const evidence = `subject ${formatName(cert.subject)}; issuer ${formatName(cert.issuer)}; ${cert.subjectaltname ?? 'no subjectAltName'}; valid ${cert.valid_from} to ${cert.valid_to}`
    const findings: Finding[] = []
    const trustedBy = ctx.options.ca === undefined ? 'Node\'s CA store' : 'Node\'s CA store and --ca'
    // Node folds its own host-name check into `authorized`; that error comes only after the
    // chain verified, and is the name finding's below.
    const trusted = outcome.authorized === true || outcome.authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID'
    findings.push(trusted
      ? pass(`the chain is trusted by ${trustedBy}`)
      : fail(`the certificate is not trusted by ${trustedBy}: ${outcome.authorizationError ?? 'unverified'}`, { evidence }))

    const nameError = tls.checkServerIdentity(host, cert)
    findings.push(nameError === undefined
      ? pass(`the certificate names ${host}`)
      : fail(`the certificate does not name ${host}: ${nameError.message}`, { evidence }))

    const from = Date.parse(cert.valid_from)
    const to = Date.parse(cert.valid_to)
    const now = Date.now()
    const days = Math.floor((to - now) / DAY_MS)
    if (Number.isNaN(from) || Number.isNaN(to)) findings.push(fail(`unreadable validity dates (${cert.valid_from} to ${cert.valid_to})`, { evidence }))
    else if (from > now) findings.push(fail(`the certificate is not valid yet (from ${cert.valid_from})`, { evidence }))
    else if (to <= now) findings.push(fail(`the certificate expired ${Math.ceil((now - to) / DAY_MS)} days ago (${cert.valid_to})`, { evidence }))
    else if (days < CERT_MIN_DAYS) findings.push(fail(`the certificate expires in ${days} days (${cert.valid_to}), under ${CERT_MIN_DAYS}`, { evidence }))
    else findings.push(pass(`the certificate expires in ${days} days (${cert.valid_to})`))
    return findings
  }
}

function formatName (name: tls.Certificate | undefined): string {
  if (name === undefined) return '?'
  return Object.entries(name).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(', ') || '(empty)'
}

const hsts: Check = {
  id: 'MSV-TLS-006',
  family: 'TLS',
  title: 'HSTS max-age of at least 180 days',
  owasp: OWASP,
  cwe: 319,
  severity: 'medium',
  profile: 'safe',
  budget: 1,
  order: 10,
  fix: 'HSTS max-age ≥ 180 days (security headers plugin, plugins/security-headers.ts, or the proxy)',
  source: 'plugins/security-headers.ts',
  plan: ['GET /health: the Strict-Transport-Security header'],
  async run (ctx) {
    requireHttps(ctx)
    let res
    try {
      res = await ctx.request({ method: 'GET', path: '/health' })
    } catch (err) {
      // The client trusts what the run trusts: an untrusted certificate is MSV-TLS-005's failure.
      if (err instanceof Unreachable && /certificate|self[- ]signed|CERT_|verify/i.test(err.message)) {
        throw new Skip(`GET /health over https failed on the certificate (see MSV-TLS-005): ${err.message}`)
      }
      throw err
    }
    const route = 'GET /health'
    const value = res.headers['strict-transport-security']
    const maxAge = hstsMaxAge(value)
    if (value === undefined) return [fail('no Strict-Transport-Security header over https', { route, curl: ctx.curl(res.request) })]
    if (maxAge === null) return [fail(`Strict-Transport-Security without a max-age: "${value}"`, { route, curl: ctx.curl(res.request) })]
    const days = Math.floor(maxAge / 86_400)
    if (maxAge < HSTS_MIN_SECONDS) return [fail(`Strict-Transport-Security max-age=${maxAge} (${days} days), under 180 days`, { route, evidence: `strict-transport-security: ${value}`, curl: ctx.curl(res.request) })]
    return [pass(`Strict-Transport-Security max-age=${maxAge} (${days} days)`, route)]
  }
}

const UNTESTABLE = ['SSLv2 and SSLv3', 'Heartbleed (CVE-2014-0160)', 'ROBOT (RSA padding oracle)', 'insecure renegotiation']

const outOfReach: Check = {
  id: 'MSV-TLS-007',
  family: 'TLS',
  title: 'SSLv2/SSLv3, Heartbleed, ROBOT, insecure renegotiation',
  owasp: OWASP,
  cwe: 327,
  severity: 'low',
  profile: 'safe',
  budget: 0,
  order: 10,
  fix: 'run testssl.sh against the public https URL (Node\'s TLS stack cannot send these probes)',
  source: SOURCE,
  plan: ['no request: Node\'s TLS stack cannot test these; reported as skip'],
  async run (ctx) {
    requireHttps(ctx)
    return UNTESTABLE.map((item) => skip(`${item}: ${USE_TESTSSL}`))
  }
}

export const tlsChecks: Check[] = [httpsUrl, oldProtocols, modernProtocols, forwardSecrecy, certificate, hsts, outOfReach]
