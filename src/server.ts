import closeWithGrace from 'close-with-grace'
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

  // Loaded once the configuration is valid: a bad variable is reported without loading the app.
  const { buildApp } = await import('./app.js')
  // (what clients see while it closes: plugins/shutdown.ts)
  const app = await buildApp(config)
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
