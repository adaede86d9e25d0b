import type { FastifyError, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { type BlockEvents, Blocks } from '../src/abuse/blocks.js'
import { clientAddress } from '../src/abuse/client-address.js'
import { LADDER_DURATIONS_MS, LADDER_MEMORY_MS } from '../src/abuse/ladder.js'
import { type OffenceKind, offenceWeights, SCORE_HALF_LIFE_MS, SCORE_THRESHOLD } from '../src/abuse/offences.js'
import { Scores } from '../src/abuse/scores.js'
import { IpAllowList } from '../src/auth/ip-allow-list.js'
import { Blocked, MessageNotFound } from '../src/errors.js'
import { errorBody } from './error-handler.js'

declare module 'fastify' {
  interface FastifyInstance {
    abuse: {
      blocks: Blocks
      scores: Scores
      /** Counts an offence of the request's client (nothing for an exempt address). Synchronous, never throws. */
      offence: (request: FastifyRequest, kind: OffenceKind) => void
    }
  }
}

/** the routes a block never touches (API.md section 8): probes must see the process as it is */
const NEVER_BLOCKED = new Set(['/health', '/ready'])

/**
 * The abuse defence's request side (API.md section 8; the domain is src/abuse/).
 *
 * - First gate: a blocked client address gets 429 BLOCKED with Retry-After from an onRequest
 *   hook that runs before every other hook of a route (CORS, rate limits, authentication), so
 *   no body is read and no hash computed. While no block exists the hook is one field read.
 * - Offences are counted from the errors the app answers with (an `onError` hook: no work at
 *   all for a request that succeeds): a 404 on a message read, a 400/413/415, a 429 other than
 *   BLOCKED. Failed authentications and replayed proofs are counted where they are decided
 *   (plugins/auth.ts, plugins/proof.ts) through `app.abuse.offence`.
 * - PENALTY_EXEMPT_IPS are never scored nor blocked; /health and /ready are never blocked. An
 *   exempt address still meets the AUTH_FAILURE_MAX lockout (plugins/auth.ts): that rung guards
 *   the credentials, and an exemption for a health checker must not open them to guessing.
 */
export default fp(async function abuse (app) {
  const { config, abuseStore: store } = app

  const exempt = IpAllowList.from(config.penaltyExemptIps)
  const weights = offenceWeights(config.AUTH_FAILURE_MAX)
  // The event feed's plugin comes later; events are only emitted at request time or later.
  const events: BlockEvents = { emit: (event) => { app.securityEvents?.emit(event) } }
  let storeDown = false
  const onError = (err: unknown): void => {
    if (!storeDown) app.log.warn({ err }, 'abuse defence: the store did not answer; blocks and scores catch up when it does')
    storeDown = true
  }
  const onSuccess = (): void => {
    if (storeDown) app.log.info('abuse defence: the store answers again')
    storeDown = false
  }
  const rule = {
    threshold: SCORE_THRESHOLD,
    halfLifeMs: config.abuseTiming?.halfLifeMs ?? SCORE_HALF_LIFE_MS,
    memoryMs: config.abuseTiming?.memoryMs ?? LADDER_MEMORY_MS,
    durationsMs: config.abuseTiming?.durationsMs ?? LADDER_DURATIONS_MS
  }
  const blocks = new Blocks(store, { exempt: config.penaltyExemptIps, events, onError, onRefresh: onSuccess, durationsMs: rule.durationsMs })
  const scores = new Scores(store, {
    rule,
    onCrossing: (address, level) => {
      app.log.warn({ event: 'abuse.threshold', ip: address, level }, 'suspicion score reached the threshold: blocking')
      blocks.blockAddress(address, level, 'suspicion score reached the threshold').catch(onError)
    },
    onError
  })
  app.addHook('onReady', async () => {
    await blocks.refresh(true).then(onSuccess, onError)
  })
  app.addHook('onClose', async () => {
    blocks.close()
    scores.close()
  })

  const isExempt = exempt === null ? () => false : (ip: string) => exempt.allows(ip)
  function offence (request: FastifyRequest, kind: OffenceKind): void {
    // (request.ip is a getter that parses X-Forwarded-For behind a proxy: read once)
    const ip = request.ip
    if (isExempt(ip)) return
    scores.record(clientAddress(ip), weights[kind])
  }
  app.decorate('abuse', { blocks, scores, offence })

  app.addHook('onRequest', function refuseBlocked (request, reply, done) {
    // (request.ip is a getter that parses X-Forwarded-For behind a proxy: not read while no block exists)
    if (blocks.empty) {
      done()
      return
    }
    const ip = request.ip
    const ms = blocks.blockedFor(ip)
    // (request.routeOptions builds an object on each read: only for the probes' paths)
    if (ms === 0 || (isProbePath(request.url) && NEVER_BLOCKED.has(request.routeOptions.url ?? '')) || isExempt(ip)) {
      done()
      return
    }
    const seconds = Math.max(1, Math.ceil(ms / 1000))
    // The CORS hook comes after this one: its headers here, so a browser client can read the
    // 429, its code and Retry-After (the plugin is registered by the time a request arrives).
    app.corsHeadersOutsideHooks?.(request, reply)
    // Answered here, not thrown: the error handler's log line and the onError hooks are work a
    // flood of blocked requests should not buy (the access log still records each one).
    reply.code(429).header('retry-after', String(seconds)).type('application/json; charset=utf-8').send(errorBody(new Blocked(`${seconds} seconds`)))
  })

  app.addHook('onError', function countOffence (request, _reply, error: FastifyError, done) {
    const kind = offenceOf(error)
    if (kind !== null) offence(request, kind)
    done()
  })
}, { name: 'abuse', dependencies: ['config', 'storage'] })

/** whether the URL may be /health or /ready (a query string or a trailing slash aside) */
function isProbePath (url: string): boolean {
  return url.startsWith('/health') || url.startsWith('/ready')
}

/** The offence an error answer stands for, if any. */
function offenceOf (error: FastifyError): OffenceKind | null {
  const status = error.statusCode
  if (status === 404) return error instanceof MessageNotFound ? 'not-found' : null
  if (status === 400 || status === 413 || status === 415) return 'malformed'
  if (status === 429) return error.code === 'BLOCKED' ? null : 'rate-limited'
  return null
}
