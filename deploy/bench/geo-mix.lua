-- wrk script for deploy/bench/geo-reload.sh: the click mix of mix.lua, with each
-- visitor's address moved from 10.0.0.0/8 to a public network, half consumer ISPs and
-- half clouds (IPv4 and IPv6), forwarded through an inner proxy as the front proxy
-- would: "X-Forwarded-For: <visitor>, 10.0.0.5" from a trusted peer (loopback). The
-- visitor stays the same address for the same mix.lua address, so duplicates stay
-- duplicates. Counts 5xx answers per thread and prints them at the end.
dofile("deploy/bench/mix.lua")

-- Networks whose country and ASN internal/ipintel's address table checks.
local nets = {
  function(a, b) return string.format("178.64.%d.%d", a, b) end,   -- Rostelecom, RU, AS12389
  function(a, b) return string.format("85.140.%d.%d", a, b) end,   -- MTS mobile, RU, AS8359
  function(a, b) return string.format("73.0.%d.%d", a, b) end,     -- Comcast, US, AS7922
  function(a, b) return string.format("2003::%x:%x", a, b) end,    -- Deutsche Telekom, DE, AS3320
  function(a, b) return string.format("3.120.%d.%d", a, b) end,    -- AWS Frankfurt, AS16509
  function(a, b) return string.format("34.64.%d.%d", a, b) end,    -- Google Cloud, AS396982
  function(a, b) return string.format("2a01:4f8::%x:%x", a, b) end, -- Hetzner, DE, AS24940
  function(a, b) return string.format("13.48.%d.%d", a, b) end,    -- AWS Stockholm, AS16509
}

local function public(xff)
  local o1, o2, o3 = xff:match("^10%.(%d+)%.(%d+)%.(%d+)$")
  if not o1 then return xff end
  local k = tonumber(o1) * 65536 + tonumber(o2) * 256 + tonumber(o3)
  return nets[(k % #nets) + 1](tonumber(o2), (tonumber(o3) % 254) + 1) .. ", 10.0.0.5"
end

local format = wrk.format
wrk.format = function(method, path, headers, body)
  if headers and headers["X-Forwarded-For"] then
    headers["X-Forwarded-For"] = public(headers["X-Forwarded-For"])
  end
  return format(method, path, headers, body)
end

local threads = {}
local mix_setup = setup
function setup(thread)
  table.insert(threads, thread)
  mix_setup(thread)
end

s5xx = 0 -- a global: done() reads it from each thread with thread:get
function response(status, headers, body)
  if status >= 500 then
    s5xx = s5xx + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do
    total = total + (t:get("s5xx") or 0)
  end
  io.write(string.format("5xx responses: %d\n", total))
end
