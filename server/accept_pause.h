/*
 * accept_pause.h: what a listener does when accept() fails for want of a
 * resource (EMFILE, ENFILE, ENOBUFS, ENOMEM): stop accepting for 100 ms
 * instead of spinning on a socket that stays readable, and log at most
 * one line per interval with how many failures it stands for:
 *
 *   level=error event=accept_paused listener=http errno=24
 *       error="Too many open files" failures=4130 since_last_s=10
 *
 * Both the TCP and the HTTP listener use one each. The listener's owner
 * keeps it; nothing here knows the owner.
 */
#ifndef RS_ACCEPT_PAUSE_H
#define RS_ACCEPT_PAUSE_H

#include <event2/event.h>
#include <event2/listener.h>
#include <stdint.h>

#include "rs_log.h"

#define ACCEPT_PAUSE_MS     100
#define ACCEPT_LOG_EVERY_MS 10000

typedef struct rs_accept_pause {
    struct evconnlistener *listener; /* paused one, re-enabled by the timer */
    struct event *retry;
    const rs_log *log;
    const char *name;     /* "tcp", "http" */
    uint64_t failures;    /* all accept failures */
    uint64_t unlogged;    /* failures since the last log line */
    uint64_t last_log_ns; /* 0: never logged */
} rs_accept_pause;

/* Set up on base; name is a static string. Aborts on out of memory. */
void accept_pause_init(rs_accept_pause *p, struct event_base *base, const rs_log *log,
                       const char *name);

/* accept() on l failed with err: pause l (if err says the process or the
 * system is out of a resource) and log within the rate limit. */
void accept_pause_failed(rs_accept_pause *p, struct evconnlistener *l, int err);

/* The listener is going away: forget it (no re-enable). */
void accept_pause_forget(rs_accept_pause *p);

void accept_pause_destroy(rs_accept_pause *p);

#endif /* RS_ACCEPT_PAUSE_H */
