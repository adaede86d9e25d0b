import DataLoader from 'dataloader'

/**
 * The calls of one event-loop turn as one batch (DataLoader, without its cache: each read
 * counts a view, each write is its own). Dispatched at setImmediate, after the I/O callbacks of
 * the turn (DataLoader's default, a microtask, would take only the calls of one callback): at
 * most one turn of latency, as ioredis's auto-pipelining. A result that is an Error fails its
 * own call only; a batch function that throws fails every call of its batch.
 */
export function turnBatch<Call, Result> (batch: (calls: readonly Call[]) => Promise<Array<Result | Error>>, maxBatchSize: number): DataLoader<Call, Result> {
  return new DataLoader(batch, { cache: false, maxBatchSize, batchScheduleFn: (dispatch) => { setImmediate(dispatch) } })
}
