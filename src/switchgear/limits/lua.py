"""The Redis backend's server-side scripts: each admit and each complete is one of these.

Keys (``P`` is the configured prefix; ids are ``BudgetKey.id`` / ``RateKey.id``)::

    P t:<ticket>   string  the ticket record: cmsgpack(KEYS, ARGV) of its admit, kept for
                           ttl + grace so a late completion still records its spend;
                           "x" is a tombstone (a completion arrived for an unknown ticket)
    P b:<id>       hash    s = spent, r = reserved, h = highest soft threshold reported
    P bt:<id>      zset    "<reserve>:<ticket>" scored by expiry: who holds a reservation
    P r:<id>       hash    q/qt = request bucket level and its time, k/kt = token bucket
    P c:<id>       zset    ticket scored by expiry: who holds a concurrency slot

Every expiry is judged with the server's clock (``TIME``) so skewed gateways agree. Numbers
cross the Lua/Redis border as doubles printed with 17 digits, exact for integers < 2^53
(9e15 nano-USD = $9M per counter).
"""

from __future__ import annotations

# Shared helpers, prepended to each script.
_PRELUDE = r"""
local tm = redis.call('TIME')
local now = tonumber(tm[1]) + tonumber(tm[2]) / 1000000
-- Levels are doubles computed from timestamps near 1.7e9 s (resolution ~2e-7 s): a level
-- this close to what is needed counts as enough. The bucket may dip EPS below zero; the
-- next refill pays it back, so nothing accumulates.
local EPS = 1e-6

-- Give back the reservations of every expired ticket on one budget (at most 1000 a call;
-- any rest stays reserved until the next call: late, never early).
local function purge_budget(bh, bz)
  local dead = redis.call('ZRANGEBYSCORE', bz, '-inf', now, 'LIMIT', 0, 1000)
  local n = #dead
  if n > 0 then
    local freed = 0
    for i = 1, n do freed = freed + tonumber(string.match(dead[i], '^(%d+):')) end
    redis.call('ZREM', bz, unpack(dead))
    redis.call('HINCRBY', bh, 'r', 0 - freed)  -- never unary minus: -0 formats as "-0", which HINCRBY refuses
  end
end

-- A token bucket's level now: capacity cap, refilled cap/60 per second, full when unknown.
local function level(lv, at, cap)
  if not lv then return cap end
  local dt = now - tonumber(at)
  if dt < 0 then dt = 0 end
  local l = tonumber(lv) + dt * cap / 60
  if l > cap then l = cap end
  return l
end

-- Milliseconds (rounded up) until a bucket at level l reaches need (need <= cap).
local function wait_ms(l, need, cap)
  return math.ceil((need - l) * 60000 / cap)
end

-- Extend a key's expiry to at least ms milliseconds, never shorten it.
local function keep_at_least(key, ms)
  local pt = redis.call('PTTL', key)
  if pt >= 0 and pt >= ms then return end
  redis.call('PEXPIRE', key, ms)
end
"""

# KEYS: 1 ticket; per budget: b:, bt:; per rate: r:, c:
# ARGV: 1 ticket, 2 reserve, 3 tokens, 4 ttl_s, 5 nb, 6 nr, 7 record life ms,
#       per budget (4): limit, expire_at (unix s, 0 = never), soft thresholds "a,b", blob
#       per rate (3): rpm, tpm, concurrent (-1 = none)
# Reply: {-1} duplicate ticket
#        {0, kind, index, retry_ms (-1 = none), used, limit}   kind 1 budget 2 req 3 tok 4 conc
#        {1, used per budget..., per rate: remaining_req, reset_req_ms, remaining_tok, reset_tok_ms}
ADMIT = (
    _PRELUDE
    + r"""
local tk = KEYS[1]
if redis.call('EXISTS', tk) == 1 then return {-1} end
local reserve = tonumber(ARGV[2])
local tokens = tonumber(ARGV[3])
local exp = now + tonumber(ARGV[4])
local nb = tonumber(ARGV[5])
local nr = tonumber(ARGV[6])
local used, fresh = {}, {}

for i = 1, nb do
  local bh, bz = KEYS[2 * i], KEYS[2 * i + 1]
  local limit = tonumber(ARGV[4 + 4 * i])
  purge_budget(bh, bz)
  local v = redis.call('HMGET', bh, 's', 'r')
  local u = (tonumber(v[1]) or 0) + (tonumber(v[2]) or 0)
  if u + reserve > limit then return {0, 1, i, -1, u, limit} end
  used[i] = u
  fresh[i] = not v[2]
end

local kb, ab = 1 + 2 * nb, 7 + 4 * nb
local lq, lk, held = {}, {}, {}
for j = 1, nr do
  local rh, cz = KEYS[kb + 2 * j - 1], KEYS[kb + 2 * j]
  local rpm = tonumber(ARGV[ab + 3 * j - 2])
  local tpm = tonumber(ARGV[ab + 3 * j - 1])
  local conc = tonumber(ARGV[ab + 3 * j])
  if rpm >= 0 or tpm >= 0 then
    local v = redis.call('HMGET', rh, 'q', 'qt', 'k', 'kt')
    if rpm >= 0 then
      if rpm == 0 then return {0, 2, j, -1, 0, 0} end
      local l = level(v[1], v[2], rpm)
      if l + EPS < 1 then return {0, 2, j, wait_ms(l, 1, rpm), math.ceil(rpm - l), rpm} end
      lq[j] = l
    end
    if tpm >= 0 then
      local l = (tpm > 0) and level(v[3], v[4], tpm) or 0
      if tokens > tpm or tpm == 0 then return {0, 3, j, -1, math.ceil(tpm - l), tpm} end
      if l + EPS < tokens then return {0, 3, j, wait_ms(l, tokens, tpm), math.ceil(tpm - l), tpm} end
      lk[j] = l
    end
  end
  if conc >= 0 then
    redis.call('ZREMRANGEBYSCORE', cz, '-inf', now)
    local n = redis.call('ZCARD', cz)
    if n >= conc then return {0, 4, j, -1, n, conc} end
    held[j] = n
  end
end

-- Everything fits: reserve and count it all.
local out = {1}
local member = ARGV[2] .. ':' .. ARGV[1]
for i = 1, nb do
  local bh, bz = KEYS[2 * i], KEYS[2 * i + 1]
  redis.call('HINCRBY', bh, 'r', reserve)
  redis.call('ZADD', bz, exp, member)
  local until_ = tonumber(ARGV[5 + 4 * i])
  if until_ > 0 then
    -- Never before a ticket holding it could still settle (a caller's clock may be off).
    local floor_ = math.ceil(now + tonumber(ARGV[7]) / 1000)
    if until_ < floor_ then until_ = floor_ end
    if fresh[i] then redis.call('EXPIREAT', bh, until_) end
    redis.call('EXPIREAT', bz, until_)  -- a set emptied and refilled has lost its expiry
  end
  out[#out + 1] = used[i] + reserve
end
local ttl_ms = math.ceil(tonumber(ARGV[4]) * 1000) + 1000
for j = 1, nr do
  local rh, cz = KEYS[kb + 2 * j - 1], KEYS[kb + 2 * j]
  local rpm = tonumber(ARGV[ab + 3 * j - 2])
  local tpm = tonumber(ARGV[ab + 3 * j - 1])
  local full_ms = 0
  if rpm >= 0 then
    local l = lq[j] - 1
    local reset = wait_ms(l, rpm, rpm)
    redis.call('HSET', rh, 'q', l, 'qt', now)
    out[#out + 1] = math.floor(l)
    out[#out + 1] = reset
    full_ms = reset
  else
    out[#out + 1] = -1
    out[#out + 1] = -1
  end
  if tpm >= 0 then
    local l = lk[j] - tokens
    local reset = wait_ms(l, tpm, tpm)
    redis.call('HSET', rh, 'k', l, 'kt', now)
    out[#out + 1] = math.floor(l)
    out[#out + 1] = reset
    if reset > full_ms then full_ms = reset end
  else
    out[#out + 1] = -1
    out[#out + 1] = -1
  end
  -- An idle bucket is full, the same as no key: let it go once it is.
  if rpm >= 0 or tpm >= 0 then redis.call('PEXPIRE', rh, full_ms + 1000) end
  if tonumber(ARGV[ab + 3 * j]) >= 0 then
    redis.call('ZADD', cz, exp, ARGV[1])
    -- Outlive the longest ticket in the set: a new set takes this ttl, an old one only grows.
    if held[j] == 0 then redis.call('PEXPIRE', cz, ttl_ms) else redis.call('PEXPIRE', cz, ttl_ms, 'GT') end
  end
end
redis.call('SET', tk, cmsgpack.pack(KEYS, ARGV), 'PX', ARGV[7])
return out
"""
)

# KEYS: 1 ticket.  ARGV: 1 actual_nano, 2 actual_tokens, 3 tombstone ms.
# Reply: {blob, threshold, spent, ...} for every soft threshold this settlement crossed.
COMPLETE = (
    _PRELUDE
    + r"""
local tk = KEYS[1]
local rec = redis.call('GET', tk)
if not rec then
  -- Unknown ticket: remember that it is finished, so an admit of it that is still on the
  -- wire (it timed out on our side) cannot take a reservation nobody will settle.
  redis.call('SET', tk, 'x', 'PX', ARGV[3])
  return {}
end
if rec == 'x' then return {} end
redis.call('DEL', tk)
local K, A = cmsgpack.unpack(rec)
local actual = tonumber(ARGV[1])
local atok = tonumber(ARGV[2])
local reserve = tonumber(A[2])
local tokens = tonumber(A[3])
local nb, nr = tonumber(A[5]), tonumber(A[6])
local member = A[2] .. ':' .. A[1]
local out = {}
for i = 1, nb do
  local bh, bz = K[2 * i], K[2 * i + 1]
  local held = redis.call('ZREM', bz, member)
  -- A counter gone is a period long over: nothing left to settle there.
  if redis.call('EXISTS', bh) == 1 then
    if held == 1 then redis.call('HINCRBY', bh, 'r', 0 - reserve) end
    local s = redis.call('HINCRBY', bh, 's', actual)
    local soft = A[6 + 4 * i]
    if soft ~= '' then
      local hw = tonumber(redis.call('HGET', bh, 'h') or '0')
      local top = hw
      for th in string.gmatch(soft, '%d+') do
        local t = tonumber(th)
        if t > hw and t <= s then
          out[#out + 1] = A[7 + 4 * i]
          out[#out + 1] = t
          out[#out + 1] = s
          if t > top then top = t end
        end
      end
      if top > hw then redis.call('HSET', bh, 'h', top) end
    end
  end
end
local kb, ab = 1 + 2 * nb, 7 + 4 * nb
for j = 1, nr do
  local rh, cz = K[kb + 2 * j - 1], K[kb + 2 * j]
  local tpm = tonumber(A[ab + 3 * j - 1])
  if tpm > 0 and atok ~= tokens then
    local v = redis.call('HMGET', rh, 'k', 'kt')
    local l = level(v[1], v[2], tpm) + tokens - atok
    if l > tpm then l = tpm end
    redis.call('HSET', rh, 'k', l, 'kt', now)
    keep_at_least(rh, wait_ms(l, tpm, tpm) + 1000)
  end
  if tonumber(A[ab + 3 * j]) >= 0 then redis.call('ZREM', cz, A[1]) end
end
return out
"""
)

# KEYS: b:, bt:.  Reply: {spent, reserved}
USAGE = (
    _PRELUDE
    + r"""
purge_budget(KEYS[1], KEYS[2])
local v = redis.call('HMGET', KEYS[1], 's', 'r')
return {tonumber(v[1]) or 0, tonumber(v[2]) or 0}
"""
)

# KEYS: b:.  ARGV: 1 nano, 2 expire_at (0 = never).  Spend with no reservation (reconciling
# what was spent while this store was unreachable).
CHARGE = r"""
local s = redis.call('HINCRBY', KEYS[1], 's', ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call('EXPIREAT', KEYS[1], ARGV[2]) end
return s
"""
