/*
 * peer.h: calls from this fleet node to other nodes, over their framed TCP
 * protocol (a 4-byte length, then a protobuf Request; Responses back).
 * One pipelined connection per peer address, opened on first use, reused
 * for every call to that peer; answers may come back in any order and are
 * matched by id.
 *
 *   peers_call(host, port, request, fn, arg)
 *      ──> the peer's connection (connect on first use; AUTH first when a
 *          token is set) ──> frame out, id -> pending
 *      <── Response frame ──> pending by id ──> fn(arg, response)
 *      timeout, a lost or refused connection ──> fn(arg, NULL, why)
 *
 * Ids: every call goes out with an id with the top bit set
 * (PEER_ID_FORWARDED): a node never forwards such a call again, so two
 * nodes that disagree about the ring cannot bounce a call between them.
 *
 * Contract: a call is always accepted; fn runs exactly once, from the event
 * loop, never inside peers_call: with the peer's Response (valid during fn
 * only), or with NULL and a reason (the call may or may not have run
 * there). A connection that fails is not retried for 200 ms: calls to that
 * peer meanwhile fail at once. peers_free completes every pending call
 * with NULL.
 */
#ifndef RS_PEER_H
#define RS_PEER_H

#include <event2/event.h>
#include <stdint.h>

#include "readstates.pb-c.h"
#include "rs_log.h"

#define PEER_ID_FORWARDED (1ull << 63)

typedef struct rs_peers rs_peers;

typedef void (*peer_reply_fn)(void *arg, const Readstates__V1__Response *resp, const char *why);

typedef struct rs_peer_stats {
    uint64_t calls;    /* calls sent */
    uint64_t failures; /* calls answered without a Response (lost, refused, timeout) */
    uint64_t timeouts;
    uint64_t connects; /* connections opened */
    uint64_t pending;  /* calls waiting for an answer */
} rs_peer_stats;

/* token: sent in an Auth call first on every connection (NULL: none). */
rs_peers *peers_new(struct event_base *base, const rs_log *log, uint32_t timeout_ms,
                    const char *token);
void peers_free(rs_peers *p);

/* Send req (its id is replaced) to host:port. */
void peers_call(rs_peers *p, const char *host, int port, const Readstates__V1__Request *req,
                peer_reply_fn fn, void *arg);

/* A stream: req (a Watch) on a connection of its own to host:port; fn runs
 * for every Response with its id (the acceptance, then the events), and
 * once with NULL and a reason when the connection fails or closes (then no
 * more). peers_stream_close ends it without a callback (safe inside fn).
 * Closing the connection is how the watch ends at the peer. */
typedef struct peer_conn peer_stream;
peer_stream *peers_stream_open(rs_peers *p, const char *host, int port,
                               const Readstates__V1__Request *req, peer_reply_fn fn, void *arg);
void peers_stream_close(peer_stream *st);

const rs_peer_stats *peers_stats(const rs_peers *p);

#endif /* RS_PEER_H */
