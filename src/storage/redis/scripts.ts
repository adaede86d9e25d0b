import { MAX_PENDING_EVENTS } from '../event-outbox.js'

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
 * The consume script starts here: the message's body, or nil when it is gone or needs a read
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
 * A body written with a receipt starts with a header, after the read token's hash when there
 * is one: {"h":"<maxViews or ''>,<1 records webhook events, else 0>". header(body) returns
 * those two strings, or nil for a body without it (written with receipts off, or before
 * the header existed): the scripts then take the view counter and the receipt's w, as then.
 */
const receiptHeader = `local function header (body)
  local m, w = string.match(body, '^{"h":"(%d*),(%d)"')
  if m then return m, w end
  return string.match(body, '^{"r":"[^"]*","h":"(%d*),(%d)"')
end`

/**
 * KEYS[1] message, KEYS[2] its view counter, KEYS[3] its receipt: reads the body and the views
 * left without counting a view. Returns nil when gone, else {body, viewsLeft} (-1 unlimited):
 * from the receipt's count for a message with a receipt header, else from the counter.
 */
export const peek = `
${receiptHeader}
local body = redis.call('GET', KEYS[1])
if not body then return nil end
local m = header(body)
if m then
  if m == '' then return {body, -1} end
  return {body, tonumber(m) - tonumber(redis.call('HGET', KEYS[3], 'v') or '0')}
end
local left = redis.call('GET', KEYS[2])
if not left then return {body, -1} end
return {body, tonumber(left)}`

// Receipts (API.md section 1, RECEIPT_RETENTION_SECONDS > 0). A message's receipt is a hash
// in its slot, `msg:{id}:receipt`: t createdAt, x expiresAt, m maxViews ('' unlimited),
// o owner ('' anonymous), d delete token hash, w '1' records webhook events, v views (absent
// until the first), f first view, l last view, n events recorded, e set once message.expired
// is, and once it ended before expiring s ('b' burned, 'd' deleted) with a its time. Nothing
// about a reader.
// "expired" is never written: it is what a receipt says once x has passed (receipt.ts).

/**
 * KEYS[1] message, KEYS[2] its receipt; ARGV[1] body (with the receipt header), ARGV[2]
 * expiresAt (ms), ARGV[3] maxViews ('' unlimited), ARGV[4] when the receipt goes (expiresAt +
 * retention), ARGV[5] createdAt, ARGV[6] owner ('' none), ARGV[7] delete token hash,
 * ARGV[8] '1' when the owner has webhooks (record events), else '0'.
 * SET NX: an existing id is never overwritten. Returns 1 or 0. Three commands, the fewest a
 * receipt that outlives its message allows (each command in a script costs Redis about as much
 * as a whole GET): no view counter (the receipt's v counts), no DEL first (a receipt left under
 * the same 128-bit id is as unlikely as the id itself colliding).
 */
export const createWithReceipt = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 't', ARGV[5], 'x', ARGV[2], 'm', ARGV[3], 'o', ARGV[6], 'd', ARGV[7], 'w', ARGV[8])
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
return 1`

/**
 * Appends a webhook event to KEYS[4] (the message's events, kept as long as its receipt) as
 * "seq|type|at|views|remainingViews(-1 unlimited)|state"; seq counts in the receipt's n.
 */
const recordEvent = `local function record (kind, at, views, left, state)
  local seq = redis.call('HINCRBY', KEYS[3], 'n', 1)
  local waiting = redis.call('RPUSH', KEYS[4], seq .. '|' .. kind .. '|' .. at .. '|' .. views .. '|' .. left .. '|' .. state)
  if waiting > ${MAX_PENDING_EVENTS} then redis.call('LTRIM', KEYS[4], waiting - ${MAX_PENDING_EVENTS}, -1) end
  redis.call('PEXPIREAT', KEYS[4], redis.call('PEXPIRETIME', KEYS[3]))
end`

/**
 * Every read with receipts on, and every read of a counted message: counts the view on the
 * receipt in the same atomic step. KEYS[1] message, KEYS[2] its view counter (bodies without a
 * receipt header only), KEYS[3] its receipt, KEYS[4] its webhook events; ARGV[1] the presented
 * read token's hash ('' for none), ARGV[2] now (ms), ARGV[3] the retention (ms).
 * Returns nil when gone, or when the message needs a read token (its body starts with
 * {"r":"<hash>", see redis-message-store.ts) and ARGV[1] is not that hash (compared in constant
 * time: a read without the right token counts nothing); else {body, viewsLeft (-1 unlimited),
 * 1 if events were recorded else 0}.
 * With a header (every message created with receipts on): the receipt's v is the count, and
 * the read that takes the last view deletes the message, so exactly maxViews reads ever
 * succeed however many race; an unlimited read is GET, HINCRBY, HSET. The header's w says
 * whether to record events (message.viewed, and message.burned with the last view), so a
 * message without webhooks costs nothing more.
 * Without one (written with receipts off): the view counter counts as it always did, and the
 * receipt, when the message has one, is counted as well.
 * allow-oom: the writes are a fixed handful of small fields or shrink memory, and a full Redis
 * (maxmemory, noeviction) must still serve and count reads.
 */
export const consumeWithReceipt = `#!lua flags=allow-oom
${receiptHeader}
${readGuardedBody}
${recordEvent}
local now = ARGV[2]
-- receipts switched off (retention 0) since the message was made: a burn drops its receipt and
-- events, and no event is recorded (nothing would relay it)
local kept = tonumber(ARGV[3]) > 0
local function viewed (views, left)
  if views == 1 then redis.call('HSET', KEYS[3], 'f', now, 'l', now) else redis.call('HSET', KEYS[3], 'l', now) end
  if left == 0 then
    if kept then
      redis.call('HSET', KEYS[3], 's', 'b', 'a', now)
      redis.call('PEXPIREAT', KEYS[3], tonumber(now) + tonumber(ARGV[3]))
    else
      redis.call('DEL', KEYS[3], KEYS[4])
    end
  end
end
local m, w = header(body)
if m then
  local views = redis.call('HINCRBY', KEYS[3], 'v', 1)
  local left = -1
  if m ~= '' then
    left = tonumber(m) - views
    if left <= 0 then redis.call('DEL', KEYS[1]) end
    -- past the limit (another version's reads, counted elsewhere): gone, as the last view left it
    if left < 0 then return nil end
  end
  viewed(views, left)
  if w ~= '1' or not kept then return {body, left, 0} end
  record('message.viewed', now, views, left, left == 0 and 'burned' or 'live')
  if left == 0 then record('message.burned', now, views, 0, 'burned') end
  return {body, left, 1}
end
local left = -1
if redis.call('EXISTS', KEYS[2]) == 1 then
  left = redis.call('DECR', KEYS[2])
  if left <= 0 then redis.call('DEL', KEYS[1], KEYS[2]) end
  if left < 0 then return nil end
end
w = redis.call('HGET', KEYS[3], 'w')
if not w then return {body, left, 0} end
local views = redis.call('HINCRBY', KEYS[3], 'v', 1)
viewed(views, left)
if w ~= '1' or not kept then return {body, left, 0} end
record('message.viewed', now, views, left, left == 0 and 'burned' or 'live')
if left == 0 then record('message.burned', now, views, 0, 'burned') end
return {body, left, 1}`

/**
 * KEYS[1] message, KEYS[2] its view counter, KEYS[3] its receipt, KEYS[4] its webhook events;
 * ARGV[1] now (ms), ARGV[2] the retention (ms). Deletes the message and marks its receipt
 * deleted in one step (recording message.deleted when it has webhooks). Returns 0 when the
 * message was already gone (a racing read burned it: the receipt says burned), 1 when deleted,
 * 2 when deleted and an event was recorded.
 */
export const deleteWithReceipt = `#!lua flags=allow-oom
${receiptHeader}
${recordEvent}
local body = redis.call('GET', KEYS[1])
if not body then return 0 end
local m, w = header(body)
local left = -1
if m then
  if m ~= '' then left = tonumber(m) - tonumber(redis.call('HGET', KEYS[3], 'v') or '0') end
else
  left = tonumber(redis.call('GET', KEYS[2]) or '-1')
  w = redis.call('HGET', KEYS[3], 'w')
end
redis.call('DEL', KEYS[1], KEYS[2])
if not w then return 1 end
-- receipts switched off since the message was made: its receipt and events go with it
if tonumber(ARGV[2]) <= 0 then
  redis.call('DEL', KEYS[3], KEYS[4])
  return 1
end
redis.call('HSET', KEYS[3], 's', 'd', 'a', ARGV[1])
redis.call('PEXPIREAT', KEYS[3], tonumber(ARGV[1]) + tonumber(ARGV[2]))
if w ~= '1' then return 1 end
record('message.deleted', ARGV[1], redis.call('HGET', KEYS[3], 'v') or '0', left, 'deleted')
return 2`

/**
 * The schedule's look at one message: KEYS[1] its receipt, KEYS[2] its events, KEYS[3] the
 * message; ARGV[1] now. Records message.expired once (the receipt's e marks it) when the message
 * expired with no other end: past expiresAt by the caller's clock and gone by Redis's own (its
 * PXAT), so an instance whose clock runs ahead cannot record it while a read is still possible.
 * Then returns {owner, createdAt, expiresAt, ended (0/1), event…} (at most 100
 * events, oldest first), or nil when the receipt is gone or has no webhooks.
 */
export const pendingEvents = `
local r = redis.call('HMGET', KEYS[1], 'w', 'o', 't', 'x', 'm', 'v', 's', 'e')
if r[1] ~= '1' then return nil end
local ended = 0
if r[7] then ended = 1 end
if r[8] then ended = 1 end
if ended == 0 and tonumber(r[4]) <= tonumber(ARGV[1]) and redis.call('EXISTS', KEYS[3]) == 0 then
  local seq = redis.call('HINCRBY', KEYS[1], 'n', 1)
  redis.call('HSET', KEYS[1], 'e', r[4])
  local views = r[6] or '0'
  local left = -1
  if r[5] ~= '' then left = tonumber(r[5]) - tonumber(views) end
  redis.call('RPUSH', KEYS[2], seq .. '|message.expired|' .. r[4] .. '|' .. views .. '|' .. left .. '|expired')
  redis.call('PEXPIREAT', KEYS[2], redis.call('PEXPIRETIME', KEYS[1]))
  ended = 1
end
local reply = {r[2], r[3], r[4], ended}
for _, event in ipairs(redis.call('LRANGE', KEYS[2], 0, 99)) do reply[#reply + 1] = event end
return reply`

/** KEYS[1] a message's events; ARGV[1] a seq: drops the events up to it (they are queued). */
export const acknowledgeEvents = `
local dropped = 0
while true do
  local first = redis.call('LINDEX', KEYS[1], 0)
  if not first then break end
  if tonumber(string.match(first, '^(%d+)|')) > tonumber(ARGV[1]) then break end
  redis.call('LPOP', KEYS[1])
  dropped = dropped + 1
end
return dropped`

/**
 * KEYS[1] the webhook schedule; ARGV[1] now, ARGV[2] lease (ms), ARGV[3] limit: the messages
 * due, each moved lease ms ahead so another instance does not take it meanwhile.
 */
export const claimDue = `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local hiddenUntil = tonumber(ARGV[1]) + tonumber(ARGV[2])
for _, id in ipairs(due) do redis.call('ZADD', KEYS[1], hiddenUntil, id) end
return due`
