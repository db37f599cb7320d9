/* scripts: the Lua scripts that change the cluster's keys in Redis, each
 * one atomic (a script runs alone). Key layout: src/cluster/cluster.h.
 * They are sent with EVAL every time (a few hundred bytes; Redis caches
 * the compiled script), so a restarted or flushed Redis needs no SCRIPT
 * LOAD. Times come from Redis's own clock (TIME), which Redis 7 allows
 * before writes. deploy/haproxy-rooms.lua has its own read-only script
 * over the same keys. */
#ifndef SP_CLUSTER_SCRIPTS_H
#define SP_CLUSTER_SCRIPTS_H

/* The lease key of a room is SP_KEY_LEASE ROOM. */
#define SP_KEY_LEASE "sp:lease:"
#define SP_KEY_EPOCH "sp:epoch"
#define SP_KEY_LEASES "sp:leases"
#define SP_KEY_LEASES_VER "sp:leases:ver"
#define SP_KEY_ROOMINFO "sp:roominfo"
#define SP_KEY_TOP "sp:top"

/* Claim. KEYS: lease, epoch, leases, leases:ver, roominfo.
 * ARGV: room, node, lease ms. Returns {1, epoch} when granted, {0, "NODE
 * EPOCH"} when another node holds it. A lease held under this node's own
 * id is a previous run of this node (ids are unique, and a running node
 * never claims what it holds), so it is taken over with a new epoch. */
#define SP_LUA_CLAIM                                                           \
  "local v = redis.call('GET', KEYS[1])\n"                                     \
  "if v and string.match(v, '^(%S+)') ~= ARGV[2] then return {0, v} end\n"     \
  "local e = redis.call('INCR', KEYS[2])\n"                                    \
  "redis.call('SET', KEYS[1], ARGV[2] .. ' ' .. e, 'PX', ARGV[3])\n"           \
  "local t = redis.call('TIME')\n"                                             \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"    \
  "redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), ARGV[1])\n"            \
  "redis.call('HDEL', KEYS[5], ARGV[1])\n"                                     \
  "redis.call('INCR', KEYS[4])\n"                                              \
  "return {1, e}\n"

/* Renew (mode 0) or re-claim after a reconnect (mode 1) every held lease
 * at once. KEYS: leases, epoch, leases:ver, then one lease key per room.
 * ARGV: lease ms, mode, then per room: "NODE EPOCH", room, epoch.
 * Returns per room 1 (renewed), the other owner's "NODE EPOCH", or 0
 * (gone). Compare-and-renew: a lease that expired or was taken is never
 * extended, so a node that lost it is fenced. In mode 1 a lease that is
 * gone (a Redis restart that lost its last second of writes, or an
 * expiry during the outage that nobody else used) is set again, and the
 * epoch counter is raised to at least its epoch so epochs still grow. */
#define SP_LUA_RENEW                                                           \
  "local t = redis.call('TIME')\n"                                             \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"    \
  "local px = tonumber(ARGV[1])\n"                                             \
  "local out, changed = {}, false\n"                                           \
  "for i = 4, #KEYS do\n"                                                      \
  "  local a = 3 + (i - 4) * 3\n"                                              \
  "  local want, room, e = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])\n"      \
  "  local v = redis.call('GET', KEYS[i])\n"                                   \
  "  if v == want then\n"                                                      \
  "    redis.call('PEXPIRE', KEYS[i], px)\n"                                   \
  "    redis.call('ZADD', KEYS[1], now + px, room)\n"                          \
  "    out[#out + 1] = 1\n"                                                    \
  "  elseif v then out[#out + 1] = v\n"                                        \
  "  elseif ARGV[2] == '1' then\n"                                             \
  "    redis.call('SET', KEYS[i], want, 'PX', px)\n"                           \
  "    redis.call('ZADD', KEYS[1], now + px, room)\n"                          \
  "    if tonumber(redis.call('GET', KEYS[2]) or '0') < e then\n"              \
  "      redis.call('SET', KEYS[2], e) end\n"                                  \
  "    changed = true\n"                                                       \
  "    out[#out + 1] = 1\n"                                                    \
  "  else out[#out + 1] = 0 end\n"                                             \
  "end\n"                                                                      \
  "if changed then redis.call('INCR', KEYS[3]) end\n"                          \
  "return out\n"

/* Release (compare-and-delete). KEYS: leases, leases:ver, roominfo, then
 * one lease key per room. ARGV: per room "NODE EPOCH", room. Returns how
 * many were still ours and are now gone. */
#define SP_LUA_RELEASE                                                         \
  "local n = 0\n"                                                              \
  "for i = 4, #KEYS do\n"                                                      \
  "  local a = (i - 4) * 2 + 1\n"                                              \
  "  if redis.call('GET', KEYS[i]) == ARGV[a] then\n"                          \
  "    redis.call('DEL', KEYS[i])\n"                                           \
  "    redis.call('ZREM', KEYS[1], ARGV[a + 1])\n"                             \
  "    redis.call('HDEL', KEYS[3], ARGV[a + 1])\n"                             \
  "    n = n + 1\n"                                                            \
  "  end\n"                                                                    \
  "end\n"                                                                      \
  "if n > 0 then redis.call('INCR', KEYS[2]) end\n"                            \
  "return n\n"

/* Publish this node's rooms. KEYS: roominfo, then one lease key per room.
 * ARGV: node, then per room: room, epoch, connections, snakes. A row is
 * written only while the lease is still this node's with that epoch (the
 * fence again). Returns the rows written. */
#define SP_LUA_SET_ROOMS                                                       \
  "local n = 0\n"                                                              \
  "for i = 2, #KEYS do\n"                                                      \
  "  local a = 2 + (i - 2) * 4\n"                                              \
  "  local owner = ARGV[1] .. ' ' .. ARGV[a + 1]\n"                            \
  "  if redis.call('GET', KEYS[i]) == owner then\n"                            \
  "    redis.call('HSET', KEYS[1], ARGV[a],\n"                                 \
  "      owner .. ' ' .. ARGV[a + 2] .. ' ' .. ARGV[a + 3])\n"                 \
  "    n = n + 1\n"                                                            \
  "  end\n"                                                                    \
  "end\n"                                                                      \
  "return n\n"

/* Read every room of the cluster. KEYS: leases, roominfo. ARGV: the lease
 * key prefix. Drops index entries whose lease is gone, then returns
 * {room, "NODE EPOCH CONNECTIONS SNAKES", lease ms left, ...} for each
 * room whose row belongs to its current lease, so that a reader can drop
 * the row when the lease runs out, without waiting for its next read.
 * (The lease keys are built from the index,
 * as a reader of an index must; fine on one Redis, not on Redis Cluster.) */
#define SP_LUA_ROOMS                                                           \
  "local t = redis.call('TIME')\n"                                             \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"    \
  "for _, r in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do\n" \
  "  if redis.call('EXISTS', ARGV[1] .. r) == 0 then\n"                        \
  "    redis.call('ZREM', KEYS[1], r)\n"                                       \
  "    redis.call('HDEL', KEYS[2], r)\n"                                       \
  "  end\n"                                                                    \
  "end\n"                                                                      \
  "local out = {}\n"                                                           \
  "for _, r in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do\n"              \
  "  local v = redis.call('GET', ARGV[1] .. r)\n"                              \
  "  local info = v and redis.call('HGET', KEYS[2], r)\n"                      \
  "  local left = info and redis.call('PTTL', ARGV[1] .. r)\n"                 \
  "  if info and left > 0 and string.sub(info, 1, #v + 1) == v .. ' ' then\n"  \
  "    out[#out + 1] = r\n"                                                    \
  "    out[#out + 1] = info\n"                                                 \
  "    out[#out + 1] = left\n"                                                 \
  "  end\n"                                                                    \
  "end\n"                                                                      \
  "return out\n"

/* Submit a score. KEYS: top. ARGV: score, name, events channel, rows
 * kept, rows shown. ZADD GT only ever raises a name's score, so repeating
 * a submission (after a timeout, after Redis came back) is harmless. The
 * set keeps the best `kept`; "top" is published when the name is among
 * the rows shown. Returns 1 if the shown table changed. */
#define SP_LUA_SUBMIT                                                          \
  "if redis.call('ZADD', KEYS[1], 'GT', 'CH', ARGV[1], ARGV[2]) == 0 then\n"   \
  "  return 0 end\n"                                                           \
  "local rank = redis.call('ZREVRANK', KEYS[1], ARGV[2])\n"                    \
  "redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[4]) + 1))\n"      \
  "if rank and rank < tonumber(ARGV[5]) then\n"                                \
  "  redis.call('PUBLISH', ARGV[3], '{\"type\":\"top\"}')\n"                   \
  "  return 1\n"                                                               \
  "end\n"                                                                      \
  "return 0\n"

/* Remove a name from the top. KEYS: top. ARGV: name, events channel.
 * Returns 1 if it was there (and "top" is published), else 0. */
#define SP_LUA_REMOVE                                                          \
  "local n = redis.call('ZREM', KEYS[1], ARGV[1])\n"                           \
  "if n == 1 then redis.call('PUBLISH', ARGV[2], '{\"type\":\"top\"}') end\n"  \
  "return n\n"

#endif
