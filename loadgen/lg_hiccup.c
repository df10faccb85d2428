/*
 * lg_hiccup.c: the platform hiccup meter; what it measures, what it does
 * not, and how the thread hands its results over are in lg_hiccup.h.
 *
 * The loop, per iteration: read the clock, sleep LG_HICCUP_INTERVAL_NS,
 * read the clock, record. It is bounded by the phase (the thread exits on
 * its first wake-up at or after t_end) and by the stop flag (checked every
 * iteration, so a join waits about one sleep, or one stall).
 */
#include "lg_hiccup.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "rs_common.h"

#define NS_PER_S 1000000000ull

int lg_hiccup_rec_init(lg_hiccup_rec *r, uint32_t nsec)
{
    memset(r, 0, sizeof(*r));
    rs_hist_reset(&r->hist);
    r->nsec = nsec ? nsec : 1;
    r->sec_max = calloc(r->nsec, sizeof(*r->sec_max));
    r->sec_n = calloc(r->nsec, sizeof(*r->sec_n));
    return r->sec_max != NULL && r->sec_n != NULL ? 0 : -1;
}

void lg_hiccup_rec_free(lg_hiccup_rec *r)
{
    free(r->sec_max);
    free(r->sec_n);
    r->sec_max = NULL;
    r->sec_n = NULL;
}

bool lg_hiccup_rec_add(lg_hiccup_rec *r, uint64_t t_meas, uint64_t t_end, uint64_t asked_ns,
                       uint64_t begin_ns, uint64_t wake_ns)
{
    if (wake_ns < t_meas || wake_ns >= t_end)
        return false;
    uint64_t took = wake_ns > begin_ns ? wake_ns - begin_ns : 0;
    uint64_t excess = took > asked_ns ? took - asked_ns : 0;
    rs_hist_record(&r->hist, excess);
    if (excess > LG_HICCUP_OVER_NS)
        r->over_ns += excess;
    uint64_t i = (wake_ns - t_meas) / NS_PER_S;
    if (i >= r->nsec)
        i = r->nsec - 1;
    if (r->sec_n[i] == 0 || excess > r->sec_max[i])
        r->sec_max[i] = excess;
    r->sec_n[i]++;
    r->t_meas_ns = t_meas;
    if (wake_ns > r->seen_to_ns)
        r->seen_to_ns = wake_ns;
    return true;
}

double lg_hiccup_rec_over_pct(const lg_hiccup_rec *r)
{
    if (r->hist.total == 0 || r->seen_to_ns <= r->t_meas_ns)
        return 0;
    double pct = 100.0 * (double)r->over_ns / (double)(r->seen_to_ns - r->t_meas_ns);
    return pct < 100.0 ? pct : 100.0;
}

/* CPU seconds this thread has used. */
static double hic_thread_cpu_s(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *hic_run(void *arg)
{
    lg_hiccup *h = arg;
    /* measure the platform, not the kernel's deliberate timer coalescing;
     * if this fails the default slack (50 us) shows in every sleep */
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    const struct timespec req = {0, (long)LG_HICCUP_INTERVAL_NS};
    bool in_phase = false;
    double cpu0 = 0;
    while (!atomic_load(&h->stop)) {
        uint64_t begin = rs_now_ns();
        int rc = clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
        uint64_t wake = rs_now_ns();
        if (rc != 0)
            continue; /* interrupted (signals are blocked here): not a whole sleep */
        /* t_end is stored before t_meas, so a t_meas seen here comes with its t_end */
        uint64_t t_meas = atomic_load(&h->t_meas_ns);
        if (t_meas == UINT64_MAX || wake < t_meas)
            continue;
        uint64_t t_end = atomic_load(&h->t_end_ns);
        if (!in_phase) {
            in_phase = true;
            cpu0 = hic_thread_cpu_s();
        }
        lg_hiccup_rec_add(&h->rec, t_meas, t_end, LG_HICCUP_INTERVAL_NS, begin, wake);
        if (wake >= t_end)
            break;
    }
    if (in_phase)
        h->cpu_s = hic_thread_cpu_s() - cpu0;
    return NULL;
}

lg_hiccup *lg_hiccup_new(uint32_t nsec)
{
    lg_hiccup *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    if (lg_hiccup_rec_init(&h->rec, nsec) != 0) {
        lg_hiccup_rec_free(&h->rec);
        free(h);
        return NULL;
    }
    atomic_init(&h->t_meas_ns, UINT64_MAX);
    atomic_init(&h->t_end_ns, UINT64_MAX);
    atomic_init(&h->stop, false);
    return h;
}

void lg_hiccup_free(lg_hiccup *h)
{
    if (h == NULL)
        return;
    lg_hiccup_stop(h);
    lg_hiccup_rec_free(&h->rec);
    free(h);
}

int lg_hiccup_start(lg_hiccup *h, char *err, size_t errlen)
{
    if (h->running)
        return 0;
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (rc == 0) {
        rc = pthread_create(&h->thread, NULL, hic_run, h);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot start the hiccup meter thread: %s", strerror(rc));
        return -1;
    }
    h->running = true;
    return 0;
}

void lg_hiccup_phase(lg_hiccup *h, uint64_t t_meas_ns, uint64_t t_end_ns)
{
    if (h == NULL)
        return;
    atomic_store(&h->t_end_ns, t_end_ns);
    atomic_store(&h->t_meas_ns, t_meas_ns);
}

void lg_hiccup_stop(lg_hiccup *h)
{
    if (h == NULL || !h->running)
        return;
    atomic_store(&h->stop, true);
    pthread_join(h->thread, NULL);
    h->running = false;
}
