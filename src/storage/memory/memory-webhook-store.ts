import {
  type AddWebhookResult, DELIVERY_LOG_MAX, deliveriesNewestFirst, endpointsByAge, type StoredDelivery, type StoredWebhookEndpoint,
  webhookMax, type WebhookStore
} from '../webhook-store.js'

/** One endpoint and its delivery log (eventId → entry). */
interface Held {
  endpoint: StoredWebhookEndpoint
  deliveries: Map<string, StoredDelivery>
}

/**
 * Webhook endpoints and delivery logs of this process only. Each operation is one synchronous
 * step, so `add`, `update` and `recordDelivery` are as atomic as the Redis scripts. Everything
 * is copied in and out: a caller never holds the store's own objects.
 */
export class MemoryWebhookStore implements WebhookStore {
  /** owner → endpoint id → endpoint and log */
  private readonly owners = new Map<string, Map<string, Held>>()

  async add (owner: string, endpoint: StoredWebhookEndpoint, max: number): Promise<AddWebhookResult> {
    const held = this.owners.get(owner) ?? new Map<string, Held>()
    if (held.has(endpoint.id)) return 'exists'
    if (held.size >= webhookMax(max)) return 'full'
    held.set(endpoint.id, { endpoint: copy(endpoint), deliveries: new Map() })
    this.owners.set(owner, held)
    return 'added'
  }

  async list (owner: string): Promise<StoredWebhookEndpoint[]> {
    return [...this.owners.get(owner)?.values() ?? []].map((h) => copy(h.endpoint)).sort(endpointsByAge)
  }

  async get (owner: string, id: string): Promise<StoredWebhookEndpoint | null> {
    const held = this.owners.get(owner)?.get(id)
    return held === undefined ? null : copy(held.endpoint)
  }

  async update (owner: string, id: string, change: (current: StoredWebhookEndpoint) => StoredWebhookEndpoint): Promise<StoredWebhookEndpoint | null> {
    const held = this.owners.get(owner)?.get(id)
    if (held === undefined) return null
    const current = copy(held.endpoint)
    const next = change(current)
    if (next === current) return copy(current)
    held.endpoint = { ...copy(next), id }
    return copy(held.endpoint)
  }

  async remove (owner: string, id: string): Promise<boolean> {
    const held = this.owners.get(owner)
    if (held === undefined || !held.delete(id)) return false
    if (held.size === 0) this.owners.delete(owner)
    return true
  }

  async recordDelivery (owner: string, endpointId: string, delivery: StoredDelivery): Promise<boolean> {
    const held = this.owners.get(owner)?.get(endpointId)
    if (held === undefined) return false
    const createdAt = held.deliveries.get(delivery.eventId)?.createdAt ?? delivery.createdAt
    held.deliveries.set(delivery.eventId, { ...delivery, createdAt })
    if (held.deliveries.size > DELIVERY_LOG_MAX) {
      const oldestFirst = [...held.deliveries.values()].sort(deliveriesNewestFirst).reverse()
      for (const old of oldestFirst.slice(0, held.deliveries.size - DELIVERY_LOG_MAX)) held.deliveries.delete(old.eventId)
    }
    return true
  }

  async listDeliveries (owner: string, endpointId: string): Promise<StoredDelivery[]> {
    const held = this.owners.get(owner)?.get(endpointId)
    return held === undefined ? [] : [...held.deliveries.values()].map((d) => ({ ...d })).sort(deliveriesNewestFirst)
  }

  async close (): Promise<void> {}
}

function copy (endpoint: StoredWebhookEndpoint): StoredWebhookEndpoint {
  return { ...endpoint, events: [...endpoint.events] }
}
