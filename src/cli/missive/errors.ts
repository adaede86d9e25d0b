// The exit codes of `missive` (README "The terminal client"), and the one error type the
// commands throw: its message is the one line printed on stderr.

export const EXIT = {
  ok: 0,
  /** the network or the server failed: unreachable, timed out, 5xx, 429, an unexpected answer */
  server: 1,
  /** the caller's mistake: unknown command or option, a bad value, a malformed link */
  usage: 2,
  /** no such message: never existed, expired, burned, deleted, or the link's key (read token) or the delete token is wrong */
  notFound: 3,
  /** the passphrase: wrong after every try, or needed with no terminal to ask it on */
  passphrase: 4,
  /** the message came but does not decrypt: the key in the link does not open it, or it is not a Missive envelope */
  decrypt: 5,
  /** local input or output: a file that cannot be read or written, an output file that exists, input too large or empty */
  local: 6,
  /** cancelled at a prompt (Ctrl-C, Ctrl-D) */
  cancelled: 130
} as const

export type ExitCode = typeof EXIT[keyof typeof EXIT]

export class CliError extends Error {
  override name = 'CliError'
  constructor (readonly exitCode: ExitCode, message: string) {
    super(message)
  }
}

export const usage = (message: string): CliError => new CliError(EXIT.usage, message)
