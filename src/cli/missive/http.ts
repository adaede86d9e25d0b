// The requests `missive` makes, and what a failed one means as one line and an exit code.
import { CliError, EXIT } from './errors.js'
import { oneLine } from './terminal.js'

export const TIMEOUT_MS = 30_000
/** the most of an answer read: the server's largest (a message at its limit, sealed) is far below */
export const MAX_ANSWER_BYTES = 2 * 1024 * 1024

/**
 * 30 s; tests only (NODE_ENV=test) may shorten it with MISSIVE_TEST_TIMEOUT_MS, which is
 * ignored otherwise.
 */
export function timeoutFor (env: NodeJS.ProcessEnv): number {
  const override = env.NODE_ENV === 'test' ? env.MISSIVE_TEST_TIMEOUT_MS : undefined
  if (override !== undefined && /^\d{1,9}$/.test(override) && Number(override) > 0) return Number(override)
  return TIMEOUT_MS
}

export interface Answer {
  status: number
  /** the parsed JSON body, or null */
  body: Record<string, unknown> | null
  headers: Headers
}

/**
 * One request; throws CliError(server) when nothing usable comes back. Redirects are not
 * followed: the read token would go wherever the redirect says.
 */
export async function request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, timeoutMs = TIMEOUT_MS): Promise<Answer> {
  let response: Response
  const origin = new URL(url).origin
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) })
  } catch (err) {
    throw new CliError(EXIT.server, `cannot reach ${origin}: ${networkReason(err, timeoutMs)}`)
  }
  if (response.status >= 300 && response.status < 400) {
    await response.body?.cancel().catch(() => {})
    throw new CliError(EXIT.server, `the server redirects to ${oneLine(response.headers.get('location') ?? '?')}: use that address with --url`)
  }
  let text: string
  try {
    text = await boundedText(response)
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(EXIT.server, `the answer from ${origin} was cut short: ${networkReason(err, timeoutMs)}`)
  }
  let body: Record<string, unknown> | null = null
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
  } catch {}
  return { status: response.status, body, headers: response.headers }
}

/** The body as text, refused past MAX_ANSWER_BYTES (whatever Content-Length says, or omits). */
async function boundedText (response: Response): Promise<string> {
  const tooLarge = (): CliError => new CliError(EXIT.server, `the answer from the server is over ${MAX_ANSWER_BYTES / 1024 / 1024} MiB: not what a Missive server sends (is --url right?)`)
  const declared = Number(response.headers.get('content-length') ?? '0')
  if (declared > MAX_ANSWER_BYTES) {
    await response.body?.cancel().catch(() => {})
    throw tooLarge()
  }
  if (response.body === null) return ''
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel().catch(() => {})
      throw tooLarge()
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function networkReason (err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`
  const cause = err instanceof Error ? (err as Error & { cause?: { code?: string, message?: string } }).cause : undefined
  switch (cause?.code) {
    case 'ECONNREFUSED': return 'connection refused (is the server running?)'
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'unknown host'
    case 'ECONNRESET': return 'the connection was reset'
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return 'the connection timed out'
    default: return cause?.message ?? (err instanceof Error ? err.message : String(err))
  }
}

/** An answer the command did not expect, as one line (the server's own message when it has one). */
export function unexpected (answer: Answer): CliError {
  const message = typeof answer.body?.message === 'string' ? oneLine(answer.body.message) : 'no explanation'
  if (answer.status === 429) {
    const retry = answer.headers.get('retry-after')
    return new CliError(EXIT.server, `the server is rate limiting this address${retry === null ? '' : `: retry in ${oneLine(retry)} s`}`)
  }
  return new CliError(EXIT.server, `the server answered ${answer.status}: ${message}`)
}
