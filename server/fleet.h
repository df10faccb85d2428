/*
 * fleet.h: a readstated node in a fleet (--node-id). The fleet's ring
 * (rs_ring.h: which node owns each of the 16384 slots, and its generation)
 * lives in Redis; this part reads it every --ring-refresh-ms through the
 * engine's store, hands the engine what this node owns under which
 * generation (engine_set_ownership: the claims and fences in Redis), and
 * answers "who owns this user" for dispatch's forwarding and GetRing.
 *
 *   tick ──> engine_ring_get ──> (generation changed?) parse, validate
 *              ──> self = the node with --node-id ──> owned[slot]
 *              ──> engine_set_ownership(generation, owned)
 *
 * A ring that does not parse is refused whole (logged once per
 * generation): the node keeps the last good one. Until a first ring is read
 * the node is not ready (/readyz) and calls for users get UNAVAILABLE. A
 * node missing from the ring owns nothing and forwards everything.
 */
#ifndef RS_FLEET_H
#define RS_FLEET_H

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"
#include "rs_log.h"
#include "rs_ring.h"

typedef struct rs_fleet rs_fleet;

typedef struct rs_fleet_stats {
    uint64_t generation;   /* of the ring in use (0: none yet) */
    uint64_t ring_reads;   /* reads answered */
    uint64_t ring_errors;  /* reads that failed or rings refused */
    uint64_t ring_changes; /* generations taken */
    uint32_t owned_slots;  /* slots this node owns */
    uint32_t nodes;        /* nodes in the ring */
    bool in_ring;          /* this node's id is in the ring */
} rs_fleet_stats;

/* Start reading the ring (the first read at once). on_change(ctx) runs
 * after each new generation but the first is in use (NULL: none). NULL on
 * out of memory. */
rs_fleet *fleet_new(struct event_base *base, rs_engine *engine, const rs_log *log,
                    const char *node_id, uint32_t refresh_ms, void (*on_change)(void *ctx),
                    void *ctx);
void fleet_free(rs_fleet *f);

/* The address this node advertises (set once its port is bound). */
void fleet_set_advertise(rs_fleet *f, const char *addr);
const char *fleet_advertise(const rs_fleet *f);
const char *fleet_node_id(const rs_fleet *f);

typedef enum fleet_route {
    FLEET_LOCAL,   /* this node owns the user */
    FLEET_REMOTE,  /* *owner does */
    FLEET_NO_RING, /* no ring read yet */
} fleet_route;

fleet_route fleet_route_user(const rs_fleet *f, uint64_t user_id, const rs_ring_node **owner);

/* The ring in use, or NULL before the first. */
const rs_ring *fleet_ring(const rs_fleet *f);

/* Read the ring now (after a call was refused as FENCED: this node's view
 * is stale). */
void fleet_refresh_now(rs_fleet *f);

const rs_fleet_stats *fleet_stats(const rs_fleet *f);

#endif /* RS_FLEET_H */
