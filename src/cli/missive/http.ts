// The requests `missive` makes, and what a failed one means as one line and an exit code.
import type { IncomingMessage } from 'node:http'
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
  headers: { get: (name: string) => string | null }
}

/**
 * One request; throws CliError(server) when nothing usable comes back. Redirects are not
 * followed: the read token would go wherever the redirect says. node:http(s), not fetch:
 * loading fetch (undici) took ~0.25 s of CPU, more than the rest of a command.
 */
export async function request (url: string, init: { method: string, headers?: Record<string, string>, body?: string }, timeoutMs = TIMEOUT_MS): Promise<Answer> {
  const target = new URL(url)
  const origin = target.origin
  const { request: send } = target.protocol === 'https:' ? await import('node:https') : await import('node:http')
  const body = init.body === undefined ? undefined : Buffer.from(init.body, 'utf8')
  const headers: Record<string, string> = { accept: '*/*', ...init.headers }
  if (body !== undefined) headers['content-length'] = String(body.length)
  let answered = false
  let timedOut: Error | null = null
  return await new Promise<Answer>((resolve, reject) => {
    const fail = (failure: unknown): void => {
      clearTimeout(timer)
      // (a timeout while the answer comes in also fails its stream: the timeout is the reason)
      const err = failure instanceof CliError ? failure : timedOut ?? failure
      reject(err instanceof CliError
        ? err
        : new CliError(EXIT.server, answered ? `the answer from ${origin} was cut short: ${networkReason(err, timeoutMs)}` : `cannot reach ${origin}: ${networkReason(err, timeoutMs)}`))
    }
    const req = send(target, { method: init.method, headers }, (response) => {
      answered = true
      const status = response.statusCode ?? 0
      const answerHeaders = { get: (name: string): string | null => headerValue(response.headers[name.toLowerCase()]) }
      if (status >= 300 && status < 400) {
        response.destroy()
        fail(new CliError(EXIT.server, `the server redirects to ${oneLine(answerHeaders.get('location') ?? '?')}: use that address with --url`))
        return
      }
      boundedText(response, Number(answerHeaders.get('content-length') ?? '0')).then((text) => {
        clearTimeout(timer)
        let parsed: Record<string, unknown> | null = null
        try {
          const value: unknown = JSON.parse(text)
          if (value !== null && typeof value === 'object' && !Array.isArray(value)) parsed = value as Record<string, unknown>
        } catch {}
        resolve({ status, body: parsed, headers: answerHeaders })
      }, fail)
    })
    // The whole exchange, answer included, within timeoutMs (as AbortSignal.timeout did with fetch).
    const timer = setTimeout(() => {
      timedOut = Object.assign(new Error('timed out'), { name: 'TimeoutError' })
      req.destroy(timedOut)
    }, timeoutMs)
    req.on('error', fail)
    req.end(body)
  })
}

function headerValue (value: string | string[] | undefined): string | null {
  if (value === undefined) return null
  return Array.isArray(value) ? value.join(', ') : value
}

/** The body as text, refused past MAX_ANSWER_BYTES (whatever Content-Length says, or omits). */
async function boundedText (response: IncomingMessage, declared: number): Promise<string> {
  const tooLarge = (): CliError => new CliError(EXIT.server, `the answer from the server is over ${MAX_ANSWER_BYTES / 1024 / 1024} MiB: not what a Missive server sends (is --url right?)`)
  if (declared > MAX_ANSWER_BYTES) {
    response.destroy()
    throw tooLarge()
  }
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of response as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_ANSWER_BYTES) {
      response.destroy()
      throw tooLarge()
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function networkReason (err: unknown, timeoutMs: number): string {
  if (err instanceof Error && err.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`
  const cause = err instanceof Error ? err as Error & { code?: string } : undefined
  switch (cause?.code) {
    case 'ECONNREFUSED': return 'connection refused (is the server running?)'
    case 'ENOTFOUND': case 'EAI_AGAIN': return 'unknown host'
    case 'ECONNRESET': return 'the connection was reset'
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': return 'the connection timed out'
    default: return cause?.message ?? String(err)
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
