-- haproxy-rooms.lua: keeps HAProxy's map of room -> node id (the file named
-- by SP_ROOMS_MAP, used by "use-server" in haproxy.cfg) equal to the room
-- leases that the nodes hold in Redis.
--
-- One task (core.register_task) in HAProxy's shared Lua state talks RESP
-- to Redis over core.tcp() (a few lines of RESP are all it needs, so no
-- client library). Every SP_ROOMS_POLL_MS (250) it runs one read-only
-- script that answers with just the leases' version number when nothing
-- changed, or with every (room, owner) pair when it did (sp:leases:ver is
-- raised by every claim, release and re-claim; see src/cluster/cluster.h).
-- Every 5 s it reloads everything anyway, which drops the leases that
-- simply expired (a dead node's). While Redis is away the map is kept as
-- it was: the nodes keep their rooms meanwhile. Changes made here live in
-- memory only: after a restart of HAProxy the first poll fills the map
-- again.

local host = os.getenv("SP_REDIS_HOST") or "127.0.0.1"
local port = tonumber(os.getenv("SP_REDIS_PORT") or "6379")
local db = os.getenv("SP_REDIS_DB") or "0"
local map = os.getenv("SP_ROOMS_MAP")
local poll_ms = tonumber(os.getenv("SP_ROOMS_POLL_MS") or "250")
local full_ms = 5000

-- KEYS: sp:leases:ver, sp:leases. ARGV: the version we have ("" for a
-- full read), the lease key prefix.
local OWNERS = [[
local ver = redis.call('GET', KEYS[1]) or '0'
if ver == ARGV[1] then return {ver} end
local out = {ver}
for _, r in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  local v = redis.call('GET', ARGV[2] .. r)
  if v then
    out[#out + 1] = r
    out[#out + 1] = string.match(v, '^(%S+)')
  end
end
return out
]]

local function encode(args)
  local parts = { "*" .. #args .. "\r\n" }
  for _, a in ipairs(args) do
    a = tostring(a)
    parts[#parts + 1] = "$" .. #a .. "\r\n" .. a .. "\r\n"
  end
  return table.concat(parts)
end

-- Reads one reply; returns it, or nil and an error.
local function reply(sock)
  local line, err = sock:receive("*l")
  if not line then return nil, err or "closed" end
  local kind, rest = line:sub(1, 1), line:sub(2)
  if kind == "+" then return rest end
  if kind == "-" then return nil, rest end
  if kind == ":" then return tonumber(rest) end
  if kind == "$" then
    local n = tonumber(rest)
    if n < 0 then return false end
    local data, e = sock:receive(n + 2)
    if not data then return nil, e or "closed" end
    return data:sub(1, n)
  end
  if kind == "*" then
    local n = tonumber(rest)
    local out = {}
    for i = 1, n do
      local v, e = reply(sock)
      if v == nil then return nil, e end
      out[i] = v
    end
    return out
  end
  return nil, "bad reply: " .. line
end

local function call(sock, ...)
  local ok, err = sock:send(encode({ ... }))
  if not ok then return nil, err end
  return reply(sock)
end

local known = {}   -- room -> node, as the map has it
local version = "" -- of sp:leases:ver, "" when a full read is due

local function apply(list)
  local seen = {}
  for i = 2, #list, 2 do
    local room, node = list[i], list[i + 1]
    seen[room] = node
    if known[room] ~= node then core.set_map(map, room, node) end
  end
  for room in pairs(known) do
    if not seen[room] then core.del_map(map, room) end
  end
  known = seen
end

local sock, last_full, down_said = nil, 0, false

local function now_ms()
  local t = core.now()
  return t.sec * 1000 + t.usec // 1000
end

-- One poll; returns true, or nil and why it failed.
local function step()
  if not sock then
    sock = core.tcp()
    sock:settimeout(1)
    local ok, err = sock:connect(host, port)
    if not ok then return nil, err or "connect failed" end
    if db ~= "0" then
      ok, err = call(sock, "SELECT", db)
      if not ok then return nil, err end
    end
    version = ""
  end
  local now = now_ms()
  if now - last_full >= full_ms then version = "" end
  local res, err = call(sock, "EVAL", OWNERS, 2, "sp:leases:ver", "sp:leases", version,
                        "sp:lease:")
  if type(res) ~= "table" then return nil, err or "unexpected reply" end
  if #res > 1 or version == "" then
    apply(res)
    if version == "" then last_full = now end
  end
  version = res[1]
  return true
end

local function run()
  while true do
    local fine, ok, err = pcall(step)
    if fine and ok then
      if down_said then core.Info("rooms map: Redis is back") end
      down_said = false
    else
      if not down_said then
        core.Warning("rooms map: Redis " .. host .. ":" .. port .. " unreachable (" ..
                     tostring(fine and err or ok) .. "); keeping the last map")
        down_said = true
      end
      if sock then pcall(sock.close, sock) end
      sock = nil
    end
    core.msleep(poll_ms)
  end
end

if map then
  core.register_task(run)
else
  core.Warning("haproxy-rooms.lua: SP_ROOMS_MAP is not set; routing by hash only")
end
