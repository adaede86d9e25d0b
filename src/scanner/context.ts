// Everything a check may use: the options, the budgeted HTTP client, the discovered routes,
// keys minted for the run and the cleanup ledger that undoes whatever the run made.
import { randomBytes } from 'node:crypto'
import { Aborted, type CheckHttp, type ScanClient, type ScanRequest, type ScanResponse, sleep } from './client.js'
import { Skip } from './check.js'
import type { DiscoveredRoute } from './discover.js'
import { Ledger } from './ledger.js'

export interface ScanOptions {
  url: URL
  apiKey?: string
  profile: 'safe' | 'full'
  maxRequests: number
  rate: number
  timeoutMs: number
  dryRun: boolean
  only: string[]
  skip: string[]
  json?: string
  sarif?: string
  baseline?: string
  allowedOrigins: string[]
  samples: number
  maxBytes: number
  apiMaxBytes: number
  /** counted failed authentications the run may cause (kept under the target's AUTH_FAILURE_MAX) */
  authFailures: number
  ca?: Buffer
}

/** A key the run made (or the operator's), with what it may do. */
export interface RunKey {
  id: string | null
  key: string
  scopes: string[]
  minted: boolean
}

export interface CreatedMessage {
  id: string
  deleteToken: string
  body: Record<string, unknown>
  response: Record<string, unknown>
}

export const randomMessageId = (): string => randomBytes(16).toString('base64url')
export const randomKeyId = (): string => Array.from(randomBytes(12), (b) => 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]).join('')

export class ScanContext {
  /** every response of the run, for the passive checks (headers, errors, uniform 401) */
  readonly observed: ScanResponse[] = []
  readonly ledger: Ledger
  /** secrets the run holds: masked in every report line */
  readonly secrets = new Set<string>()
  routes: DiscoveredRoute[] = []
  routesFrom: 'docs' | 'contract' = 'contract'
  operator: RunKey | null = null
  http!: CheckHttp
  private authFailuresSpent = 0
  private readonly minted = new Map<string, Promise<RunKey>>()

  constructor (readonly options: ScanOptions, readonly client: ScanClient, readonly runId: string, private readonly signal: AbortSignal = new AbortController().signal) {
    this.ledger = new Ledger(client)
    client.observers.push((res) => { this.observed.push(res) })
  }

  /** Waits, but not past Ctrl-C. */
  async sleep (ms: number): Promise<void> {
    await sleep(ms, this.signal)
    if (this.signal.aborted) throw new Aborted('interrupted')
  }

  /**
   * Undoes everything made so far, and forgets the keys and tokens that went with it, so no
   * later check presents a revoked credential (the target would count a failed authentication).
   */
  async undo (): Promise<void> {
    await this.ledger.undo()
    this.minted.clear()
    this.operatorTokenPending = null
  }

  get isAdmin (): boolean { return this.operator?.scopes.includes('keys:admin') === true }

  /** ids of the checks this run selected (set by the runner) */
  selected = new Set<string>()
  /** counted failures kept for checks still to come: (check id → how many it needs first) */
  authReserve = new Map<string, number>()

  /**
   * Takes one counted failed authentication from the run's budget; false when it is spent.
   * An essential probe draws on its own check's reservation; an extra one only on what the
   * reservations of the checks still to come leave over.
   */
  spendAuthFailure (checkId = this.http.checkId, essential = false): boolean {
    const left = this.options.authFailures - this.authFailuresSpent
    const own = this.authReserve.get(checkId) ?? 0
    const reservedForOthers = [...this.authReserve.entries()].filter(([id]) => id !== checkId).reduce((sum, [, n]) => sum + n, 0)
    const usable = essential ? left - reservedForOthers : left - reservedForOthers - own
    if (usable <= 0) return false
    this.authFailuresSpent++
    if (essential && own > 0) this.authReserve.set(checkId, own - 1)
    return true
  }

  /** The answer was not a refusal after all (the target counts only refusals): give the unit back. */
  refundAuthFailure (checkId = this.http.checkId, essential = false): void {
    this.authFailuresSpent = Math.max(0, this.authFailuresSpent - 1)
    if (essential) this.authReserve.set(checkId, (this.authReserve.get(checkId) ?? 0) + 1)
  }

  /** A check is done with its reservation (ran, skipped or failed). */
  releaseAuthReserve (checkId: string): void { this.authReserve.delete(checkId) }

  get authFailuresLeft (): number { return this.options.authFailures - this.authFailuresSpent }

  keep (secret: string): string {
    if (secret.length >= 8) this.secrets.add(secret)
    return secret
  }

  /** Masks every secret the run holds (keys, tokens, delete tokens). */
  redact (text: string): string {
    let out = text
    for (const secret of this.secrets) out = out.split(secret).join(`${secret.slice(0, 4)}…***`)
    return out
  }

  async request (req: ScanRequest): Promise<ScanResponse> { return await this.http.request(req) }

  requireApiKey (): RunKey {
    if (this.operator === null) throw new Skip('needs --api-key')
    return this.operator
  }

  /**
   * A key with exactly these scopes, minted with the operator's keys:admin key and revoked by
   * the ledger; the operator's own key when no admin scope is there but it has the scopes.
   */
  async key (scopes: string[], label = scopes.join(' '), extra: Record<string, unknown> = {}): Promise<RunKey> {
    const operator = this.requireApiKey()
    if (!this.isAdmin) {
      if (scopes.every((s) => operator.scopes.includes(s)) && Object.keys(extra).length === 0 && label === scopes.join(' ')) return operator
      throw new Skip(`needs an --api-key with keys:admin (to mint a key with ${scopes.join(', ')})`)
    }
    const cacheKey = `${label}|${JSON.stringify(extra)}`
    let pending = this.minted.get(cacheKey)
    if (pending === undefined) {
      pending = this.mint(scopes, label, extra)
      this.minted.set(cacheKey, pending)
      pending.catch(() => this.minted.delete(cacheKey))
    }
    return await pending
  }

  private async mint (scopes: string[], label: string, extra: Record<string, unknown>): Promise<RunKey> {
    const operator = this.requireApiKey()
    const res = await this.request({
      method: 'POST',
      path: '/api/v1/keys',
      creates: true,
      headers: { 'x-api-key': operator.key, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `missive-security ${this.runId} ${label}`.slice(0, 64), scopes, expiresInDays: 1, ...extra })
    })
    const body = res.json as { id?: string, key?: string } | undefined
    if (res.status === 400 && /scope/i.test(res.text)) throw new Skip(`the target does not know the scopes ${scopes.join(', ')}`)
    if (res.status !== 201 || typeof body?.id !== 'string' || typeof body.key !== 'string') {
      throw new Error(`minting a key answered ${res.status}`)
    }
    this.keep(body.key)
    this.ledger.add({ kind: 'key', id: body.id, adminKey: operator.key })
    return { id: body.id, key: body.key, scopes, minted: true }
  }

  /** An access token for a key (POST /api/v1/auth/token), revoked by the ledger. */
  async token (key: RunKey, scopes?: string[]): Promise<string> {
    const res = await this.request({
      method: 'POST',
      path: '/api/v1/auth/token',
      creates: true,
      headers: { 'x-api-key': key.key, 'content-type': 'application/json' },
      body: JSON.stringify(scopes === undefined ? {} : { scopes })
    })
    const token = (res.json as { access_token?: unknown } | undefined)?.access_token
    if (res.status !== 200 || typeof token !== 'string') throw new Error(`POST /api/v1/auth/token answered ${res.status}`)
    this.keep(token)
    this.ledger.add({ kind: 'token', token, keyId: key.id })
    return token
  }

  operatorTokenPending: Promise<string> | null = null
  /** One token of the operator's key, shared by the checks that only need a valid token. */
  async operatorToken (): Promise<string> {
    const operator = this.requireApiKey()
    this.operatorTokenPending ??= this.token(operator)
    return await this.operatorTokenPending
  }

  /** Creates a short-lived message (anonymously, or through the API with a key) and records it for cleanup. */
  async createMessage (body: Record<string, unknown>, via: RunKey | null = null): Promise<CreatedMessage> {
    const full = { ttl: 300, ...body }
    const res = await this.request({
      method: 'POST',
      path: via === null ? '/' : '/api/v1/messages',
      creates: true,
      headers: { 'content-type': 'application/json', ...(via === null ? {} : { 'x-api-key': via.key }) },
      body: JSON.stringify(full)
    })
    return this.recordCreated(res, full, via)
  }

  /** Reads a create answer: records the message in the ledger, or throws. */
  recordCreated (res: ScanResponse, body: Record<string, unknown>, via: RunKey | null): CreatedMessage {
    const json = res.json as Record<string, unknown> | undefined
    if (res.status !== 201 || typeof json?.id !== 'string' || typeof json.deleteToken !== 'string') {
      throw new Error(`${res.request.method} ${res.request.path} answered ${res.status}${res.status === 429 ? ' (rate limited)' : ''}`)
    }
    this.keep(json.deleteToken)
    this.ledger.add({ kind: 'message', id: json.id, deleteToken: json.deleteToken, ...(via?.scopes.includes('messages:delete') === true ? { ownerKey: via.key } : {}) })
    return { id: json.id, deleteToken: json.deleteToken, body, response: json }
  }

  /** A curl line for the report: the base URL, the method, headers with secrets as placeholders. */
  curl (req: ScanRequest): string {
    const parts = ['curl', '-i', '-X', req.method]
    for (const [name, value] of Object.entries(req.headers ?? {})) {
      let shown = value
      if (name.toLowerCase() === 'x-api-key') shown = '$API_KEY'
      else if (name.toLowerCase() === 'authorization') shown = value.replace(/^(\S+)\s+.*/, '$1 $TOKEN')
      else if (name.toLowerCase() === 'x-delete-token') shown = '$DELETE_TOKEN'
      parts.push('-H', shellQuote(`${name}: ${shown}`))
    }
    if (req.body !== undefined) {
      const body = typeof req.body === 'string' ? req.body : req.body.toString('utf8')
      parts.push('--data-binary', shellQuote(body.length > 200 ? `${body.slice(0, 200)}…` : body))
    }
    parts.push(shellQuote(new URL(req.path, this.options.url).toString()))
    return this.redact(parts.join(' '))
  }
}

export function shellQuote (s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`
}
