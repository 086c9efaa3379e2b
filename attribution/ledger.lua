-- ledger.lua: one referral's ledger, changed atomically. Every key shares the user's
-- hash tag, so the script is Redis Cluster safe. See ledger_store.go and
-- docs/commissions.md for the model: facts accumulate whatever order they arrive in, and
-- each commission line is decided once from them.
--
-- KEYS[1] rec   hash: the referral (reg, r, p, c, v, ad, xd, st, a, ac, hw, m, mk, why,
--                     mt:<program>, mn:<program>, mo:<program>)
-- KEYS[2] lines hash: line key -> line JSON; s = A accrued, R reversed, X refund seen first
-- KEYS[3] cand  hash: line key -> candidate JSON (waits for a registration or an activation)
-- KEYS[4] out   hash: outbox, event id -> src "\n" event JSON, until Kafka acknowledged it;
--                     "~" event id -> the claim of the attempt producing it (ledger_once.go)
-- ARGV[1] op: reg | line | rev | fact | tick
-- ARGV[2] context JSON, ARGV[3] argument JSON. Every value is a string: amounts never
-- become Lua numbers (doubles) except milestone totals, which MaxAmount keeps exact.
-- Returns {outcome, id1, event1, mark1, id2, ...}: the outbox entries of this input event
-- (ctx.src), including those a crashed earlier attempt created and never acknowledged
-- (those carry its mark).

local rec_k, lines_k, cand_k, out_k = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local op = ARGV[1]
local ctx = cjson.decode(ARGV[2])
local arg = cjson.decode(ARGV[3])

local rec = {}
do
  local f = redis.call('HGETALL', rec_k)
  for i = 1, #f, 2 do rec[f[i]] = f[i + 1] end
end

local num = tonumber
local function str(n) return string.format('%.0f', n) end

local wrote_lines = false
-- emit puts an event in the outbox with the referral's next sequence number: events of
-- one referral reach Kafka in this order (see ledger_once.go), so the compacted
-- attributions topic ends with the latest state.
local function emit(id, e)
  e.n = tostring(redis.call('HINCRBY', rec_k, 'os', 1))
  redis.call('HSET', out_k, id, ctx.src .. '\n' .. cjson.encode(e))
end

local function attr_event(typ, occ)
  return {type = typ, occ = occ, u = ctx.u, p = rec.p, c = rec.c or '', st = rec.st, r = rec.r,
    ad = rec.ad, xd = rec.xd, a = rec.a or '', cause = rec.ac or ''}
end

local function line_event(typ, key, l, occ, reverses)
  return {type = typ, occ = occ, key = key, p = l.p, u = ctx.u, o = l.o, role = l.role, b = l.b,
    rate = l.rate, amt = l.amt, cur = l.cur, prog = l.prog, rev = reverses}
end

-- transitions applies what the passage of event time t implies: a pending referral past
-- its activation deadline detaches, an active one past its attachment expires. Each is
-- stamped with the deadline itself, not with t, so the event is the same whenever seen.
local function transitions(t)
  if rec.reg ~= '1' or rec.p == '' then return end
  if not rec.hw or num(rec.hw) < t then
    rec.hw = str(t)
    redis.call('HSET', rec_k, 'hw', rec.hw)
  end
  if not rec.a then
    if t > num(rec.ad) and rec.st == 'pending' then
      rec.st = 'detached'
      redis.call('HSET', rec_k, 'st', rec.st)
      emit('detached|' .. ctx.u, attr_event('attribution.detached', rec.ad))
    end
  elseif t > num(rec.xd) and rec.st ~= 'expired' then
    rec.st = 'expired'
    redis.call('HSET', rec_k, 'st', rec.st)
    emit('expired|' .. ctx.u, attr_event('attribution.expired', rec.xd))
  end
end

-- activate records an activation fact at a within the window. The earliest fact wins, so
-- a fact that arrives late still moves activation back (and supersedes a detachment).
local function activate(a, cause)
  if rec.reg ~= '1' or rec.p == '' or a > num(rec.ad) then return false end
  if rec.a and num(rec.a) <= a then return false end
  rec.a, rec.ac, rec.st = str(a), cause, 'active'
  redis.call('HSET', rec_k, 'a', rec.a, 'ac', cause, 'st', 'active')
  emit('activated|' .. ctx.u .. '|' .. rec.a, attr_event('attribution.activated', rec.a))
  return true
end

-- blocked_at reads the partner's status at t from its history (oldest first); before the
-- first entry the first status holds; without history the current status does.
local function blocked_at(t)
  local st = ctx.pst
  local log = ctx.plog
  if #log > 0 then
    st = log[1][2]
    for i = 1, #log do
      if num(log[i][1]) <= t then st = log[i][2] else break end
    end
  end
  return st == 'blocked'
end

-- decide says what a commission line gets now: pay, wait (a later activation fact may
-- still make it payable), park (the user's registration is not known yet) or drop.
local function decide(L)
  if rec.reg ~= '1' then return 'park', 'unregistered', false end
  if rec.p == '' then return 'drop', 'not_referred', false end
  local t = num(L.t)
  if t > num(rec.xd) then return 'drop', 'expired', false end
  if ctx.puid ~= '' and (L.buyer == ctx.puid or L.seller == ctx.puid) then return 'drop', 'own_order', false end
  if blocked_at(t) then return 'drop', 'partner_blocked', false end
  local act = false
  if L.role == 'buyer' and t <= num(rec.ad) then act = activate(t, 'order') end
  if rec.a and num(rec.a) <= t then return 'pay', 'paid', act end
  return 'wait', 'inactive', act
end

local reverse

-- pay accrues line L, counts a buyer line towards the milestone programs, and accrues a
-- milestone whose threshold the total now reaches (once: until a reversal re-arms it).
local function pay(L)
  local t = num(L.t)
  local line = {s = 'A', p = rec.p, o = L.o, role = L.role, b = L.b, rate = L.rate, amt = L.amt,
    cur = L.cur, t = L.t, prog = L.prog, ms = {}}
  local crossed = {}
  if L.role == 'buyer' then
    for _, m in ipairs(ctx.ms) do
      if L.cur == m.cur and t >= num(m.from) and t < num(m['until']) and t <= num(m.dl) then
        local total = redis.call('HINCRBY', rec_k, 'mt:' .. m.id, L.b)
        line.ms[#line.ms + 1] = m.id
        local open = redis.call('HGET', rec_k, 'mo:' .. m.id)
        if (not open or open == '') and total >= num(m.th) then
          crossed[#crossed + 1] = {m = m, total = total}
        end
      end
    end
  end
  redis.call('HSET', lines_k, L.key, cjson.encode(line))
  wrote_lines = true
  if line.amt ~= '0' then
    emit('accrued|' .. L.key, line_event('commission.accrued', L.key, line, L.t, ''))
  end
  for _, c in ipairs(crossed) do
    local m = c.m
    local n = redis.call('HINCRBY', rec_k, 'mn:' .. m.id, 1)
    local key = 'milestone:' .. m.id .. ':' .. ctx.u .. ':' .. n
    local ml = {s = 'A', p = rec.p, o = L.o, role = 'milestone', b = str(c.total), rate = '0',
      amt = m.bounty, cur = m.cur, t = L.t, prog = m.id, th = m.th, ms = {}}
    redis.call('HSET', lines_k, key, cjson.encode(ml))
    redis.call('HSET', rec_k, 'mo:' .. m.id, key)
    emit('accrued|' .. key, line_event('commission.accrued', key, ml, L.t, ''))
  end
  if L.rf and L.rf ~= '' then reverse(L.key, L.rf) end
end

-- reverse undoes an accrued line exactly, and a milestone whose total falls back below
-- its threshold. A line not decided yet is marked, so it is reversed as soon as it pays.
reverse = function(key, rt)
  local raw = redis.call('HGET', lines_k, key)
  if raw then
    local l = cjson.decode(raw)
    if l.s ~= 'A' then return 'dup' end
    l.s, l.rt = 'R', rt
    redis.call('HSET', lines_k, key, cjson.encode(l))
    wrote_lines = true
    if l.amt ~= '0' then
      emit('reversed|' .. key, line_event('commission.reversed', key .. ':reversal', l, rt, key))
    end
    for _, id in ipairs(l.ms or {}) do
      local total = redis.call('HINCRBY', rec_k, 'mt:' .. id, '-' .. l.b)
      local open = redis.call('HGET', rec_k, 'mo:' .. id)
      if open and open ~= '' then
        local ml = cjson.decode(redis.call('HGET', lines_k, open))
        if total < num(ml.th) then
          redis.call('HSET', rec_k, 'mo:' .. id, '')
          reverse(open, rt)
        end
      end
    end
    return 'reversed'
  end
  local c = redis.call('HGET', cand_k, key)
  if c then
    local cc = cjson.decode(c)
    if not cc.rf or cc.rf == '' then
      cc.rf = rt
      redis.call('HSET', cand_k, key, cjson.encode(cc))
    end
    return 'marked'
  end
  redis.call('HSET', lines_k, key, cjson.encode({s = 'X', rt = rt}))
  wrote_lines = true
  return 'marked'
end

-- release decides every waiting candidate again, oldest first, after the referral's facts
-- changed (registration, activation).
local function release()
  local f = redis.call('HGETALL', cand_k)
  if #f == 0 then return end
  local list = {}
  for i = 1, #f, 2 do
    local c = cjson.decode(f[i + 1])
    c.key = f[i]
    list[#list + 1] = c
  end
  table.sort(list, function(x, y)
    local tx, ty = num(x.t), num(y.t)
    if tx ~= ty then return tx < ty end
    return x.key < y.key
  end)
  for _, c in ipairs(list) do
    transitions(num(c.t))
    local res = decide(c)
    if res == 'pay' then
      redis.call('HDEL', cand_k, c.key)
      pay(c)
    elseif res == 'drop' then
      redis.call('HDEL', cand_k, c.key)
    end
  end
end

local function finish(outcome)
  if wrote_lines then redis.call('EXPIRE', lines_k, ctx.lttl) end
  local res = {outcome}
  local prefix = ctx.src .. '\n'
  local f = redis.call('HGETALL', out_k)
  for i = 1, #f, 2 do
    local v = f[i + 1]
    if string.sub(v, 1, #prefix) == prefix then
      res[#res + 1] = f[i]
      res[#res + 1] = string.sub(v, #prefix + 1)
      -- the claim of an earlier attempt that may have produced it (see ledger_once.go)
      res[#res + 1] = redis.call('HGET', out_k, '~' .. f[i]) or ''
    end
  end
  return res
end

-- The caller read the record before choosing partner facts and milestone windows; if a
-- registration landed in between, it must read again.
if (op == 'line' or op == 'fact') and rec.reg == '1' and (ctx.known ~= '1' or ctx.ep ~= rec.p) then
  return {'retry'}
end

if op == 'reg' then
  if rec.reg == '1' then return finish('dup') end
  redis.call('PERSIST', rec_k)
  rec.reg, rec.r, rec.p = '1', arg.r, arg.p
  if arg.p == '' then
    redis.call('HSET', rec_k, 'reg', '1', 'r', arg.r, 'v', arg.v, 'p', '', 'why', arg.why)
    redis.call('DEL', cand_k) -- not a referral: what waited for the registration never pays
    return finish('none:' .. arg.why)
  end
  rec.c, rec.ad, rec.xd, rec.st = arg.c, arg.ad, arg.xd, 'pending'
  redis.call('HSET', rec_k, 'reg', '1', 'r', arg.r, 'v', arg.v, 'p', arg.p, 'c', arg.c,
    'ad', arg.ad, 'xd', arg.xd, 'st', 'pending')
  emit('attributed|' .. ctx.u, attr_event('attribution.attributed', arg.r))
  if rec.m then activate(num(rec.m), 'kwork') end
  release()
  if rec.hw then transitions(num(rec.hw)) end
  return finish('attributed')
end

if op == 'line' then
  local x = redis.call('HGET', lines_k, arg.key)
  if x then
    local l = cjson.decode(x)
    if l.s ~= 'X' then return finish('dup') end
    if not arg.rf or arg.rf == '' then arg.rf = l.rt end
  end
  if redis.call('HEXISTS', cand_k, arg.key) == 1 then return finish('dup') end
  transitions(num(arg.t))
  local res, why, act = decide(arg)
  if res == 'pay' then
    pay(arg)
    if act then release() end
  elseif res == 'wait' or res == 'park' then
    redis.call('HSET', cand_k, arg.key, cjson.encode(arg))
    redis.call('EXPIRE', cand_k, ctx.pttl)
  end
  if rec.hw then transitions(num(rec.hw)) end
  return finish(res .. ':' .. why)
end

if op == 'rev' then
  return finish(reverse(arg.key, arg.rt))
end

if op == 'fact' then
  local t = num(arg.t)
  if rec.reg == '1' and rec.p == '' then return finish('drop:not_referred') end
  if not rec.m or t < num(rec.m) then
    rec.m = arg.t
    redis.call('HSET', rec_k, 'm', arg.t, 'mk', arg.kwork)
  end
  if rec.reg ~= '1' then
    redis.call('EXPIRE', rec_k, ctx.pttl) -- a stub until the registration arrives
    return finish('park:unregistered')
  end
  transitions(t)
  local act = activate(t, 'kwork')
  if act then
    release()
    transitions(num(rec.hw))
  end
  return finish(act and 'activated' or 'noop')
end

if op == 'tick' then
  if rec.reg == '1' then transitions(num(arg.t)) end
  local st, due = rec.st or 'none', ''
  if st == 'pending' then due = rec.ad elseif st == 'active' then due = rec.xd end
  return finish(st .. ':' .. due) -- the sweeper's next deadline for this referral
end

return redis.error_reply('ledger.lua: unknown op ' .. tostring(op))
