-- merge.lua: merge one user's changed read states into its hash, by version.
-- (Readable copy of the script embedded in merge_lua.c; keep them identical.)
--
-- KEYS[1]  readstates:{<user_id>}
-- ARGV[1]  the user's version: _v is raised to it, never lowered
-- ARGV[2k], ARGV[2k+1]  a channel id and either
--          "<version>:<last_message_id>:<mention_count>:<flags>"  (set), or
--          "-<version>"                                           (delete)
-- A set replaces the field only if the stored field's version is lower; a
-- delete removes the field only if the stored field's version is lower. So a
-- retried or reordered flush can never move a cursor back.
-- Versions are compared as decimal strings (exact beyond 2^53).
-- Returns the number of fields changed.
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local key = KEYS[1]
local v = ARGV[1]
local cur = redis.call('HGET', key, '_v')
if not cur or newer(v, cur) then
  redis.call('HSET', key, '_v', v)
end
local changed = 0
for i = 2, #ARGV - 1, 2 do
  local field, val = ARGV[i], ARGV[i + 1]
  local del = string.byte(val, 1) == 45
  local ver
  if del then ver = string.sub(val, 2) else ver = string.match(val, '^(%d+):') end
  if ver then
    local old = redis.call('HGET', key, field)
    local oldver = old and string.match(old, '^(%d+):')
    if not oldver or newer(ver, oldver) then
      if del then
        if old then redis.call('HDEL', key, field); changed = changed + 1 end
      else
        redis.call('HSET', key, field, val); changed = changed + 1
      end
    end
  end
end
return changed
