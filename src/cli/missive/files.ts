// Files in and out. Output files are created with O_EXCL and mode 0600: never overwritten,
// never readable by other users, and no race with a file that appears meanwhile.
import { closeSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { CliError, EXIT } from './errors.js'
import { fitUtf8 } from '../../../routes/web/envelope.js'

/** A few common types, so the page can offer a sensible download; anything else is octet-stream. */
const TYPES: Record<string, string> = {
  '.txt': 'text/plain',
  '.md': 'text/markdown',
  '.csv': 'text/csv',
  '.json': 'application/json',
  '.yaml': 'application/yaml',
  '.yml': 'application/yaml',
  '.xml': 'application/xml',
  '.html': 'text/html',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.svg': 'image/svg+xml',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.pem': 'application/x-pem-file',
  '.crt': 'application/x-x509-ca-cert',
  '.asc': 'application/pgp-keys',
  '.gpg': 'application/pgp-encrypted',
  '.kdbx': 'application/x-keepass2'
}

export function guessType (path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream'
}

const reason = (err: unknown): string => {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'ENOENT') return 'no such file or directory'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'EISDIR') return 'it is a directory'
  if (code === 'EEXIST') return 'it exists (missive never overwrites a file)'
  return (err as Error).message
}

/** A file to send, refused before it is read when it is over `maxBytes`. */
export function readInputFile (path: string, maxBytes: number): { name: string, type: string, bytes: Uint8Array } {
  try {
    const stat = statSync(path)
    if (!stat.isFile()) throw new CliError(EXIT.local, `cannot send ${path}: not a regular file`)
    if (stat.size > maxBytes) throw new CliError(EXIT.local, `${path} is too large: ${stat.size - maxBytes} bytes over the limit of ${maxBytes}`)
    return { name: basename(path), type: guessType(path), bytes: readFileSync(path) }
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(EXIT.local, `cannot read ${path}: ${reason(err)}`)
  }
}

export const MAX_NAME_BYTES = 255
/** how many `name (n).ext` are tried when a file's own name is taken */
export const MAX_NUMBERED = 1000
const encoder = new TextEncoder()

/**
 * `stem + tail` within 255 bytes of UTF-8 (a file system's limit on one name): the stem is cut,
 * in one pass and never inside a character, so that the tail (an extension, ` (2).pdf`) stays.
 */
export function fitName (stem: string, tail: string): string {
  return fitUtf8(stem, MAX_NAME_BYTES - encoder.encode(tail).length) + tail
}

/** `report.pdf` → `report (2).pdf`; `_envrc` → `_envrc (2)` */
export function numberedName (name: string, n: number): string {
  const ext = extname(name)
  // (an "extension" of most of the name, or a long one, is not one: number the end instead)
  const tail = ext.length > 0 && ext.length <= 16 ? ext : ''
  return fitName(name.slice(0, name.length - tail.length), ` (${n})${tail}`)
}

/** An output file made before anything is fetched, so that a mistake costs no view. */
export class OutputFile {
  private written = false
  private closed = false
  private constructor (readonly path: string, private readonly fd: number) {}

  static create (path: string): OutputFile {
    try {
      return new OutputFile(path, openSync(path, 'wx', 0o600))
    } catch (err) {
      throw new CliError(EXIT.local, `cannot write ${path}: ${reason(err)}`)
    }
  }

  /**
   * `name` in the current directory, or when it is taken the first free one of `name (1).ext`
   * … `name (${MAX_NUMBERED}).ext`: for a file already fetched, whose view is spent, a clash
   * must not lose it. Each try is O_EXCL, so nothing is ever overwritten.
   */
  static createFree (name: string): OutputFile {
    for (let n = 0; n <= MAX_NUMBERED; n++) {
      const path = n === 0 ? name : numberedName(name, n)
      try {
        return new OutputFile(path, openSync(path, 'wx', 0o600))
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new CliError(EXIT.local, `cannot write ${path}: ${reason(err)}`)
      }
    }
    throw new CliError(EXIT.local, `cannot write ${name}: it exists, and so do ${numberedName(name, 1)} to ${numberedName(name, MAX_NUMBERED)}`)
  }

  write (bytes: Uint8Array): void {
    try {
      let at = 0
      while (at < bytes.length) at += writeSync(this.fd, bytes, at)
      this.written = true
    } catch (err) {
      throw new CliError(EXIT.local, `cannot write ${this.path}: ${reason(err)}`)
    } finally {
      this.close()
    }
  }

  private close (): void {
    if (this.closed) return
    this.closed = true
    try { closeSync(this.fd) } catch {}
  }

  /** removes the empty file when the read failed */
  abandon (): void {
    if (this.written) return
    this.close()
    try { unlinkSync(this.path) } catch {}
  }
}
