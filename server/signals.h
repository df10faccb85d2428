/*
 * signals.h: what readstated does with each signal an operator, a shell or
 * the system may send it. No signal an operator sends kills the server
 * outright: each one either begins the graceful shutdown (which flushes
 * every acknowledged write), reloads, logs a status line, or is ignored.
 *
 *   SIGTERM SIGINT SIGQUIT SIGXCPU SIGPWR  -> RS_SIG_SHUTDOWN (graceful path)
 *   SIGHUP                                 -> RS_SIG_RELOAD
 *   SIGUSR1                                -> RS_SIG_STATUS (one log line)
 *   SIGUSR2 SIGALRM SIGVTALRM SIGIO SIGSTKFLT -> RS_SIG_IGNORED (logged)
 *   SIGPIPE SIGXFSZ SIGTTIN SIGTTOU, SIGRTMIN..SIGRTMAX -> SIG_IGN (silent)
 *
 * SIGPIPE is ignored so that a write to a closed socket is an EPIPE error
 * on that one connection; SIGXFSZ so that a full log file is a write error;
 * SIGTTIN/SIGTTOU so that a server started in a terminal's background never
 * stops on terminal I/O. The default dispositions stay for the signals an
 * operator uses to stop or resume a process on purpose (SIGSTOP, SIGTSTP,
 * SIGCONT), for SIGKILL, and for the faults (SIGSEGV, SIGBUS, SIGABRT...),
 * whose core dump is the right outcome. The garbage-collected comparison
 * build leaves SIGPWR and SIGXCPU to its collector, which uses them to stop
 * threads.
 *
 * The part owns its libevent signal events and reports through the callback
 * its owner registered; it knows nothing of the server.
 */
#ifndef RS_SIGNALS_H
#define RS_SIGNALS_H

#include <event2/event.h>
#include <stdbool.h>

typedef enum rs_sig_action {
    RS_SIG_SHUTDOWN,
    RS_SIG_RELOAD,
    RS_SIG_STATUS,
    RS_SIG_IGNORED,
} rs_sig_action;

typedef void (*rs_signal_fn)(void *arg, int sig, rs_sig_action action);

typedef struct rs_signals rs_signals;

/* Set SIG_IGN for the silent ones (call once, early in main). */
void signals_ignore_quiet(void);

/* Watch the acted-on signals on base and call fn for each delivery.
 * leave_gc_signals: do not take SIGPWR and SIGXCPU (the collector's).
 * Aborts on out of memory. */
rs_signals *signals_start(struct event_base *base, bool leave_gc_signals, rs_signal_fn fn,
                          void *arg);

/* Stop taking the shutdown signals: from here on they are blocked, so a
 * repeated SIGTERM during teardown cannot turn the exit code into a
 * signal's. */
void signals_block_shutdown(void);

/* Remove the events and free; NULL is fine. */
void signals_stop(rs_signals *g);

/* "SIGHUP", "SIGRTMIN+3", ... for logs. */
const char *signals_name(int sig, char *buf, size_t len);

#endif /* RS_SIGNALS_H */
