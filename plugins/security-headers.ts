import type { IncomingMessage, ServerResponse } from 'node:http'
import fp from 'fastify-plugin'
import { MissingHost } from '../src/errors.js'
import helmet, { type HelmetOptions } from 'helmet'

export const helmetOptions: Readonly<HelmetOptions> = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'"],
      fontSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
      objectSrc: ["'none'"]
    }
  },
  xFrameOptions: { action: 'deny' },
  referrerPolicy: { policy: 'no-referrer' },
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  crossOriginEmbedderPolicy: false,
  strictTransportSecurity: { maxAge: 31536000, includeSubDomains: true },
  xPoweredBy: false,
  // Headers for software long gone (IE8 downloads, Flash/Acrobat cross-domain policies,
  // the removed XSS auditor) and page-level hints with no effect on a JSON API: each is
  // written and validated on every response, for nothing.
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false,
  xDnsPrefetchControl: false,
  originAgentCluster: false
}

/**
 * Runs helmet once, at start-up, against a recording response, and returns the headers it
 * sets. Our configuration has nothing per-request (no nonces), so every response gets the
 * same headers, and @fastify/helmet's way of rebuilding helmet's middleware on every
 * request (about 4% of the CPU on the hot path in a profile) buys nothing.
 */
export function computeSecurityHeaders (options: Readonly<HelmetOptions>): Record<string, string> {
  const headers: Record<string, string> = {}
  const recorder = {
    setHeader (name: string, value: string | number | readonly string[]) { headers[name.toLowerCase()] = String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] }
  }
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, () => {})
  return headers
}

/** Every response's headers but the request id (also used where Fastify answers before any hook). */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({ ...computeSecurityHeaders(helmetOptions), 'cache-control': 'no-store' })

/**
 * The headers of API.md section 4 on every response, errors included: they are set in the
 * first onRequest hook, before anything can fail. Nothing is cacheable by default (responses
 * carry secrets), and the request id is returned for support.
 *
 * The same hook refuses an HTTP/1.1 request without Host (RFC 9112 §3.2: 400). Node's own
 * check answers it with a bare 400, without these headers or a body, so it is turned off
 * (src/server-options.ts) and made here, right after the headers are set.
 */
export default fp(async function securityHeaders (app) {
  app.addHook('onRequest', function setSecurityHeaders (request, reply, done) {
    reply.headers(SECURITY_HEADERS)
    reply.header('x-request-id', request.id)
    if (request.headers.host === undefined && request.raw.httpVersionMinor === 1 && request.raw.httpVersionMajor === 1) {
      done(new MissingHost())
      return
    }
    done()
  })
}, { name: 'security-headers', dependencies: ['config'] })
