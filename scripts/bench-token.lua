-- wrk script for scripts/bench: POST /oauth2/token with client_secret_basic and a form body.
-- Arguments after "--": CLIENT_ID SECRET_FILE. The secret is read from the file (never a command line).
-- wrk itself counts non-2xx replies ("Non-2xx or 3xx responses"); scripts/bench fails the run on any.
local function b64(data)
  local chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
  return ((data:gsub('.', function(x)
    local r, b = '', x:byte()
    for i = 8, 1, -1 do r = r .. (b % 2 ^ i - b % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end) .. '0000'):gsub('%d%d%d?%d?%d?%d?', function(x)
    if #x < 6 then return '' end
    local c = 0
    for i = 1, 6 do c = c + (x:sub(i, i) == '1' and 2 ^ (6 - i) or 0) end
    return chars:sub(c + 1, c + 1)
  end) .. ({ '', '==', '=' })[#data % 3 + 1])
end

function init(args)
  local f = assert(io.open(args[2], 'r'))
  local secret = f:read('*l')
  f:close()
  wrk.method = 'POST'
  wrk.body = 'grant_type=client_credentials'
  wrk.headers['Content-Type'] = 'application/x-www-form-urlencoded'
  wrk.headers['Authorization'] = 'Basic ' .. b64(args[1] .. ':' .. secret)
end
