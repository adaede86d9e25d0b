/**
 * A task run every `intervalMs`, one run at a time: a tick that falls due while a run is still
 * on its way (a slow or stalled store) is skipped, so reads never pile up behind it. The timer
 * does not keep the process alive. A run that fails goes to `onError`, and the next tick runs
 * again. The pollers that follow a store's version (blocks, the runtime policy, the API-key
 * epoch) share it.
 */
export class Poller {
  private timer: NodeJS.Timeout | null
  private running = false

  constructor (private readonly task: () => Promise<void>, intervalMs: number, private readonly onError: (err: unknown) => void = () => {}) {
    this.timer = setInterval(() => { this.tick() }, intervalMs).unref()
  }

  /** whether a run is on its way */
  get busy (): boolean {
    return this.running
  }

  close (): void {
    if (this.timer !== null) clearInterval(this.timer)
    this.timer = null
  }

  private tick (): void {
    if (this.running) return
    this.running = true
    let run: Promise<void>
    try {
      run = this.task()
    } catch (err) {
      // a task that throws before its first await
      run = Promise.reject(err)
    }
    run.catch(this.onError).finally(() => { this.running = false })
  }
}

/** A Poller when intervalMs > 0; null when polling is off (the key tool reads once). */
export function startPoller (task: () => Promise<void>, intervalMs: number, onError?: (err: unknown) => void): Poller | null {
  return intervalMs > 0 ? new Poller(task, intervalMs, onError) : null
}
