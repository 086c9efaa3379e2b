-- ledger.lua: one referral's ledger, changed atomically. Every key shares the user's
-- hash tag, so the script is Redis Cluster safe. See ledger_store.go and
-- docs/commissions.md for the model: facts accumulate whatever order they arrive in, and
-- each commission line is decided once from them.
--
-- KEYS[1] rec   hash: the referral (reg, r, p, c, v, ad, xd, st, a, ac, hw, m, mk, why,
--                     mt:<program>, mn:<program>, mo:<program>)
-- KEYS[2] lines hash: line key -> the line's decision, recorded once: s = A accrued, R
--                     reversed in full, W waiting for an activation, D not paid (why says
--                     which rule), X refunds seen before the line; rb, ra, rn, rids: the
--                     refunded base, reversed amount, reversals and refund ids applied
-- KEYS[3] cand  hash: line key -> line waiting for the user's registration (parked)
-- KEYS[4] out   hash: outbox, event id -> src "\n" event JSON, until Kafka acknowledged it;
--                     "~" event id -> the claim of the attempt producing it (ledger_once.go)
-- ARGV[1] op: reg | line | rev | fact | tick
-- ARGV[2] context JSON, ARGV[3] argument JSON. Every value is a string; amounts become
-- Lua numbers (doubles) only where MaxAmount keeps them exact (totals, apply_rate).
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
-- see raises the referral's high-water mark: the latest event time known for the user,
-- parked events included, which the registration applies once it is known.
local function see(t)
  if not rec.hw or num(rec.hw) < t then
    rec.hw = str(t)
    redis.call('HSET', rec_k, 'hw', rec.hw)
  end
end

local function transitions(t)
  if rec.reg ~= '1' or rec.p == '' then return end
  see(t)
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
-- Activation belongs to the referred user: the partner's standing plays no part.
local function activate(a, cause)
  if rec.reg ~= '1' or rec.p == '' or a > num(rec.ad) then return false end
  if rec.a and num(rec.a) <= a then return false end
  rec.a, rec.ac, rec.st = str(a), cause, 'active'
  redis.call('HSET', rec_k, 'a', rec.a, 'ac', cause, 'st', 'active')
  emit('activated|' .. ctx.u .. '|' .. rec.a, attr_event('attribution.activated', rec.a))
  return true
end

-- standing_at reads the partner's standing (active, blocked or unconfirmed) at t from its
-- history (oldest first); before the first entry the first standing holds; without
-- history the current standing does.
local function standing_at(t)
  local st = ctx.pst
  local log = ctx.plog
  if #log > 0 then
    st = log[1][2]
    for i = 1, #log do
      if num(log[i][1]) <= t then st = log[i][2] else break end
    end
  end
  return st
end

-- apply_rate returns base × bp / 10000 rounded as rnd, exactly: base is split so that no
-- product exceeds 2^53 (Lua numbers are doubles). The same function as ApplyRate in Go.
local function apply_rate(base, bp, rnd)
  local hi, lo = math.floor(base / 10000), base % 10000
  local p = lo * bp
  local q = hi * bp + math.floor(p / 10000)
  local rem = p % 10000
  if rnd == 'floor' then return q end
  if rnd == 'half_even' then
    if rem > 5000 or (rem == 5000 and q % 2 == 1) then q = q + 1 end
    return q
  end
  if rem >= 5000 then q = q + 1 end
  return q
end

-- decide says what a new commission line gets: pay, wait (not active yet: a later
-- activation fact may still make it payable), park (the user's registration is not known
-- yet), none (the user is not a referral) or drop (decided, not paid), with the reason.
-- A buyer's payment activates the referral here, before the partner's standing is read.
local function decide(L)
  if rec.reg ~= '1' then return 'park', 'unregistered', false end
  if rec.p == '' then return 'none', 'not_referred', false end
  local t = num(L.t)
  if L.b == '0' then return 'drop', 'bonus_only', false end
  if L.buyer == L.seller then return 'drop', 'self_dealing', false end
  if ctx.puid ~= '' and (L.buyer == ctx.puid or L.seller == ctx.puid) then return 'drop', 'own_order', false end
  if t > num(rec.xd) then return 'drop', 'expired', false end
  local act = false
  if L.role == 'buyer' then
    local pa = t
    if L.pa and L.pa ~= '' and num(L.pa) < t then pa = num(L.pa) end
    if pa < num(rec.r) then pa = num(rec.r) end
    act = activate(pa, 'order')
  end
  local st = standing_at(t)
  if st == 'blocked' then return 'drop', 'withheld_blocked', act end
  if st ~= 'active' then return 'drop', 'withheld_unconfirmed', act end
  if rec.a and num(rec.a) <= t then return 'pay', 'paid', act end
  return 'wait', 'not_active', act
end

local function save(key, line)
  redis.call('HSET', lines_k, key, cjson.encode(line))
  wrote_lines = true
end

-- reverse_bounty reverses an accrued milestone bounty in full.
local function reverse_bounty(key, rt)
  local l = cjson.decode(redis.call('HGET', lines_k, key))
  if l.s ~= 'A' then return end
  l.s, l.rt = 'R', rt
  save(key, l)
  emit('reversed|' .. key, line_event('commission.reversed', key .. ':reversal', l, rt, key))
end

-- unmilestone takes refunded base d out of the totals the line counted towards; a bounty
-- whose total falls below its threshold is reversed and can be earned again.
local function unmilestone(line, d, rt)
  for _, id in ipairs(line.ms or {}) do
    local total = redis.call('HINCRBY', rec_k, 'mt:' .. id, str(-d))
    local open = redis.call('HGET', rec_k, 'mo:' .. id)
    if open and open ~= '' then
      local ml = cjson.decode(redis.call('HGET', lines_k, open))
      if total < num(ml.th) then
        redis.call('HSET', rec_k, 'mo:' .. id, '')
        reverse_bounty(open, rt)
      end
    end
  end
end

-- reverse_part reverses the commission on refunded base old..new of an accrued line: the
-- line's rate and rounding applied to the refunded base, so refunds add up and never
-- reverse more than was accrued (all of it once the whole base is refunded).
local function reverse_part(key, line, old, new, rt)
  local amt, b, ra = num(line.amt), num(line.b), num(line.ra or '0')
  local target = amt
  if new < b then target = math.min(apply_rate(new, num(line.rate), line.rnd or 'half_up'), amt) end
  local d = target - ra
  if d <= 0 then return end
  line.ra = str(ra + d)
  line.rn = (line.rn or 0) + 1
  local rkey = key .. ':reversal'
  if line.rn > 1 then rkey = rkey .. ':' .. line.rn end
  local e = line_event('commission.reversed', rkey, line, rt, key)
  e.b, e.amt = str(new - old), str(d)
  emit('reversed|' .. rkey, e)
end

-- sorted_refunds returns refunds {id, t, amt} in (t, id) order; amt '' is all of it.
local function sorted_refunds(list)
  local out = {}
  for _, f in ipairs(list or {}) do out[#out + 1] = f end
  table.sort(out, function(x, y)
    local tx, ty = num(x.t), num(y.t)
    if tx ~= ty then return tx < ty end
    return x.id < y.id
  end)
  return out
end

-- merge_refunds adds the refunds of more to list, once per id.
local function merge_refunds(list, more)
  list = list or {}
  local have = {}
  for _, f in ipairs(list) do have[f.id] = true end
  for _, f in ipairs(more or {}) do
    if not have[f.id] then
      have[f.id] = true
      list[#list + 1] = f
    end
  end
  return list
end

-- apply_refunds applies each refund not applied yet to a decided line (program rule 7).
-- An accrued line is reversed pro rata at once; a waiting one keeps the refunded part and
-- reverses it when it pays. Either way the milestone totals lose the refunded base.
local function apply_refunds(key, line, refunds)
  line.rids = line.rids or {}
  for _, f in ipairs(sorted_refunds(refunds)) do
    if not line.rids[f.id] then
      line.rids[f.id] = true
      if line.s == 'A' or line.s == 'W' or line.s == 'R' then
        local b, old = num(line.b), num(line.rb or '0')
        local new = b
        if f.amt and f.amt ~= '' then new = math.min(b, old + num(f.amt)) end
        if new > old then
          line.rb = str(new)
          if line.s == 'W' then
            line.wr = line.wr or {}
            line.wr[#line.wr + 1] = {old = str(old), new = str(new), t = f.t}
          else
            reverse_part(key, line, old, new, f.t)
            if new == b then line.s = 'R' end
          end
          unmilestone(line, new - old, f.t)
        end
      end
    end
  end
end

-- count_milestones adds an eligible line's base to the referral's total in every
-- milestone program it falls in (both roles: spent as buyer, earned as seller) and
-- returns the programs whose threshold the total now reaches.
local function count_milestones(L, line)
  local t = num(L.t)
  local crossed = {}
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
  return crossed
end

-- accrue_bounties accrues the milestone bounties crossed by the line of order o at t.
local function accrue_bounties(crossed, L)
  for _, c in ipairs(crossed) do
    local m = c.m
    local n = redis.call('HINCRBY', rec_k, 'mn:' .. m.id, 1)
    local key = 'milestone:' .. m.id .. ':' .. ctx.u .. ':' .. n
    local ml = {s = 'A', why = 'paid', p = rec.p, o = L.o, role = 'milestone', b = str(c.total), rate = '0',
      amt = m.bounty, cur = m.cur, t = L.t, prog = m.id, th = m.th, ms = {}}
    save(key, ml)
    redis.call('HSET', rec_k, 'mo:' .. m.id, key)
    emit('accrued|' .. key, line_event('commission.accrued', key, ml, L.t, ''))
  end
end

-- accrue pays a line: the accrual, then the reversal of what was refunded while it waited.
local function accrue(key, line)
  line.s, line.why = 'A', 'paid'
  if line.amt ~= '0' then
    emit('accrued|' .. key, line_event('commission.accrued', key, line, line.t, ''))
  end
  for _, w in ipairs(line.wr or {}) do
    reverse_part(key, line, num(w.old), num(w.new), w.t)
  end
  line.wr = nil
  if num(line.rb or '0') >= num(line.b) and num(line.b) > 0 then line.s = 'R' end
end

local release_waiting, release_parked

-- settle decides a new line L once and records the decision with its reason: accrued
-- (A), waiting for activation (W) or not paid (D). Parked lines wait in cand for the
-- registration. Returns the outcome.
local function settle(L)
  local res, why, act = decide(L)
  -- after decide: a payment that activates the referral comes before a detachment the
  -- same event's time would otherwise announce
  transitions(num(L.t))
  if res == 'park' then
    see(num(L.t))
    redis.call('EXPIRE', rec_k, ctx.pttl) -- a stub until the registration arrives
    redis.call('HSET', cand_k, L.key, cjson.encode(L))
    redis.call('EXPIRE', cand_k, ctx.pttl)
    return res .. ':' .. why
  end
  if res == 'none' then return res .. ':' .. why end
  local line = {s = 'D', why = why, p = rec.p, o = L.o, role = L.role, b = L.b, rate = L.rate, amt = L.amt,
    cur = L.cur, t = L.t, prog = L.prog, rnd = L.rnd, ms = {}, rb = '0', ra = '0', rn = 0}
  local crossed = {}
  if res == 'pay' or res == 'wait' then crossed = count_milestones(L, line) end
  if res == 'wait' then line.s = 'W' end
  if res == 'pay' then accrue(L.key, line) end
  save(L.key, line)
  accrue_bounties(crossed, L)
  if L.rfs and #L.rfs > 0 then
    apply_refunds(L.key, line, L.rfs)
    save(L.key, line)
  end
  if act then release_waiting() end
  return res .. ':' .. why
end

-- release_waiting pays, oldest first, every line that waited for an activation at or
-- before its time.
release_waiting = function()
  if not rec.a then return end
  -- lines a ledger of an earlier version kept waiting in cand are decided afresh
  if rec.reg == '1' and redis.call('EXISTS', cand_k) == 1 then release_parked() end
  local a = num(rec.a)
  local f = redis.call('HGETALL', lines_k)
  local list = {}
  for i = 1, #f, 2 do
    local l = cjson.decode(f[i + 1])
    if l.s == 'W' and num(l.t) >= a then
      l.key = f[i]
      list[#list + 1] = l
    end
  end
  table.sort(list, function(x, y)
    local tx, ty = num(x.t), num(y.t)
    if tx ~= ty then return tx < ty end
    return x.key < y.key
  end)
  for _, l in ipairs(list) do
    local key = l.key
    l.key = nil
    accrue(key, l)
    save(key, l)
  end
end

-- release_parked decides, oldest first, the lines that waited for the registration.
release_parked = function()
  local f = redis.call('HGETALL', cand_k)
  if #f == 0 then return end
  redis.call('DEL', cand_k)
  local list = {}
  for i = 1, #f, 2 do
    local c = cjson.decode(f[i + 1])
    c.key = f[i]
    if c.rf and c.rf ~= '' then c.rfs = merge_refunds(c.rfs, {{id = 'rf', t = c.rf, amt = ''}}) end
    list[#list + 1] = c
  end
  table.sort(list, function(x, y)
    local tx, ty = num(x.t), num(y.t)
    if tx ~= ty then return tx < ty end
    return x.key < y.key
  end)
  for _, c in ipairs(list) do settle(c) end
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
  release_parked()
  if rec.hw then transitions(num(rec.hw)) end
  return finish('attributed')
end

if op == 'line' then
  local x = redis.call('HGET', lines_k, arg.key)
  if x then
    local l = cjson.decode(x)
    if l.s ~= 'X' then return finish('dup') end
    if l.rt and l.rt ~= '' then arg.rfs = merge_refunds(arg.rfs, {{id = 'rf', t = l.rt, amt = ''}}) end
    arg.rfs = merge_refunds(arg.rfs, l.rfs)
    redis.call('HDEL', lines_k, arg.key)
  end
  if redis.call('HEXISTS', cand_k, arg.key) == 1 then return finish('dup') end
  local outcome = settle(arg)
  if rec.hw then transitions(num(rec.hw)) end
  return finish(outcome)
end

if op == 'rev' then
  if rec.reg == '1' and rec.p == '' then return finish('none:not_referred') end -- no line, ever
  local raw = redis.call('HGET', lines_k, arg.key)
  if raw then
    local l = cjson.decode(raw)
    if l.s == 'X' then
      l.rfs = merge_refunds(l.rfs, arg.rfs)
      save(arg.key, l)
      return finish('marked')
    end
    apply_refunds(arg.key, l, arg.rfs)
    save(arg.key, l)
    return finish('refunded')
  end
  local c = redis.call('HGET', cand_k, arg.key)
  if c then
    local cc = cjson.decode(c)
    cc.rfs = merge_refunds(cc.rfs, arg.rfs)
    redis.call('HSET', cand_k, arg.key, cjson.encode(cc))
    return finish('marked')
  end
  -- The refund is known before the line: it applies when the line is decided.
  save(arg.key, {s = 'X', rfs = arg.rfs})
  return finish('marked')
end

if op == 'fact' then
  local t = num(arg.t)
  if rec.reg == '1' and rec.p == '' then return finish('drop:not_referred') end
  if not rec.m or t < num(rec.m) then
    rec.m = arg.t
    redis.call('HSET', rec_k, 'm', arg.t, 'mk', arg.kwork)
  end
  if rec.reg ~= '1' then
    see(t)
    redis.call('EXPIRE', rec_k, ctx.pttl) -- a stub until the registration arrives
    return finish('park:unregistered')
  end
  transitions(t)
  local act = activate(t, 'kwork')
  if act then
    release_waiting()
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
