-- The windows of a batch of clicks in one call (tracker/state.go, RedisState): the
-- clicks' checks in order, each a letter of ARGV[1] that takes its keys from KEYS and
-- its arguments from ARGV in turn, answering one or two integers:
--   o  own visitor: KEYS set, ARGV member; 1 if the visitor is the partner's own
--   d  duplicate window: KEYS key, ARGV window in ms; 1 if the window was already open
--   l  sliding-window limiter: KEYS this window's counter, the previous window's;
--      ARGV the counter's lifetime in ms, the limit. Counts the click and answers this
--      window's count and the previous window's (0 when this one alone is over)
-- On Redis Cluster every key of one call is in one slot (the caller groups them).
local ops = ARGV[1]
local out, k, a = {}, 1, 2
for i = 1, #ops do
  local op = string.byte(ops, i)
  if op == 111 then -- o
    out[#out + 1] = redis.call('SISMEMBER', KEYS[k], ARGV[a])
    k, a = k + 1, a + 1
  elseif op == 100 then -- d
    if redis.call('SET', KEYS[k], '1', 'NX', 'PX', ARGV[a]) then
      out[#out + 1] = 0
    else
      out[#out + 1] = 1
    end
    k, a = k + 1, a + 1
  else -- l
    local cur = redis.call('INCR', KEYS[k])
    if cur == 1 then
      redis.call('PEXPIRE', KEYS[k], ARGV[a])
    end
    local prev = 0
    if cur <= tonumber(ARGV[a + 1]) then
      prev = tonumber(redis.call('GET', KEYS[k + 1]) or 0) or 0
    end
    out[#out + 1] = cur
    out[#out + 1] = prev
    k, a = k + 2, a + 2
  end
end
return out
