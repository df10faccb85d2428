/* lg_sched.c: the open-loop send schedule, see lg_sched.h. */
#include "lg_sched.h"

#include <math.h>

int lg_sched_init(lg_sched *s, uint64_t t0_ns, double rate)
{
    if (!(rate > 0.0) || rate > 1e9)
        return -1;
    s->t0_ns = t0_ns;
    s->period_ns = 1e9 / rate;
    s->next = 0;
    s->limit = UINT64_MAX;
    return 0;
}

uint64_t lg_sched_time(const lg_sched *s, uint64_t i)
{
    /* Computed from i directly, never accumulated, so no drift. */
    return s->t0_ns + (uint64_t)llround((double)i * s->period_ns);
}

void lg_sched_stop_at(lg_sched *s, uint64_t end_ns)
{
    if (end_ns <= s->t0_ns) {
        s->limit = 0;
        return;
    }
    /* first index whose time is >= end_ns */
    uint64_t i = (uint64_t)((double)(end_ns - s->t0_ns) / s->period_ns);
    while (i > 0 && lg_sched_time(s, i - 1) >= end_ns)
        i--;
    while (lg_sched_time(s, i) < end_ns)
        i++;
    s->limit = i;
}

uint64_t lg_sched_backlog(const lg_sched *s, uint64_t now_ns)
{
    if (now_ns < s->t0_ns)
        return 0;
    /* index of the last request due at now, plus one */
    uint64_t due = (uint64_t)((double)(now_ns - s->t0_ns) / s->period_ns) + 1;
    while (due > 0 && lg_sched_time(s, due - 1) > now_ns)
        due--;
    while (lg_sched_time(s, due) <= now_ns)
        due++;
    if (due > s->limit)
        due = s->limit;
    return due > s->next ? due - s->next : 0;
}

bool lg_sched_take(lg_sched *s, uint64_t now_ns, uint64_t *sched_ns)
{
    if (s->next >= s->limit)
        return false;
    uint64_t t = lg_sched_time(s, s->next);
    if (t > now_ns)
        return false;
    *sched_ns = t;
    s->next++;
    return true;
}

uint64_t lg_sched_next_time(const lg_sched *s)
{
    if (s->next >= s->limit)
        return UINT64_MAX;
    return lg_sched_time(s, s->next);
}

bool lg_sched_done(const lg_sched *s)
{
    return s->next >= s->limit;
}
