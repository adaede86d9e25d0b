/**
 * Identical reads asked for in one event-loop turn, made once and shared.
 *
 * Every authenticated request reads its IP's auth-failure count (and a token's deny-list
 * entry), and each ioredis command costs the server ~8–15 µs of CPU (its command object,
 * the auto-pipeline's callbacks, promises, the reply parser). Requests that arrive in the
 * same turn and ask the same question (many calls of one service from one IP) share one
 * command instead.
 *
 * Freshness: ioredis sends the commands of a turn at setImmediate, after the turn's I/O
 * callbacks, so the shared read is sent once the requests that share it have arrived and is
 * as fresh for each as a read of its own. (When replies to an earlier pipeline arrive,
 * ioredis may send the next pipeline at once; a request joining that read later in the same
 * turn gets an answer older than it by less than one turn, a fraction of a millisecond.)
 * Entries are dropped when the turn ends, answered or not: a later request reads again.
 */
export class SameTurnReads {
  private readonly pending = new Map<string, Promise<unknown>>()
  private clearing = false

  /** `read()`'s promise, shared with any other caller of `key` in this turn. */
  // (not async: the caller awaits the shared promise itself, with no wrapper of its own)
  read<T> (key: string, read: () => Promise<T>): Promise<T> {
    const shared = this.pending.get(key) as Promise<T> | undefined
    if (shared !== undefined) return shared
    const promise = read()
    this.pending.set(key, promise)
    if (!this.clearing) {
      this.clearing = true
      setImmediate(this.clear)
    }
    return promise
  }

  private readonly clear = (): void => {
    this.pending.clear()
    this.clearing = false
  }
}
