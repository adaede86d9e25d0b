import type { WebhookEndpoint } from './endpoints.js'
import type { WebhookEventType } from './payloads.js'
import type { Subscribers } from './relay.js'

/** How long an owner's endpoint list is reused: a new or removed endpoint counts on every instance within this. */
export const SUBSCRIBERS_CACHE_MS = 5000

interface Source {
  /** the owner's endpoints, every one (enabled or not) */
  all (owner: string): Promise<WebhookEndpoint[]>
}

/**
 * Who wants an owner's events, read from the store at most once per SUBSCRIBERS_CACHE_MS per
 * owner (and once for concurrent askers): an owned create asks whether its owner has endpoints,
 * and would otherwise pay a store round trip for it.
 */
export class CachedSubscribers implements Subscribers {
  private readonly cache = new Map<string, { at: number, endpoints: Promise<WebhookEndpoint[]> }>()

  constructor (private readonly source: Source, private readonly now: () => number = Date.now, private readonly maxEntries = 10_000) {}

  async hasEndpoints (owner: string): Promise<boolean> {
    return (await this.enabled(owner)).length > 0
  }

  async subscribers (owner: string, type: WebhookEventType): Promise<WebhookEndpoint[]> {
    return (await this.enabled(owner)).filter((endpoint) => endpoint.events.includes(type))
  }

  /** This instance's own change: seen at once here, by the others within SUBSCRIBERS_CACHE_MS. */
  forget (owner: string): void {
    this.cache.delete(owner)
  }

  private async enabled (owner: string): Promise<WebhookEndpoint[]> {
    const now = this.now()
    let entry = this.cache.get(owner)
    if (entry === undefined || now - entry.at >= SUBSCRIBERS_CACHE_MS) {
      if (this.cache.size >= this.maxEntries) this.cache.clear()
      const endpoints = this.source.all(owner)
      entry = { at: now, endpoints }
      this.cache.set(owner, entry)
      // a failed read is not kept: the next asker tries again
      endpoints.catch(() => { if (this.cache.get(owner) === entry) this.cache.delete(owner) })
    }
    return (await entry.endpoints).filter((endpoint) => endpoint.disabledAt === null)
  }
}
