// Run by `npm run build` after tsc: copies the web pages' HTML and CSS (routes/web/) into
// dist/routes/web/, beside the .js that tsc re-emits there (allowJs). The server run from
// dist/ (npm start, and the Docker image, which ships dist/ only) reads its pages beside
// its own modules (routes/web-page.ts), so they must be in dist/ too; tsc copies nothing
// that is not a script. An argument names another build directory (a test that compiles with
// tsc --outDir of its own): `node scripts/copy-web-files.mjs OUT_DIR`.
import { cpSync, mkdirSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const from = fileURLToPath(new URL('../routes/web/', import.meta.url))
const to = join(process.argv[2] === undefined ? fileURLToPath(new URL('../dist/', import.meta.url)) : resolve(process.argv[2]), 'routes', 'web')
mkdirSync(to, { recursive: true })
for (const name of readdirSync(from)) {
  if (/\.(html|css)$/.test(name)) cpSync(join(from, name), join(to, name))
}
