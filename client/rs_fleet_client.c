/*
 * rs_fleet_client.c: the ring-aware client (rs_fleet_client.h).
 */
#include "rs_fleet_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FC_REFRESH_MIN_MS 500

struct rs_fleet_client {
    int timeout_ms;
    rs_ring ring;
    rs_client **conns; /* one per ring node, NULL until used */
    size_t nconns;
    long long last_read_ms;
    char seed_host[RS_RING_HOST_MAX];
    int seed_port;
    char err[256];
};

static long long fc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void fc_close_conns(rs_fleet_client *f)
{
    for (size_t i = 0; i < f->nconns; i++)
        rs_client_close(f->conns[i]);
    free(f->conns);
    f->conns = NULL;
    f->nconns = 0;
}

/* GetRing from host:port into f->ring; connections reset (addresses may
 * have changed). */
static rs_status fc_read_from(rs_fleet_client *f, const char *host, int port)
{
    rs_client *c = rs_client_connect(host, port, f->timeout_ms, f->err, sizeof(f->err));
    if (c == NULL)
        return RS_ERR_UNAVAILABLE;
    rs_ring *ring = malloc(sizeof(*ring));
    rs_status st = ring != NULL ? rs_client_get_ring(c, ring) : RS_ERR_INTERNAL;
    if (st != RS_OK) {
        snprintf(f->err, sizeof(f->err), "GetRing from %s:%d: %s (%s)", host, port,
                 rs_status_name(st), rs_client_errmsg(c));
        rs_client_close(c);
        free(ring);
        return st;
    }
    rs_client_close(c);
    fc_close_conns(f);
    f->ring = *ring;
    free(ring);
    f->conns = calloc(f->ring.nnodes, sizeof(*f->conns));
    if (f->conns == NULL) {
        snprintf(f->err, sizeof(f->err), "out of memory");
        return RS_ERR_INTERNAL;
    }
    f->nconns = f->ring.nnodes;
    /* A server outside a fleet names itself by its listen address, which
     * may be a wildcard: reach it where we did. */
    if (f->ring.generation == 0 && f->ring.nnodes == 1) {
        snprintf(f->ring.nodes[0].host, sizeof(f->ring.nodes[0].host), "%s", host);
        f->ring.nodes[0].port = port;
    }
    f->last_read_ms = fc_now_ms();
    return RS_OK;
}

rs_fleet_client *rs_fleet_client_connect(const char *host, int port, int timeout_ms, char *err,
                                         size_t errlen)
{
    rs_fleet_client *f = calloc(1, sizeof(*f));
    if (f == NULL) {
        if (err != NULL)
            snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->timeout_ms = timeout_ms;
    snprintf(f->seed_host, sizeof(f->seed_host), "%s", host);
    f->seed_port = port;
    if (fc_read_from(f, host, port) != RS_OK) {
        if (err != NULL)
            snprintf(err, errlen, "%s", f->err);
        rs_fleet_client_close(f);
        return NULL;
    }
    return f;
}

void rs_fleet_client_close(rs_fleet_client *f)
{
    if (f == NULL)
        return;
    fc_close_conns(f);
    free(f);
}

rs_status rs_fleet_client_refresh(rs_fleet_client *f)
{
    if (fc_now_ms() - f->last_read_ms < FC_REFRESH_MIN_MS)
        return RS_OK;
    /* Any node that answers: the ring's, then the seed. */
    rs_status st = RS_ERR_UNAVAILABLE;
    size_t n = f->ring.nnodes;
    for (size_t i = 0; i < n && st != RS_OK; i++) {
        char host[RS_RING_HOST_MAX];
        snprintf(host, sizeof(host), "%s", f->ring.nodes[i].host);
        st = fc_read_from(f, host, f->ring.nodes[i].port);
        n = st == RS_OK ? 0 : n;
    }
    if (st != RS_OK)
        st = fc_read_from(f, f->seed_host, f->seed_port);
    return st;
}

rs_client *rs_fleet_client_for(rs_fleet_client *f, uint64_t user_id)
{
    uint16_t i = f->ring.owner[rs_user_slot(user_id)];
    if (i >= f->nconns) {
        snprintf(f->err, sizeof(f->err), "no node owns user %llu's slot",
                 (unsigned long long)user_id);
        return NULL;
    }
    if (f->conns[i] != NULL && rs_client_err(f->conns[i]) != RS_OK) {
        rs_client_close(f->conns[i]); /* broken: open it again */
        f->conns[i] = NULL;
    }
    if (f->conns[i] == NULL) {
        const rs_ring_node *n = &f->ring.nodes[i];
        f->conns[i] =
            rs_client_connect(n->host, n->port, f->timeout_ms, f->err, sizeof(f->err));
    }
    return f->conns[i];
}

const rs_ring *rs_fleet_client_ring(const rs_fleet_client *f)
{
    return &f->ring;
}

const char *rs_fleet_client_errmsg(const rs_fleet_client *f)
{
    return f->err;
}
