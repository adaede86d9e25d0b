import type { LightMyRequestResponse } from 'fastify'
import type { App } from '../../src/app.js'
import { withKey } from '../api/api-helper.js'

export interface FeedEvent {
  id: string
  type: string
  at: string
  ip: string | null
  keyId: string | null
  requestId: string | null
  detail: Record<string, string | number | boolean | null>
}

/** GET /api/v1/security/events with a security:admin key, after the appends still running have landed. */
export async function feedPage (app: App, adminKey: string, query = ''): Promise<LightMyRequestResponse> {
  await app.securityEvents.flush()
  return await app.inject({ url: `/api/v1/security/events${query}`, headers: withKey(adminKey) })
}

/** Every event in the feed, following `next`, oldest first. */
export async function wholeFeed (app: App, adminKey: string, limit = 1000): Promise<FeedEvent[]> {
  const all: FeedEvent[] = []
  let after: string | null = null
  for (;;) {
    const res = await feedPage(app, adminKey, `?limit=${limit}${after === null ? '' : `&after=${after}`}`)
    if (res.statusCode !== 200) throw new Error(`feed: ${res.statusCode} ${res.body}`)
    const page = res.json() as { items: FeedEvent[], next: string | null }
    all.push(...page.items)
    if (page.next === null) return all
    after = page.next
  }
}

export const ofType = (events: FeedEvent[], type: string): FeedEvent[] => events.filter(e => e.type === type)
