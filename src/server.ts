import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig } from './config.js'

// Entry point: validate the configuration before anything listens, start, and on SIGTERM
// or SIGINT stop accepting, finish in-flight requests and close the store.
async function main (): Promise<void> {
  let config
  try {
    config = loadConfig()
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`)
      process.exit(1)
    }
    throw err
  }

  const app = await buildApp(config)
  // A keep-alive connection whose request is in flight at SIGTERM would hold close() open
  // until keepAliveTimeout: once closing, every response tells the client to hang up.
  let closing = false
  app.addHook('preClose', async () => { closing = true })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close')
    done(null, payload)
  })
  closeWithGrace({ delay: 10_000, logger: app.log }, async ({ signal, err }) => {
    if (err !== undefined) app.log.error({ err }, 'shutting down after an uncaught error')
    else app.log.info({ signal }, 'shutting down')
    await app.close()
  })

  await app.listen({ host: config.HOST, port: config.PORT })
}

main().catch((err: unknown) => {
  process.stderr.write(`missive failed to start: ${err instanceof Error ? err.message : String(err)}\n`)
  process.exit(1)
})
