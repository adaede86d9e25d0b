import type { Cluster, Redis } from 'ioredis'
import { guarded } from '../store-errors.js'
import {
  type AddWebhookResult, DELIVERY_LOG_MAX, endpointsByAge, type StoredDelivery, type StoredWebhookEndpoint, webhookMax,
  type WebhookStore
} from '../webhook-store.js'
import { webhookDeliveriesKey, webhookDeliveryEntriesKey, webhookEndpointsKey } from './keys.js'
import { withScripts } from './scripted.js'

/** An endpoint as a field of the owner's hash holds it (the id is the field's name). */
type EndpointJson = Omit<StoredWebhookEndpoint, 'id'>
/** A delivery as a field of the log's entries hash holds it (the eventId is the field, createdAt the score in the order). */
type DeliveryJson = Omit<StoredDelivery, 'eventId' | 'createdAt'>

/**
 * KEYS[1] the owner's endpoints; ARGV[1] id, ARGV[2] the endpoint as JSON, ARGV[3] max.
 * 1 added, 0 the id is taken, -1 full.
 */
const addScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return -1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1`

/**
 * Compare and set. KEYS[1] the owner's endpoints; ARGV[1] id, ARGV[2] the JSON the change was
 * made from, ARGV[3] the new JSON. 1 written, 0 the endpoint changed meanwhile, -1 it is gone.
 */
const updateScript = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if current ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`

/** KEYS[1] the owner's endpoints, KEYS[2] the log's order, KEYS[3] its entries; ARGV[1] id. 1 removed, 0 there was none. */
const removeScript = `
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[3])
return removed`

/**
 * KEYS as for remove; ARGV[1] endpoint id, ARGV[2] eventId, ARGV[3] the entry as JSON,
 * ARGV[4] createdAt, ARGV[5] the most entries kept. ZADD NX keeps an event's first createdAt;
 * the oldest entries past the most are dropped from both keys. 1 recorded, 0 no such endpoint.
 */
const recordScript = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
local excess = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[5])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  redis.call('HDEL', KEYS[3], unpack(oldest))
end
return 1`

/** KEYS[1] the log's order, KEYS[2] its entries. Flat: eventId, createdAt, JSON, … newest first. */
const listDeliveriesScript = `
local order = redis.call('ZREVRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if #order == 0 then return {} end
local ids = {}
for i = 1, #order, 2 do ids[#ids + 1] = order[i] end
local entries = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do
  if entries[i] then
    out[#out + 1] = ids[i]
    out[#out + 1] = order[2 * i]
    out[#out + 1] = entries[i]
  end
end
return out`

interface WebhookCommands {
  missiveWebhookAdd (endpoints: string, id: string, json: string, max: number): Promise<number>
  missiveWebhookUpdate (endpoints: string, id: string, expected: string, json: string): Promise<number>
  missiveWebhookRemove (endpoints: string, order: string, entries: string, id: string): Promise<number>
  missiveWebhookRecord (endpoints: string, order: string, entries: string, id: string, eventId: string, json: string, createdAt: number, max: number): Promise<number>
  missiveWebhookDeliveries (order: string, entries: string): Promise<string[]>
}
type ScriptedClient = (Redis | Cluster) & WebhookCommands

const added: Record<number, AddWebhookResult> = { 1: 'added', 0: 'exists', [-1]: 'full' }

/**
 * How often an update is tried when other updates of the same endpoint keep landing between
 * its read and its write. Updates of one endpoint are rare (a rotation, a delivery's outcome),
 * so more than a couple of tries means something is wrong: then it fails (503) rather than spin.
 */
const UPDATE_ATTEMPTS = 50

/**
 * Webhook endpoints in one Redis hash per owner, `webhooks:{<keyId>}:endpoints` (a field per
 * endpoint: at most 10, so HGETALL is cheap), and each endpoint's delivery log in a sorted set
 * (order) and a hash (entries) under the same hash tag, so every script stays in one slot.
 */
export class RedisWebhookStore implements WebhookStore {
  private readonly redis: ScriptedClient

  constructor (client: Redis | Cluster) {
    this.redis = withScripts(client, {
      missiveWebhookAdd: { numberOfKeys: 1, lua: addScript },
      missiveWebhookUpdate: { numberOfKeys: 1, lua: updateScript },
      missiveWebhookRemove: { numberOfKeys: 3, lua: removeScript },
      missiveWebhookRecord: { numberOfKeys: 3, lua: recordScript },
      missiveWebhookDeliveries: { numberOfKeys: 2, lua: listDeliveriesScript }
    })
  }

  async add (owner: string, endpoint: StoredWebhookEndpoint, max: number): Promise<AddWebhookResult> {
    webhookMax(max)
    return await guarded(async () => {
      const reply = await this.redis.missiveWebhookAdd(webhookEndpointsKey(owner), endpoint.id, endpointJson(endpoint), max)
      const result = added[reply]
      if (result === undefined) throw new Error(`unexpected reply to add: ${reply}`)
      return result
    })
  }

  async list (owner: string): Promise<StoredWebhookEndpoint[]> {
    return await guarded(async () => {
      const fields = await this.redis.hgetall(webhookEndpointsKey(owner))
      return Object.entries(fields).map(([id, json]) => parseEndpoint(id, json)).sort(endpointsByAge)
    })
  }

  async get (owner: string, id: string): Promise<StoredWebhookEndpoint | null> {
    return await guarded(async () => {
      const json = await this.redis.hget(webhookEndpointsKey(owner), id)
      return json === null ? null : parseEndpoint(id, json)
    })
  }

  async update (owner: string, id: string, change: (current: StoredWebhookEndpoint) => StoredWebhookEndpoint): Promise<StoredWebhookEndpoint | null> {
    const key = webhookEndpointsKey(owner)
    return await guarded(async () => {
      for (let attempt = 0; attempt < UPDATE_ATTEMPTS; attempt++) {
        const json = await this.redis.hget(key, id)
        if (json === null) return null
        const current = parseEndpoint(id, json)
        const next = change(current)
        if (next === current) return current
        const written = await this.redis.missiveWebhookUpdate(key, id, json, endpointJson(next))
        if (written === 1) return { ...next, id }
        if (written === -1) return null
      }
      throw new Error(`webhook ${id}: ${UPDATE_ATTEMPTS} updates in a row were overtaken by others`)
    })
  }

  async remove (owner: string, id: string): Promise<boolean> {
    return await guarded(async () =>
      await this.redis.missiveWebhookRemove(webhookEndpointsKey(owner), webhookDeliveriesKey(owner, id), webhookDeliveryEntriesKey(owner, id), id) === 1)
  }

  async recordDelivery (owner: string, endpointId: string, delivery: StoredDelivery): Promise<boolean> {
    const json: DeliveryJson = {
      type: delivery.type,
      attempts: delivery.attempts,
      lastStatus: delivery.lastStatus,
      lastAttemptAt: delivery.lastAttemptAt,
      nextAttemptAt: delivery.nextAttemptAt,
      state: delivery.state
    }
    return await guarded(async () => await this.redis.missiveWebhookRecord(
      webhookEndpointsKey(owner), webhookDeliveriesKey(owner, endpointId), webhookDeliveryEntriesKey(owner, endpointId),
      endpointId, delivery.eventId, JSON.stringify(json), delivery.createdAt, DELIVERY_LOG_MAX) === 1)
  }

  async listDeliveries (owner: string, endpointId: string): Promise<StoredDelivery[]> {
    return await guarded(async () => {
      const flat = await this.redis.missiveWebhookDeliveries(webhookDeliveriesKey(owner, endpointId), webhookDeliveryEntriesKey(owner, endpointId))
      const deliveries: StoredDelivery[] = []
      for (let i = 0; i + 2 < flat.length; i += 3) {
        const stored = JSON.parse(flat[i + 2] as string) as DeliveryJson
        deliveries.push({ eventId: flat[i] as string, ...stored, createdAt: Number(flat[i + 1]) })
      }
      return deliveries
    })
  }

  async close (): Promise<void> {
    // The client belongs to whoever made it (the storage plugin).
  }
}

/** Every field but the id, in a fixed order: the compare-and-set of `update` compares these strings. */
function endpointJson (endpoint: StoredWebhookEndpoint): string {
  const json: EndpointJson = {
    url: endpoint.url,
    events: [...endpoint.events],
    description: endpoint.description,
    secret: endpoint.secret,
    previousSecret: endpoint.previousSecret,
    previousSecretUntil: endpoint.previousSecretUntil,
    createdAt: endpoint.createdAt,
    disabledAt: endpoint.disabledAt,
    failingSince: endpoint.failingSince,
    lastFailureAt: endpoint.lastFailureAt
  }
  return JSON.stringify(json)
}

function parseEndpoint (id: string, json: string): StoredWebhookEndpoint {
  const stored = JSON.parse(json) as EndpointJson
  return {
    id,
    url: stored.url,
    events: stored.events,
    description: stored.description,
    secret: stored.secret,
    previousSecret: stored.previousSecret,
    previousSecretUntil: stored.previousSecretUntil,
    createdAt: stored.createdAt,
    disabledAt: stored.disabledAt,
    failingSince: stored.failingSince,
    // null in a record stored before the field existed: its run goes on (endpoints.ts markFailing)
    lastFailureAt: stored.lastFailureAt ?? null
  }
}
