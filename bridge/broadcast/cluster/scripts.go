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
// take (1/0). Answers {1, epoch, offset, inpos} when the lease is ours, or
// {0, pttl} (pttl -2: no lease, and we may not take it yet).
var acquireScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] or (not cur and ARGV[3] == '1') then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  local m = redis.call('HMGET', KEYS[2], 'epoch', 'offset', 'inpos', 'settings')
  return {1, m[1] or '', m[2] or '0', m[3] or '0-0', m[4] or ''}
end
return {0, redis.call('PTTL', KEYS[1])}
`)

// renew extends the lease and the retention of the group's keys, and
// counts the instances with clients: KEYS lease, meta, instances, out, in,
// clients; ARGV token, lease ms, retention ms, settings. Answers -1 when
// another instance holds the lease.
var renewScript = redis.NewScript(holdLease + `
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], 'settings', ARGV[4])
for i = 2, 6 do redis.call('PEXPIRE', KEYS[i], ARGV[3]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[3], now, '+inf')
`)

// appendOutput adds the owner's messages to the output stream, fenced:
// KEYS lease, out, meta; ARGV token, lease ms, maxlen, epoch, last offset,
// then an offset and an encoded message for each. Answers -1 when another
// instance holds the lease.
var appendScript = redis.NewScript(holdLease + `
for i = 6, #ARGV, 2 do
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'o', ARGV[i], 'e', ARGV[4], 'm', ARGV[i+1])
end
redis.call('HSET', KEYS[3], 'epoch', ARGV[4], 'offset', ARGV[5])
return 1
`)

// storeInput records the ID of the last input entry written to stdin, so
// that the next owner starts after it: KEYS lease, meta; ARGV token, lease
// ms, id.
var storeInputScript = redis.NewScript(holdLease + `
redis.call('HSET', KEYS[2], 'inpos', ARGV[3])
return 1
`)

// release gives the lease up if it is still ours: KEYS lease; ARGV token.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`)

// presence marks this instance as having clients until now + ttl, or
// takes it out: KEYS instances; ARGV instance, ttl ms, present (1/0).
// Answers 1 when the entry was missing (a new instance, or Redis lost it).
var presenceScript = redis.NewScript(`
if ARGV[3] ~= '1' then redis.call('ZREM', KEYS[1], ARGV[1]) return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
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
