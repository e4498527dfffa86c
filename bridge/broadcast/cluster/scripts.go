package cluster

import "github.com/redis/go-redis/v9"

// The lease is a key holding the owner's token, set with SET NX PX. Every
// write only the owner may make goes through a script that first checks the
// token (the fence). An owner finding its lease gone (Redis restarted empty)
// takes it back with the same token: a non-owner waits a renewal past the
// expiry it last saw before bidding, so the owner wins that race.
const holdLease = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return -1 end
if not cur then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
`

// acquire bids for the lease: KEYS lease, meta; ARGV token, lease ms, may
// take (1/0), hold-off ms, retention ms. Answers {1, epoch, offset, inpos,
// settings} when the lease is ours, or {0, pttl} (pttl -2: no lease, and
// we may not take it yet), or {0, -3, ms}: no lease, but the meta hash
// says an owner renewed it less than hold-off ago.
//
// That last rule is the fence against a lease that went backwards: a
// failover to a replica that missed the owner's last renewal shows an
// older lease, expiring up to a renewal interval earlier than the owner
// believes. 'renewed' (the server's clock at each acquisition and
// renewal, lost or kept with the lease) holds a bidder off until the lease
// and a renewal interval have passed since the last renewal the new
// master knows of, which is after the owner's own fence (Group.fence).
// A release deletes it: the next owner need not wait.
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if cur == ARGV[1] or (not cur and ARGV[3] == '1') then
  local last = tonumber(redis.call('HGET', KEYS[2], 'renewed') or '0')
  if cur ~= ARGV[1] and last + tonumber(ARGV[4]) > now then
    return {0, -3, last + tonumber(ARGV[4]) - now}
  end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  redis.call('HSET', KEYS[2], 'renewed', now)
  if redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[5]) end
  local m = redis.call('HMGET', KEYS[2], 'epoch', 'offset', 'inpos', 'settings')
  return {1, m[1] or '', m[2] or '0', m[3] or '0-0', m[4] or ''}
end
return {0, redis.call('PTTL', KEYS[1])}
`)

// renew extends the lease and the retention of the group's keys, and
// counts the instances with clients: KEYS lease, meta, instances, out, in,
// clients; ARGV token, lease ms, retention ms, settings. Answers -1 when
// another instance holds the lease, otherwise {instances with clients,
// epoch, offset}: the owner compares the offset with what it wrote, to
// find output a failover lost.
var renewScript = redis.NewScript(holdLease + `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], 'settings', ARGV[4], 'renewed', now)
for i = 2, 6 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
local m = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
return {redis.call('ZCOUNT', KEYS[3], now, '+inf'), m[1] or '', m[2] or '0'}
`)

// touchKeys: scripts that write a group's keys get them all, in the
// order of keys.all (lease, meta, instances, out, in, clients), and touch
// keeps all but the lease (which has its own expiry) --redis-history-ttl
// from now. Every write is activity, and the keys expire together, so a
// stream never outlives the meta hash that names its epoch and offset: a
// group whose history expired starts a new epoch. PEXPIRE creates no key.
const touchKeys = `
local function touch(ttl)
  for i = 2, 6 do redis.call('PEXPIRE', KEYS[i], ttl) end
end
`

// trimStream bounds a stream in bytes as well as entries. Redis 7.0 trims
// by entries only (MAXLEN), so each stream's bytes are counted in a field
// of the meta hash: esize is an entry's field names and values, the same
// sum when it is added and when it is trimmed; counted starts over at 0
// with an empty stream, so the count cannot drift for long. trim drops the
// oldest entries until at most budget bytes and maxlen entries are left,
// but never the newest (a reader finds its place by it), and answers the
// new count with the entries and bytes dropped.
const trimStream = `
local function esize(f)
  local n = 0
  for j = 1, #f do n = n + #f[j] end
  return n
end
local function counted(stream, field)
  if redis.call('XLEN', stream) == 0 then return 0 end
  return math.max(tonumber(redis.call('HGET', KEYS[2], field) or '0'), 0)
end
local function trim(stream, bytes, budget, maxlen)
  local len = redis.call('XLEN', stream)
  local n, freed, start = 0, 0, '-'
  while len > 1 and (bytes > budget or len > maxlen) do
    -- Entries past maxlen go anyway; past the budget one at a time, so
    -- that no more values than are trimmed are copied into Lua.
    local ents = redis.call('XRANGE', stream, start, '+', 'COUNT', math.max(math.min(len - maxlen, 64), 1))
    if #ents == 0 then break end
    for _, e in ipairs(ents) do
      if len <= 1 or (bytes <= budget and len <= maxlen) then break end
      local s = esize(e[2])
      bytes, freed, n, len = bytes - s, freed + s, n + 1, len - 1
      start = '(' .. e[1]
    end
  end
  if n > 0 then
    local keep = redis.call('XRANGE', stream, start, '+', 'COUNT', 1)[1]
    if keep then
      redis.call('XTRIM', stream, 'MINID', keep[1])
      if len == 1 then bytes = esize(keep[2]) end
    else
      redis.call('XTRIM', stream, 'MAXLEN', 0)
      bytes = 0
    end
  end
  return bytes, n, freed
end
`

// appendOutput adds the owner's messages to the output stream, fenced,
// and trims it to its bounds: KEYS as keys.all; ARGV token, lease ms,
// maxlen, epoch, last offset, budget bytes, retention ms, the offset the
// stream must have reached already, then an offset and an encoded message
// for each. Answers {entries, bytes} trimmed, -1 when another instance
// holds the lease, or {-2, offset} when the stream of this epoch is behind
// what the owner wrote (a failover lost the last appends): nothing is
// added, and the owner writes again what it still has.
var appendScript = redis.NewScript(holdLease + touchKeys + trimStream + `
local m = redis.call('HMGET', KEYS[2], 'epoch', 'offset')
if m[1] == ARGV[4] and tonumber(m[2] or '0') < tonumber(ARGV[8]) then
  return {-2, tonumber(m[2] or '0')}
end
local bytes = counted(KEYS[4], 'obytes')
for i = 9, #ARGV, 2 do
  local f = {'o', ARGV[i], 'e', ARGV[4], 'm', ARGV[i+1]}
  redis.call('XADD', KEYS[4], '*', unpack(f))
  bytes = bytes + esize(f)
end
local n, freed
bytes, n, freed = trim(KEYS[4], bytes, tonumber(ARGV[6]), tonumber(ARGV[3]))
redis.call('HSET', KEYS[2], 'epoch', ARGV[4], 'offset', ARGV[5], 'obytes', bytes)
touch(ARGV[7])
return {n, freed}
`)

// appendInput adds a batch to the input stream, keeps the cluster's
// clients, and trims the stream to its bounds (input that no owner took
// in time): KEYS as keys.all; ARGV budget bytes, maxlen, retention ms,
// then for each entry its clients operation ('j' join, 'l' leave, '-'
// none), its number of fields and its fields. Answers {entries, bytes}
// trimmed.
var appendInputScript = redis.NewScript(touchKeys + trimStream + `
local bytes = counted(KEYS[5], 'ibytes')
local i = 4
while i <= #ARGV do
  local op, nf = ARGV[i], tonumber(ARGV[i+1])
  local f = {unpack(ARGV, i + 2, i + 1 + nf)}
  redis.call('XADD', KEYS[5], '*', unpack(f))
  bytes = bytes + esize(f)
  if op ~= '-' then
    local m = {}
    for j = 1, #f, 2 do m[f[j]] = f[j+1] end
    if op == 'j' then redis.call('HSET', KEYS[6], m['c'], m['d'] or '') end
    if op == 'l' then redis.call('HDEL', KEYS[6], m['c']) end
  end
  i = i + 2 + nf
end
local n, freed
bytes, n, freed = trim(KEYS[5], bytes, tonumber(ARGV[1]), tonumber(ARGV[2]))
redis.call('HSET', KEYS[2], 'ibytes', bytes)
touch(ARGV[3])
return {n, freed}
`)

// storeInput records the ID of the last input entry written to stdin, so
// that the next owner starts after it, and deletes the entries written:
// input stays in Redis only until its program has it. KEYS as keys.all;
// ARGV token, lease ms, id, retention ms, then each entry written (up to
// id) and its size. An entry trimmed meanwhile is not subtracted twice:
// XDEL counts only what it deletes. Older entries left by a store that
// failed go too (uncounted until the stream is empty again).
var storeInputScript = redis.NewScript(holdLease + touchKeys + `
redis.call('HSET', KEYS[2], 'inpos', ARGV[3])
local bytes = tonumber(redis.call('HGET', KEYS[2], 'ibytes') or '0')
for i = 5, #ARGV, 2 do
  if redis.call('XDEL', KEYS[5], ARGV[i]) == 1 then bytes = bytes - tonumber(ARGV[i+1]) end
end
redis.call('XTRIM', KEYS[5], 'MINID', ARGV[3])
if bytes < 0 or redis.call('XLEN', KEYS[5]) == 0 then bytes = 0 end
redis.call('HSET', KEYS[2], 'ibytes', bytes)
touch(ARGV[4])
return 1
`)

// release gives the lease up if it is still ours, and lets the next owner
// take it at once: KEYS lease, meta; ARGV token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], 'renewed')
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// presence marks this instance as having clients until now + ttl, or
// takes it out: KEYS as keys.all; ARGV instance, ttl ms, present (1/0),
// retention ms. Answers 1 when the entry was missing (a new instance, or
// Redis lost it). Clients present are activity: the keys are touched.
var presenceScript = redis.NewScript(touchKeys + `
if ARGV[3] ~= '1' then redis.call('ZREM', KEYS[3], ARGV[1]) return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[1])
touch(ARGV[4])
return added
`)

// admitGroup counts the cluster's groups in a sorted set, each scored by
// when its keys expire (the last activity the set heard of plus
// --redis-history-ttl), for --max-groups: KEYS groups; ARGV group, most
// groups, retention ms. A group counted already, or one more under the
// limit, is (again) counted for retention ms: answers 0. Otherwise answers
// the ms until the first group's count ends.
var admitGroupScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 0
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(tonumber(first[2]) - now, 1)
`)

// touchGroup keeps a group counted (an owner's renewal is activity):
// KEYS groups; ARGV group, retention ms.
var touchGroupScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 0
`)

// deadInstances takes out the instances whose presence expired and
// answers them: KEYS instances.
var deadInstancesScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now)
if #dead > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. now) end
return dead
`)
