// missive: the terminal client (README "The terminal client"). It encrypts and decrypts
// here, with the same envelope as the web page (routes/web/envelope.js), so the server never
// sees a message nor its key, and what one makes the other opens.
// main(argv, env, io) → exit code (src/cli/missive/errors.ts: EXIT); run() is the process.
import { realpathSync } from 'node:fs'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { EnvelopeError, envelopeInfo, newLinkSecret, open, readTokenFor, safeFileName, seal } from '../../routes/web/envelope.js'
import { DEFAULT_MAX_BYTES, DEFAULT_URL, type Link, parseBase, parseInteger, parseLink, parseTtl } from './missive/args.js'
import { CliError, EXIT, usage } from './missive/errors.js'
import { fitName, OutputFile, readInputFile } from './missive/files.js'
import { request, timeoutFor, unexpected } from './missive/http.js'
import { NoTerminal, type Prompter, prompterFor } from './missive/prompt.js'
import { forTerminal, oneLine } from './missive/terminal.js'

export const USAGE = `usage:
  missive send [FILE|-] [--ttl 1h] [--views 1] [--passphrase-prompt] [--url BASE]
      encrypts stdin (or FILE, sent as a file with its name and type) on this machine, prints
      the link on stdout and "delete token: …" on stderr
  missive read LINK|- [-o FILE]
      fetches the message (one view), decrypts it, prints the text or saves the file;
      - reads the link from stdin (its first line), out of the shell's history
  missive delete LINK --token TOKEN
      deletes the message (TOKEN: the delete token send printed; - reads it from stdin)
  missive receipt LINK --token TOKEN
      was it read, how often, when, and how it ended (TOKEN: the delete token, - reads it
      from stdin); costs the message no view
options:
  --ttl T               how long the message lives: 30m, 1h, 7d or seconds (default: the server's)
  --views N             reads before it burns: 1..1000, or "unlimited" (default 1)
  --passphrase-prompt   send: also require a passphrase, asked on the terminal (twice)
  --passphrase-stdin    send FILE / read LINK: the passphrase is the first line of stdin
  --url BASE            the server (default: $MISSIVE_URL, else ${DEFAULT_URL})
  --max-bytes N         send: the server's MESSAGE_MAX_BYTES (default ${DEFAULT_MAX_BYTES})
  -o, --output FILE     read: write here instead (never over an existing file); - is stdout
the message and the passphrase are never taken from an argument: stdin or the terminal. The
link holds the key: as an argument it lands in the shell's history (missive read - < link.txt).
exit codes: 0 done, 1 network or server error, 2 usage, 3 not found, 4 passphrase,
  5 cannot decrypt, 6 local file or input, 130 cancelled`

export interface MissiveIo {
  /** stdout, as is (no newline added) */
  out: (chunk: string | Uint8Array) => void
  /** stderr, one line */
  err: (line: string) => void
  /** stdin, whole, or stopping once it holds more than `limit` bytes */
  readStdin: (limit: number) => Promise<Buffer>
  stdinIsTTY: boolean
  stdoutIsTTY: boolean
}

const ATTEMPTS = 3
const TOKEN = /^[A-Za-z0-9_-]{16,200}$/
const MESSAGE_ID = /^[A-Za-z0-9_-]{22}$/

type Values = Record<string, string | boolean | undefined>

type OptionSpecs = Record<string, { type: 'string' | 'boolean', short?: string }>

/**
 * Ids and tokens are base64url: one in 64 starts with '-'. parseArgs would take such an id for
 * an option ("Unknown option '-J'") and refuse such a token after `--token` (ambiguous): the
 * value of a string option is attached to it (`--token=-A…`), and where a bare id is taken, an
 * argument that is an id and no option of the command is passed after `--`.
 */
function withDashedValues (args: string[], options: OptionSpecs, bareIds: boolean): string[] {
  const out: string[] = []
  const ids: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    if (arg === '--') { out.push(...args.slice(i)); break }
    const name = arg.startsWith('--') ? arg.slice(2) : Object.keys(options).find((key) => options[key]?.short !== undefined && arg === `-${options[key]?.short ?? ''}`)
    const spec = name === undefined ? undefined : options[name]
    if (spec?.type === 'string' && i + 1 < args.length) {
      out.push(`--${name ?? ''}=${args[++i] ?? ''}`)
    } else if (bareIds && spec === undefined && arg.startsWith('-') && MESSAGE_ID.test(arg)) {
      ids.push(arg)
    } else {
      out.push(arg)
    }
  }
  if (ids.length === 0) return out
  return out.includes('--') ? [...out, ...ids] : [...out, '--', ...ids]
}

/** node:util parseArgs, its errors as one usage line */
function parse (args: string[], options: OptionSpecs, { bareIds = false } = {}): { values: Values, positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: withDashedValues(args, options, bareIds), options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: true })
    return { values: values as Values, positionals }
  } catch (err) {
    // ("Unknown option '--x'. To specify a positional argument…": the first sentence says it)
    throw usage(`${(err as Error).message.split('. ')[0] ?? 'bad arguments'} (missive --help)`)
  }
}

const str = (value: string | boolean | undefined): string | undefined => typeof value === 'string' ? value : undefined

function baseFrom (values: Values, env: NodeJS.ProcessEnv): string {
  return parseBase(str(values.url) ?? (env.MISSIVE_URL === undefined || env.MISSIVE_URL === '' ? DEFAULT_URL : env.MISSIVE_URL))
}

/** An envelope that would not seal or open, as one line and its exit code. */
function fromEnvelope (err: unknown): unknown {
  if (!(err instanceof EnvelopeError)) return err
  const code = (err as EnvelopeError & { code: string }).code
  if (code === 'WRONG_PASSPHRASE' || code === 'PASSPHRASE_REQUIRED') return new CliError(EXIT.passphrase, err.message)
  if (code === 'TOO_LARGE') return new CliError(EXIT.local, `too large: ${err.message}`)
  if (code === 'INVALID_INPUT') return new CliError(EXIT.local, err.message)
  return new CliError(EXIT.decrypt, err.message)
}

/** The first line of stdin: a passphrase or a token, never an argument. */
async function lineFromStdin (io: MissiveIo, what: string): Promise<string> {
  const line = (await io.readStdin(4096)).toString('utf8').split(/\r?\n/)[0] ?? ''
  if (line === '') throw usage(`${what}: stdin is empty`)
  return line
}

async function send (args: string[], env: NodeJS.ProcessEnv, io: MissiveIo, prompter: Prompter): Promise<number> {
  const { values, positionals } = parse(args, {
    ttl: { type: 'string' },
    views: { type: 'string' },
    'passphrase-prompt': { type: 'boolean' },
    'passphrase-stdin': { type: 'boolean' },
    url: { type: 'string' },
    'max-bytes': { type: 'string' }
  })
  if (values.help === true) { io.out(`${USAGE}\n`); return EXIT.ok }
  if (positionals.length > 1) throw usage('send takes one FILE (or - for stdin); the message itself is read from stdin, never from an argument')
  const source = positionals[0] ?? '-'
  const base = baseFrom(values, env)
  const ttl = values.ttl === undefined ? undefined : parseTtl(str(values.ttl) ?? '')
  const views = values.views === 'unlimited' ? null : parseInteger('views', str(values.views) ?? '1', 1, 1000)
  const maxBytes = values['max-bytes'] === undefined ? DEFAULT_MAX_BYTES : parseInteger('max-bytes', str(values['max-bytes']) ?? '', 1, 16 * 1024 * 1024)
  if (values['passphrase-prompt'] === true && values['passphrase-stdin'] === true) throw usage('--passphrase-prompt or --passphrase-stdin, not both')
  if (values['passphrase-stdin'] === true && source === '-') throw usage('--passphrase-stdin needs a FILE: stdin is the message')

  // Everything is checked (size included) before asking for a passphrase or encrypting.
  const payload = source === '-' ? { text: await textFromStdin(io, maxBytes) } : { file: readInputFile(source, maxBytes) }
  let passphrase: string | undefined
  if (values['passphrase-stdin'] === true) passphrase = await lineFromStdin(io, '--passphrase-stdin')
  if (values['passphrase-prompt'] === true) passphrase = await newPassphrase(prompter)

  const secret = newLinkSecret()
  let content: string
  try {
    content = await seal(payload, secret, passphrase, { maxBytes })
  } catch (err) {
    throw fromEnvelope(err)
  }
  const body: Record<string, unknown> = { content, encrypted: true, readToken: await readTokenFor(secret) }
  if (ttl !== undefined) body.ttl = ttl
  if (views !== null) body.maxViews = views
  const answer = await request(`${base}/`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body) }, timeoutFor(env))
  if (answer.status === 413) throw new CliError(EXIT.local, `too large for this server: ${oneLine(String(answer.body?.message ?? 'its limit is lower'))} (--max-bytes: its MESSAGE_MAX_BYTES)`)
  const id = answer.body?.id
  if (answer.status !== 201 || typeof id !== 'string' || !MESSAGE_ID.test(id)) throw unexpected(answer)
  io.out(`${base}/msg/${id}#${secret}\n`)
  io.err(`delete token: ${oneLine(String(answer.body?.deleteToken))}`)
  const max = answer.body?.maxViews
  io.err(`expires ${oneLine(String(answer.body?.expiresAt))}; ${typeof max === 'number' ? `burns after ${max} view${max === 1 ? '' : 's'}` : 'any number of views'}${passphrase === undefined ? '' : '; the reader needs the passphrase too'}`)
  return EXIT.ok
}

async function textFromStdin (io: MissiveIo, maxBytes: number): Promise<string> {
  if (io.stdinIsTTY) io.err('type the message, then Ctrl-D on a line of its own')
  const bytes = await io.readStdin(maxBytes)
  if (bytes.length > maxBytes) throw new CliError(EXIT.local, `too large: stdin is over the limit of ${maxBytes} bytes (send less, or --max-bytes for a server that takes more)`)
  if (bytes.length === 0) throw new CliError(EXIT.local, 'nothing to send: stdin is empty')
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes)
  } catch {
    throw new CliError(EXIT.local, 'stdin is not UTF-8 text: send binary data as a file (missive send FILE)')
  }
}

async function newPassphrase (prompter: Prompter): Promise<string> {
  try {
    const first = await prompter.ask('passphrase: ')
    if (first === '') throw new CliError(EXIT.passphrase, 'the passphrase is empty')
    if (await prompter.ask('passphrase again: ') !== first) throw new CliError(EXIT.passphrase, 'the two passphrases differ')
    return first
  } catch (err) {
    if (err instanceof NoTerminal) throw usage('--passphrase-prompt needs a terminal to ask on (or --passphrase-stdin with a FILE)')
    throw err
  }
}

async function read (args: string[], env: NodeJS.ProcessEnv, io: MissiveIo, prompter: Prompter): Promise<number> {
  const { values, positionals } = parse(args, { output: { type: 'string', short: 'o' }, 'passphrase-stdin': { type: 'boolean' }, url: { type: 'string' } })
  if (values.help === true) { io.out(`${USAGE}\n`); return EXIT.ok }
  if (positionals.length !== 1) throw usage('read takes one LINK: missive read \'<server>/msg/<id>#<key>\' (quote it: # starts a comment in a shell), or - to read it from stdin')
  const fromStdin = positionals[0] === '-'
  if (fromStdin && values['passphrase-stdin'] === true) throw usage('read - takes the link from stdin: the passphrase cannot come from there too (drop --passphrase-stdin: it is asked on the terminal)')
  const link = parseLink(fromStdin ? await lineFromStdin(io, 'read -') : positionals[0] ?? '', baseFrom(values, env))
  const fixedPassphrase = values['passphrase-stdin'] === true ? await lineFromStdin(io, '--passphrase-stdin') : undefined
  const outputPath = str(values.output)
  // Made before the fetch: a file that exists, or a directory that does not, costs no view.
  const output = outputPath === undefined || outputPath === '-' ? null : OutputFile.create(outputPath)
  try {
    await fetchAndDeliver(link, io, prompter, output, outputPath === '-', fixedPassphrase, timeoutFor(env))
  } finally {
    output?.abandon()
  }
  return EXIT.ok
}

async function fetchAndDeliver (link: Link, io: MissiveIo, prompter: Prompter, output: OutputFile | null, toStdout: boolean, fixedPassphrase: string | undefined, timeoutMs: number): Promise<void> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (link.secret !== null) headers['x-read-token'] = await readTokenFor(link.secret)
  const answer = await request(`${link.base}/msg/${link.id}`, { method: 'GET', headers }, timeoutMs)
  if (answer.status === 404) {
    throw new CliError(EXIT.notFound, 'not found: the message does not exist, has expired, was read its last time or deleted, or the link is not the whole link')
  }
  const content = answer.body?.content
  if (answer.status !== 200 || typeof content !== 'string') throw unexpected(answer)
  const remaining = answer.body?.remainingViews
  const spent = remaining === 0 ? 'the message is gone' : typeof remaining === 'number' ? `${remaining} view${remaining === 1 ? '' : 's'} left` : 'it can still be read'

  let message: { text: string | null, file: { name: string, type: string, bytes: Uint8Array } | null }
  if (answer.body?.encrypted !== true) {
    message = { text: content, file: null }
  } else if (link.secret === null) {
    throw new CliError(EXIT.decrypt, `the message is encrypted and the link has no key (the part after #); this read used a view: ${spent}`)
  } else {
    message = await decrypt(content, link.secret, prompter, fixedPassphrase, spent)
  }
  deliver(message, io, output, toStdout, spent)
  io.err(remaining === 0 ? 'that was its last view: the message is gone' : spent)
}

/** Opens the envelope; a wrong passphrase is asked again, on the copy already fetched (no second view). */
async function decrypt (content: string, secret: string, prompter: Prompter, fixed: string | undefined, spent: string): Promise<{ text: string | null, file: { name: string, type: string, bytes: Uint8Array } | null }> {
  try {
    if (!envelopeInfo(content).passphrase) return await open(content, secret)
    if (fixed !== undefined) return await open(content, secret, fixed)
  } catch (err) {
    const mapped = fromEnvelope(err)
    if (mapped instanceof CliError) throw new CliError(mapped.exitCode, `${mapped.message}; this read used a view: ${spent}`)
    throw mapped
  }
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    let passphrase: string
    try {
      passphrase = await prompter.ask(attempt === 1 ? 'this message needs its passphrase: ' : 'passphrase: ')
    } catch (err) {
      if (err instanceof NoTerminal) throw new CliError(EXIT.passphrase, `this message needs its passphrase and there is no terminal to ask it on (--passphrase-stdin); this read used a view: ${spent}`)
      if (err instanceof CliError) throw new CliError(err.exitCode, `${err.message}; this read used a view: ${spent}`)
      throw err
    }
    try {
      if (passphrase !== '') return await open(content, secret, passphrase)
    } catch (err) {
      if (!(err instanceof EnvelopeError) || (err as EnvelopeError & { code: string }).code !== 'WRONG_PASSPHRASE') throw fromEnvelope(err)
    }
    if (attempt < ATTEMPTS) prompter.say(`wrong passphrase, try again (${ATTEMPTS - attempt} ${ATTEMPTS - attempt === 1 ? 'try' : 'tries'} left; the message was fetched once, trying costs no view)`)
  }
  throw new CliError(EXIT.passphrase, `wrong passphrase, ${ATTEMPTS} tries; this read used a view: ${spent}`)
}

/**
 * Text for stdout: a pipe or a file gets it exactly; a terminal gets a final newline, and the
 * sender's control characters as visible escapes (src/cli/missive/terminal.ts).
 */
function textOut (io: MissiveIo, text: string): void {
  if (!io.stdoutIsTTY) { io.out(text); return }
  const shown = forTerminal(text)
  io.out(shown.endsWith('\n') ? shown : `${shown}\n`)
}

function deliver (message: { text: string | null, file: { name: string, type: string, bytes: Uint8Array } | null }, io: MissiveIo, output: OutputFile | null, toStdout: boolean, spent: string): void {
  const encoder = new TextEncoder()
  if (message.file === null) {
    const text = message.text ?? ''
    if (output !== null) {
      output.write(encoder.encode(text))
      io.err(`saved the text in ${oneLine(output.path)}`)
    } else {
      textOut(io, text)
    }
    return
  }
  const file = message.file
  if (message.text !== null && message.text !== '') {
    if (toStdout) io.err(forTerminal(message.text))
    else textOut(io, message.text)
  }
  if (toStdout) {
    // (a file shown on a terminal is shown as text, its controls escaped; a pipe gets its bytes)
    io.out(io.stdoutIsTTY ? forTerminal(new TextDecoder().decode(file.bytes)) : file.bytes)
    return
  }
  let target = output
  if (target === null) {
    const name = downloadName(file.name)
    try {
      // (fetched already, its view spent: a name that is taken gets a number, never an error)
      target = OutputFile.createFree(name)
    } catch (err) {
      if (err instanceof CliError) throw new CliError(err.exitCode, `${err.message}; this read used a view: ${spent}${spent === 'the message is gone' ? '' : ' (read it again with -o FILE)'}`)
      throw err
    }
    if (target.path !== name) io.err(`${oneLine(name)} exists: saving as ${oneLine(target.path)} instead`)
  }
  target.write(file.bytes)
  io.err(`saved ${oneLine(target.path)} (${file.bytes.length} bytes, ${oneLine(file.type)})`)
}

/** names Windows keeps for devices, with or without an extension (`nul.txt` is the device too) */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$/i

/**
 * The file's own name in the current directory, never hidden: a sender must not be able to
 * drop `.envrc` or `.npmrc` where a tool would pick it up. Also a name any system can take:
 * `<>:"|?*` become `_`, a device name of Windows (CON, NUL, COM1, `aux.txt`…) gets a `_`
 * before it, a name ending in a dot or a space one after it.
 */
export function downloadName (name: string): string {
  let clean = safeFileName(name).replace(/[<>:"|?*]/g, '_').replace(/^\.+/, '_')
  if (WINDOWS_RESERVED.test(clean)) clean = `_${clean}`
  if (/[. ]$/.test(clean)) clean = `${clean}_`
  // (a `_` added to a name of 255 bytes: cut again, its extension kept)
  const ext = extname(clean)
  const tail = ext.length <= 16 ? ext : ''
  clean = fitName(clean.slice(0, clean.length - tail.length), tail)
  return /[. ]$/.test(clean) ? `${clean.slice(0, -1)}_` : clean
}

async function remove (args: string[], env: NodeJS.ProcessEnv, io: MissiveIo): Promise<number> {
  const { values, positionals } = parse(args, { token: { type: 'string' }, url: { type: 'string' } }, { bareIds: true })
  if (values.help === true) { io.out(`${USAGE}\n`); return EXIT.ok }
  if (positionals.length !== 1) throw usage('delete takes one LINK (or id, with --url)')
  const link = parseLink(positionals[0] ?? '', baseFrom(values, env))
  const given = str(values.token)
  if (given === undefined) throw usage('delete needs --token TOKEN: the delete token that send printed (- reads it from stdin)')
  const token = given === '-' ? (await lineFromStdin(io, '--token -')).trim() : given
  if (!TOKEN.test(token)) throw usage('the delete token is not one: base64url characters, as send printed it')
  const answer = await request(`${link.base}/msg/${link.id}`, { method: 'DELETE', headers: { 'x-delete-token': token } }, timeoutFor(env))
  if (answer.status === 404) throw new CliError(EXIT.notFound, 'not found: no such message (expired, burned or deleted already), or the delete token is wrong')
  if (answer.status !== 204) throw unexpected(answer)
  io.out('deleted\n')
  return EXIT.ok
}

const RECEIPT_STATES = ['live', 'burned', 'expired', 'deleted']

/** "once", "3 times" */
const times = (n: number): string => n === 1 ? 'once' : `${n} times`

/** The receipt's state in words: what happened to the message, for the first line. */
function receiptSummary (state: string, views: number, maxViews: number | null): string {
  switch (state) {
    case 'live': {
      const left = maxViews === null ? 'it can still be read' : `${maxViews - views} view${maxViews - views === 1 ? '' : 's'} left`
      return views === 0 ? `live: not read yet, ${left}` : `live: read ${times(views)}, ${left}`
    }
    case 'burned': return `burned: read ${times(views)}, as often as allowed; the message is gone`
    case 'expired': return views === 0 ? 'expired: never read; the message is gone' : `expired: read ${times(views)}, then its time ran out; the message is gone`
    default: return views === 0 ? 'deleted: never read' : `deleted: read ${times(views)}, then deleted`
  }
}

async function receipt (args: string[], env: NodeJS.ProcessEnv, io: MissiveIo): Promise<number> {
  // The delete token comes as delete takes it: --token TOKEN, or --token - from stdin (out of
  // the shell's history and ps). The link's key, when it has one, is never sent.
  const { values, positionals } = parse(args, { token: { type: 'string' }, url: { type: 'string' } }, { bareIds: true })
  if (values.help === true) { io.out(`${USAGE}\n`); return EXIT.ok }
  if (positionals.length !== 1) throw usage('receipt takes one LINK (or id, with --url)')
  const link = parseLink(positionals[0] ?? '', baseFrom(values, env))
  const given = str(values.token)
  if (given === undefined) throw usage('receipt needs --token TOKEN: the delete token that send printed (- reads it from stdin)')
  const token = given === '-' ? (await lineFromStdin(io, '--token -')).trim() : given
  if (!TOKEN.test(token)) throw usage('the delete token is not one: base64url characters, as send printed it')
  const answer = await request(`${link.base}/msg/${link.id}/receipt`, { method: 'GET', headers: { accept: 'application/json', 'x-delete-token': token } }, timeoutFor(env))
  if (answer.status === 404) {
    throw new CliError(EXIT.notFound, 'not found: no receipt for this message (it never existed, or the server no longer keeps its receipt: it keeps one a while after the message ends, or none), or the delete token is wrong')
  }
  const body = answer.body
  const time = (value: unknown): value is string | null => value === null || typeof value === 'string'
  // Checked before anything is printed: what is not a receipt is an unexpected answer, not a half summary.
  if (answer.status !== 200 || body === null || typeof body.state !== 'string' || !RECEIPT_STATES.includes(body.state) ||
      !Number.isSafeInteger(body.views) || !(body.maxViews === null || Number.isSafeInteger(body.maxViews)) ||
      typeof body.createdAt !== 'string' || typeof body.expiresAt !== 'string' ||
      !time(body.firstViewedAt) || !time(body.lastViewedAt) || !time(body.endedAt)) {
    throw unexpected(answer)
  }
  const views = body.views as number
  const maxViews = body.maxViews as number | null
  const ended = body.state !== 'live'
  // (the times are the server's strings: kept on one line, their controls escaped, like every server string)
  const at = (value: string | null, none: string): string => value === null ? none : oneLine(value)
  io.out([
    receiptSummary(body.state, views, maxViews),
    `views: ${views}${maxViews === null ? ' (no limit)' : ` of ${maxViews}`}`,
    `created: ${oneLine(body.createdAt)}`,
    `expires: ${oneLine(body.expiresAt)}`,
    `first read: ${at(body.firstViewedAt, ended ? 'never' : 'not yet')}`,
    `last read: ${at(body.lastViewedAt, ended ? 'never' : 'not yet')}`,
    `ended: ${at(body.endedAt, 'not yet')}`
  ].join('\n') + '\n')
  return EXIT.ok
}

export async function main (argv: string[], env: NodeJS.ProcessEnv, given: MissiveIo): Promise<number> {
  // Every line on stderr, whatever it says (a name, a type, a server's message, the text that
  // comes with a file), has its control characters shown as escapes: stderr is a terminal
  // more often than not. Stdout is written as is but to a terminal (textOut).
  const io: MissiveIo = { ...given, err: (line) => { given.err(forTerminal(line)) } }
  const prompter = prompterFor(env, io.err)
  try {
    const [command, ...rest] = argv
    switch (command) {
      case 'send': return await send(rest, env, io, prompter)
      case 'read': return await read(rest, env, io, prompter)
      case 'delete': return await remove(rest, env, io)
      case 'receipt': return await receipt(rest, env, io)
      case 'help': case '--help': case '-h':
        io.out(`${USAGE}\n`)
        return EXIT.ok
      case undefined: throw usage('which command? send, read, delete or receipt (missive --help)')
      default: throw usage(`unknown command ${JSON.stringify(command)}: send, read, delete or receipt (missive --help)`)
    }
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`missive: ${err.message}`)
      return err.exitCode
    }
    // Never a stack trace: one line, whatever went wrong.
    io.err(`missive: ${String((err as Error)?.message ?? err).split('\n')[0] ?? 'failed'}`)
    return EXIT.server
  }
}

/** stdin into memory, stopping once it is over `limit` (a huge pipe is refused, not buffered). */
async function readStdin (limit: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of process.stdin) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    if (size > limit) break
  }
  return Buffer.concat(chunks)
}

/** The process: what bin/missive.js and `npm run cli` start. */
export async function run (): Promise<void> {
  // (`missive read … | head` closes the pipe early: that is not an error worth a trace)
  process.stdout.on('error', () => { process.exit(process.exitCode ?? 0) })
  const io: MissiveIo = {
    out: (chunk) => { process.stdout.write(chunk) },
    err: (line) => { process.stderr.write(`${line}\n`) },
    readStdin,
    stdinIsTTY: process.stdin.isTTY === true,
    stdoutIsTTY: process.stdout.isTTY === true
  }
  process.exitCode = await main(process.argv.slice(2), process.env, io)
}

const entry = process.argv[1]
let isEntry = false
try {
  isEntry = entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)
} catch {}
if (isEntry) await run()
