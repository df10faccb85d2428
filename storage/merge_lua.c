/*
 * merge_lua.c: the server-side merge script (see merge.lua, its readable
 * copy with comments, and merge_lua.h for the argument layout).
 */
#include "merge_lua.h"

const char merge_lua_script[] =
    "local function newer(a, b)\n"
    "  if #a ~= #b then return #a > #b end\n"
    "  return a > b\n"
    "end\n"
    "local key = KEYS[1]\n"
    "local v = ARGV[1]\n"
    "local cur = redis.call('HGET', key, '_v')\n"
    "if not cur or newer(v, cur) then\n"
    "  redis.call('HSET', key, '_v', v)\n"
    "end\n"
    "local changed = 0\n"
    "for i = 2, #ARGV - 1, 2 do\n"
    "  local field, val = ARGV[i], ARGV[i + 1]\n"
    "  local del = string.byte(val, 1) == 45\n"
    "  local ver\n"
    "  if del then ver = string.sub(val, 2) else ver = string.match(val, '^(%d+):') end\n"
    "  if ver then\n"
    "    local old = redis.call('HGET', key, field)\n"
    "    local oldver = old and string.match(old, '^(%d+):')\n"
    "    if not oldver or newer(ver, oldver) then\n"
    "      if del then\n"
    "        if old then redis.call('HDEL', key, field); changed = changed + 1 end\n"
    "      else\n"
    "        redis.call('HSET', key, field, val); changed = changed + 1\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return changed\n";
