-- merge.lua: merge several users' changed read states into their hashes, by
-- version. (Readable copy of the script embedded in merge_lua.c; keep them
-- identical: a test compares them.)
--
-- KEYS[k]  readstates:{<user_id>} of the k-th user (distinct within a call)
-- ARGV     for each user, in KEYS order:
--            <version> <n> then n pairs: a channel id (distinct within the
--            user) and either
--            "<version>:<last_message_id>:<mention_count>:<flags>"  (set), or
--            "-<version>"                                           (delete)
-- A user's _v is raised to <version>, never lowered. A set replaces the
-- field only if the stored field's version is lower; a delete removes the
-- field only if the stored field's version is lower. So a retried or
-- reordered flush can never move a cursor back.
-- Versions are compared as decimal strings (exact beyond 2^53). The script
-- keeps _v at least as high as every field's version, which gives a fast
-- path: when the hash has a _v and every version sent is newer than it (the
-- usual flush: states changed since the last one), each set and delete
-- applies, so the user costs one HGET and one HSET (and an HDEL for
-- deletes). Otherwise _v and the fields are read with one HMGET and written
-- with one HSET and one HDEL per chunk of 500 (unpack has a stack limit).
-- Every stored value the script compares is checked first (stored_value.h
-- has the rules; the fast path reads and compares only _v): _v must be a canonical decimal (no sign, no leading zero,
-- at most 2^64-1) and a field read must be
-- <version>:<last_message_id>:<mention_count>:<flags> of canonical
-- decimals in range. A user whose hash fails the check gets the error
-- "STORED_INVALID <key> field <name>: <what>" and nothing of that hash is
-- written (all chunks are read and checked before the first write), so a
-- hand-written "0005" is never compared as a string and never written over.
-- Returns an array with one entry per key: the number of fields changed,
-- or the error of that user's failed command (redis.pcall: one user's
-- wrong-type key does not stop the others).
local U64 = '18446744073709551615'
local U32 = '4294967295'
local function newer(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end
local function failed(r)
  return type(r) == 'table' and r.err ~= nil
end
-- A canonical decimal no larger than max (a decimal string).
local function canon(s, max)
  if not string.find(s, '^%d+$') then return false end
  if #s > 1 and string.byte(s, 1) == 48 then return false end
  return #s < #max or (#s == #max and s <= max)
end
-- A stored state's version, or nil when the value breaks the format.
local function stored_version(val)
  local v, m, c, f = string.match(val, '^(%d+):(%d+):(%d+):(%d+)$')
  if v and canon(v, U64) and canon(m, U64) and canon(c, U32) and canon(f, '1') then
    return v
  end
  return nil
end
local function invalid(key, field, what)
  return {err = 'STORED_INVALID ' .. key .. ' field ' .. field .. ': ' .. what}
end
local BAD_V = 'not a canonical decimal in [0, 2^64-1]'
local BAD_STATE = 'not <version>:<last_message_id>:<mention_count>:<flags> of canonical decimals'
-- A value sent: its version (nil if malformed) and whether it is a delete.
local function version_of(val)
  if string.byte(val, 1) == 45 then return string.sub(val, 2), true end
  return string.match(val, '^(%d+):'), false
end
-- The fast path; nil when it does not apply (nothing written then).
local function fast(key, ver, i, n)
  local cur = redis.pcall('HGET', key, '_v')
  if failed(cur) then return cur end
  if not cur then return nil end
  if not canon(cur, U64) then return invalid(key, '_v', BAD_V) end
  local sets, dels = {}, {}
  if newer(ver, cur) then
    sets[1] = '_v'
    sets[2] = ver
  end
  local nv = #sets
  for k = i, i + 2 * n - 1, 2 do
    local val = ARGV[k + 1]
    local v, del = version_of(val)
    if not v or not newer(v, cur) then return nil end
    if del then
      dels[#dels + 1] = ARGV[k]
    else
      sets[#sets + 1] = ARGV[k]
      sets[#sets + 1] = val
    end
  end
  if #sets > 0 then
    local r = redis.pcall('HSET', key, unpack(sets))
    if failed(r) then return r end
  end
  local gone = 0
  if #dels > 0 then
    gone = redis.pcall('HDEL', key, unpack(dels))
    if failed(gone) then return gone end
  end
  return (#sets - nv) / 2 + gone
end
-- Read _v and the fields sent, in chunks of 500, and check every value
-- read; returns the chunks, or nil and the error.
local function read_checked(key, i, n)
  local chunks = {}
  local stop = i + 2 * n
  local k = i
  repeat
    local last = math.min(k + 998, stop - 1)
    local fields = {}
    if k == i then fields[1] = '_v' end
    local base = #fields
    for a = k, last, 2 do fields[#fields + 1] = ARGV[a] end
    local old = redis.pcall('HMGET', key, unpack(fields))
    if failed(old) then return nil, old end
    if base == 1 and old[1] and not canon(old[1], U64) then
      return nil, invalid(key, '_v', BAD_V)
    end
    local vers = {}
    for j = base + 1, #fields do
      if old[j] then
        vers[j] = stored_version(old[j])
        if not vers[j] then return nil, invalid(key, fields[j], BAD_STATE) end
      end
    end
    chunks[#chunks + 1] = {at = k, fields = fields, base = base, old = old, vers = vers}
    k = last + 2
  until k >= stop
  return chunks
end
local function merge(key, ver, i, n)
  if n <= 500 then
    local r = fast(key, ver, i, n)
    if r then return r end
  end
  local chunks, err = read_checked(key, i, n)
  if not chunks then return err end
  local changed = 0
  for _, c in ipairs(chunks) do
    local sets, dels = {}, {}
    if c.base == 1 and (not c.old[1] or newer(ver, c.old[1])) then
      sets[1] = '_v'
      sets[2] = ver
    end
    local nv = #sets
    for j = c.base + 1, #c.fields do
      local val = ARGV[c.at + 2 * (j - c.base) - 1]
      local v, del = version_of(val)
      local oldver = c.vers[j]
      if v and (not oldver or newer(v, oldver)) then
        if del then
          if c.old[j] then dels[#dels + 1] = c.fields[j] end
        else
          sets[#sets + 1] = c.fields[j]
          sets[#sets + 1] = val
        end
      end
    end
    if #sets > 0 then
      local r = redis.pcall('HSET', key, unpack(sets))
      if failed(r) then return r end
    end
    if #dels > 0 then
      local r = redis.pcall('HDEL', key, unpack(dels))
      if failed(r) then return r end
    end
    changed = changed + (#sets - nv) / 2 + #dels
  end
  return changed
end
-- The fleet's owner fence: a user's version may come as <version>@<gen>,
-- the ring generation under which this node claimed the user. A hash whose
-- _o (the latest claim) is above gen belongs to a newer owner: the user is
-- refused with "FENCED <key> _o <o>" and nothing of it is written.
-- Otherwise _o is raised to gen after the merge.
local function fence(key, gen)
  local o = redis.pcall('HGET', key, '_o')
  if failed(o) then return o end
  if o and not canon(o, U64) then return invalid(key, '_o', BAD_V) end
  if o and newer(o, gen) then return {err = 'FENCED ' .. key .. ' _o ' .. o} end
  return nil, not o or newer(gen, o)
end
local out = {}
local p = 1
for k = 1, #KEYS do
  local n = tonumber(ARGV[p + 1])
  if not ARGV[p] or not n then return redis.error_reply('merge: bad arguments') end
  local ver, gen = string.match(ARGV[p], '^(%d+)@(%d+)$')
  if not ver then ver = ARGV[p] end
  local err, raise = nil, false
  if gen then err, raise = fence(KEYS[k], gen) end
  if err then
    out[k] = err
  else
    out[k] = merge(KEYS[k], ver, p + 2, n)
    if raise and not failed(out[k]) then
      local r = redis.pcall('HSET', KEYS[k], '_o', gen)
      if failed(r) then out[k] = r end
    end
  end
  p = p + 2 + 2 * n
end
return out
