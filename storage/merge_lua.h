/*
 * merge_lua.h: the Lua script that merges users' changed states into their
 * Redis hashes by version (DESIGN.md "Storage in Redis").
 *
 *   EVALSHA <sha> <k> readstates:{<user_1>} ... readstates:{<user_k>}
 *           <version_1> <n_1> <channel_id> <value> ... (n_1 pairs)
 *           ...
 *           <version_k> <n_k> <channel_id> <value> ... (n_k pairs)
 *
 *   value:  <version>:<last_message_id>:<mention_count>:<flags>   (a set)
 *           -<version>                                            (a delete)
 *
 * Keys are distinct within a call, channel ids within a user. A field is
 * replaced (or removed by a delete) only when the stored field's version is
 * lower; _v only rises and stays at least every field's version. A user
 * whose states are all newer than its _v (the usual flush) costs one HGET
 * and one HSET (plus an HDEL for deletes); otherwise _v and the fields are
 * read with one HMGET and written with one HSET/HDEL per chunk of 500: a
 * few commands per user, not two per state, and many users per call. The
 * reply is an array with one entry per key: the number of fields changed,
 * or that user's error (the other users are still merged). A stored _v or
 * field the script reads and is not canonical (stored_value.h) fails its
 * user with "STORED_INVALID <key> field <name>: <what>" before anything of
 * that hash is written. With one key per
 * call (--flush-users-per-call 1) every call touches one hash slot, as Redis
 * Cluster requires. storage/merge.lua is the commented copy; the string here
 * is the same script without comments.
 */
#ifndef RS_MERGE_LUA_H
#define RS_MERGE_LUA_H

extern const char merge_lua_script[];

#endif /* RS_MERGE_LUA_H */
