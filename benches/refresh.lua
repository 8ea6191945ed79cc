-- wrk script of benches/users_me.sh's refresh rows: POST /auth/jwt/refresh in a loop. Each thread
-- has one connection and a family of its own (line <thread number> of $REFRESH_TOKENS_FILE), and
-- sends each answer's new refresh token with its next request: a refresh spends its token, so
-- two requests in flight with one token would be a reuse and end the family.
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  local n = 0
  for line in io.lines(os.getenv("REFRESH_TOKENS_FILE")) do
    n = n + 1
    if n == id then token = line end
  end
  assert(token, "no refresh token for thread " .. id)
end

function request()
  return wrk.format("POST", "/auth/jwt/refresh",
    { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, headers, body)
  local next_token = body:match('"refresh_token":"([^"]+)"')
  if next_token then token = next_token end
end
