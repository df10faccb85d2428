/*
 * signals.c: the signal table of signals.h, on libevent signal events.
 *
 * libevent turns a delivery into a callback on the loop (a self-pipe), so
 * the callback may do anything a request handler may: log, reload, begin
 * the shutdown. Everything acted on is in one table; what is neither in it
 * nor ignored keeps its default disposition on purpose (see signals.h).
 */
#include "signals.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rs_common.h"

typedef struct sig_row {
    int sig;
    const char *name;
    rs_sig_action action;
    bool gc; /* the garbage collector's own in the GC build */
} sig_row;

static const sig_row sig_table[] = {
    {SIGTERM, "SIGTERM", RS_SIG_SHUTDOWN, false},
    {SIGINT, "SIGINT", RS_SIG_SHUTDOWN, false},
    {SIGQUIT, "SIGQUIT", RS_SIG_SHUTDOWN, false},
    {SIGXCPU, "SIGXCPU", RS_SIG_SHUTDOWN, true},
    {SIGPWR, "SIGPWR", RS_SIG_SHUTDOWN, true},
    {SIGHUP, "SIGHUP", RS_SIG_RELOAD, false},
    {SIGUSR1, "SIGUSR1", RS_SIG_STATUS, false},
    {SIGUSR2, "SIGUSR2", RS_SIG_IGNORED, false},
    {SIGALRM, "SIGALRM", RS_SIG_IGNORED, false},
    {SIGVTALRM, "SIGVTALRM", RS_SIG_IGNORED, false},
    {SIGIO, "SIGIO", RS_SIG_IGNORED, false},
    {SIGSTKFLT, "SIGSTKFLT", RS_SIG_IGNORED, false},
};

static const int quiet_signals[] = {SIGPIPE, SIGXFSZ, SIGTTIN, SIGTTOU};

#define SIG_ROWS RS_ARRAY_LEN(sig_table)

struct rs_signals {
    struct event *ev[SIG_ROWS];
    rs_signal_fn fn;
    void *arg;
};

void signals_ignore_quiet(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < RS_ARRAY_LEN(quiet_signals); i++)
        sigaction(quiet_signals[i], &sa, NULL);
    for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
        sigaction(sig, &sa, NULL);
}

static void signals_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    rs_signals *g = arg;
    for (size_t i = 0; i < SIG_ROWS; i++)
        if (sig_table[i].sig == (int)sig) {
            g->fn(g->arg, (int)sig, sig_table[i].action);
            return;
        }
}

rs_signals *signals_start(struct event_base *base, bool leave_gc_signals, rs_signal_fn fn,
                          void *arg)
{
    rs_signals *g = rs_xcalloc(1, sizeof(*g), "signals");
    g->fn = fn;
    g->arg = arg;
    for (size_t i = 0; i < SIG_ROWS; i++) {
        if (leave_gc_signals && sig_table[i].gc)
            continue;
        g->ev[i] = evsignal_new(base, sig_table[i].sig, signals_cb, g);
        if (g->ev[i] == NULL || event_add(g->ev[i], NULL) != 0) {
            fputs("readstated: cannot watch signals\n", stderr);
            abort();
        }
    }
    return g;
}

void signals_block_shutdown(void)
{
    sigset_t set;
    sigemptyset(&set);
    for (size_t i = 0; i < SIG_ROWS; i++)
        if (sig_table[i].action == RS_SIG_SHUTDOWN)
            sigaddset(&set, sig_table[i].sig);
    sigprocmask(SIG_BLOCK, &set, NULL);
}

void signals_stop(rs_signals *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < SIG_ROWS; i++)
        if (g->ev[i] != NULL)
            event_free(g->ev[i]);
    free(g);
}

const char *signals_name(int sig, char *buf, size_t len)
{
    for (size_t i = 0; i < SIG_ROWS; i++)
        if (sig_table[i].sig == sig)
            return sig_table[i].name;
    if (sig >= SIGRTMIN && sig <= SIGRTMAX)
        snprintf(buf, len, "SIGRTMIN+%d", sig - SIGRTMIN);
    else
        snprintf(buf, len, "signal %d", sig);
    return buf;
}
