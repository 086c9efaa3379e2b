-- wrk script: a realistic mix of referral clicks for the load harness.
-- 60% honest browser clicks from distinct visitors (own X-Forwarded-For address and
-- visitor id), 15% duplicates (a returning visitor's second click),
-- 15% bots (crawler and link-preview User-Agents), 10% contextual-ad clicks (gclid),
-- spread over 1,000 partners (bench-0 .. bench-999, registered by run.sh).
-- BENCH_MIX=valid makes every click the first kind: valid and distinct, the most
-- Redis work a click makes.
local chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"
local bots = {
  "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
  "TelegramBot (like TwitterBot)",
  "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
  "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
}
local n = 0
local thread_id = 0
-- A per-run seed keeps visitors distinct from earlier runs: the duplicate window (1 h)
-- would otherwise make every honest click of a second run a duplicate of the first.
local seed = tonumber(os.getenv("BENCH_SEED") or "") or os.time()
-- BENCH_PACE_MS > 0 makes each connection wait that many milliseconds between requests:
-- with -c connections the rate is about c / (pace + latency), which is how the harness
-- holds a rate below the maximum to read the latency there (wrk has no rate option).
local pace = tonumber(os.getenv("BENCH_PACE_MS") or "") or 0
local all_valid = os.getenv("BENCH_MIX") == "valid"
if pace > 0 then
  function delay() return pace end
end

function setup(thread)
  thread:set("tid", thread_id)
  thread_id = thread_id + 1
end

function init(args)
  n = tid * 100000000
  math.randomseed(tid + 1)
end

local function browser(path, ip, cookie)
  local h = {
    ["User-Agent"] = chrome,
    ["Accept"] = "text/html,application/xhtml+xml",
    ["Accept-Language"] = "ru-RU,ru;q=0.9,en;q=0.8",
    ["Referer"] = "https://blog.example/post",
    ["Sec-Fetch-Dest"] = "document",
    ["Sec-Fetch-Mode"] = "navigate",
    ["Sec-Fetch-Site"] = "cross-site",
    ["Sec-Fetch-User"] = "?1",
    ["X-Forwarded-For"] = ip,
  }
  if cookie then h["Cookie"] = cookie end
  return wrk.format("GET", path, h)
end

function request()
  n = n + 1
  local partner = "bench-" .. (n % 1000)
  local ip = string.format("10.%d.%d.%d", (n / 65536) % 256, (n / 256) % 256, n % 256)
  local r = math.random(100)
  if all_valid then r = 1 end
  if r <= 60 then
    -- a new visitor: its own address and a fresh visitor id
    return browser("/categories/design?ref=" .. partner .. "&src=link", ip,
      "rfe_vid=" .. string.format("v%09d%012d", seed % 1000000000, n % 1000000000000))
  elseif r <= 75 then
    -- a returning visitor clicking the same partner again
    local vid = string.format("d%09d%012d", seed % 1000000000, n % 5000)
    return browser("/k/1?ref=bench-1&src=link", "10.200.0." .. (n % 250), "rfe_vid=" .. vid)
  elseif r <= 90 then
    return wrk.format("GET", "/?ref=" .. partner, {["User-Agent"] = bots[(n % #bots) + 1], ["X-Forwarded-For"] = ip})
  else
    return browser("/categories/seo?ref=" .. partner .. "&gclid=Cj0KCQ" .. n, ip)
  end
end
