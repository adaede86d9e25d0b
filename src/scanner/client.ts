// The scanner's HTTP client: node:http(s) with keep-alive, a pace of --rate requests per second,
// a hard cap on requests (with room kept for cleanup), per-check budgets, Retry-After honoured
// on unexpected 429/503, and every response handed to the passive observers.
import http from 'node:http'
import https from 'node:https'
import { rootCertificates } from 'node:tls'

export interface ScanRequest {
  method: string
  /** path and query, starting with '/' */
  path: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** the check wants to see a 429/503 itself: do not wait and retry */
  expectLimit?: boolean
  /** it creates something the ledger must undo: needs room for its cleanup under the cap */
  creates?: boolean
  /** a cleanup request: uses the room kept for it, and runs even after Ctrl-C */
  cleanup?: boolean
  /** an attack probe (injection, forged credential): a WAF in front may answer it instead of Missive */
  hostile?: boolean
}

export interface ScanResponse {
  request: ScanRequest
  status: number
  /** lower-case names; repeated headers joined with ", " (set-cookie kept apart) */
  headers: Record<string, string>
  /** every header name as sent, in order (to see duplicates and exact case) */
  rawHeaderNames: string[]
  body: Buffer
  text: string
  /** the parsed JSON body, or undefined when it is not JSON */
  json: unknown
}

/** The global --max-requests cap is reached: the rest of the run is skipped (incomplete). */
export class CapReached extends Error { override name = 'CapReached' }
/** A check sent more than it declared: a bug in the check, reported as error. */
export class CheckBudgetExceeded extends Error { override name = 'CheckBudgetExceeded' }
/** Ctrl-C: stop the checks, clean up. */
export class Aborted extends Error { override name = 'Aborted' }
/**
 * The target asks this address to wait longer than the run can (a lockout, or a limit the run
 * itself spent): the run stops instead of sending requests that cannot be served.
 */
export class Throttled extends Error { override name = 'Throttled' }
/** The target did not answer (connection refused, reset, timeout). */
export class Unreachable extends Error { override name = 'Unreachable' }

export interface ClientOptions {
  baseUrl: URL
  userAgent: string
  runId: string
  rate: number
  timeoutMs: number
  maxRequests: number
  ca?: Buffer
  signal: AbortSignal
  /** longest Retry-After the client waits for before giving up on a request (seconds) */
  maxRetryAfterSeconds?: number
}

export const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => await new Promise((resolve) => {
  if (ms <= 0) { resolve(); return }
  const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', done); resolve() }
  const timer = setTimeout(done, ms)
  signal?.addEventListener('abort', done, { once: true })
})

export class ScanClient {
  sent = 0
  /** requests the cleanup ledger still needs: never spent by checks */
  reserved = 0
  readonly observers: Array<(res: ScanResponse) => void> = []
  private nextSlot = 0
  private readonly agent: http.Agent
  private readonly options: ClientOptions

  constructor (options: ClientOptions) {
    this.options = options
    // --ca is trusted in addition to the usual roots, not instead of them.
    const agentOptions = { keepAlive: true, maxSockets: 64, ...(options.ca === undefined ? {} : { ca: [...rootCertificates, options.ca.toString()] }) }
    this.agent = options.baseUrl.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions)
  }

  get remaining (): number { return this.options.maxRequests - this.sent }

  close (): void { this.agent.destroy() }

  /** Waits for n request slots at --rate (a burst of n leaves together, then the pace resumes). */
  private async pace (n: number, signal?: AbortSignal): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.nextSlot)
    this.nextSlot = at + (n * 1000) / this.options.rate
    await sleep(at - now, signal)
  }

  private admit (req: ScanRequest, n: number): void {
    if (req.cleanup !== true && this.options.signal.aborted) throw new Aborted('interrupted')
    // A creating request keeps room for its own cleanup and everything already in the ledger.
    const room = this.remaining - (req.cleanup === true ? 0 : this.reserved)
    const needed = n * (req.creates === true ? 2 : 1)
    if (room < needed) throw new CapReached(`--max-requests ${this.options.maxRequests} reached`)
  }

  async request (req: ScanRequest): Promise<ScanResponse> {
    this.admit(req, 1)
    await this.pace(1, req.cleanup === true ? undefined : this.options.signal)
    if (req.cleanup !== true && this.options.signal.aborted) throw new Aborted('interrupted')
    return await this.sendWithRetry(req)
  }

  /** Sends requests together (a bounded race): paced as one burst, answered in order. */
  async burst (reqs: ScanRequest[]): Promise<ScanResponse[]> {
    if (reqs.length === 0) return []
    this.admit(reqs[0] ?? { method: 'GET', path: '/' }, reqs.length)
    await this.pace(reqs.length, this.options.signal)
    if (this.options.signal.aborted) throw new Aborted('interrupted')
    return await Promise.all(reqs.map(async (req) => await this.send(req)))
  }

  private async sendWithRetry (req: ScanRequest): Promise<ScanResponse> {
    let res = await this.send(req)
    for (let attempt = 0; attempt < 2 && req.expectLimit !== true && (res.status === 429 || res.status === 503); attempt++) {
      // A 503 without Retry-After still gets a short pause rather than an immediate retry.
      const wait = retryAfterSeconds(res.headers['retry-after']) ?? (res.status === 503 ? 2 : null)
      const limit = this.options.maxRetryAfterSeconds ?? 65
      if (wait === null) break
      if (wait > limit && req.cleanup !== true) throw new Throttled(`${req.method} ${req.path.split('?')[0] ?? ''} answered ${res.status} with Retry-After ${wait} s: this address is locked out or rate limited for longer than the run waits (${limit} s); run again after that`)
      if (wait > limit) break
      await sleep(wait * 1000 + 100, req.cleanup === true ? undefined : this.options.signal)
      this.admit(req, 1)
      res = await this.send(req)
    }
    return res
  }

  private async send (req: ScanRequest): Promise<ScanResponse> {
    this.sent++
    const url = new URL(req.path, this.options.baseUrl)
    const mod = url.protocol === 'https:' ? https : http
    const headers: Record<string, string> = {
      'user-agent': this.options.userAgent,
      'x-missive-scan': this.options.runId,
      ...req.headers
    }
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body))
    const res = await new Promise<ScanResponse>((resolve, reject) => {
      const outgoing = mod.request(url, { method: req.method, headers, agent: this.agent, timeout: this.options.timeoutMs }, (incoming) => {
        const chunks: Buffer[] = []
        incoming.on('data', (chunk: Buffer) => chunks.push(chunk))
        incoming.on('error', (err) => reject(new Unreachable(err.message)))
        incoming.on('end', () => {
          const body = Buffer.concat(chunks)
          const text = body.toString('utf8')
          const flat: Record<string, string> = {}
          for (const [name, value] of Object.entries(incoming.headers)) {
            if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value
          }
          let json: unknown
          if (/json/i.test(flat['content-type'] ?? '')) {
            try { json = JSON.parse(text) } catch {}
          }
          resolve({ request: req, status: incoming.statusCode ?? 0, headers: flat, rawHeaderNames: incoming.rawHeaders.filter((_, i) => i % 2 === 0), body, text, json })
        })
      })
      outgoing.on('timeout', () => outgoing.destroy(new Error(`no answer within ${this.options.timeoutMs} ms`)))
      outgoing.on('error', (err: NodeJS.ErrnoException) => {
        const hint = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(err.code ?? '') ? ' (the certificate is not trusted: fix it, or pass its CA with --ca)' : ''
        reject(new Unreachable(`${req.method} ${url.pathname}: ${err.message}${hint}`))
      })
      if (req.body !== undefined) outgoing.write(req.body)
      outgoing.end()
    })
    for (const observe of this.observers) observe(res)
    return res
  }
}

/** Retry-After as seconds (delta-seconds or an HTTP date), or null. */
export function retryAfterSeconds (value: string | undefined): number | null {
  if (value === undefined) return null
  if (/^\d+$/.test(value.trim())) return Number(value.trim())
  const at = Date.parse(value)
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

/** The client as one check sees it: the same client, counted against that check's budget. */
export class CheckHttp {
  used = 0
  constructor (private readonly client: ScanClient, readonly checkId: string, readonly budget: number) {}

  private charge (n: number): void {
    if (this.used + n > this.budget) throw new CheckBudgetExceeded(`${this.checkId} needs more than its budget of ${this.budget} requests`)
    this.used += n
  }

  /** Whether n more requests fit this check's budget and the global cap. */
  canAfford (n: number): boolean {
    return this.used + n <= this.budget && this.client.remaining - this.client.reserved >= n
  }

  async request (req: ScanRequest): Promise<ScanResponse> {
    this.charge(1)
    const before = this.client.sent
    try {
      return await this.client.request(req)
    } finally {
      // Retries after a Retry-After count too.
      this.used += Math.max(0, this.client.sent - before - 1)
    }
  }

  async burst (reqs: ScanRequest[]): Promise<ScanResponse[]> {
    this.charge(reqs.length)
    return await this.client.burst(reqs)
  }
}
