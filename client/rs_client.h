/*
 * rs_client.h: the C client of readstates (blocking, pipelined, watch).
 *
 * One rs_client is one TCP connection speaking the framed protocol
 * (4-byte big-endian length + protobuf; see proto/frame.h). It is not
 * thread-safe: use one per thread.
 *
 * Three ways to use it, freely mixed on one connection:
 *
 *   blocking   rs_client_ack(c, user, channel, msg, mentions, &res)
 *              sends one request and waits for the response with its id;
 *              responses to other ids that arrive meanwhile are queued.
 *   pipelined  rs_client_send(c, req) ... rs_client_flush(c)
 *              rs_client_recv(c, &resp, timeout_ms)   (arrival order:
 *              responses may come back in a different order than the
 *              requests went out, so match them by id)
 *   watch      rs_client_watch(c, users, n), then
 *              rs_client_next_event(c, &ev, timeout_ms)
 *
 * Errors. Calls return an rs_status: RS_OK; the server's code for a request
 * the server refused (INVALID_ARGUMENT, ...: the connection stays usable);
 * or a transport error: RS_ERR_UNAVAILABLE (connect failed, connection
 * closed or reset), RS_ERR_DEADLINE (a blocking call timed out),
 * RS_ERR_INTERNAL (the server sent bytes that are not a valid frame or
 * Response). Transport errors are sticky, as in hiredis: the connection is
 * unusable and every later call returns the same error; close it.
 * rs_client_errmsg() describes the last failure, e.g.
 * "INVALID_ARGUMENT: ack.user_id must be non-zero".
 * A timeout of rs_client_recv / rs_client_next_event is not an error of the
 * connection: it returns RS_ERR_DEADLINE and the connection stays usable.
 *
 * Queueing. Responses and events that arrive while the caller waits for
 * something else are kept in arrival order until taken; on a watching
 * connection, take events regularly (the queue is not bounded here, and a
 * watcher that stops reading is disconnected by the server anyway).
 *
 * Ids. Ids the library assigns come from one counter per connection,
 * starting at 1; a caller that picks its own ids for rs_client_send should
 * keep them apart from those (e.g. at or above 2^32) so that no two
 * requests in flight share an id.
 *
 * Memory. Responses returned as Readstates__V1__Response are malloc'd by
 * protobuf-c; the caller frees them with rs_client_response_free. Results
 * returned in an rs_client_states hold a malloc'd array; free with rs_client_states_free.
 * Requests passed in are only read (rs_client_send may write req->id).
 */
#ifndef RS_CLIENT_H
#define RS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "readstates.pb-c.h"
#include "rs_common.h"
#include "rs_ring.h"

#define RS_CLIENT_TIMEOUT_DEFAULT_MS 5000
#define RS_CLIENT_ERRLEN             256
#define RS_CLIENT_FLAG_MANUAL        1u

typedef struct rs_client rs_client;

/* One read state, as in the protocol's ReadState. */
typedef struct rs_client_state {
    uint64_t channel_id;
    uint64_t last_message_id;
    uint32_t mention_count;
    uint32_t flags; /* RS_CLIENT_FLAG_MANUAL */
    uint64_t version;
} rs_client_state;

/* Result of Ack and SetReadState. */
typedef struct rs_client_ack_result {
    rs_client_state state;
    bool applied;
    uint64_t user_version;
} rs_client_ack_result;

/* A list of states (Get, BulkAck). `states` is malloc'd (NULL when n is 0):
 * free with rs_client_states_free. `applied` is set by BulkAck only. */
typedef struct rs_client_states {
    rs_client_state *states;
    size_t n;
    uint64_t user_version;
    uint32_t applied;
} rs_client_states;

typedef struct rs_client_ack_entry {
    uint64_t channel_id;
    uint64_t message_id;
} rs_client_ack_entry;

/* One watch event. */
typedef struct rs_client_event {
    uint64_t watch_id; /* the id of the Watch request it belongs to */
    uint64_t user_id;
    rs_client_state state;
    bool deleted;
    uint64_t user_version;
} rs_client_event;

/* ---- connection ------------------------------------------------------- */

/*
 * Connect to host:port (name or numeric address), waiting up to timeout_ms
 * (<= 0: RS_CLIENT_TIMEOUT_DEFAULT_MS), which also becomes the timeout of
 * blocking calls. Returns a client (free with rs_client_close), or NULL
 * with a message in err (if err is not NULL).
 */
rs_client *rs_client_connect(const char *host, int port, int timeout_ms, char *err,
                             size_t errlen);

/* TLS to a server started with --tls-cert. */
typedef struct rs_client_tls {
    const char *ca_file;     /* CAs to verify the server with; NULL: the system's */
    const char *cert_file;   /* client certificate for mutual TLS; NULL: none */
    const char *key_file;    /* its private key */
    const char *server_name; /* name (or address) to verify and send as SNI; NULL: host */
} rs_client_tls;

/* rs_client_connect, then a TLS handshake (TLS 1.2+, the server's
 * certificate verified against ca_file and its name). tls NULL: plain. */
rs_client *rs_client_connect_tls(const char *host, int port, const rs_client_tls *tls,
                                 int timeout_ms, char *err, size_t errlen);

/* Close the connection and free everything, including queued responses. */
void rs_client_close(rs_client *c);

/* Timeout of blocking calls and flushes, in ms (<= 0: the default). */
void rs_client_set_timeout(rs_client *c, int timeout_ms);

/* The socket (for poll loops); owned by the client. */
int rs_client_fd(const rs_client *c);

/* The sticky transport error (RS_OK while the connection is healthy). */
rs_status rs_client_err(const rs_client *c);

/* A description of the last failure ("" if none). Valid until the next
 * call on c. */
const char *rs_client_errmsg(const rs_client *c);

/* ---- blocking calls ----------------------------------------------------- */

/*
 * Auth: present a bearer token to a server that has --auth-token-file; do
 * it first on a connection, since every other call before it is refused
 * with RS_ERR_UNAUTHENTICATED (and the server closes a connection after a
 * few refusals). A server without tokens answers RS_OK whatever the token.
 * Returns RS_OK, RS_ERR_UNAUTHENTICATED for a token the server does not
 * know (the connection stays open, not yet authenticated), or a transport
 * error.
 */
rs_status rs_client_auth(rs_client *c, const char *token);

/*
 * The token to use from its usual sources: `token` if not NULL, else the
 * first token line of the file `token_file` if not NULL (blank lines and
 * '#' comments skipped, blanks trimmed), else $READSTATES_TOKEN if set and
 * not empty. Returns 1 with the token in out, 0 when no source gives one,
 * or -1 with a reason in out (an unreadable or empty file, a token longer
 * than outlen - 1).
 */
int rs_client_token(const char *token, const char *token_file, char *out, size_t outlen);

/* Ping. server_time_ms and version (a buffer of versionlen bytes) may be
 * NULL. */
rs_status rs_client_ping(rs_client *c, uint64_t *server_time_ms, char *version,
                         size_t versionlen);

rs_status rs_client_ack(rs_client *c, uint64_t user_id, uint64_t channel_id,
                        uint64_t message_id, uint32_t mention_count, rs_client_ack_result *out);

rs_status rs_client_set(rs_client *c, uint64_t user_id, uint64_t channel_id,
                        uint64_t message_id, uint32_t mention_count, rs_client_ack_result *out);

/* BulkAck: out->states are the resulting states in entry order, out->applied
 * counts the entries that applied. Free out with rs_client_states_free. */
rs_status rs_client_bulk_ack(rs_client *c, uint64_t user_id, const rs_client_ack_entry *entries,
                             size_t n, rs_client_states *out);

/* AddMentions: counts_out (n entries, may be NULL) receives each user's
 * mention count after the call, aligned with user_ids. count 0 means 1. */
rs_status rs_client_add_mentions(rs_client *c, uint64_t channel_id, uint64_t message_id,
                                 const uint64_t *user_ids, size_t n, uint32_t count,
                                 uint32_t *counts_out);

/* GetReadStates (n = 0: all of the user's states). Free out with
 * rs_client_states_free. */
rs_status rs_client_get(rs_client *c, uint64_t user_id, const uint64_t *channel_ids, size_t n,
                        rs_client_states *out);

/* DeleteReadStates of the listed channels, or all with all = true.
 * deleted and user_version may be NULL. */
rs_status rs_client_delete(rs_client *c, uint64_t user_id, const uint64_t *channel_ids,
                           size_t n, bool all, uint32_t *deleted, uint64_t *user_version);

/*
 * GetRing: the slot table the server uses (a fleet node: the ring it read
 * last; a server outside a fleet: itself alone, generation 0 and an empty
 * node id, owning every slot), for a client that sends each call straight
 * to its user's owner (rs_ring_owner). out is large (rs_ring.h): allocate
 * it. Returns RS_OK with out filled (every slot owned by one of its nodes),
 * RS_ERR_UNAVAILABLE from a fleet node that has not read its ring yet,
 * RS_ERR_INTERNAL for an answer that is no valid table, or another failure.
 */
rs_status rs_client_get_ring(rs_client *c, rs_ring *out);

/*
 * Any request, blocking: sends req (assigning an id if req->id is 0) and
 * waits for the response with that id. Returns RS_OK with *resp set (free
 * with rs_client_response_free) whatever status the server answered — the
 * caller reads (*resp)->status — or a transport error with *resp NULL.
 */
rs_status rs_client_call(rs_client *c, Readstates__V1__Request *req,
                         Readstates__V1__Response **resp);

/* Free a response returned by this library (NULL is fine). */
void rs_client_response_free(Readstates__V1__Response *resp);

/* Free the array of an rs_client_states and zero it. */
void rs_client_states_free(rs_client_states *s);

/* The status a response carries (RS_OK when it has none). */
rs_status rs_client_response_status(const Readstates__V1__Response *resp);

/* ---- pipelining --------------------------------------------------------- */

/*
 * Encode req into the output buffer (nothing is written to the socket until
 * rs_client_flush or a receive). If req->id is 0 a fresh id is assigned and
 * written back into req->id; a non-zero id is kept. Returns RS_OK or the
 * sticky error.
 */
rs_status rs_client_send(rs_client *c, Readstates__V1__Request *req);

/* Write everything buffered, reading (and queueing) responses meanwhile so
 * neither side blocks; bounded by the client's timeout (a timeout here is
 * sticky). Returns RS_OK or the sticky error. */
rs_status rs_client_flush(rs_client *c);

/* Bytes encoded and not yet written. */
size_t rs_client_pending_output(const rs_client *c);

/*
 * The next response in arrival order (queued ones first), waiting up to
 * timeout_ms (0: do not wait; < 0: the client's timeout). Flushes pending
 * output first. Returns RS_OK with *resp (free with
 * rs_client_response_free); RS_ERR_DEADLINE if none arrived in time (not
 * sticky); or the sticky error.
 */
rs_status rs_client_recv(rs_client *c, Readstates__V1__Response **resp, int timeout_ms);

/* ---- watch ------------------------------------------------------------- */

/*
 * Watch users: sends a Watch request and waits for the server to accept it.
 * Returns RS_OK (events follow through rs_client_next_event), the server's
 * code if it refused, or a transport error. *watch_id (may be NULL)
 * receives the request id that the events will carry.
 */
rs_status rs_client_watch(rs_client *c, const uint64_t *user_ids, size_t n, uint64_t *watch_id);

/*
 * The next event on this connection, waiting up to timeout_ms (0: do not
 * wait; < 0: the client's timeout). Ordinary responses that arrive
 * meanwhile are queued for rs_client_recv. Returns RS_OK with *ev filled,
 * RS_ERR_DEADLINE if none arrived in time (not sticky), or the sticky error
 * (e.g. the server disconnected a slow watcher: RS_ERR_UNAVAILABLE).
 */
rs_status rs_client_next_event(rs_client *c, rs_client_event *ev, int timeout_ms);

#endif /* RS_CLIENT_H */
