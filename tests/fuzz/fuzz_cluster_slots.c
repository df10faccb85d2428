/*
 * fuzz_cluster_slots.c: libFuzzer harness for what a Redis Cluster node
 * tells the cluster store about where slots live (cluster_slots.h).
 *
 * The input is fed to hiredis's reply reader as a socket would be; every
 * reply it yields (at most 16) goes through cluster_slots_parse, and the
 * text of every error or string reply through cluster_redirect_parse.
 * Checked beyond crashes and sanitizer reports: an accepted table has
 * ranges inside [0, 16383] with start <= end, a non-empty NUL-terminated
 * host and a port in [1, 65535]; an accepted redirection has a slot below
 * 16384, a host and a port in range, and is MOVED or ASK as the text
 * begins.
 */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slots.h"
#include "fuzz_reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CS_MAX_REPLIES 16
#define CS_MAX_RANGES  64

static void cs_fail(const char *what)
{
    fprintf(stderr, "fuzz_cluster_slots: %s\n", what);
    abort();
}

static void cs_check_host(const char *h)
{
    size_t n = strnlen(h, CLUSTER_HOST_MAX);
    if (n == 0 || n >= CLUSTER_HOST_MAX)
        cs_fail("host empty or not terminated");
}

static void cs_redirect(const redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR && r->type != REDIS_REPLY_STRING &&
        r->type != REDIS_REPLY_STATUS)
        return;
    cluster_redirect rd;
    cluster_redirect_kind k = cluster_redirect_parse(r->str, r->len, "127.0.0.1", &rd);
    if (k == CLUSTER_NO_REDIRECT)
        return;
    if (rd.slot >= 16384 || rd.port < 1 || rd.port > 65535)
        cs_fail("redirection out of range");
    if ((k == CLUSTER_MOVED) != (r->len >= 6 && memcmp(r->str, "MOVED ", 6) == 0))
        cs_fail("MOVED/ASK mixed up");
    cs_check_host(rd.host);
}

static void cs_reply(const redisReply *r)
{
    static cluster_range out[CS_MAX_RANGES];
    const char *why = NULL;
    long n = cluster_slots_parse(r, "127.0.0.1", out, CS_MAX_RANGES, &why);
    if (n < 0 && why == NULL)
        cs_fail("refused without a reason");
    for (long i = 0; i < n; i++) {
        if (out[i].start > out[i].end || out[i].end >= 16384)
            cs_fail("range out of order or past the last slot");
        if (out[i].port < 1 || out[i].port > 65535)
            cs_fail("port out of range");
        cs_check_host(out[i].host);
    }
    cs_redirect(r);
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements && i < 8; i++)
            cs_redirect(r->element[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    redisReader *rd = fuzz_reader_new(); /* arrays capped */
    if (rd == NULL)
        return 0;
    if (redisReaderFeed(rd, (const char *)data, size) == REDIS_OK) {
        for (int i = 0; i < CS_MAX_REPLIES; i++) {
            void *reply = NULL;
            if (redisReaderGetReply(rd, &reply) != REDIS_OK || reply == NULL)
                break;
            cs_reply(reply);
            freeReplyObject(reply);
        }
    }
    redisReaderFree(rd);
    return 0;
}
