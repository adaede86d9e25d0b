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
local body = redis.call('GET', KEYS[1])
if not body then return nil end
local required = string.match(body, '^{"r":"([^"]*)"')
if required then
  local presented = ARGV[1]
  if #presented ~= #required then return nil end
  local diff = 0
  for i = 1, #required do diff = bit.bor(diff, bit.bxor(string.byte(required, i), string.byte(presented, i))) end
  if diff ~= 0 then return nil end
end
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
