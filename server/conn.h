/*
 * conn.h: one framed TCP connection of readstated (see conn.c for the state
 * machine). A connection is an rs_sink: dispatch replies through it, and
 * Watch streams events through it.
 */
#ifndef RS_CONN_H
#define RS_CONN_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dispatch.h"

typedef struct rs_server rs_server;
typedef struct rs_conn rs_conn;

typedef enum conn_state {
    CONN_READING,  /* reading and serving requests */
    CONN_WAITING,  /* too many requests in flight or too much output: not reading */
    CONN_DRAINING, /* shutting down: not reading; close once answers are out */
    CONN_CLOSING,  /* protocol error: answer nothing more; close once output is out */
    CONN_CLOSED,   /* gone: waiting for the reaper, then for the last sink ref */
    CONN_STATE_MAX
} conn_state;

struct rs_conn {
    rs_sink sink; /* first: dispatch sees the connection as a sink */
    rs_server *s;
    struct bufferevent *bev;
    struct event *resume_ev; /* 0-timeout: serve buffered requests next turn */
    conn_state state;
    rs_conn *prev, *next; /* s->conns while open */
    rs_conn *reap_next;   /* s->closing while closed */
    uint64_t id;
    bool eof; /* the peer finished sending: serve what is buffered, then close */
    char peer[64];
};

/* Take a freshly accepted socket: a new connection, or closed at once when
 * the connection limit is reached (counted in conns_rejected). */
void conn_accept(rs_server *s, evutil_socket_t fd, const struct sockaddr *addr, int addrlen);

/* Close now (deferred free): no more reads or replies. reason is logged. */
void conn_close(rs_conn *c, const char *reason);

/* Shutdown: stop reading every connection; each closes once its in-flight
 * requests are answered and its output is written. */
void conn_drain_all(rs_server *s);

/* Shutdown, after the final flush: close the connections that still wait
 * for answers storage will not give; returns how many. */
uint32_t conn_close_waiting(rs_server *s);

/* Close every connection at once and reap them (server_destroy). */
void conn_close_all(rs_server *s);

/* Free closed connections (the reaper; runs from its own event). */
void conn_reap(rs_server *s);

/* The name of a state, for logs. */
const char *conn_state_name(conn_state st);

#endif /* RS_CONN_H */
