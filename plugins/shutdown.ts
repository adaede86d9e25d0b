import fp from 'fastify-plugin'
import { ShuttingDown } from '../src/errors.js'

/**
 * What a client sees while the server closes (SIGTERM, src/server.ts).
 *
 * - A request that arrives then (on a keep-alive connection not yet closed) gets the 503
 *   error body, the security headers and Retry-After, and `Connection: close`. Fastify's own
 *   answer (return503OnClosing, turned off in src/server-options.ts) was a bare JSON 503
 *   without any of them.
 * - A response to a request already in flight says `Connection: close`: otherwise the
 *   client keeps the connection, and close() waits for it until keepAliveTimeout.
 *
 * Registered after plugins/security-headers.ts, whose hook sets the headers first.
 */
export default fp(async function shutdown (app) {
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onRequest', function refuseWhileClosing (_request, reply, done) {
    if (!closing) {
      done()
      return
    }
    reply.header('connection', 'close')
    done(new ShuttingDown())
  })
  app.addHook('onSend', function hangUpWhileClosing (_request, reply, payload, done) {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'shutdown', dependencies: ['security-headers'] })
