import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Webhook } from 'standardwebhooks'
import type { Test } from 'tap'

/**
 * A webhook receiver for tests (API.md section 9, issue 19): an HTTPS server on 127.0.0.1 with
 * a certificate made for this test file by the openssl CLI (no key in the repository, none that
 * expires), that records every request, checks its Standard Webhooks signature with the
 * `standardwebhooks` package's own verifier against the secrets it is told, and answers with
 * the status its script says.
 *
 * Deliveries must trust its certificate: pass `receiver.ca` as deliver()'s `ca` (or the app's
 * `config.webhookTls.ca`), and allow private destinations (127.0.0.1): WEBHOOK_ALLOW_PRIVATE.
 *
 *   const receiver = await WebhookReceiver.start(t, { statuses: [500, 500] })   // then 204
 *   receiver.verifyWith([secret])
 *   … enqueue …
 *   const [delivery] = await receiver.waitFor(3)
 */

export interface ReceivedDelivery {
  /** the order of arrival, from 0 */
  readonly index: number
  readonly method: string
  /** path and query */
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly webhookId: string
  readonly body: string
  /** the secrets (of those given to verifyWith) whose signature the standardwebhooks verifier accepted */
  readonly verifiedBy: readonly string[]
  /** the status it was answered */
  readonly status: number
  /** when it arrived (Date.now()) */
  readonly at: number
}

/** What to answer a request: a status, or a status and a body, after an optional wait. */
export type ReceiverAnswer = number | { status: number, body?: string, delayMs?: number }

export interface ReceiverOptions {
  /** the answers to the first requests, in order; after them, `respond` (or 204) */
  statuses?: readonly ReceiverAnswer[]
  /** the answer to a request past the script; 204 unless given */
  respond?: (request: Omit<ReceivedDelivery, 'status'>) => ReceiverAnswer
  /** hold every answer this long (to see concurrency) */
  holdMs?: number
  /** the secrets to verify with (also later: verifyWith) */
  secrets?: readonly string[]
}

let certificate: { cert: string, key: string } | null = null

/** This test file's certificate for 127.0.0.1 and localhost: made once per process, its files removed at once. */
export function testCertificate (): { cert: string, key: string } {
  if (certificate !== null) return certificate
  const dir = mkdtempSync(join(tmpdir(), 'missive-receiver-'))
  try {
    const certFile = join(dir, 'cert.pem')
    const keyFile = join(dir, 'key.pem')
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-sha256', '-days', '1',
      '-keyout', keyFile, '-out', certFile,
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'
    ], { stdio: 'ignore' })
    certificate = { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') }
    return certificate
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export class WebhookReceiver {
  readonly received: ReceivedDelivery[] = []
  /** the most requests that were being answered at the same time */
  maxInFlight = 0
  private inFlight = 0
  private secrets: readonly string[]
  private readonly script: ReceiverAnswer[]
  private waiters: Array<() => void> = []

  private constructor (private readonly server: Server, private readonly options: ReceiverOptions) {
    this.secrets = options.secrets ?? []
    this.script = [...options.statuses ?? []]
    server.on('request', (req: IncomingMessage, res: ServerResponse) => { this.onRequest(req, res) })
  }

  /** Listens on 127.0.0.1 (a free port); closed when `test` ends. */
  static async start (test: Test, options: ReceiverOptions = {}): Promise<WebhookReceiver> {
    const { cert, key } = testCertificate()
    const receiver = new WebhookReceiver(createServer({ cert, key }), options)
    await new Promise<void>((resolve) => receiver.server.listen(0, '127.0.0.1', resolve))
    test.teardown(async () => { await receiver.close() })
    return receiver
  }

  /** the CA to trust: its self-signed certificate */
  get ca (): string { return testCertificate().cert }

  get port (): number { return (this.server.address() as AddressInfo).port }

  url (path = '/hook'): string { return `https://127.0.0.1:${this.port}${path}` }

  /** The secrets signatures are verified with from now on (an endpoint's after registration or rotation). */
  verifyWith (secrets: readonly string[]): void { this.secrets = [...secrets] }

  /** The answers to the next requests, in order, before `respond`. */
  answerNext (...answers: ReceiverAnswer[]): void { this.script.push(...answers) }

  /** Resolves once `count` requests have arrived (with all of them); rejects after timeoutMs. */
  async waitFor (count: number, timeoutMs = 10_000): Promise<ReceivedDelivery[]> {
    const deadline = Date.now() + timeoutMs
    while (this.received.length < count) {
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`the receiver got ${this.received.length} of ${count} requests within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.waiters.push(() => { clearTimeout(timer); resolve() })
      })
    }
    return [...this.received]
  }

  /** The requests of one event, in order of arrival. */
  of (webhookId: string): ReceivedDelivery[] {
    return this.received.filter((delivery) => delivery.webhookId === webhookId)
  }

  async close (): Promise<void> {
    if (!this.server.listening) return
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  private onRequest (req: IncomingMessage, res: ServerResponse): void {
    this.inFlight++
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight)
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const request = {
        index: this.received.length,
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        webhookId: String(req.headers['webhook-id'] ?? ''),
        body,
        verifiedBy: this.secrets.filter((secret) => verifies(secret, body, req.headers)),
        at: Date.now()
      }
      const scripted = this.script.shift()
      const answer = scripted ?? this.options.respond?.(request) ?? 204
      const { status, body: answerBody = '', delayMs = 0 } = typeof answer === 'number' ? { status: answer } : answer
      // Recorded when it arrives, so a test waiting for it sees it even while its answer is held.
      this.received.push({ ...request, status })
      const waiters = this.waiters
      this.waiters = []
      for (const wake of waiters) wake()
      setTimeout(() => {
        this.inFlight--
        res.writeHead(status, { 'content-type': 'text/plain' }).end(answerBody)
      }, Math.max(delayMs, this.options.holdMs ?? 0))
    })
  }
}

/** The standardwebhooks verifier's answer for one secret (it also refuses a timestamp older than 5 minutes). */
function verifies (secret: string, body: string, headers: IncomingHttpHeaders): boolean {
  try {
    new Webhook(secret).verify(body, {
      'webhook-id': String(headers['webhook-id'] ?? ''),
      'webhook-timestamp': String(headers['webhook-timestamp'] ?? ''),
      'webhook-signature': String(headers['webhook-signature'] ?? '')
    })
    return true
  } catch {
    return false
  }
}
