/*
 * fleet.c: the ring of a fleet node (fleet.h).
 */
#include "fleet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"

struct rs_fleet {
    struct event_base *base;
    rs_engine *engine;
    const rs_log *log;
    char node_id[RS_RING_ID_MAX + 1];
    char advertise[RS_RING_HOST_MAX + 8];
    uint32_t refresh_ms;
    struct event *tick_ev;
    bool reading;
    bool closing;
    rs_ring *ring;        /* in use; NULL before the first */
    rs_ring *next;        /* scratch for a new generation */
    bool *owned;          /* [RS_SLOTS] */
    uint64_t refused_gen; /* the last generation refused (logged once) */
    rs_fleet_stats stats;
    void (*on_change)(void *ctx);
    void *on_change_ctx;
};

static void fleet_schedule(rs_fleet *f, uint32_t ms)
{
    if (f->closing)
        return;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(f->tick_ev, &tv);
}

/* Take ring f->next (valid) into use. */
static void fleet_take(rs_fleet *f)
{
    rs_ring *old = f->ring;
    f->ring = f->next;
    f->next = old != NULL ? old : rs_xmalloc(sizeof(*f->next), "fleet ring");
    int self = rs_ring_find(f->ring, f->node_id);
    uint32_t owned = 0;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++) {
        f->owned[sl] = self >= 0 && f->ring->owner[sl] == (uint16_t)self;
        owned += f->owned[sl];
    }
    engine_set_ownership(f->engine, f->ring->generation, f->owned);
    f->stats.generation = f->ring->generation;
    f->stats.ring_changes++;
    f->stats.owned_slots = owned;
    f->stats.nodes = (uint32_t)f->ring->nnodes;
    f->stats.in_ring = self >= 0;
    char addr[RS_RING_HOST_MAX + 8] = "";
    if (self >= 0) {
        const rs_ring_node *n = &f->ring->nodes[self];
        snprintf(addr, sizeof(addr), strchr(n->host, ':') ? "[%s]:%d" : "%s:%d", n->host,
                 n->port);
    }
    RS_LOG(f->log, self >= 0 ? RS_LOG_INFO : RS_LOG_WARN, "fleet_ring",
           "generation=%llu nodes=%zu node_id=%s owned_slots=%u%s%s%s",
           (unsigned long long)f->ring->generation, f->ring->nnodes, f->node_id, owned,
           self >= 0 ? " address="
                     : " missing=\"this node is not in the ring: it owns "
                       "nothing and forwards every call\"",
           addr, "");
    if (self >= 0 && f->advertise[0] != '\0' && strcmp(addr, f->advertise) != 0)
        RS_LOG(f->log, RS_LOG_WARN, "fleet_address_mismatch",
               "node_id=%s ring_address=%s advertise=%s", f->node_id, addr, f->advertise);
    if (old != NULL && f->on_change != NULL)
        f->on_change(f->on_change_ctx);
}

static void fleet_ring_read(void *arg, bool ok, const char *generation, const char *nodes,
                            const char *ranges)
{
    rs_fleet *f = arg;
    f->reading = false;
    if (f->closing)
        return;
    fleet_schedule(f, f->refresh_ms);
    if (!ok) {
        f->stats.ring_errors++;
        return;
    }
    f->stats.ring_reads++;
    if (generation == NULL) {
        if (f->stats.ring_reads == 1)
            RS_LOG(f->log, RS_LOG_WARN, "fleet_no_ring",
                   "key=%s hint=\"write one with readstatectl cluster init\"", RS_RING_KEY);
        return;
    }
    uint64_t gen = strtoull(generation, NULL, 10);
    if (f->ring != NULL && gen == f->ring->generation)
        return; /* unchanged: the common case, nothing parsed */
    char err[200];
    if (rs_ring_parse(f->next, generation, nodes, ranges, err, sizeof(err)) != 0) {
        f->stats.ring_errors++;
        if (gen != f->refused_gen)
            RS_LOG(f->log, RS_LOG_ERROR, "fleet_ring_refused",
                   "generation=\"%s\" error=\"%s\" action=\"kept generation %llu\"", generation,
                   err, (unsigned long long)(f->ring != NULL ? f->ring->generation : 0));
        f->refused_gen = gen;
        return;
    }
    if (f->ring != NULL && f->next->generation < f->ring->generation) {
        f->stats.ring_errors++; /* generations only rise: a restored old copy */
        if (gen != f->refused_gen)
            RS_LOG(f->log, RS_LOG_ERROR, "fleet_ring_refused",
                   "generation=%llu error=\"older than generation %llu in use\"",
                   (unsigned long long)gen, (unsigned long long)f->ring->generation);
        f->refused_gen = gen;
        return;
    }
    fleet_take(f);
}

static void fleet_read(rs_fleet *f)
{
    if (f->reading || f->closing)
        return;
    if (engine_ring_get(f->engine, fleet_ring_read, f) != 0) {
        f->stats.ring_errors++;
        fleet_schedule(f, f->refresh_ms);
        return;
    }
    f->reading = true;
}

static void fleet_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    fleet_read(arg);
}

void fleet_refresh_now(rs_fleet *f)
{
    if (f != NULL && !f->reading)
        fleet_read(f);
}

rs_fleet *fleet_new(struct event_base *base, rs_engine *engine, const rs_log *log,
                    const char *node_id, uint32_t refresh_ms, void (*on_change)(void *ctx),
                    void *ctx)
{
    rs_fleet *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return NULL;
    f->base = base;
    f->engine = engine;
    f->log = log;
    snprintf(f->node_id, sizeof(f->node_id), "%s", node_id);
    f->refresh_ms = refresh_ms > 0 ? refresh_ms : 500;
    f->on_change = on_change;
    f->on_change_ctx = ctx;
    f->next = malloc(sizeof(*f->next));
    f->owned = calloc(RS_SLOTS, sizeof(*f->owned));
    f->tick_ev = evtimer_new(base, fleet_tick, f);
    if (f->next == NULL || f->owned == NULL || f->tick_ev == NULL) {
        fleet_free(f);
        return NULL;
    }
    fleet_schedule(f, 0);
    return f;
}

void fleet_free(rs_fleet *f)
{
    if (f == NULL)
        return;
    f->closing = true; /* a read in flight completes into closing */
    if (f->tick_ev != NULL)
        event_free(f->tick_ev);
    free(f->ring);
    free(f->next);
    free(f->owned);
    free(f);
}

void fleet_set_advertise(rs_fleet *f, const char *addr)
{
    snprintf(f->advertise, sizeof(f->advertise), "%s", addr);
}

const char *fleet_advertise(const rs_fleet *f)
{
    return f->advertise;
}

const char *fleet_node_id(const rs_fleet *f)
{
    return f->node_id;
}

fleet_route fleet_route_user(const rs_fleet *f, uint64_t user_id, const rs_ring_node **owner)
{
    *owner = NULL;
    if (f->ring == NULL)
        return FLEET_NO_RING;
    uint32_t slot = rs_user_slot(user_id);
    if (f->owned[slot])
        return FLEET_LOCAL;
    *owner = &f->ring->nodes[f->ring->owner[slot]];
    return FLEET_REMOTE;
}

const rs_ring *fleet_ring(const rs_fleet *f)
{
    return f->ring;
}

const rs_fleet_stats *fleet_stats(const rs_fleet *f)
{
    return &f->stats;
}
