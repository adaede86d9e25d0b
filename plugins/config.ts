import fp from 'fastify-plugin'
import type { Config } from '../src/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

export interface ConfigPluginOptions { config: Config }

/** Makes the validated, frozen configuration available to every other plugin. */
export default fp<ConfigPluginOptions>(async function configPlugin (app, { config }) {
  app.decorate('config', config)
  if (config.jwtSecretGenerated) {
    app.log.warn('JWT_SECRET is not set: using a random secret for this process; tokens will not survive a restart or work across instances')
  }
}, { name: 'config', fastify: '5.x' })
