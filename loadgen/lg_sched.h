/*
 * lg_sched.h: the open-loop send schedule.
 *
 * Request i (0-based) is due at t0 + i * 1e9 / rate nanoseconds, whatever
 * happened to the requests before it. A request that cannot go out when it
 * is due (every connection's pipeline is full) stays in the implicit backlog
 * and keeps its scheduled time, so its latency counts from when it should
 * have been sent, not from when it finally was (no coordinated omission):
 *
 *   time ->   t0    t0+1/R   t0+2/R   t0+3/R ...
 *   taken:    #0    #1       (stall: #2, #3 due but held) ... #2 @t0+2/R, #3 @t0+3/R
 *
 * The backlog is just `next` lagging behind the clock: no queue is stored.
 */
#ifndef LG_SCHED_H
#define LG_SCHED_H

#include <stdbool.h>
#include <stdint.h>

typedef struct lg_sched {
    uint64_t t0_ns;   /* time of request 0 */
    double period_ns; /* 1e9 / rate */
    uint64_t next;    /* index of the next request to take */
    uint64_t limit;   /* requests with index >= limit are never due; UINT64_MAX = none */
} lg_sched;

/* Start a schedule at t0_ns with `rate` requests per second (> 0).
 * Returns 0, or -1 on a bad rate. */
int lg_sched_init(lg_sched *s, uint64_t t0_ns, double rate);
/* Stop the schedule before the first request due at or after end_ns. */
void lg_sched_stop_at(lg_sched *s, uint64_t end_ns);
/* Scheduled time of request i. */
uint64_t lg_sched_time(const lg_sched *s, uint64_t i);
/* How many requests are due at `now` and not yet taken. */
uint64_t lg_sched_backlog(const lg_sched *s, uint64_t now_ns);
/* Take the next request if it is due at `now`: returns true and sets
 * *sched_ns to its scheduled time (never to `now`). */
bool lg_sched_take(lg_sched *s, uint64_t now_ns, uint64_t *sched_ns);
/* Scheduled time of the next request to take; UINT64_MAX when done. */
uint64_t lg_sched_next_time(const lg_sched *s);
/* True once every request before the limit has been taken. */
bool lg_sched_done(const lg_sched *s);

#endif /* LG_SCHED_H */
