// Lua scripts run atomically inside Redis. Each touches keys of one message only, and those
// keys share a hash tag ({id}), so each stays in one slot on a Redis Cluster. (The owner
// index's script is in owner-index-writer.ts.)

/**
 * KEYS[1] message, KEYS[2] its view counter; ARGV[1] body, ARGV[2] expiresAt (ms),
 * ARGV[3] maxViews. SET NX: an existing id is never overwritten. Returns 1 or 0.
 */
export const createWithViews = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PXAT', ARGV[2])
return 1`

/**
 * Both consume scripts start here: the message's body, or nil when it is gone or needs a read
 * token that ARGV[1] is not the hash of (compared in constant time).
 */
const readGuardedBody = `local body = redis.call('GET', KEYS[1])
if not body then return nil end
local required = string.match(body, '^{"r":"([^"]*)"')
if required then
  local presented = ARGV[1]
  if #presented ~= #required then return nil end
  local diff = 0
  for i = 1, #required do diff = bit.bor(diff, bit.bxor(string.byte(required, i), string.byte(presented, i))) end
  if diff ~= 0 then return nil end
end`

/**
 * KEYS[1] message, KEYS[2] its view counter; ARGV[1] the presented read token's hash ('' for
 * none). Returns nil when gone, or when the message needs a read token (its body starts with
 * {"r":"<hash>", see redis-message-store.ts) and ARGV[1] is not that hash, compared in constant
 * time; else {body, viewsLeft} with viewsLeft -1 for unlimited. The read that takes the last
 * view deletes both keys, so exactly maxViews reads ever succeed, however many race, and a
 * read without the right token counts nothing.
 * allow-oom: its writes (DECR of an existing counter, DEL) never grow memory, so a full
 * Redis (maxmemory, noeviction) still serves counted views instead of refusing every one.
 */
export const consume = `#!lua flags=allow-oom
${readGuardedBody}
if redis.call('EXISTS', KEYS[2]) == 0 then return {body, -1} end
local left = redis.call('DECR', KEYS[2])
if left <= 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
if left < 0 then return nil end
return {body, left}`

/** KEYS[1] message, KEYS[2] its view counter: reads both without counting a view. */
export const peek = `
local body = redis.call('GET', KEYS[1])
if not body then return nil end
local left = redis.call('GET', KEYS[2])
if not left then return {body, -1} end
return {body, tonumber(left)}`

// Receipts (API.md section 1, RECEIPT_RETENTION_SECONDS > 0). A message's receipt is a hash
// in its slot, `msg:{id}:receipt`: t createdAt, x expiresAt, m maxViews ('' unlimited),
// o owner ('' anonymous), d delete token hash, v views, f first view, l last view, and once it
// ended before expiring s ('b' burned, 'd' deleted) with a its time. Nothing about a reader.
// "expired" is never written: it is what a receipt says once x has passed (receipt.ts).

/**
 * KEYS[1] message, KEYS[2] its view counter, KEYS[3] its receipt; ARGV[1] body, ARGV[2]
 * expiresAt (ms), ARGV[3] maxViews ('' unlimited), ARGV[4] when the receipt goes (expiresAt +
 * retention), ARGV[5] createdAt, ARGV[6] owner ('' none), ARGV[7] delete token hash.
 * SET NX: an existing id is never overwritten. Returns 1 or 0.
 */
export const createWithReceipt = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PXAT', ARGV[2]) end
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 't', ARGV[5], 'x', ARGV[2], 'm', ARGV[3], 'o', ARGV[6], 'd', ARGV[7], 'v', 0)
redis.call('PEXPIREAT', KEYS[3], ARGV[4])
return 1`

/**
 * The consume script (above) that also counts the view on the receipt, in the same step:
 * KEYS[3] the receipt; ARGV[2] now (ms), ARGV[3] the retention (ms). One script for counted
 * and unlimited messages alike, so a read is one round trip either way.
 * allow-oom as consume: the receipt's writes are a fixed handful of small fields, and a full
 * Redis must still serve (and count) reads.
 */
export const consumeWithReceipt = `#!lua flags=allow-oom
${readGuardedBody}
local left = -1
if redis.call('EXISTS', KEYS[2]) == 1 then
  left = redis.call('DECR', KEYS[2])
  if left <= 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
  if left < 0 then return nil end
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HINCRBY', KEYS[3], 'v', 1)
  redis.call('HSETNX', KEYS[3], 'f', ARGV[2])
  redis.call('HSET', KEYS[3], 'l', ARGV[2])
  if left == 0 then
    redis.call('HSET', KEYS[3], 's', 'b', 'a', ARGV[2])
    redis.call('PEXPIREAT', KEYS[3], tonumber(ARGV[2]) + tonumber(ARGV[3]))
  end
end
return {body, left}`

/**
 * KEYS[1] message, KEYS[2] its view counter, KEYS[3] its receipt; ARGV[1] now (ms), ARGV[2]
 * the retention (ms). Deletes the message and marks its receipt deleted in one step; 0 when
 * the message was already gone (a racing read burned it: the receipt says burned).
 */
export const deleteWithReceipt = `#!lua flags=allow-oom
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('HSET', KEYS[3], 's', 'd', 'a', ARGV[1])
  redis.call('PEXPIREAT', KEYS[3], tonumber(ARGV[1]) + tonumber(ARGV[2]))
end
return 1`
