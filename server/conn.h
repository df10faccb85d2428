/*
 * conn.h: one framed TCP connection of readstated (see conn.c for the state
 * machine). A connection is an rs_sink: dispatch replies through it, and
 * Watch streams events through it.
 */
#ifndef RS_CONN_H
#define RS_CONN_H

#include <event2/buffer.h>
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
    evutil_socket_t fd;
    struct evbuffer *in;     /* read, not yet served */
    struct evbuffer *out;    /* answers not yet written */
    struct event *read_ev;   /* persistent EV_READ (+ idle timeout) */
    struct event *write_ev;  /* persistent EV_WRITE, pending only while blocked */
    struct event *resume_ev; /* 0-timeout: serve buffered requests next turn */
    conn_state state;
    rs_conn *prev, *next; /* s->loop.conns while open */
    rs_conn *reap_next;   /* s->loop.closing while closed */
    rs_conn *flush_next;  /* s->loop.flushing while queued for a flush */
    uint64_t id;
    bool eof;           /* the peer finished sending: serve what is buffered, then close */
    bool reading;       /* read_ev is pending */
    bool writing;       /* write_ev is pending (the socket would block) */
    bool serving;       /* inside conn_serve: the output is written at its end */
    bool flush_queued;  /* on s->loop.flushing */
    struct ssl_st *ssl; /* TLS (--tls-cert), else NULL */
    bool tls_read_wants_write;     /* a TLS read waits for write_ev */
    bool tls_write_wants_read;     /* a TLS write waits for read_ev */
    const struct timeval *idle_tv; /* read_ev's timeout, NULL when none */
    struct timeval idle_buf;       /* idle_tv's storage if not a common timeout */
    char peer[64];
    bool authenticated;     /* may call (tokens off, or a good Auth came: dispatch.h) */
    uint32_t auth_failures; /* refused calls before authenticating */
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

/* Write the output of every connection that got answers outside its own
 * read batch (storage completions, watch events): run from the server's
 * flush event, once per loop turn for all of them. */
void conn_flush_pending(rs_server *s);

/* Free closed connections (the reaper; runs from its own event). */
void conn_reap(rs_server *s);

/* The name of a state, for logs. */
const char *conn_state_name(conn_state st);

#endif /* RS_CONN_H */
