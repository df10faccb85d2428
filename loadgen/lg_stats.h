/*
 * lg_stats.h: what a run measured.
 *
 * Latency of every answered request is recorded twice: into its method's
 * total histogram and into the one-second window in which it completed
 * (all methods together, and per method for the methods in the mix).
 * Windows are counted from the start of the
 * measured phase; warm-up requests (scheduled before it) are not recorded.
 *
 *   t_start            +1 s               +2 s
 *   | sec[0]: hist,    | sec[1]           | ...      (completions)
 *   |  sent, answered, |                  |
 *   |  errors          |                  |
 *   method[ack], method[get_one], ... all   (totals, merged exactly)
 *
 * Outcomes are counted by status: the wire codes (0..LG_ST_WIRE_MAX-1) and
 * the load generator's own failures above them.
 */
#ifndef LG_STATS_H
#define LG_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "lg_work.h"
#include "rs_hist.h"

typedef enum lg_status {
    LG_ST_OK = 0,
    LG_ST_WIRE_MAX = 20,   /* wire codes are below this */
    LG_ST_CONN = 20,       /* connection failed or closed with the request in flight */
    LG_ST_BAD_REPLY = 21,  /* undecodable response, unknown id */
    LG_ST_REDIS_ERR = 22,  /* Redis answered with an error reply */
    LG_ST_UNANSWERED = 23, /* still in flight when the run ended */
    LG_ST_UNSENT = 24,     /* due, but never sent before the run ended */
    LG_STATUS_MAX
} lg_status;

/* Name for reports: "OK", "NOT_FOUND", ..., "conn_error", "unanswered". */
const char *lg_status_name(int st);

typedef struct lg_second {
    uint64_t sent;     /* requests written in this second */
    uint64_t answered; /* responses (any status) completed in this second */
    uint64_t errors;   /* of which not OK, plus transport failures */
    rs_hist hist;
    rs_hist *method[LG_METHOD_MAX]; /* per method; NULL for methods not in the mix */
} lg_second;

typedef struct lg_stats {
    uint64_t t_start_ns; /* start of the measured phase (monotonic) */
    uint32_t nsec;       /* windows allocated */
    uint32_t used;       /* windows touched: highest index + 1 */
    lg_second *sec;
    rs_hist method[LG_METHOD_MAX];
    rs_hist all;
    rs_hist send_delay; /* send time - scheduled time: backlog or a slow generator */
    uint64_t scheduled; /* requests due in the measured phase */
    uint64_t sent[LG_METHOD_MAX];
    uint64_t answered[LG_METHOD_MAX];
    uint64_t status[LG_STATUS_MAX];
    double elapsed_s;     /* measured phase, including the drain */
    double loadgen_cpu_s; /* user + system (without the hiccup meter's thread) */
    double server_cpu_s;  /* < 0 when unknown */
    double steal_pct;     /* hypervisor steal, % of all CPU time; < 0 when unknown */
} lg_stats;

/* Allocate nsec one-second windows, with a per-method histogram in each for
 * the methods whose bit (1 << method) is set in method_mask. Returns 0, or
 * -1 on out of memory. Free with lg_stats_free (also after a failure). */
int lg_stats_init(lg_stats *st, uint32_t nsec, unsigned method_mask);
void lg_stats_free(lg_stats *st);
/* Everything before t_start_ns is warm-up. */
void lg_stats_start(lg_stats *st, uint64_t t_start_ns);
/* Whether a request started (scheduled) at start_ns is measured. */
static inline bool lg_stats_counts(const lg_stats *st, uint64_t start_ns)
{
    return st->t_start_ns != 0 && start_ns >= st->t_start_ns;
}
/* A request scheduled (or started) at start_ns was written at now_ns. */
void lg_stats_sent(lg_stats *st, lg_method m, uint64_t start_ns, uint64_t now_ns);
/* A request ended at now_ns with status st (lg_status or a wire code);
 * latency now_ns - start_ns is recorded only for answers from the target. */
void lg_stats_done(lg_stats *st, lg_method m, uint64_t start_ns, uint64_t now_ns, int status);
/* Totals over methods. */
uint64_t lg_stats_total_sent(const lg_stats *st);
uint64_t lg_stats_total_answered(const lg_stats *st);
uint64_t lg_stats_total_errors(const lg_stats *st);

/* When an answer arrived, on the monotonic clock (mono_now's), from the
 * kernel's receive stamp on the wall clock: stamp_wall was age = wall_now -
 * stamp_wall ago. A stamp from the future (the wall clock stepped back)
 * counts as now; ages beyond mono_now give 0. */
uint64_t lg_arrival_mono_ns(uint64_t stamp_wall_ns, uint64_t wall_now_ns, uint64_t mono_now_ns);

/* CPU seconds (user + system) used by this process so far. */
double lg_cpu_self_s(void);
/* CPU seconds used by process pid so far, from /proc/<pid>/stat; -1 if unknown. */
double lg_cpu_pid_s(int pid);

/* The machine's CPU time counters (all CPUs, in clock ticks) from the
 * `cpu` line of /proc/stat: steal (time the hypervisor ran something else
 * while one of our vCPUs wanted to run) and the total of user, nice,
 * system, idle, iowait, irq, softirq and steal. */
typedef struct lg_cpu_ticks {
    uint64_t steal;
    uint64_t total;
    bool ok; /* read */
} lg_cpu_ticks;

/* Parse the text of /proc/stat. Returns 0, or -1 (out->ok false) when it
 * has no `cpu` line with at least those eight counters. */
int lg_cpu_ticks_parse(const char *text, lg_cpu_ticks *out);
/* Read /proc/stat now. Returns 0, or -1 (out->ok false). */
int lg_cpu_ticks_read(lg_cpu_ticks *out);
/* Steal between two readings as a percentage of all CPU time between them.
 * Returns -1 when either reading failed or no time passed. */
double lg_steal_pct(const lg_cpu_ticks *before, const lg_cpu_ticks *after);

#endif /* LG_STATS_H */
