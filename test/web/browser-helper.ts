// What the browser tests share: the app listening on a free port, headless Chromium (Debian's
// package; .ci/run installs it) driven by playwright-core, pages that record every script
// error, console error and CSP violation, axe-core, and the API as a second witness.
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import tap, { type Test } from 'tap'
import { type App } from '../../src/app.js'
import { build } from '../helper.js'

const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** The `skip` option of a browser test: false, or why it cannot run here. */
export const noBrowser: false | string = existsSync(executablePath) ? false : `no Chromium at ${executablePath} (apt-get install chromium, or set CHROMIUM_PATH)`
// As root in a container: no sandbox; and no background connections (this network is closed).
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage']

/** Screenshots and downloads of a test run (git-ignored). */
export const ARTIFACTS = new URL('../artifacts/', import.meta.url)
mkdirSync(ARTIFACTS, { recursive: true })

const axeSource = readFileSync(new URL('../../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8')

export const PHONE = { width: 360, height: 780 }
export const DESKTOP = { width: 1200, height: 900 }

export interface Browsing {
  app: App
  browser: Browser
  base: string
  /** a new page at `url`, watched for errors */
  open: (url: string, viewport?: { width: number, height: number }) => Promise<Page>
  /** every script error, console error and CSP violation of every page so far */
  errors: string[]
}

let launched: Promise<Browser> | undefined
/**
 * One Chromium for the whole test file (a launch costs ~1.5 s of CPU), closed when the file
 * ends. Tests share nothing in it: every page gets a context of its own (cookies, storage,
 * cache, downloads), and a test's contexts are closed when it ends.
 */
async function sharedBrowser (): Promise<Browser> {
  launched ??= chromium.launch({ executablePath, headless: true, args: ARGS }).then((browser) => {
    tap.teardown(async () => { await browser.close() })
    return browser
  })
  return await launched
}

export async function browse (t: Test, config: Record<string, string | number> = {}): Promise<Browsing> {
  const app = await build(t, { store: 'memory', config })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const browser = await sharedBrowser()
  const contexts: BrowserContext[] = []
  t.teardown(async () => { await Promise.all(contexts.map(async (context) => { await context.close() })) })
  const errors: string[] = []
  const open = async (url: string, viewport = DESKTOP): Promise<Page> => {
    const context = await browser.newContext({ viewport, acceptDownloads: true })
    contexts.push(context)
    const page = await context.newPage()
    page.on('pageerror', (err) => { errors.push(`script error: ${String(err)}`) })
    page.on('console', (message) => {
      // The read of a burned or key-less message is a 404 on purpose; anything else is a fault (a CSP refusal, a script error).
      if (message.type() === 'error' && !/status of 404/.test(message.text())) errors.push(`console: ${message.text()}`)
    })
    // The page's own CSP reports, from a listener installed before any of its scripts (init
    // scripts come through the DevTools protocol, which the CSP does not govern).
    await page.exposeBinding('reportCspViolation', (_source, text: string) => { errors.push(`CSP: ${text}`) })
    await page.addInitScript(`document.addEventListener('securitypolicyviolation', (event) => {
      window.reportCspViolation(event.violatedDirective + ' ' + event.blockedURI)
    })`)
    await page.goto(url)
    return page
  }
  return { app, browser, base, open, errors }
}

/**
 * axe-core's violations of impact serious or critical on the page as it is now. axe is put
 * in through the DevTools protocol (page.evaluate), which the page's CSP does not govern: a
 * <script> tag with its text would be refused by script-src 'self', as it should be.
 */
export async function axeViolations (page: Page): Promise<string[]> {
  // (Browser code as strings: these tests are compiled without the DOM's types.)
  if (!await page.evaluate('"axe" in window')) await page.evaluate(axeSource)
  const violations = await page.evaluate(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')) })))`) as Array<{ id: string, impact: string, targets: string[] }>
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id}: ${v.targets.join(', ')}`)
}

/** Writes the message in the compose page, creates it, and returns the link and what was sent. */
export async function create (page: Page, fill: (page: Page) => Promise<void>): Promise<{ link: string, sent: Record<string, unknown> }> {
  await fill(page)
  const [request] = await Promise.all([page.waitForRequest((request) => request.method() === 'POST'), page.click('#create')])
  await page.waitForSelector('#created:not([hidden])')
  return { link: await page.inputValue('#link'), sent: JSON.parse(request.postData() ?? '{}') as Record<string, unknown> }
}

/** The id and key of a link made by the page. */
export function partsOf (link: string): { id: string, secret: string, path: string } {
  const url = new URL(link)
  return { id: url.pathname.slice('/msg/'.length), secret: url.hash.slice(1), path: url.pathname }
}

/** How many requests of the page read a message (GET /msg/:id as JSON). */
export function countReads (page: Page): () => number {
  let reads = 0
  page.on('request', (request) => {
    if (request.method() === 'GET' && /\/msg\/[A-Za-z0-9_-]{22}$/.test(new URL(request.url()).pathname) && request.resourceType() === 'fetch') reads++
  })
  return () => reads
}

/** Whether the page scrolls sideways (it must not, at 360 px). */
export async function scrollsSideways (page: Page): Promise<boolean> {
  return await page.evaluate('document.documentElement.scrollWidth > window.innerWidth') as boolean
}
