import { readFileSync } from 'node:fs'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponses } from '../schemas/common.js'
import { pageStyle } from './web-page.js'

/**
 * The web pages' script and style sheet, read once at start-up. Served from this origin
 * because the CSP allows scripts and styles from 'self' only. Rate-limited like any read;
 * 503 is the overload guard's (plugins/under-pressure.ts), as on every route.
 */
const assetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  // Beside this file in the sources, and in dist/ where tsc re-emits it (allowJs): the
  // server run from dist/ serves that copy, which test/routes/web-page.test.ts also runs.
  const script = readFileSync(new URL('./web/client.js', import.meta.url), 'utf8').replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n')

  const asset = (path: string, summary: string, type: string, body: string): void => {
    app.get(path, {
      schema: {
        summary,
        hide: true,
        response: { 200: { content: { [type.split(';')[0] as string]: { schema: Type.String() } } }, ...errorResponses(429, 503) }
      },
      onRequest: app.readLimit
    }, async (_request, reply) => await reply.type(type).send(body))
  }
  asset('/assets/missive.js', 'The web pages\' script', 'text/javascript; charset=utf-8', script)
  asset('/assets/missive.css', 'The web pages\' style sheet', 'text/css; charset=utf-8', pageStyle)
}

export default assetRoutes
