/*
 * lg_hiccup.h: the platform hiccup meter (--hiccups), after jHiccup.
 *
 * What it measures: one extra thread of the load generator sleeps 1 ms
 * (clock_nanosleep, CLOCK_MONOTONIC, relative) over and over and records
 * how much longer than asked each sleep took: the wake-up delay of a
 * thread that wants the CPU for a few microseconds once a millisecond. On
 * an idle machine that delay is what the platform itself adds to any
 * process: the vCPU paused by the hypervisor (steal), the host or guest
 * scheduler running something else first, interrupts, page faults,
 * frequency and idle-state exits. Any request that crosses two processes
 * (the load generator and the server) can meet such a stall on either side,
 * so a fixed-rate latency tail of the same size is the platform's, not the
 * server's.
 *
 * What it does not measure: anything specific to the server or the network
 * path; stalls shorter than the syscall and timer cost (tens of
 * microseconds); and it is one thread, so a pause of only the other vCPU
 * is seen only as far as the scheduler cannot move this thread around it.
 * Its own timer slack is set to 1 ns, so the kernel's deliberate timer
 * coalescing (50 us by default) is not counted as a hiccup. The thread
 * competes for the CPUs like any other: load on the machine (the load
 * generator itself included) shows up as scheduler delay, which is a
 * delay a request would see too. Cost: ~1000 wake-ups per second; its CPU
 * time is reported apart and kept out of the load generator's own.
 *
 * Only sleeps that end inside the measured phase [t_meas, t_end) count,
 * each in the one-second window (from t_meas) in which it ended:
 *
 *   engine thread                      hiccup thread
 *   lg_hiccup_start ---------------->  loop: t = now; sleep 1 ms; w = now
 *   lg_hiccup_phase(t_meas, t_end)  ->   (atomics)  if w in phase:
 *   ... run ...                               rec: hist(w - t - 1 ms),
 *   lg_hiccup_stop: stop flag, join <-        sec_max[(w - t_meas) / 1 s]
 *   read rec (after the join only)      exits at t_end or on the flag
 *
 * Synchronization: the phase bounds and the stop flag are C11 atomics; the
 * record (histogram, per-second arrays, CPU time) is written only by the
 * thread and read only after pthread_join, which orders it.
 */
#ifndef LG_HICCUP_H
#define LG_HICCUP_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_hist.h"

#define LG_HICCUP_INTERVAL_NS 1000000ull /* each sleep asks for 1 ms */
#define LG_HICCUP_OVER_NS     1000000ull /* "time in hiccups" counts excesses above 1 ms */

/* What the sleeps of one measured phase showed (pure data, no thread). */
typedef struct lg_hiccup_rec {
    rs_hist hist;        /* excess of each sleep that ended in the phase, ns */
    uint64_t over_ns;    /* sum of the excesses above LG_HICCUP_OVER_NS */
    uint64_t t_meas_ns;  /* the phase's start as last seen (0: no sleep counted) */
    uint64_t seen_to_ns; /* the phase was observed up to here (<= t_end) */
    uint32_t nsec;       /* per-second windows */
    uint64_t *sec_max;   /* largest excess of the sleeps that ended in second i */
    uint32_t *sec_n;     /* sleeps that ended in second i */
} lg_hiccup_rec;

/* Allocate nsec one-second windows. Returns 0, or -1 on out of memory.
 * Free with lg_hiccup_rec_free (also after a failure). */
int lg_hiccup_rec_init(lg_hiccup_rec *r, uint32_t nsec);
void lg_hiccup_rec_free(lg_hiccup_rec *r);
/* A sleep of asked_ns began at begin_ns and woke at wake_ns (monotonic).
 * It is recorded when it woke inside [t_meas, t_end): its excess
 * (wake - begin - asked, at least 0) goes into the histogram and into the
 * window of its wake-up (the last window when past the end). Returns true
 * if it was recorded. */
bool lg_hiccup_rec_add(lg_hiccup_rec *r, uint64_t t_meas, uint64_t t_end, uint64_t asked_ns,
                       uint64_t begin_ns, uint64_t wake_ns);
/* The share of the observed phase (t_meas_ns .. seen_to_ns) spent in
 * hiccups above LG_HICCUP_OVER_NS, in percent (at most 100). Returns 0 when
 * nothing was observed. */
double lg_hiccup_rec_over_pct(const lg_hiccup_rec *r);

/* The meter: a thread and its record. */
typedef struct lg_hiccup {
    lg_hiccup_rec rec;          /* the thread's; read it only after lg_hiccup_stop */
    double cpu_s;               /* the thread's CPU time in the phase; after stop */
    _Atomic uint64_t t_meas_ns; /* UINT64_MAX until the phase is known */
    _Atomic uint64_t t_end_ns;
    atomic_bool stop;
    pthread_t thread;
    bool running; /* started and not joined yet (engine thread only) */
} lg_hiccup;

/* A meter for a measured phase of at most nsec seconds. Returns NULL on out
 * of memory. Free with lg_hiccup_free. */
lg_hiccup *lg_hiccup_new(uint32_t nsec);
/* Stop (if running) and free. NULL is fine. */
void lg_hiccup_free(lg_hiccup *h);
/* Start the thread (with every signal blocked in it, so signals go to the
 * engine's thread). Returns 0, or -1 with a message in err. */
int lg_hiccup_start(lg_hiccup *h, char *err, size_t errlen);
/* Set (or move: an early stop lowers t_end) the measured phase, monotonic
 * ns. Callable from the engine's thread while the meter runs. NULL is a
 * no-op. */
void lg_hiccup_phase(lg_hiccup *h, uint64_t t_meas_ns, uint64_t t_end_ns);
/* Tell the thread to stop and join it (within about one sleep). Afterwards
 * rec and cpu_s may be read. NULL, or a meter not running, is a no-op. */
void lg_hiccup_stop(lg_hiccup *h);

#endif /* LG_HICCUP_H */
