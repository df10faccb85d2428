/*
 * rs_fleet_client.h: a ring-aware client for a readstated fleet. It reads
 * the slot table from any node (GetRing), keeps one blocking rs_client per
 * node (opened on first use), and hands the caller the connection of a
 * user's owner, so every call goes straight there: no hop through another
 * node, and no extra round trip per call.
 *
 *   rs_fleet_client_connect(seed) ──> GetRing ──> ring
 *   rs_fleet_client_for(f, user)  ──> owner's rs_client (connect on first use)
 *   a call answered UNAVAILABLE   ──> rs_fleet_client_refresh(f): GetRing
 *                                     again (at most once per 500 ms)
 *
 * How a client learns its table is stale: nodes forward a call for a user
 * they do not own, so a call sent on an old table is still answered (one
 * hop); a node that was given a call for a user it does not own by another
 * node answers UNAVAILABLE. The caller refreshes on UNAVAILABLE (and may on
 * a timer). A connection that failed is opened again by the next
 * rs_fleet_client_for. Outside a fleet the table is the one server alone,
 * and every call goes to it.
 */
#ifndef RS_FLEET_CLIENT_H
#define RS_FLEET_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "rs_client.h"
#include "rs_ring.h"

typedef struct rs_fleet_client rs_fleet_client;

/* Read the ring from host:port. NULL with err set on failure. */
rs_fleet_client *rs_fleet_client_connect(const char *host, int port, int timeout_ms, char *err,
                                         size_t errlen);
void rs_fleet_client_close(rs_fleet_client *f);

/* The connection to user_id's owner (opened now if need be), or NULL with
 * rs_fleet_client_errmsg set. Owned by f: do not close it. */
rs_client *rs_fleet_client_for(rs_fleet_client *f, uint64_t user_id);

/* Read the ring again (from any node that answers). Returns RS_OK, or the
 * failure; a call within 500 ms of the last read returns RS_OK at once. */
rs_status rs_fleet_client_refresh(rs_fleet_client *f);

const rs_ring *rs_fleet_client_ring(const rs_fleet_client *f);
const char *rs_fleet_client_errmsg(const rs_fleet_client *f);

#endif /* RS_FLEET_CLIENT_H */
