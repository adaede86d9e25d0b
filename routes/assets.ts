import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { errorResponses } from '../schemas/common.js'
import { webFile } from './web-page.js'

/** A script as tsc re-emits it into dist/ (allowJs), without the pointer to a map we do not serve. */
const script = (name: string): string => webFile(name).replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n')

/**
 * The web pages' scripts and style sheet, read once at start-up (routes/web-page.ts says
 * where from). Served from this origin because the CSP allows scripts and styles from
 * 'self' only. Rate-limited like any read; 503 is the overload guard's
 * (plugins/under-pressure.ts), as on every route.
 */
const assetRoutes: FastifyPluginAsyncTypebox = async (app) => {
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
  asset('/assets/missive.js', 'The web pages\' script', 'text/javascript; charset=utf-8', script('client.js'))
  // client.js imports './envelope.js': the one encryption format, also used by the CLI.
  asset('/assets/envelope.js', 'The encryption format of the web pages', 'text/javascript; charset=utf-8', script('envelope.js'))
  asset('/assets/missive.css', 'The web pages\' style sheet', 'text/css; charset=utf-8', webFile('missive.css'))
}

export default assetRoutes
