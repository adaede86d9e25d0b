// The requests `missive` makes, and what a failed one means as one line and an exit code.
import { CliError, EXIT } from './errors.js'

const TIMEOUT_MS = 30_000

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
export async function request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }): Promise<Answer> {
  let response: Response
  try {
    response = await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (err) {
    throw new CliError(EXIT.server, `cannot reach ${new URL(url).origin}: ${networkReason(err)}`)
  }
  if (response.status >= 300 && response.status < 400) {
    throw new CliError(EXIT.server, `the server redirects to ${response.headers.get('location') ?? '?'}: use that address with --url`)
  }
  let text: string
  try {
    text = await response.text()
  } catch (err) {
    throw new CliError(EXIT.server, `the answer from ${new URL(url).origin} was cut short: ${networkReason(err)}`)
  }
  let body: Record<string, unknown> | null = null
  try {
    const parsed: unknown = JSON.parse(text)
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>
  } catch {}
  return { status: response.status, body, headers: response.headers }
}

function networkReason (err: unknown): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${TIMEOUT_MS / 1000} s`
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
  const message = typeof answer.body?.message === 'string' ? answer.body.message : 'no explanation'
  if (answer.status === 429) {
    const retry = answer.headers.get('retry-after')
    return new CliError(EXIT.server, `the server is rate limiting this address${retry === null ? '' : `: retry in ${retry} s`}`)
  }
  return new CliError(EXIT.server, `the server answered ${answer.status}: ${message}`)
}
