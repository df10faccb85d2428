/*
 * merge_lua.h: the Lua script that merges a user's changed states into its
 * Redis hash by version (DESIGN.md "Storage in Redis").
 *
 *   EVALSHA <sha> 1 readstates:{<user_id>} <user_version>
 *           <channel_id> <version>:<last_message_id>:<mention_count>:<flags>
 *           <channel_id> -<version>                      (a delete)
 *           ...
 *
 * Channel ids are distinct within one call. A field is replaced (or removed
 * by a delete) only when the stored field's version is lower; _v only rises.
 * Fields are read with one HMGET and written with one HSET/HDEL per chunk of
 * 500, so a call costs a few commands, not two per state. The script returns the number of
 * fields it changed. storage/merge.lua is the commented copy; the string here is the same
 * script without comments.
 */
#ifndef RS_MERGE_LUA_H
#define RS_MERGE_LUA_H

extern const char merge_lua_script[];

#endif /* RS_MERGE_LUA_H */
