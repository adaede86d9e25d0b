import fp from 'fastify-plugin'

/**
 * What a client sees while the server closes (SIGTERM, src/server.ts): every response sent
 * from then on says `Connection: close`. Otherwise a keep-alive client keeps its connection,
 * and close() waits for it until keepAliveTimeout.
 *
 * A request that still arrives on an open connection is served like any other (the store
 * closes only after the last connection: Fastify's server close comes first among the
 * onClose steps), instead of Fastify's bare 503 (return503OnClosing, off in
 * src/server-options.ts). Serving it costs nothing per request; refusing it would take
 * another hook on every request.
 */
export default fp(async function shutdown (app) {
  let closing = false
  app.addHook('preClose', (done) => {
    closing = true
    done()
  })
  app.addHook('onSend', function hangUpWhileClosing (_request, reply, payload, done) {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'shutdown', dependencies: ['security-headers'] })
