// What the command-line tools share: where they write, and the mistake of a caller (usage,
// exit code 2). A tool is main(argv, env, io) → exit code, tested in-process.

export interface Io {
  /** stdout: what a program reads (one JSON object, or the report) */
  out: (text: string) => void
  /** stderr: what a person reads */
  err: (text: string) => void
  /** stdin, whole (`keys policy set --file -`); absent where there is none */
  in?: () => Promise<string>
}

/** A mistake of the caller: printed as one line with the usage, exit code 2. */
export class UsageError extends Error { override name = 'UsageError' }
