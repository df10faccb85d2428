/*
 * lg_engine.c: connections, slots, phases and the send loop; see
 * lg_engine.h for the picture.
 *
 * Phases, all on one monotonic clock:
 *
 *   t0 ---- warm-up ---- t_meas ---- measured ---- t_end -- drain -- t_drain
 *   (sent, not recorded)  (recorded by start time)   (no new requests; wait
 *                                                      for answers, then stop)
 *
 * Invariants: free_ready == sum of nfree over READY connections; inflight
 * == number of busy slots; a slot is freed exactly once (an answer for a
 * slot that is not busy, or whose generation does not match, is ignored).
 *
 * Wake-ups in rate mode: one timer (tick) for the whole engine, armed for
 * the next due request (but at least cfg.batch_ns after the last tick, so
 * high rates go out in batches, each on one connection), or sooner (LG_COLLECT_NS) while
 * answers may be waiting unread in deferred mode. Each tick first collects the answers that
 * arrived, then sends every request due, then re-arms. At a steady low rate that is one wake-up
 * per request instead of two (send, answer).
 *
 * The tick is a one-shot timerfd of our own, set to the absolute due time
 * (edge-triggered and never read: setting it again clears it), rather than
 * a libevent timer: precise libevent timers cost a timerfd_settime on every
 * turn of the loop, also the turns that only read answers; this one is set
 * only when the next wake-up changes. It never fires before it is due. The
 * other timers (phases, reconnects) need only milliseconds.
 * (A periodic timerfd would save even that, but the kernel re-arms it only
 * when it is read, which costs the same syscall.)
 */
#include "lg_engine.h"

#include <errno.h>
#include <event2/event.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "rs_common.h"
#include "rs_ring.h"

#define NS_PER_S        1000000000ull
#define RETRY_NS        200000000ull /* reconnect after 200 ms */
#define LIVE_SLACK_NS   5000000ull   /* print a window 5 ms after it closes */
#define STATS_EXTRA_SEC 3
#define TICK_NONE       UINT64_MAX
_Static_assert(LIVE_SLACK_NS > LG_COLLECT_NS, "a live line must see its second's answers");

static void eng_tv_in(struct timeval *tv, uint64_t now, uint64_t at)
{
    uint64_t d = at > now ? at - now : 0;
    tv->tv_sec = (time_t)(d / NS_PER_S);
    tv->tv_usec = (suseconds_t)((d % NS_PER_S) / 1000u);
}

static void eng_arm_at(struct event *ev, uint64_t now, uint64_t at)
{
    struct timeval tv;
    eng_tv_in(&tv, now, at);
    evtimer_add(ev, &tv);
}

static int eng_check_config(const lg_config *c, char *err, size_t errlen)
{
    if (c->conns == 0 || c->conns > 10000) {
        snprintf(err, errlen, "connections must be 1..10000");
        return -1;
    }
    if (c->depth == 0 || c->depth > 65536) {
        snprintf(err, errlen, "pipeline depth must be 1..65536");
        return -1;
    }
    if (c->mode == LG_MODE_RATE && !(c->rate > 0)) {
        snprintf(err, errlen, "rate must be > 0");
        return -1;
    }
    if (!(c->duration_s > 0) || c->duration_s > 86400 || c->warmup_s < 0 ||
        c->warmup_s > 86400 || c->drain_s < 0 || c->drain_s > 3600) {
        snprintf(err, errlen, "duration must be > 0; warm-up and drain >= 0 (bounded)");
        return -1;
    }
    if (c->mode == LG_MODE_FILL && (c->fill_users == 0 || c->fill_channels == 0)) {
        snprintf(err, errlen, "fill needs --fill-users and --fill-channels >= 1");
        return -1;
    }
    if (c->port <= 0 || c->port > 65535) {
        snprintf(err, errlen, "bad target port");
        return -1;
    }
    return 0;
}

static int eng_alloc_conns(lg_engine *e)
{
    e->conns = calloc(e->cfg.conns, sizeof(*e->conns));
    if (e->conns == NULL)
        return -1;
    for (uint32_t i = 0; i < e->cfg.conns; i++) {
        lg_conn *c = &e->conns[i];
        c->eng = e;
        c->idx = i;
        c->state = LG_CONN_DOWN;
        c->slots = calloc(e->cfg.depth, sizeof(*c->slots));
        c->free_stack = calloc(e->cfg.depth, sizeof(*c->free_stack));
        if (c->slots == NULL || c->free_stack == NULL)
            return -1;
        for (uint32_t s = 0; s < e->cfg.depth; s++)
            c->free_stack[s] = e->cfg.depth - 1 - s;
        c->nfree = e->cfg.depth;
    }
    return 0;
}

static void eng_tick_cb(evutil_socket_t fd, short what, void *arg);
static void eng_second_cb(evutil_socket_t fd, short what, void *arg);
static void eng_sigint_cb(evutil_socket_t fd, short what, void *arg);
static void eng_retry_cb(evutil_socket_t fd, short what, void *arg);

lg_engine *lg_engine_new(const lg_config *cfg, char *err, size_t errlen)
{
    if (eng_check_config(cfg, err, errlen) != 0)
        return NULL;
    lg_engine *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    e->cfg = *cfg;
    e->eager = true; /* targets start by reporting answers at once */
    e->ops = cfg->target == LG_TARGET_REDIS ? &lg_target_redis_ops : &lg_target_rs_ops;
    double span = cfg->duration_s + cfg->drain_s;
    unsigned mask = 0;
    for (int m = 0; m < LG_METHOD_MAX; m++)
        if (cfg->mode == LG_MODE_FILL ? m == LG_BULK_ACK : cfg->work.mix[m] > 0)
            mask |= 1u << m;
    if (lg_work_init(&e->work, &cfg->work, err, errlen) != 0 ||
        lg_stats_init(&e->stats, (uint32_t)ceil(span) + STATS_EXTRA_SEC, mask) != 0) {
        if (err[0] == '\0')
            snprintf(err, errlen, "out of memory");
        lg_engine_free(e);
        return NULL;
    }
    e->tick_fd = -1;
    e->tick_at = TICK_NONE;
    if (cfg->hiccups) {
        /* one window per second of the measured phase (sleeps past its end
         * are not recorded) */
        e->hiccup = lg_hiccup_new((uint32_t)ceil(cfg->duration_s) + 1);
        if (e->hiccup == NULL) {
            snprintf(err, errlen, "out of memory");
            lg_engine_free(e);
            return NULL;
        }
    }
    e->base = event_base_new();
    if (e->base == NULL || eng_alloc_conns(e) != 0) {
        snprintf(err, errlen, "out of memory (event base or connections)");
        lg_engine_free(e);
        return NULL;
    }
    e->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (e->tick_fd < 0) {
        snprintf(err, errlen, "timerfd_create: %s", strerror(errno));
        lg_engine_free(e);
        return NULL;
    }
    e->tick = event_new(e->base, e->tick_fd, EV_READ | EV_PERSIST | EV_ET, eng_tick_cb, e);
    if (e->tick == NULL || event_add(e->tick, NULL) != 0) {
        snprintf(err, errlen, "cannot watch the send timer");
        lg_engine_free(e);
        return NULL;
    }
    e->second = evtimer_new(e->base, eng_second_cb, e);
    e->sigint = evsignal_new(e->base, SIGINT, eng_sigint_cb, e);
    for (uint32_t i = 0; i < cfg->conns; i++)
        e->conns[i].retry = evtimer_new(e->base, eng_retry_cb, &e->conns[i]);
    return e;
}

void lg_engine_free(lg_engine *e)
{
    if (e == NULL)
        return;
    lg_hiccup_free(e->hiccup); /* joins the thread if a run was cut short */
    if (e->conns != NULL) {
        for (uint32_t i = 0; i < e->cfg.conns; i++) {
            lg_conn *c = &e->conns[i];
            if (c->state != LG_CONN_DOWN && e->ops != NULL)
                e->ops->close(c);
            if (c->retry != NULL)
                event_free(c->retry);
            free(c->slots);
            free(c->free_stack);
        }
        free(e->conns);
    }
    if (e->tick != NULL)
        event_free(e->tick);
    if (e->tick_fd >= 0)
        close(e->tick_fd);
    if (e->second != NULL)
        event_free(e->second);
    if (e->sigint != NULL)
        event_free(e->sigint);
    /* before the base: a target may own events on it */
    if (e->ops != NULL && e->ops->release != NULL)
        e->ops->release(e);
    if (e->base != NULL)
        event_base_free(e->base);
    lg_stats_free(&e->stats);
    free(e->target_data);
    free(e);
}

/* ---- slots ----------------------------------------------------------- */

static lg_conn *eng_pick_conn(lg_engine *e)
{
    if (e->free_ready == 0)
        return NULL;
    for (uint32_t n = 0; n < e->cfg.conns; n++) {
        lg_conn *c = &e->conns[e->rr];
        e->rr = e->rr + 1 == e->cfg.conns ? 0 : e->rr + 1;
        if (c->state == LG_CONN_READY && c->nfree > 0)
            return c;
    }
    return NULL;
}

/* --ring: the ring node of op's user (the first user of an AddMentions). */
static uint32_t eng_owner(const lg_engine *e, const lg_op *op)
{
    uint64_t user = op->method == LG_MENTIONS && op->n > 0 ? op->list[0] : op->user_id;
    return e->cfg.ring->owner[rs_user_slot(user)];
}

/* --ring: a ready connection of node (connection i goes to node i % nnodes). */
static lg_conn *eng_pick_conn_node(lg_engine *e, uint32_t node)
{
    uint32_t nn = (uint32_t)e->cfg.ring->nnodes;
    for (uint32_t n = 0; n < e->cfg.conns; n++) {
        lg_conn *c = &e->conns[e->rr];
        e->rr = e->rr + 1 == e->cfg.conns ? 0 : e->rr + 1;
        if (c->idx % nn == node && c->state == LG_CONN_READY && c->nfree > 0)
            return c;
    }
    return NULL;
}

static void eng_issue(lg_engine *e, lg_conn *c, uint64_t start_ns, uint64_t now_ns,
                      const lg_op *op)
{
    uint32_t s = c->free_stack[--c->nfree];
    e->free_ready--;
    lg_slot *sl = &c->slots[s];
    sl->start_ns = start_ns;
    sl->gen++;
    sl->method = (uint8_t)op->method;
    sl->busy = 1;
    sl->n = (uint16_t)op->n;
    e->inflight++;
    e->ops->send(c, op, s);
    lg_stats_sent(&e->stats, op->method, start_ns, now_ns);
}

/* Release a busy slot; the caller records the outcome. */
static void eng_release(lg_engine *e, lg_conn *c, uint32_t s)
{
    c->slots[s].busy = 0;
    c->free_stack[c->nfree++] = s;
    e->inflight--;
    if (c->state == LG_CONN_READY)
        e->free_ready++;
}

/* ---- sending --------------------------------------------------------- */

static void eng_finish(lg_engine *e)
{
    event_base_loopexit(e->base, NULL);
}

static bool eng_all_sent(lg_engine *e)
{
    switch (e->cfg.mode) {
    case LG_MODE_RATE: return lg_sched_done(&e->sched);
    case LG_MODE_FILL: return e->fill_done;
    default: return true;
    }
}

static void eng_maybe_finish(lg_engine *e)
{
    if (e->inflight == 0 && (e->stopping || e->fill_done) && eng_all_sent(e))
        eng_finish(e);
}

static void eng_set_eager(lg_engine *e, bool eager)
{
    if (e->eager == eager || e->ops->set_eager == NULL)
        return;
    e->eager = eager;
    e->ops->set_eager(e, eager);
}

/* Set the tick's timerfd to fire once at `at` (monotonic; TICK_NONE
 * disarms). */
static void eng_tick_set(lg_engine *e, uint64_t at)
{
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (at != TICK_NONE) {
        its.it_value.tv_sec = (time_t)(at / NS_PER_S);
        its.it_value.tv_nsec = (long)(at % NS_PER_S);
    }
    if (timerfd_settime(e->tick_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0) {
        /* only on a bad value, which the checks above rule out */
        fprintf(stderr, "readstate-loadgen: timerfd_settime: %s\n", strerror(errno));
        abort();
    }
    e->tick_at = at;
}

/* Arm the tick for the next due request, or for the next collection of
 * deferred answers if that comes first. An earlier pending tick is kept
 * (it only collects and re-arms). */
static void eng_arm_tick(lg_engine *e, uint64_t now)
{
    uint64_t next = lg_sched_next_time(&e->sched);
    if (next != TICK_NONE)
        next = RS_MAX(next, e->last_tick_ns + e->cfg.batch_ns);
    if (!e->eager && e->inflight > 0)
        next = RS_MIN(next, now + LG_COLLECT_NS);
    if (e->tick_at <= next)
        return; /* also when both are TICK_NONE */
    eng_tick_set(e, next);
}

/* Send every request due at now, on one connection while its slots last
 * (one write per batch; the next batch starts on the next connection).
 * Returns true when some stay in the backlog because no slot is free. */
static bool eng_pump_rate(lg_engine *e, uint64_t now)
{
    uint64_t t, wall = 0;
    lg_op op;
    lg_conn *c = NULL;
    if (e->cfg.ring != NULL) { /* each request on a connection of its owner */
        for (;;) {
            if (!e->held) {
                if (lg_sched_next_time(&e->sched) > now)
                    return false;
                lg_sched_take(&e->sched, now, &e->held_t);
                if (wall == 0)
                    wall = rs_wall_ms();
                lg_work_next(&e->work, wall, &e->held_op);
                e->held = true;
            }
            c = eng_pick_conn_node(e, eng_owner(e, &e->held_op));
            if (c == NULL)
                return true; /* its owner's slots are all busy: answers pump again */
            e->held = false;
            eng_issue(e, c, e->held_t, now, &e->held_op);
        }
    }
    while (lg_sched_next_time(&e->sched) <= now) {
        if (c == NULL || c->state != LG_CONN_READY || c->nfree == 0)
            c = eng_pick_conn(e);
        if (c == NULL)
            return true; /* answers will pump again; start times stay put */
        lg_sched_take(&e->sched, now, &t);
        if (wall == 0)
            wall = rs_wall_ms();
        lg_work_next(&e->work, wall, &op);
        eng_issue(e, c, t, now, &op);
    }
    return false;
}

/* Closed loop: fill connection c's free slots. */
static void eng_pump_closed(lg_engine *e, lg_conn *c, uint64_t now)
{
    lg_op op;
    uint64_t wall = rs_wall_ms();
    while (c->state == LG_CONN_READY && c->nfree > 0 && !e->stopping) {
        if (e->cfg.mode == LG_MODE_FILL) {
            if (!lg_work_fill_next(&e->work, e->cfg.fill_users, e->cfg.fill_channels, wall,
                                   &op)) {
                e->fill_done = true;
                return;
            }
        } else {
            lg_work_next(&e->work, wall, &op);
            /* --ring: draw again until the user is this connection's node's
             * (the same workload, each node's share on its connections) */
            for (int k = 0; e->cfg.ring != NULL && k < 64 &&
                            eng_owner(e, &op) != c->idx % e->cfg.ring->nnodes;
                 k++)
                lg_work_next(&e->work, wall, &op);
        }
        eng_issue(e, c, now, now, &op);
    }
}

static void eng_pump(lg_engine *e, lg_conn *c, uint64_t now)
{
    if (!e->started)
        return;
    if (e->cfg.mode == LG_MODE_RATE) {
        /* a backlog waits for answers: take them as they come */
        bool blocked = eng_pump_rate(e, now);
        eng_set_eager(e, blocked || e->stopping);
        if (!blocked)
            eng_arm_tick(e, now);
        else if (e->tick_at != TICK_NONE)
            eng_tick_set(e, TICK_NONE); /* answers pump until the backlog is gone */
    } else if (c != NULL) {
        eng_pump_closed(e, c, now);
    } else {
        for (uint32_t i = 0; i < e->cfg.conns; i++)
            eng_pump_closed(e, &e->conns[i], now);
    }
    if (e->ops->flush != NULL)
        e->ops->flush(e);
}

static void eng_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_engine *e = arg;
    uint64_t now = rs_now_ns();
    e->last_tick_ns = now;
    if (e->tick_at <= now)
        e->tick_at = TICK_NONE; /* it fired (an older firing reported late: it is still set) */
    if (!e->eager && e->ops->collect != NULL) {
        e->collecting = true;
        e->ops->collect(e);
        e->collecting = false;
    }
    eng_pump(e, NULL, rs_now_ns());
    eng_maybe_finish(e);
}

/* ---- phases and the live line ---------------------------------------- */

static void eng_live_line(lg_engine *e, uint32_t w)
{
    const lg_second *s = &e->stats.sec[w];
    double total = e->cfg.mode == LG_MODE_FILL ? 0 : e->cfg.duration_s;
    uint64_t backlog =
        e->cfg.mode == LG_MODE_RATE ? lg_sched_backlog(&e->sched, rs_now_ns()) : 0;
    char prog[32];
    if (total > 0)
        snprintf(prog, sizeof(prog), "%3u/%.0fs %3.0f%%", w + 1, total,
                 RS_MIN(100.0, 100.0 * (w + 1) / total));
    else
        snprintf(prog, sizeof(prog), "%3us", w + 1);
    fprintf(stderr,
            "[%s] sent/s %-8llu answered/s %-8llu errors %-5llu p50 %8.3f ms  p99 %8.3f ms  "
            "max %8.3f ms  inflight %llu backlog %llu\n",
            prog, (unsigned long long)s->sent, (unsigned long long)s->answered,
            (unsigned long long)s->errors, rs_hist_percentile(&s->hist, 50) / 1e6,
            rs_hist_percentile(&s->hist, 99) / 1e6, (double)s->hist.max / 1e6,
            (unsigned long long)e->inflight, (unsigned long long)backlog);
}

static void eng_start(lg_engine *e, uint64_t now)
{
    e->started = true;
    e->t0_ns = now;
    e->t_meas_ns = now + (e->cfg.mode == LG_MODE_FILL ? 0 : (uint64_t)(e->cfg.warmup_s * 1e9));
    e->t_end_ns = e->t_meas_ns + (uint64_t)(e->cfg.duration_s * 1e9);
    e->t_drain_ns = UINT64_MAX;
    e->meas_unix_ms = rs_wall_ms() + (e->t_meas_ns - now) / 1000000u;
    lg_stats_start(&e->stats, e->t_meas_ns);
    if (e->cfg.mode == LG_MODE_RATE) {
        lg_sched_init(&e->sched, now, e->cfg.rate);
        lg_sched_stop_at(&e->sched, e->t_end_ns);
    }
    lg_hiccup_phase(e->hiccup, e->t_meas_ns, e->t_end_ns);
    /* CPU (and steal) is counted from the measured phase on: now, or after
     * warm-up */
    e->cpu0_self = e->t_meas_ns > now ? -1.0 : lg_cpu_self_s();
    e->cpu0_server = lg_cpu_pid_s(e->cfg.server_pid);
    if (e->t_meas_ns <= now)
        lg_cpu_ticks_read(&e->steal0);
    e->live_sec = 0;
    eng_arm_at(e->second, now, RS_MIN(e->t_meas_ns, now + NS_PER_S));
    eng_pump(e, NULL, now);
}

/* Next time the phase timer should fire after now. */
static uint64_t eng_next_phase_time(const lg_engine *e, uint64_t now)
{
    uint64_t next;
    if (now < e->t_meas_ns) {
        next = RS_MIN(e->t_meas_ns, now + NS_PER_S);
    } else {
        uint64_t k = (now - e->t_meas_ns) / NS_PER_S + 1;
        next = e->t_meas_ns + k * NS_PER_S + LIVE_SLACK_NS;
    }
    if (!e->stopping)
        next = RS_MIN(next, e->t_end_ns);
    else
        next = RS_MIN(next, e->t_drain_ns);
    return next > now ? next : now + 1000;
}

static void eng_second_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_engine *e = arg;
    uint64_t now = rs_now_ns();
    if (!e->started) {
        bool any = false;
        for (uint32_t i = 0; i < e->cfg.conns; i++)
            any |= e->conns[i].state == LG_CONN_READY;
        if (any) {
            eng_start(e, now);
        } else {
            snprintf(e->err, sizeof(e->err), "could not connect to %.200s:%d within %.1f s",
                     e->cfg.host, e->cfg.port, e->cfg.connect_s);
            eng_finish(e);
        }
        return;
    }
    if (now >= e->t_meas_ns && e->cpu0_self < 0) {
        e->cpu0_self = lg_cpu_self_s();
        e->cpu0_server = lg_cpu_pid_s(e->cfg.server_pid);
        lg_cpu_ticks_read(&e->steal0);
    }
    if (!e->stopping && now >= e->t_end_ns) {
        e->stopping = true;
        lg_cpu_ticks_read(&e->steal1);
        e->t_drain_ns = now + (uint64_t)(e->cfg.drain_s * 1e9);
        eng_set_eager(e, true); /* the drain waits for answers */
    }
    if (e->stopping && now >= e->t_drain_ns) {
        eng_finish(e);
        return;
    }
    if (now >= e->t_meas_ns) {
        uint32_t done = (uint32_t)((now - e->t_meas_ns) / NS_PER_S);
        for (; e->live_sec < done && e->live_sec < e->stats.nsec; e->live_sec++)
            if (e->cfg.live)
                eng_live_line(e, e->live_sec);
    } else if (e->cfg.live) {
        fprintf(stderr, "[warm-up] %.0f s left, inflight %llu\n",
                (double)(e->t_meas_ns - now) / 1e9, (unsigned long long)e->inflight);
    }
    eng_arm_at(e->second, now, eng_next_phase_time(e, now));
    eng_maybe_finish(e);
}

static void eng_sigint_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_engine *e = arg;
    uint64_t now = rs_now_ns();
    if (!e->started || e->stopping) {
        eng_finish(e);
        return;
    }
    /* stop early: what was due so far is the run */
    e->stopping = true;
    e->t_end_ns = now;
    lg_cpu_ticks_read(&e->steal1);
    lg_hiccup_phase(e->hiccup, e->t_meas_ns, RS_MAX(now, e->t_meas_ns));
    e->t_drain_ns = now + (uint64_t)(e->cfg.drain_s * 1e9);
    eng_set_eager(e, true);
    if (e->cfg.mode == LG_MODE_RATE)
        lg_sched_stop_at(&e->sched, RS_MAX(now, lg_sched_next_time(&e->sched)));
    eng_arm_at(e->second, now, eng_next_phase_time(e, now));
    eng_maybe_finish(e);
}

/* ---- target callbacks ------------------------------------------------ */

void lg_engine_on_ready(lg_conn *c)
{
    lg_engine *e = c->eng;
    if (c->state == LG_CONN_READY)
        return;
    c->state = LG_CONN_READY;
    e->free_ready += c->nfree;
    uint64_t now = rs_now_ns();
    if (!e->started) {
        for (uint32_t i = 0; i < e->cfg.conns; i++)
            if (e->conns[i].state != LG_CONN_READY)
                return;
        event_del(e->second);
        eng_start(e, now);
        return;
    }
    eng_pump(e, c, now);
}

void lg_engine_on_answer(lg_conn *c, uint32_t slot, int status)
{
    lg_engine_on_answer_at(c, slot, status, UINT64_MAX);
}

void lg_engine_on_answer_at(lg_conn *c, uint32_t slot, int status, uint64_t done_ns)
{
    lg_engine *e = c->eng;
    if (slot >= e->cfg.depth || !c->slots[slot].busy)
        return;
    uint64_t now = rs_now_ns();
    lg_slot *sl = &c->slots[slot];
    /* never after now, never before the request started */
    uint64_t done = RS_MAX(RS_MIN(done_ns, now), sl->start_ns);
    lg_stats_done(&e->stats, (lg_method)sl->method, sl->start_ns, done, status);
    if (e->cfg.mode == LG_MODE_FILL && status == LG_ST_OK)
        e->fill_total += sl->n;
    eng_release(e, c, slot);
    if (e->collecting) {
        /* the tick collecting this answer sends next */
    } else if (e->cfg.mode == LG_MODE_RATE) {
        eng_pump(e, NULL, now);
    } else if (!e->stopping) {
        eng_pump(e, c, now);
    }
    eng_maybe_finish(e);
}

void lg_engine_on_conn_error(lg_conn *c, const char *why)
{
    lg_engine *e = c->eng;
    if (c->state == LG_CONN_READY)
        e->free_ready -= c->nfree;
    if (c->state != LG_CONN_DOWN)
        e->ops->close(c);
    c->state = LG_CONN_DOWN;
    uint64_t now = rs_now_ns();
    for (uint32_t s = 0; s < e->cfg.depth; s++) {
        if (!c->slots[s].busy)
            continue;
        lg_stats_done(&e->stats, (lg_method)c->slots[s].method, c->slots[s].start_ns, now,
                      LG_ST_CONN);
        eng_release(e, c, s);
    }
    if (e->conn_errors++ == 0 || e->cfg.live)
        fprintf(stderr, "readstate-loadgen: connection %u to %s:%d: %s\n", c->idx, e->cfg.host,
                e->cfg.port, why ? why : "error");
    if (!e->stopping) {
        struct timeval tv = {0, (suseconds_t)(RETRY_NS / 1000u)};
        evtimer_add(c->retry, &tv);
    }
    eng_maybe_finish(e);
}

void lg_engine_fail(lg_engine *e, const char *why)
{
    if (!e->failed)
        snprintf(e->err, sizeof(e->err), "%s", why);
    e->failed = true;
    eng_finish(e);
}

static void eng_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    lg_conn *c = arg;
    if (c->state != LG_CONN_DOWN || c->eng->stopping)
        return;
    c->state = LG_CONN_CONNECTING;
    errno = 0;
    if (c->eng->ops->connect(c) != 0)
        lg_engine_on_conn_error(c, errno ? strerror(errno) : "connect failed");
}

/* ---- run ------------------------------------------------------------- */

static void eng_settle(lg_engine *e)
{
    uint64_t now = rs_now_ns();
    lg_stats *st = &e->stats;
    for (uint32_t i = 0; i < e->cfg.conns; i++) {
        lg_conn *c = &e->conns[i];
        for (uint32_t s = 0; s < e->cfg.depth; s++) {
            if (!c->slots[s].busy)
                continue;
            lg_stats_done(st, (lg_method)c->slots[s].method, c->slots[s].start_ns, now,
                          LG_ST_UNANSWERED);
            eng_release(e, c, s);
        }
    }
    if (e->cfg.mode == LG_MODE_RATE) {
        lg_sched first = e->sched;
        lg_sched_stop_at(&first, e->t_meas_ns);
        uint64_t lim = e->sched.limit;
        st->scheduled = lim > first.limit ? lim - first.limit : 0;
        uint64_t from = RS_MAX(e->sched.next, first.limit);
        st->status[LG_ST_UNSENT] += lim > from ? lim - from : 0;
    } else {
        st->scheduled = lg_stats_total_sent(st);
    }
    uint64_t end = RS_MAX(now, e->t_meas_ns);
    st->elapsed_s = (double)(end - e->t_meas_ns) / 1e9;
    /* the hiccup meter's thread (joined by now) is not the load generator */
    st->loadgen_cpu_s = lg_cpu_self_s() - e->cpu0_self - (e->hiccup ? e->hiccup->cpu_s : 0);
    double srv = lg_cpu_pid_s(e->cfg.server_pid);
    st->server_cpu_s = (srv >= 0 && e->cpu0_server >= 0) ? srv - e->cpu0_server : -1;
    if (!e->steal1.ok)
        lg_cpu_ticks_read(&e->steal1); /* a run that ended without stopping (fill) */
    st->steal_pct = lg_steal_pct(&e->steal0, &e->steal1);
}

int lg_engine_run(lg_engine *e)
{
    if (e->ops->prepare != NULL && e->ops->prepare(e, e->err, sizeof(e->err)) != 0)
        return -1;
    if (e->hiccup != NULL && lg_hiccup_start(e->hiccup, e->err, sizeof(e->err)) != 0)
        return -1;
    evsignal_add(e->sigint, NULL);
    for (uint32_t i = 0; i < e->cfg.conns; i++) {
        lg_conn *c = &e->conns[i];
        c->state = LG_CONN_CONNECTING;
        errno = 0;
        if (e->ops->connect(c) != 0)
            lg_engine_on_conn_error(c, errno ? strerror(errno) : "connect failed");
    }
    if (!e->started) {
        struct timeval tv;
        eng_tv_in(&tv, 0, (uint64_t)(e->cfg.connect_s * 1e9));
        evtimer_add(e->second, &tv);
    }
    event_base_dispatch(e->base);
    lg_hiccup_stop(e->hiccup); /* join before anything reads its record */
    evsignal_del(e->sigint);
    if (e->failed)
        return -1;
    if (!e->started) {
        if (e->err[0] == '\0')
            snprintf(e->err, sizeof(e->err), "could not connect to %.200s:%d", e->cfg.host,
                     e->cfg.port);
        return -1;
    }
    eng_settle(e);
    for (uint32_t i = 0; i < e->cfg.conns; i++) {
        lg_conn *c = &e->conns[i];
        if (c->state != LG_CONN_DOWN)
            e->ops->close(c);
        c->state = LG_CONN_DOWN;
        event_del(c->retry);
    }
    return 0;
}
