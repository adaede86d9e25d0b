import pino, { type DestinationStream } from 'pino'
import pinoRoll from 'pino-roll'
import type { Config } from './config.js'

// Log lines are handed to the writer in batches of about this many characters, and at least
// this often, so a busy server makes one write per batch of lines instead of one per line,
// and a quiet one still shows each line within a second.
const LOG_BATCH_CHARS = 32 * 1024
const LOG_FLUSH_MS = 1000
const WRITER_MAX_WRITE = 1024 * 1024

/** The part of sonic-boom (pino.destination, pino-roll) this module uses. */
interface FileWriter {
  write (chunk: string): unknown
  flushSync (): void
}

/**
 * Collects log lines and passes them on joined, one chunk per batch. sonic-boom can batch by
 * itself (`minLength`), but it measures its whole pending buffer with Buffer.byteLength on
 * every line: with 8 KiB batches that was about 10 µs per request, 7% of a message read
 * (11-13 µs of CPU per line in isolation, against 2 µs here, write system calls included).
 * Here a line costs an array push; the writer gets one string per batch and writes it at once.
 */
export class BatchedLines implements DestinationStream {
  private lines: string[] = []
  private chars = 0

  constructor (private readonly writer: FileWriter, private readonly batchChars = LOG_BATCH_CHARS) {}

  write (line: string): void {
    this.lines.push(line)
    this.chars += line.length
    if (this.chars >= this.batchChars) this.flush()
  }

  /** Hands whatever is pending to the writer, which writes it asynchronously. */
  flush (): void {
    if (this.lines.length === 0) return
    const chunk = this.lines.join('')
    this.lines = []
    this.chars = 0
    this.writer.write(chunk)
  }

  /** Writes everything, pending lines included, before returning (at exit). */
  flushSync (): void {
    this.flush()
    this.writer.flushSync()
  }
}

const flushed = new Set<BatchedLines>()

/**
 * One timer and one exit listener for every destination the process opens (one per app: a test
 * process builds dozens, and a listener each made Node warn of a leak past ten).
 */
function flushAtIntervalsAndExit (destination: BatchedLines): void {
  if (flushed.size === 0) {
    setInterval(() => { for (const each of flushed) each.flush() }, LOG_FLUSH_MS).unref()
    process.once('exit', () => {
      for (const each of flushed) {
        try { each.flushSync() } catch {}
      }
    })
  }
  flushed.add(destination)
}

/**
 * Where log lines go: the given stream (tests), LOG_FILE with a new file every day
 * (pino-roll, written from this thread: a transport worker cost more CPU per line than
 * the write itself), or stdout. Writes are asynchronous and batched: logging never blocks
 * the event loop, and whatever is pending at exit is written synchronously then.
 */
export async function openLogDestination (config: Pick<Config, 'LOG_FILE'>, stream?: DestinationStream): Promise<DestinationStream> {
  if (stream !== undefined) return stream
  // minLength 0: the writer writes each chunk it gets at once (the batching is BatchedLines');
  // a large maxWrite lets it write whatever is pending in one call when a write is in flight.
  const writerOptions = { minLength: 0, maxWrite: WRITER_MAX_WRITE }
  const writer: FileWriter = config.LOG_FILE !== undefined
    ? await pinoRoll({ file: config.LOG_FILE, frequency: 'daily', dateFormat: 'yyyy-MM-dd', mkdir: true, limit: { count: 14 }, ...writerOptions })
    : pino.destination({ dest: 1, sync: false, ...writerOptions })
  const destination = new BatchedLines(writer)
  flushAtIntervalsAndExit(destination)
  return destination
}
