import { StorageFull, StoreUnavailable } from '../errors.js'

/**
 * Turns a store client's failure into a catalogued error. The original stays as `cause`
 * for the log; the response only ever says 503 (or 507 when Redis refuses writes because
 * it is out of memory under `noeviction`).
 */
export function toStoreError (err: unknown): Error {
  const message = err instanceof Error ? err.message : ''
  const mapped = message.startsWith('OOM ') ? new StorageFull() : new StoreUnavailable()
  return Object.assign(mapped, { cause: err })
}

/** Runs a store operation; any failure of the client comes out as toStoreError's catalogued error. */
export async function guarded<T> (operation: () => Promise<T>): Promise<T> {
  try {
    return await operation()
  } catch (err) {
    throw toStoreError(err)
  }
}
