import { MAX_PENDING_EVENTS } from '../event-outbox.js'

// Lua scripts run atomically inside Redis. Each touches keys of one message only, and those
// keys share a hash tag ({id}), so each stays in one slot on a Redis Cluster; consumeBatch and
// createBatch, the exceptions, make several messages' reads or creates, on a single Redis only.
// (The owner index's script is in owner-index-writer.ts.)

/**
 * KEYS[1] message, KEYS[2] its view counter; ARGV[1] body, ARGV[2] expiresAt (ms),
 * ARGV[3] maxViews. SET NX: an existing id is never overwritten. Returns 1 or 0.
 */
export const createWithViews = `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PXAT', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PXAT', ARGV[2])
return 1`

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
const createFunction = `local function create (message, receipt, body, expiresAt, maxViews, receiptUntil, createdAt, owner, deleteTokenHash, notify)
  if not redis.call('SET', message, body, 'NX', 'PXAT', expiresAt) then return 0 end
  redis.call('HSET', receipt, 't', createdAt, 'x', expiresAt, 'm', maxViews, 'o', owner, 'd', deleteTokenHash, 'w', notify)
  redis.call('PEXPIREAT', receipt, receiptUntil)
  return 1
end`

export const createWithReceipt = `
${createFunction}
return create(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])`

/**
 * The creates of one event-loop turn on a single Redis (not a Cluster), each its own create as
 * in createWithReceipt, in one script (see consumeBatch). KEYS: each create's message and
 * receipt in turn; ARGV: each create's eight values, as createWithReceipt's. Returns 1 or 0 per
 * create, or its error message when its commands failed.
 */
export const createBatch = `
${createFunction}
local reply = {}
for i = 0, #KEYS / 2 - 1 do
  local a = 8 * i
  local ok, created = pcall(create, KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], ARGV[a + 7], ARGV[a + 8])
  -- a create whose commands failed fails alone: its error message
  if ok then reply[i + 1] = created else reply[i + 1] = type(created) == 'table' and created.err or tostring(created) end
end
return reply`

/**
 * Appends a webhook event to `events` (the message's events, kept as long as its receipt
 * `receipt`) as "seq|type|at|views|remainingViews(-1 unlimited)|state"; seq counts in the
 * receipt's n.
 */
const recordEvent = `local function record (receipt, events, kind, at, views, left, state)
  local seq = redis.call('HINCRBY', receipt, 'n', 1)
  local waiting = redis.call('RPUSH', events, seq .. '|' .. kind .. '|' .. at .. '|' .. views .. '|' .. left .. '|' .. state)
  if waiting > ${MAX_PENDING_EVENTS} then redis.call('LTRIM', events, waiting - ${MAX_PENDING_EVENTS}, -1) end
  redis.call('PEXPIREAT', events, redis.call('PEXPIRETIME', receipt))
end`

/**
 * One read, as a Lua function: consume(message, viewCounter, receipt, events, presented, now,
 * retention) with the keys of one message (its view counter is used by bodies without a
 * receipt header only), the presented read token's hash ('' for none), now (ms) and the
 * retention (ms). Returns nothing when the message is gone, or when it needs a read token (its
 * body starts with {"r":"<hash>", see redis-message-store.ts) and `presented` is not that hash
 * (compared in constant time: a read without the right token counts nothing); else body,
 * viewsLeft (-1 unlimited), 1 if events were recorded else 0.
 * With a header (every message created with receipts on): the receipt's v is the count, and
 * the read that takes the last view deletes the message, so exactly maxViews reads ever
 * succeed however many race; an unlimited read is GET, HINCRBY, HSET. The header's w says
 * whether to record events (message.viewed, and message.burned with the last view), so a
 * message without webhooks costs nothing more.
 * Without one (written with receipts off): the view counter counts as it always did, and the
 * receipt, when the message has one, is counted as well.
 */
const consumeFunction = `${receiptHeader}
${recordEvent}
local function viewed (receipt, events, now, retention, views, left)
  if views == 1 then redis.call('HSET', receipt, 'f', now, 'l', now) else redis.call('HSET', receipt, 'l', now) end
  if left == 0 then
    if tonumber(retention) > 0 then
      redis.call('HSET', receipt, 's', 'b', 'a', now)
      redis.call('PEXPIREAT', receipt, tonumber(now) + tonumber(retention))
    else
      redis.call('DEL', receipt, events)
    end
  end
end
local function consume (message, counter, receipt, events, presented, now, retention)
  local body = redis.call('GET', message)
  if not body then return end
  local required = string.match(body, '^{"r":"([^"]*)"')
  if required then
    if #presented ~= #required then return end
    local diff = 0
    for i = 1, #required do diff = bit.bor(diff, bit.bxor(string.byte(required, i), string.byte(presented, i))) end
    if diff ~= 0 then return end
  end
  -- receipts switched off (retention 0) since the message was made: a burn drops its receipt
  -- and events, and no event is recorded (nothing would relay it)
  local kept = tonumber(retention) > 0
  local m, w = header(body)
  local views
  local left = -1
  if m then
    views = redis.call('HINCRBY', receipt, 'v', 1)
    if m ~= '' then
      left = tonumber(m) - views
      if left <= 0 then redis.call('DEL', message) end
      -- past the limit (another version's reads, counted elsewhere): gone, as the last view left it
      if left < 0 then return end
    end
  else
    if redis.call('EXISTS', counter) == 1 then
      left = redis.call('DECR', counter)
      if left <= 0 then redis.call('DEL', message, counter) end
      if left < 0 then return end
    end
    w = redis.call('HGET', receipt, 'w')
    if not w then return body, left, 0 end
    views = redis.call('HINCRBY', receipt, 'v', 1)
  end
  viewed(receipt, events, now, retention, views, left)
  if w ~= '1' or not kept then return body, left, 0 end
  record(receipt, events, 'message.viewed', now, views, left, left == 0 and 'burned' or 'live')
  if left == 0 then record(receipt, events, 'message.burned', now, views, 0, 'burned') end
  return body, left, 1
end`

/**
 * Every read with receipts on, and every read of a counted message: counts the view on the
 * receipt in the same atomic step (consumeFunction). KEYS[1] message, KEYS[2] its view counter,
 * KEYS[3] its receipt, KEYS[4] its webhook events; ARGV[1] the presented read token's hash ('' for
 * none), ARGV[2] now (ms), ARGV[3] the retention (ms). Returns nil when gone or refused, else
 * {body, viewsLeft (-1 unlimited), 1 if events were recorded else 0}.
 * allow-oom: the writes are a fixed handful of small fields or shrink memory, and a full Redis
 * (maxmemory, noeviction) must still serve and count reads.
 */
export const consumeWithReceipt = `#!lua flags=allow-oom
${consumeFunction}
local body, left, recorded = consume(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3])
if not body then return nil end
return {body, left, recorded}`

/**
 * The reads of one event-loop turn on a single Redis (not a Cluster, where each message is in
 * a slot of its own), each its own consume as in consumeWithReceipt, in one script: Redis
 * starts one script instead of one per read, and the server sends one command. KEYS: the four
 * keys of each read in turn; ARGV[1] now, ARGV[2] the retention, then each read's presented
 * token hash. Returns three values per read: body (nil when gone or refused), viewsLeft,
 * recorded; or, for a read whose commands failed, its error message, 0, -1 (the others stand:
 * each read is caught on its own, as if it were a script of its own).
 */
export const consumeBatch = `#!lua flags=allow-oom
${consumeFunction}
local reply = {}
for i = 0, #KEYS / 4 - 1 do
  local k = 4 * i
  local ok, body, left, recorded = pcall(consume, KEYS[k + 1], KEYS[k + 2], KEYS[k + 3], KEYS[k + 4], ARGV[3 + i], ARGV[1], ARGV[2])
  if ok then
    reply[3 * i + 1] = body or false
    reply[3 * i + 2] = left or 0
    reply[3 * i + 3] = recorded or 0
  else
    -- this read's error (a key of another type) fails this read only: {message, 0, -1}
    reply[3 * i + 1] = type(body) == 'table' and body.err or tostring(body)
    reply[3 * i + 2] = 0
    reply[3 * i + 3] = -1
  end
end
return reply`

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
record(KEYS[3], KEYS[4], 'message.deleted', ARGV[1], redis.call('HGET', KEYS[3], 'v') or '0', left, 'deleted')
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
