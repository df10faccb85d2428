-- merge.lua: merge one user's changed read states into its hash, by version.
-- (Readable copy of the script embedded in merge_lua.c; keep them identical:
-- a test compares them.)
--
-- KEYS[1]  readstates:{<user_id>}
-- ARGV[1]  the user's version: _v is raised to it, never lowered
-- ARGV[2k], ARGV[2k+1]  a channel id (distinct within one call) and either
--          "<version>:<last_message_id>:<mention_count>:<flags>"  (set), or
--          "-<version>"                                           (delete)
-- A set replaces the field only if the stored field's version is lower; a
-- delete removes the field only if the stored field's version is lower. So a
-- retried or reordered flush can never move a cursor back.
-- Versions are compared as decimal strings (exact beyond 2^53). Fields are
-- read with one HMGET and written with one HSET and one HDEL per chunk of
-- 500 (unpack has a stack limit).
-- Returns the number of fields changed.
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local key = KEYS[1]
local cur = redis.call('HGET', key, '_v')
if not cur or newer(ARGV[1], cur) then
  redis.call('HSET', key, '_v', ARGV[1])
end
local changed = 0
local i = 2
while i < #ARGV do
  local fields = {}
  local last = math.min(i + 998, #ARGV - 1)
  for k = i, last, 2 do fields[#fields + 1] = ARGV[k] end
  local old = redis.call('HMGET', key, unpack(fields))
  local sets, dels = {}, {}
  for j = 1, #fields do
    local val = ARGV[i + 2 * j - 1]
    local del = string.byte(val, 1) == 45
    local ver
    if del then ver = string.sub(val, 2) else ver = string.match(val, '^(%d+):') end
    local oldver = old[j] and string.match(old[j], '^(%d+):')
    if ver and (not oldver or newer(ver, oldver)) then
      if del then
        if old[j] then dels[#dels + 1] = fields[j] end
      else
        sets[#sets + 1] = fields[j]
        sets[#sets + 1] = val
      end
    end
  end
  if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
  if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  changed = changed + #sets / 2 + #dels
  i = last + 2
end
return changed
