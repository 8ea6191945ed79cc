-- The request mix of benches/soak.sh, for wrk: `wrk ... -s benches/soak.lua URL -- ACCOUNTS PASSWORD`.
-- ACCOUNTS is a file of "email token" lines: registered users, logged in once (their tokens are
-- never logged out). Per 1000 requests, about:
--   580 GET /users/me (valid token)            100 PATCH /users/me (the email's case toggled: a write)
--    70 GET /users/me (token, bad signature)     40 GET /users/me (garbage token)
--    40 GET /users/me (no token)                 50 GET /authenticated-route (valid token)
--    10 POST /auth/jwt/login (right password)    20 POST /auth/jwt/login (wrong password, 16 emails)
--    10 POST /auth/jwt/logout (a token this thread logged in for, once; else GET /users/me)
--    20 POST /auth/forgot-password (16 unknown emails)   2 POST /auth/register (a new email)
--    58 GET /nowhere (404)
-- Logins and registrations hash (argon2id, a few at once): the rest is what saturates.
-- Bad tokens, wrong passwords, throttled attempts (429) and 404s are the expected non-2xx. The
-- keys of the failing logins and mail requests are a fixed set, so the server's throttle tables
-- stay small: the run measures steady state, not the tables filling up to their bound.
-- At the end, one "status <code> <count>" line per status seen, over all threads.

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("thread_id", #threads)
end

function init(args)
  accounts = {}
  for line in io.lines(args[1]) do
    local email, token = line:match("^(%S+) (%S+)$")
    table.insert(accounts, { email = email, token = token })
  end
  password = args[2]
  counts = {}
  fresh = {}
  sent = 0
  math.randomseed(os.time() * 100 + thread_id)
end

local function urlencode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function bearer(token)
  return { Authorization = "Bearer " .. token }
end

local function json_headers(token)
  local h = { ["Content-Type"] = "application/json" }
  if token then h.Authorization = "Bearer " .. token end
  return h
end

local form = { ["Content-Type"] = "application/x-www-form-urlencoded" }

local function login(email, pw)
  return wrk.format("POST", "/auth/jwt/login", form, "username=" .. urlencode(email) .. "&password=" .. urlencode(pw))
end

function request()
  sent = sent + 1
  local r = math.random(1000)
  local a = accounts[math.random(#accounts)]
  if r <= 580 then
    return wrk.format("GET", "/users/me", bearer(a.token))
  elseif r <= 680 then
    local email = a.email
    if math.random(2) == 1 then email = email:sub(1, 1):upper() .. email:sub(2) end
    return wrk.format("PATCH", "/users/me", json_headers(a.token), '{"email":"' .. email .. '"}')
  elseif r <= 750 then
    return wrk.format("GET", "/users/me", bearer(a.token:sub(1, -5) .. "AAAA"))
  elseif r <= 790 then
    return wrk.format("GET", "/users/me", bearer("not-a-token"))
  elseif r <= 830 then
    return wrk.format("GET", "/users/me")
  elseif r <= 880 then
    return wrk.format("GET", "/authenticated-route", bearer(a.token))
  elseif r <= 890 then
    return login(a.email, password)
  elseif r <= 910 then
    return login("nobody-" .. math.random(16) .. "@example.com", "wrong-password")
  elseif r <= 920 then
    local token = table.remove(fresh)
    if token then return wrk.format("POST", "/auth/jwt/logout", bearer(token)) end
    return wrk.format("GET", "/users/me", bearer(a.token))
  elseif r <= 940 then
    return wrk.format("POST", "/auth/forgot-password", json_headers(),
      '{"email":"unknown-' .. math.random(16) .. '@example.com"}')
  elseif r <= 942 then
    local email = "soak-" .. thread_id .. "-" .. sent .. "-" .. math.random(1000000) .. "@example.com"
    return wrk.format("POST", "/auth/register", json_headers(), '{"email":"' .. email .. '","password":"' .. password .. '"}')
  else
    return wrk.format("GET", "/nowhere")
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status == 200 and #fresh < 256 then
    local token = body:match('"access_token":"([^"]+)"')
    if token then table.insert(fresh, token) end
  end
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do
      total[status] = (total[status] or 0) + n
    end
  end
  local statuses = {}
  for status in pairs(total) do table.insert(statuses, status) end
  table.sort(statuses)
  for _, status in ipairs(statuses) do
    io.write(string.format("status %d %d\n", status, total[status]))
  end
end
