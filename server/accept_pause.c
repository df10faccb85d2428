/*
 * accept_pause.c: see accept_pause.h.
 */
#include "accept_pause.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"

static void accept_pause_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    rs_accept_pause *p = arg;
    if (p->listener != NULL)
        evconnlistener_enable(p->listener);
}

void accept_pause_init(rs_accept_pause *p, struct event_base *base, const rs_log *log,
                       const char *name)
{
    *p = (rs_accept_pause){0};
    p->log = log;
    p->name = name;
    p->retry = rs_xcheck(event_new(base, -1, 0, accept_pause_retry_cb, p), "accept pause");
}

void accept_pause_failed(rs_accept_pause *p, struct evconnlistener *l, int err)
{
    p->failures++;
    p->unlogged++;
    uint64_t now = rs_now_ns();
    if (p->last_log_ns == 0 ||
        now - p->last_log_ns >= (uint64_t)ACCEPT_LOG_EVERY_MS * 1000000u) {
        RS_LOG(p->log, RS_LOG_ERROR, "accept_paused",
               "listener=%s errno=%d error=\"%s\" failures=%llu since_last_s=%llu", p->name,
               err, evutil_socket_error_to_string(err), (unsigned long long)p->unlogged,
               (unsigned long long)(p->last_log_ns == 0
                                        ? 0
                                        : (now - p->last_log_ns) / 1000000000u));
        p->unlogged = 0;
        p->last_log_ns = now;
    }
    /* Out of descriptors or memory (or anything else persistent): the
     * socket stays readable, so back off instead of spinning. */
    p->listener = l;
    evconnlistener_disable(l);
    struct timeval tv = {0, ACCEPT_PAUSE_MS * 1000};
    event_add(p->retry, &tv);
}

void accept_pause_forget(rs_accept_pause *p)
{
    p->listener = NULL;
    if (p->retry != NULL)
        event_del(p->retry);
}

void accept_pause_destroy(rs_accept_pause *p)
{
    if (p->retry != NULL)
        event_free(p->retry);
    p->retry = NULL;
    p->listener = NULL;
}
