// Run by `npm run build` after tsc: copies the web pages' HTML and CSS (routes/web/) into
// dist/routes/web/, beside the .js that tsc re-emits there (allowJs). The server run from
// dist/ (npm start, and the Docker image, which ships dist/ only) reads its pages beside
// its own modules (routes/web-page.ts), so they must be in dist/ too; tsc copies nothing
// that is not a script.
import { cpSync, readdirSync } from 'node:fs'

const from = new URL('../routes/web/', import.meta.url)
const to = new URL('../dist/routes/web/', import.meta.url)
for (const name of readdirSync(from)) {
  if (/\.(html|css)$/.test(name)) cpSync(new URL(name, from), new URL(name, to))
}
