import { type ReplayScope, replayDigest } from '../replay-store.js'

// Key names. The {…} hash tag keeps a message's keys in one Redis Cluster slot.
export const messageKey = (id: string): string => `msg:{${id}}`
export const viewsKey = (id: string): string => `msg:{${id}}:views`
/** the message's receipt (API.md section 1): outlives the message, in its slot */
export const receiptKey = (id: string): string => `msg:{${id}}:receipt`
/** its webhook events not yet in the delivery queue (a list, beside the receipt) */
export const messageEventsKey = (id: string): string => `msg:{${id}}:events`
/** when to look at a message with webhooks again: a sorted set, id → time (ms) */
export const webhookScheduleKey = '{missive-webhooks}:schedule'
export const ownerIndexKey = (keyId: string): string => `owner:{${keyId}}:msgs`

// API keys: a key's record and its lastUsedAt guard share the key id's slot.
export const apiKeyKey = (keyId: string): string => `apikey:{${keyId}}`
export const apiKeyTouchedKey = (keyId: string): string => `apikey:{${keyId}}:touched`
/** a key's registered client (request-signing) keys: a hash, field keyid → JSON {a, j, c} */
export const apiKeySigningKeysKey = (keyId: string): string => `apikey:{${keyId}}:signing`
/** the set of every key id, for listing */
export const apiKeyIndexKey = 'apikeys:index'
/** bumped on every revocation, rotation, update and bumpEpoch; instances poll it to drop their caches */
export const apiKeyEpochKey = 'apikeys:epoch'
export const deniedTokenKey = (jti: string): string => `jwt:deny:{${jti}}`
export const authFailuresKey = (ip: string): string => `authfail:{${ip}}`
/** every issuer (token-signing) key, one field per `<alg>:<rotationMs>:<sealTag>:<period>`: one hash, so one slot */
export const issuerKeysKey = '{missive-issuer}:keys'
/**
 * A proof id (DPoP jti, signature nonce) seen within its TTL. The id is attacker-chosen: its
 * SHA-256 (base64url) keeps the key's size fixed, and as the hash tag spreads the ids over
 * every slot of a Cluster.
 */
export const replayKey = (scope: ReplayScope, id: string): string => `replay:${scope}:{${replayDigest(id)}}`
/** the security event feed: one Stream, trimmed with MAXLEN ~ SECURITY_EVENTS_MAX (one slot on a Cluster) */
export const securityEventsKey = '{missive-events}:stream'

// Abuse defence (API.md section 8). A client address's score and ladder level: one hash in the
// address's own slot (an IPv6 /64 carries ':' and '/', fine inside a hash tag).
export const abuseScoreKey = (address: string): string => `abuse:{${address}}:score`
/** every block in force, id → JSON, and its version: one slot, so a put and its version move together */
export const blocksKey = '{missive-abuse}:blocks'
export const blocksVersionKey = '{missive-abuse}:blocks:version'
/** the automatic blocks' ids by their end (ms), to find those ending soonest */
export const automaticBlocksKey = '{missive-abuse}:blocks:automatic'
/** the runtime policy: a hash, `v` its version (what instances poll), `d` the document; one slot */
export const policyKey = '{missive-policy}:current'

// Webhooks (API.md section 9). Every key of one owner (an API key id) carries the owner's hash
// tag, so one script can touch an endpoint and its delivery log in one Cluster slot.
/** a key's webhook endpoints: a hash, field endpoint id → JSON */
export const webhookEndpointsKey = (keyId: string): string => `webhooks:{${keyId}}:endpoints`
/** an endpoint's delivery log, its order: a sorted set of event ids scored by the event's createdAt */
export const webhookDeliveriesKey = (keyId: string, endpointId: string): string => `webhooks:{${keyId}}:deliveries:${endpointId}`
/** an endpoint's delivery log, its entries: a hash, field event id → JSON */
export const webhookDeliveryEntriesKey = (keyId: string, endpointId: string): string => `webhooks:{${keyId}}:deliveries:${endpointId}:entries`
