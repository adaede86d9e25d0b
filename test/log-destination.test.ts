import t from 'tap'
import { BatchedLines, openLogDestination } from '../src/log-destination.js'

function recordingWriter (): { chunks: string[], syncFlushes: number, write: (chunk: string) => boolean, flushSync: () => void } {
  return {
    chunks: [],
    syncFlushes: 0,
    write (chunk) { this.chunks.push(chunk); return true },
    flushSync () { this.syncFlushes += 1 }
  }
}

t.test('lines reach the writer joined, one chunk per batch', async (t) => {
  const writer = recordingWriter()
  const lines = new BatchedLines(writer, 100)
  for (let i = 0; i < 9; i++) lines.write(`line ${i} ${'x'.repeat(2)}\n`)
  t.same(writer.chunks, [], 'nothing is written before a batch fills')
  for (let i = 9; i < 12; i++) lines.write(`line ${i} ${'x'.repeat(2)}\n`)
  t.equal(writer.chunks.length, 1, 'one write for the whole batch')
  t.equal(writer.chunks[0], Array.from({ length: 10 }, (_, i) => `line ${i} xx\n`).join(''), 'every line, in order, once')
})

t.test('flush hands over what is pending; flushSync also makes the writer finish', async (t) => {
  const writer = recordingWriter()
  const lines = new BatchedLines(writer, 1000)
  lines.flush()
  t.same(writer.chunks, [], 'an empty flush writes nothing')
  lines.write('a\n')
  lines.write('b\n')
  lines.flush()
  t.same(writer.chunks, ['a\nb\n'])
  lines.write('c\n')
  lines.flushSync()
  t.same(writer.chunks, ['a\nb\n', 'c\n'], 'pending lines first')
  t.equal(writer.syncFlushes, 1, 'then the writer writes synchronously')
})

t.test('a process that opens many destinations (one per app) adds one exit listener, not one each', async (t) => {
  const before = process.listenerCount('exit')
  for (let i = 0; i < 12; i++) await openLogDestination({ LOG_FILE: undefined })
  t.ok(process.listenerCount('exit') <= before + 1, `${process.listenerCount('exit') - before} exit listeners added`)
})
