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
  if (config.JWT_SECRET !== undefined) {
    app.log.warn('JWT_SECRET is set but no longer used: access tokens are signed with rotating ES256/EdDSA issuer keys kept in the store; remove it')
  }
}, { name: 'config', fastify: '5.x' })
