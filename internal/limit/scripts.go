package limit

import "github.com/redis/go-redis/v9"

// The Lua scripts. Every check-and-count is one script, so it is atomic across replicas.
// Numbers in Redis' Lua are doubles: all values stay integers below 2^53 (times in ms, levels
// in units of 60000 per request/token, money in 1e-9 units), and everything written back is
// formatted with %.0f so that nothing is rounded to 14 digits. All keys of a subject share the
// hash tag {subject}, so the scripts also work on Redis Cluster.

// acquireScript checks every limit and, in mode "acquire" when all pass, counts the request.
//
//	KEYS: 1 state hash {r, k, t}, 2 in-flight zset (member ticket, score lease end),
//	      3 day spend, 4 month spend
//	ARGV: 1 now ms, 2 rpm, 3 tpm, 4 max parallel, 5 daily budget, 6 monthly budget (nano units),
//	      7 estimated tokens, 8 ticket id, 9 lease end ms, 10 day end ms, 11 month end ms,
//	      12 mode ("acquire" or "peek")
//	returns {reason, retry ms, remaining requests, reset requests ms, remaining tokens,
//	         reset tokens ms, day spend, month spend, in flight}
var acquireScript = redis.NewScript(`
local W = 60000
local function s(x) return string.format('%.0f', x) end
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local maxp = tonumber(ARGV[4])
local bday = tonumber(ARGV[5])
local bmon = tonumber(ARGV[6])
local est = tonumber(ARGV[7])
local acquire = ARGV[12] == 'acquire'

local lr, lk, t = 0, 0, now
if rpm > 0 or tpm > 0 then
  local st = redis.call('HMGET', KEYS[1], 'r', 'k', 't')
  lr = tonumber(st[1]) or 0
  lk = tonumber(st[2]) or 0
  t = tonumber(st[3]) or now
end
local dt = now - t
local function drain(l, lim)
  if lim <= 0 or l <= 0 then return 0 end
  if dt <= 0 then return l end
  l = l - dt * lim
  if l < 0 then return 0 end
  return l
end
lr = drain(lr, rpm)
lk = drain(lk, tpm)
if now > t then t = now end

local reason, retry = 0, 0
local function fail(code, wait)
  if reason == 0 then reason = code end
  if wait > retry then retry = wait end
end
local dspend, mspend = 0, 0
if bday > 0 or bmon > 0 then
  dspend = tonumber(redis.call('GET', KEYS[3]) or '0')
  mspend = tonumber(redis.call('GET', KEYS[4]) or '0')
end
if bmon > 0 and mspend >= bmon then fail(5, tonumber(ARGV[11]) - now) end
if bday > 0 and dspend >= bday then fail(4, tonumber(ARGV[10]) - now) end
if rpm > 0 then
  local over = lr + W - rpm * W
  if over > 0 then fail(1, math.ceil(over / rpm)) end
end
if tpm > 0 then
  local n = est
  if n < 1 then n = 1 end
  local over = lk + n * W - tpm * W
  if over > 0 then fail(2, math.ceil(over / tpm)) end
end
local inflight = 0
if maxp > 0 then
  if acquire then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', s(now)) end
  inflight = redis.call('ZCOUNT', KEYS[2], '(' .. s(now), '+inf')
  if inflight >= maxp then fail(3, 1000) end
end

if reason == 0 and acquire then
  if rpm > 0 then lr = lr + W end
  if tpm > 0 then lk = lk + est * W end
  if rpm > 0 or tpm > 0 then
    redis.call('HSET', KEYS[1], 'r', s(lr), 'k', s(lk), 't', s(t))
    local ttl = 0
    if rpm > 0 then ttl = math.ceil(lr / rpm) end
    if tpm > 0 then
      local x = math.ceil(lk / tpm)
      if x > ttl then ttl = x end
    end
    redis.call('PEXPIRE', KEYS[1], s(ttl + (t - now) + 1000))
  end
  if maxp > 0 then
    redis.call('ZADD', KEYS[2], ARGV[9], ARGV[8])
    redis.call('PEXPIRE', KEYS[2], s(tonumber(ARGV[9]) - now + 1000))
    inflight = inflight + 1
  end
end

local function rem(l, lim)
  if lim <= 0 then return 0 end
  local r = math.floor((lim * W - l) / W)
  if r < 0 then return 0 end
  return r
end
local function rst(l, lim)
  if lim <= 0 or l <= 0 then return 0 end
  return math.ceil(l / lim)
end
return {reason, retry, rem(lr, rpm), rst(lr, rpm), rem(lk, tpm), rst(lk, tpm), dspend, mspend, inflight}
`)

// doneScript ends a request: releases its slot, corrects its tokens, adds its cost.
//
//	KEYS: as acquireScript
//	ARGV: 1 now ms, 2 rpm, 3 tpm, 4 ticket id or "", 5 token correction (actual - estimate),
//	      6 cost (nano units), 7 day key expiry (ms, absolute), 8 month key expiry
var doneScript = redis.NewScript(`
local W = 60000
local function s(x) return string.format('%.0f', x) end
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[2])
local tpm = tonumber(ARGV[3])
local delta = tonumber(ARGV[5])
if tpm > 0 and delta ~= 0 then
  local st = redis.call('HMGET', KEYS[1], 'r', 'k', 't')
  if st[3] or delta > 0 then
    local lr = tonumber(st[1]) or 0
    local lk = tonumber(st[2]) or 0
    local t = tonumber(st[3]) or now
    local dt = now - t
    if dt > 0 then
      if rpm > 0 then lr = math.max(lr - dt * rpm, 0) else lr = 0 end
      lk = math.max(lk - dt * tpm, 0)
      t = now
    end
    lk = math.max(lk + delta * W, 0)
    redis.call('HSET', KEYS[1], 'r', s(lr), 'k', s(lk), 't', s(t))
    local ttl = math.ceil(lk / tpm)
    if rpm > 0 then ttl = math.max(ttl, math.ceil(lr / rpm)) end
    redis.call('PEXPIRE', KEYS[1], s(ttl + (t - now) + 1000))
  end
end
if ARGV[6] ~= '0' then
  redis.call('INCRBY', KEYS[3], ARGV[6])
  redis.call('PEXPIREAT', KEYS[3], ARGV[7])
  redis.call('INCRBY', KEYS[4], ARGV[6])
  redis.call('PEXPIREAT', KEYS[4], ARGV[8])
end
return 1
`)

// flushScript writes back, exactly once, what one subject spent while Redis was unreachable.
//
//	KEYS: 1 token key, 2 in-flight zset, 3.. spend keys
//	ARGV: 1 token ttl ms, 2 n = number of tickets to release, 3..2+n ticket ids,
//	      then per spend key: delta, expiry ms
//	returns 1 if applied, 0 if this batch had been applied already
var flushScript = redis.NewScript(`
if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 0 end
local n = tonumber(ARGV[2])
for i = 1, n do redis.call('ZREM', KEYS[2], ARGV[2 + i]) end
local a = 3 + n
for i = 3, #KEYS do
  redis.call('INCRBY', KEYS[i], ARGV[a])
  redis.call('PEXPIREAT', KEYS[i], ARGV[a + 1])
  a = a + 2
end
return 1
`)

// cooldownScript sets (or, with until <= now, clears) one credential's cooldown in the shared
// hash, drops expired entries and lets the hash expire after its last cooldown.
//
//	KEYS: 1 hash (field credential id, value "untilMs|reason")
//	ARGV: 1 now ms, 2 credential id, 3 until ms, 4 reason
var cooldownScript = redis.NewScript(`
local now = tonumber(ARGV[1])
if tonumber(ARGV[3]) > now then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3] .. '|' .. ARGV[4])
else
  redis.call('HDEL', KEYS[1], ARGV[2])
end
local all = redis.call('HGETALL', KEYS[1])
local last = 0
for i = 1, #all, 2 do
  local u = tonumber(string.match(all[i + 1], '^(%d+)')) or 0
  if u <= now then
    redis.call('HDEL', KEYS[1], all[i])
  elseif u > last then
    last = u
  end
end
if last > 0 then redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', last + 60000)) end
return 1
`)
