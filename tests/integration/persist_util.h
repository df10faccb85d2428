/*
 * persist_util.h: small helpers shared by the persistence tests (on top of
 * tests/support): a readstated with Redis flags, a client connection,
 * metrics over HTTP, and reading a user's hash straight from Redis.
 *
 * Every persistence test runs twice: against one redis-server
 * (persist_<name>) and against a Redis Cluster (persist_<name>_cluster,
 * RS_TEST_REDIS_CLUSTER=1: rs_test_redis starts three primaries). Tests
 * read and write Redis through rs_test_redis_command, which routes by key
 * in both modes.
 */
#ifndef RS_PERSIST_UTIL_H
#define RS_PERSIST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_client.h"
#include "rs_testsupport.h"

/* Start readstated against r with extra flags (NULL-terminated), HTTP on:
 * --redis <addr>, or --redis-cluster <seeds> when r is a cluster.
 * Returns 0 or -1. */
int pu_server_start(rs_test_server *srv, const rs_test_redis *r, const char *const *extra);

/* Connect a client to srv (5 s timeout). Returns NULL on failure. */
rs_client *pu_connect(const rs_test_server *srv);

/* The value of an unlabelled metric from GET /metrics, or -1. */
double pu_metric(const rs_test_server *srv, const char *name);

/* A user's states read from Redis directly (HGETALL readstates:{id}, routed
 * to the node that holds it), sorted by channel, with _v in *version.
 * Returns the count (-1 on error); *out is malloc'd (caller frees). Fails
 * if any field breaks the format. */
long pu_redis_user(const rs_test_redis *r, uint64_t user_id, rs_client_state **out,
                   uint64_t *version);

/* True when the server answered status `want` for a request (not a
 * transport error). */
bool pu_server_said(rs_client *c, rs_status got, rs_status want);

#endif /* RS_PERSIST_UTIL_H */
