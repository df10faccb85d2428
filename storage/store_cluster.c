/*
 * store_cluster.c: the Redis Cluster store (store_cluster.h).
 *
 *   store_cluster
 *     table[16384] ──> cl_node (host:port, redis_conn, recent merges log)
 *     nodes: seeds first, then every primary a refresh or MOVED named
 *     parked: requests waiting for their slot's primary to be up
 *     refresh: one CLUSTER SLOTS at a time, at most one a second
 *
 *   request (cl_req): one command for one slot, kept formatted (RESP) so
 *   it can be resent as is to another node:
 *
 *     dispatch ──> node up? ──no──> park (until up, a new table, or the
 *        │                          deadline: then fail)
 *        └─yes─> [ASKING] + command [+ WAIT] ──> reply
 *                   MOVED ──> patch table[slot], schedule refresh, dispatch
 *                   ASK   ──> dispatch to that node with ASKING
 *                   TRYAGAIN / CLUSTERDOWN ──> timer (backoff), dispatch
 *                   NOSCRIPT ──> SCRIPT LOAD there, dispatch
 *                   anything else ──> decoded, done
 *
 *   merge(users[0..n)): grouped by slot; one cl_req (EVALSHA) per group,
 *   all in the same turn of the loop, so hiredis writes each node's groups
 *   in one go (pipelined per primary); the call's fn runs once every group
 *   is done, with the outcomes in the caller's order.
 *
 * Invariants
 * - A cl_req is freed when it is done and no reply it waits for is
 *   outstanding (refs: its command and its WAIT each hold one).
 * - Nodes live as long as the store (bounded by the addresses the cluster
 *   names), so a pointer to a node never dangles.
 * - Nothing here calls the engine except through fn callbacks, the state
 *   callback and cfg.remerge, and never inside load or merge.
 */
#include "store_cluster.h"

#include <event2/event_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster_slots.h"
#include "merge_lua.h"
#include "redis_codec.h"
#include "redis_conn.h"
#include "rs_common.h"
#include "rs_list.h"
#include "rs_slot.h"

#define CL_MAX_REDIRECTS  5
#define CL_BACKOFF_MIN_MS 10
#define CL_BACKOFF_MAX_MS 200
#define CL_REFRESH_MS     1000 /* at most one refresh a second */
#define CL_PARK_TICK_MS   20   /* parked requests are looked at this often */
#define CL_CALL_UNITS     4096
#define CL_MAX_SEEDS      64

typedef struct store_cluster store_cluster;

typedef struct cl_logent {
    uint64_t user_id;
    uint64_t ns;
} cl_logent;

typedef struct cl_node {
    store_cluster *s;
    char host[CLUSTER_HOST_MAX];
    int port;
    char addr[80];
    redis_conn *conn;
    uint32_t slots; /* in the table (set by a refresh, moved by MOVED) */
    uint64_t moved_to;
    struct cl_wait *wait_open; /* merges sent this turn, for one WAIT */
    bool wait_short;           /* a WAIT came back short: merges fail fast until ROLE
                                  shows the replicas back */
    struct cl_node *wait_next; /* on the store's list of nodes with wait_open */
    bool wait_inflight;        /* one WAIT at a time: a short one blocks a whole timeout */
    bool wait_listed;          /* on wait_nodes */
    /* recently merged users (a ring, oldest at head) */
    cl_logent *log;
    size_t log_cap, log_head, log_len;
    struct cl_node *next;
} cl_node;

typedef enum cl_kind { CL_LOAD, CL_MERGE, CL_RING } cl_kind;

typedef struct cl_call {
    struct event done_ev;          /* completes a call whose groups all failed inside merge */
    struct cl_call *dprev, *dnext; /* on the store's deferred list meanwhile */
    rs_store_merge_fn fn;
    void *arg;
    store_cluster *s;
    uint32_t n, pending;
    rs_store_outcome *out;
    char **whats; /* copies of the outcomes' texts */
} cl_call;

typedef struct cl_req {
    store_cluster *s;
    cl_kind kind;
    uint16_t slot;
    uint8_t redirects;
    bool done;
    bool parked;
    bool awaiting_wait; /* the command answered; its WAIT has not */
    bool wait_lost;     /* its WAIT was answered (or lost) before it: not durable */
    bool asked;         /* an ASK redirected it (a slot migrating) */
    uint32_t refs;
    uint32_t attempt;
    uint32_t backoff_ms;
    uint64_t deadline_ns;
    char *cmd;
    size_t len;
    cl_node *ask;     /* next send: ASKING on this node */
    cl_node *sent_to; /* the node of the current attempt */
    struct event timer;
    struct cl_req *prev, *next;   /* parked list */
    struct cl_req *lprev, *lnext; /* live list */
    /* ring (the fleet's, rs_ring.h) */
    rs_store_ring_fn ring_fn;
    /* load */
    rs_store_load_fn load_fn;
    void *load_arg;
    uint64_t user_id;
    /* merge: users idx[0..n) of call */
    cl_call *call;
    uint32_t n;
    uint32_t *idx;
    uint64_t *user_ids;
    rs_store_outcome *held; /* outcomes while WAIT is outstanding */
} cl_req;

/* One reply a request waits for. */
typedef struct cl_cb {
    cl_req *r;
    uint32_t attempt;
} cl_cb;

/* One WAIT for every merge sent to a node in one turn of the loop: WAIT
 * covers every write the connection made before it, so one round trip
 * (and at most one timeout) answers them all. */
typedef struct cl_wait {
    cl_node *node;
    uint32_t n, cap;
    cl_cb *reqs;
} cl_wait;

struct store_cluster {
    rs_store store; /* first: the rs_store * the engine holds */
    struct event_base *base;
    store_cluster_config cfg;
    char *password, *user;
    redis_codec codec;
    cl_node *table[RS_SLOTS];
    cl_node *refreshed[RS_SLOTS]; /* the table as the last refresh gave it */
    cl_node *nodes;
    cl_node *nodes_tail;
    size_t nnodes;
    bool closing;
    bool up;
    bool table_loaded;
    bool refresh_inflight;
    uint64_t last_refresh_ns;
    uint64_t table_ns;
    struct event *refresh_ev;
    struct event *park_ev;
    struct event *wait_ev;  /* end of the turn: send the open WAITs */
    struct event *probe_ev; /* every 500 ms while a primary lacks replicas: ROLE */
    cl_node *wait_nodes;    /* nodes with an open WAIT batch */
    cl_req *parked_head;
    cl_req *live; /* every request not yet released */
    size_t nparked;
    struct cl_call *deferred; /* calls waiting for cl_call_done_cb */
    char sha[64];
    char wait_args[2][24];
    rs_store_state_fn state_fn;
    void *state_ctx;
    store_cluster_stats stats;
    cluster_range ranges[RS_SLOTS];
    uint64_t last_loop_log_ns;
};

static const rs_store_ops store_cluster_ops;

static void cl_dispatch(cl_req *r);
static void cl_refresh_schedule(store_cluster *s, bool soon);

static char *cl_strdup(const char *t)
{
    size_t len = strlen(t) + 1;
    char *d = rs_xmalloc(len, "cluster store");
    memcpy(d, t, len);
    return d;
}

/* ---- nodes ---------------------------------------------------------------- */

static void cl_update_up(store_cluster *s)
{
    bool up = false;
    if (s->table_loaded)
        for (cl_node *n = s->nodes; n != NULL && !up; n = n->next)
            up = n->slots > 0 && redis_conn_up(n->conn);
    if (up == s->up)
        return;
    s->up = up;
    RS_LOG(s->cfg.log, up ? RS_LOG_INFO : RS_LOG_WARN,
           up ? "redis_cluster_up" : "redis_cluster_down", "nodes=%zu", s->nnodes);
    if (s->state_fn != NULL && !s->closing)
        s->state_fn(s->state_ctx, up);
}

static void cl_park_kick(store_cluster *s)
{
    if (s->nparked > 0 && !s->closing)
        event_active(s->park_ev, EV_TIMEOUT, 0);
}

static void cl_node_state(void *ctx, redis_conn *c, bool up)
{
    cl_node *n = ctx;
    store_cluster *s = n->s;
    (void)c;
    if (up && s->sha[0] == '\0')
        snprintf(s->sha, sizeof(s->sha), "%s", redis_conn_sha(n->conn));
    if (up)
        cl_park_kick(s);
    /* A primary lost, or the first connection up: ask where slots live. */
    if (!up || !s->table_loaded)
        cl_refresh_schedule(s, true);
    cl_update_up(s);
}

static cl_node *cl_node_find(store_cluster *s, const char *host, int port)
{
    for (cl_node *n = s->nodes; n != NULL; n = n->next)
        if (n->port == port && strcmp(n->host, host) == 0)
            return n;
    return NULL;
}

static cl_node *cl_node_get(store_cluster *s, const char *host, int port)
{
    cl_node *n = cl_node_find(s, host, port);
    if (n != NULL)
        return n;
    n = rs_xcalloc(1, sizeof(*n), "cluster node");
    n->s = s;
    snprintf(n->host, sizeof(n->host), "%s", host);
    n->port = port;
    snprintf(n->addr, sizeof(n->addr), "%s:%d", host, port);
    redis_conn_config cc = {
        .host = host,
        .port = port,
        .password = s->password,
        .user = s->user,
        .db = 0,
        .timeout_ms = s->cfg.timeout_ms,
        .backoff_min_ms = s->cfg.backoff_min_ms,
        .backoff_max_ms = s->cfg.backoff_max_ms,
        .script = merge_lua_script,
        .log = s->cfg.log,
    };
    n->conn = redis_conn_new(s->base, &cc, cl_node_state, n);
    if (n->conn == NULL)
        rs_oom("cluster node");
    if (s->nodes_tail != NULL)
        s->nodes_tail->next = n;
    else
        s->nodes = n;
    s->nodes_tail = n;
    s->nnodes++;
    return n;
}

/* Remember that user_id was merged on n now (for a re-merge after n fails
 * over). Entries older than the window behind the newest are dropped. */
static void cl_log_push(store_cluster *s, cl_node *n, uint64_t user_id, uint64_t now)
{
    uint64_t window = (uint64_t)s->cfg.remerge_window_ms * 1000000ull;
    while (n->log_len > 0 && n->log[n->log_head].ns + window < now) {
        n->log_head = (n->log_head + 1) % n->log_cap;
        n->log_len--;
    }
    if (n->log_len == n->log_cap) {
        size_t cap = n->log_cap == 0 ? 1024 : n->log_cap * 2;
        cl_logent *l = rs_xmalloc(cap * sizeof(*l), "cluster merge log");
        for (size_t i = 0; i < n->log_len; i++)
            l[i] = n->log[(n->log_head + i) % n->log_cap];
        free(n->log);
        n->log = l;
        n->log_cap = cap;
        n->log_head = 0;
    }
    n->log[(n->log_head + n->log_len) % n->log_cap] = (cl_logent){user_id, now};
    n->log_len++;
}

/* n stopped serving slots while down or demoted: what it acknowledged in
 * its last window may be gone with it. */
static void cl_failover(store_cluster *s, cl_node *n)
{
    s->stats.failovers++;
    size_t count = n->log_len;
    RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_cluster_failover",
           "addr=%s up=%d remerge_users=%zu window_ms=%u", n->addr, redis_conn_up(n->conn),
           count, s->cfg.remerge_window_ms);
    for (size_t i = 0; i < count; i++) {
        const cl_logent *e = &n->log[(n->log_head + i) % n->log_cap];
        if (s->cfg.remerge != NULL)
            s->cfg.remerge(s->cfg.remerge_ctx, e->user_id);
    }
    s->stats.remerged_users += count;
    n->log_len = 0;
    n->log_head = 0;
}

/* ---- the slot table --------------------------------------------------------- */

static void cl_refresh_reply(void *arg, const redisReply *reply);

static void cl_refresh_now(store_cluster *s)
{
    if (s->refresh_inflight || s->closing)
        return;
    /* Any node that is up will do; a seed on the first connect. */
    cl_node *pick = NULL;
    for (cl_node *n = s->nodes; n != NULL && pick == NULL; n = n->next)
        if (redis_conn_up(n->conn))
            pick = n;
    if (pick == NULL) {
        cl_refresh_schedule(s, false); /* try again in a second */
        return;
    }
    const char *argv[2] = {"CLUSTER", "SLOTS"};
    size_t lens[2] = {7, 5};
    if (redis_conn_send(pick->conn, 2, argv, lens, cl_refresh_reply, pick) != 0) {
        cl_refresh_schedule(s, false);
        return;
    }
    s->refresh_inflight = true;
    s->last_refresh_ns = rs_now_ns();
}

static void cl_refresh_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_refresh_now(arg);
}

/* A refresh soon (MOVED, a lost primary: as soon as the once-a-second limit
 * allows) or in a second (nothing reachable; a failed refresh). */
static void cl_refresh_schedule(store_cluster *s, bool soon)
{
    if (s->closing || s->refresh_inflight || evtimer_pending(s->refresh_ev, NULL))
        return;
    uint64_t now = rs_now_ns(), next = s->last_refresh_ns + CL_REFRESH_MS * 1000000ull;
    uint64_t delay_ms = CL_REFRESH_MS;
    if (soon)
        delay_ms = next > now ? (next - now) / 1000000ull + 1 : 0;
    struct timeval tv = {(time_t)(delay_ms / 1000), (suseconds_t)((delay_ms % 1000) * 1000)};
    evtimer_add(s->refresh_ev, &tv);
}

static void cl_refresh_reply(void *arg, const redisReply *reply)
{
    cl_node *asked = arg;
    store_cluster *s = asked->s;
    s->refresh_inflight = false;
    if (s->closing)
        return;
    const char *why = "no reply";
    long n =
        reply != NULL ? cluster_slots_parse(reply, asked->host, s->ranges, RS_SLOTS, &why) : -1;
    if (n < 0) {
        s->stats.refresh_errors++;
        RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_cluster_refresh_failed", "addr=%s error=\"%s\"",
               asked->addr, why);
        cl_refresh_schedule(s, false);
        return;
    }
    s->stats.refreshes++;
    /* The new table, and who lost slots since the last refresh. */
    for (cl_node *nd = s->nodes; nd != NULL; nd = nd->next)
        nd->slots = 0;
    cl_node **fresh = rs_xcalloc(RS_SLOTS, sizeof(*fresh), "cluster table");
    for (long i = 0; i < n; i++) {
        cl_node *owner = cl_node_get(s, s->ranges[i].host, s->ranges[i].port);
        for (uint32_t sl = s->ranges[i].start; sl <= s->ranges[i].end; sl++)
            fresh[sl] = owner;
    }
    uint32_t covered = 0;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        if (fresh[sl] != NULL) {
            fresh[sl]->slots++;
            covered++;
        }
    /* A node that served slots before and serves none now, or lost slots
     * while unreachable, failed over (or was demoted): merges it took in
     * its last window go again. Resharding moves slots between primaries
     * that stay up and keep serving: nothing to do then. */
    for (cl_node *nd = s->nodes; nd != NULL; nd = nd->next) {
        bool lost = false;
        for (uint32_t sl = 0; sl < RS_SLOTS && !lost; sl++)
            lost = s->refreshed[sl] == nd && fresh[sl] != nd;
        if (lost && (nd->slots == 0 || !redis_conn_up(nd->conn)) && nd->log_len > 0)
            cl_failover(s, nd);
    }
    memcpy(s->refreshed, fresh, sizeof(s->refreshed));
    memcpy(s->table, fresh, sizeof(s->table));
    free(fresh);
    bool first = !s->table_loaded;
    s->table_loaded = true;
    s->table_ns = rs_now_ns();
    s->stats.slots_covered = covered;
    if (first || covered < RS_SLOTS)
        RS_LOG(s->cfg.log, covered < RS_SLOTS ? RS_LOG_WARN : RS_LOG_INFO,
               "redis_cluster_table", "from=%s ranges=%ld slots_covered=%u nodes=%zu",
               asked->addr, n, covered, s->nnodes);
    cl_update_up(s);
    cl_park_kick(s);
    /* Holes or unreachable primaries: look again in a second. */
    bool all_up = covered == RS_SLOTS;
    for (uint32_t sl = 0; sl < RS_SLOTS && all_up; sl++)
        all_up = redis_conn_up(s->table[sl]->conn);
    if (!all_up)
        cl_refresh_schedule(s, false);
}

/* ---- requests ------------------------------------------------------------------- */

static void cl_req_release(cl_req *r)
{
    if (!r->done || r->refs > 0)
        return;
    if (r->parked) {
        RS_DLIST_REMOVE(r->s->parked_head, r, prev, next);
        r->s->nparked--;
    }
    evtimer_del(&r->timer);
    RS_DLIST_REMOVE(r->s->live, r, lprev, lnext);
    free(r->cmd);
    free(r->idx);
    free(r->user_ids);
    free(r->held);
    free(r);
}

static void cl_unpark(cl_req *r)
{
    if (!r->parked)
        return;
    RS_DLIST_REMOVE(r->s->parked_head, r, prev, next);
    r->s->nparked--;
    r->parked = false;
}

static void cl_call_finish(cl_call *call)
{
    if (--call->pending > 0)
        return;
    call->fn(call->arg, call->out, call->n);
    for (uint32_t i = 0; i < call->n; i++)
        free(call->whats[i]);
    free(call->whats);
    free(call->out);
    free(call);
}

/* The merge group's outcomes (out[0..r->n)) into its call. */
static void cl_merge_done(cl_req *r, const rs_store_outcome *out)
{
    store_cluster *s = r->s;
    cl_call *call = r->call;
    uint64_t now = rs_now_ns();
    for (uint32_t i = 0; i < r->n; i++) {
        uint32_t k = r->idx[i];
        call->out[k].result = out[i].result;
        call->out[k].what = NULL;
        if (out[i].what != NULL && out[i].what != call->whats[k]) {
            free(call->whats[k]);
            call->whats[k] = cl_strdup(out[i].what);
        }
        if (out[i].what != NULL)
            call->out[k].what = call->whats[k];
        if (out[i].result == RS_STORE_OK && r->sent_to != NULL && !s->closing)
            cl_log_push(s, r->sent_to, r->user_ids[i], now);
    }
    r->done = true;
    cl_call_finish(call);
}

/* The request failed for good: its users or its load get an error. */
static void cl_fail(cl_req *r, const char *why)
{
    store_cluster *s = r->s;
    cl_unpark(r);
    if (r->kind == CL_RING) {
        r->done = true;
        r->ring_fn(r->load_arg, false, NULL, NULL, NULL);
    } else if (r->kind == CL_LOAD) {
        rs_store_loaded out = {.result = RS_STORE_ERROR};
        if (!s->closing)
            RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_load_failed",
                   "user_id=%llu slot=%u reason=%s", (unsigned long long)r->user_id, r->slot,
                   why);
        r->done = true;
        r->load_fn(r->load_arg, &out);
    } else {
        const rs_store_outcome *out = redis_codec_merge_decode(&s->codec, r->n, NULL);
        (void)why;
        cl_merge_done(r, out);
    }
    cl_req_release(r);
}

static bool cl_past_deadline(const cl_req *r)
{
    return rs_now_ns() >= r->deadline_ns;
}

static void cl_park(cl_req *r)
{
    store_cluster *s = r->s;
    if (cl_past_deadline(r) || s->closing) {
        s->stats.deadline_fails++;
        cl_fail(r, "unreachable");
        return;
    }
    if (!r->parked) {
        RS_DLIST_PUSH(s->parked_head, r, prev, next);
        s->nparked++;
        r->parked = true;
    }
    if (!evtimer_pending(s->park_ev, NULL)) {
        struct timeval tv = {0, CL_PARK_TICK_MS * 1000};
        evtimer_add(s->park_ev, &tv);
    }
}

/* Parked requests: sent when their node is up, failed past the deadline. */
static void cl_park_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_cluster *s = arg;
    /* Each at most once per tick: take the list, then dispatch (a request
     * that parks again goes on the fresh list). */
    cl_req *list = s->parked_head;
    s->parked_head = NULL;
    s->nparked = 0;
    for (cl_req *r = list; r != NULL; r = r->next)
        r->parked = false;
    while (list != NULL) {
        cl_req *r = list;
        list = r->next;
        r->prev = r->next = NULL;
        cl_dispatch(r);
    }
    if (s->nparked > 0 && !evtimer_pending(s->park_ev, NULL)) {
        struct timeval tv = {0, CL_PARK_TICK_MS * 1000};
        evtimer_add(s->park_ev, &tv);
    }
}

static void cl_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_dispatch(arg);
}

/* Resend after a backoff (TRYAGAIN, CLUSTERDOWN), within the deadline. */
static void cl_retry_later(cl_req *r)
{
    if (cl_past_deadline(r)) {
        r->s->stats.deadline_fails++;
        cl_fail(r, "retries_exhausted");
        return;
    }
    r->backoff_ms = r->backoff_ms == 0 ? CL_BACKOFF_MIN_MS
                                       : RS_MIN(r->backoff_ms * 2, (uint32_t)CL_BACKOFF_MAX_MS);
    struct timeval tv = {0, (suseconds_t)r->backoff_ms * 1000};
    evtimer_add(&r->timer, &tv);
}

static void cl_reply(void *arg, const redisReply *reply);

static void cl_ignore(void *arg, const redisReply *reply)
{
    (void)arg;
    (void)reply;
}

/* r's merge went to n: its WAIT goes with n's batch at the end of the turn. */
static void cl_wait_join(cl_req *r, cl_node *n)
{
    store_cluster *s = r->s;
    cl_wait *w = n->wait_open;
    if (w == NULL) {
        w = rs_xcalloc(1, sizeof(*w), "cluster wait");
        w->node = n;
        n->wait_open = w;
    }
    if (!n->wait_listed && !n->wait_inflight) {
        n->wait_listed = true;
        n->wait_next = s->wait_nodes;
        s->wait_nodes = n;
        if (!s->closing)
            event_active(s->wait_ev, EV_TIMEOUT, 0);
    }
    if (w->n == w->cap) {
        w->cap = w->cap == 0 ? 16 : w->cap * 2;
        w->reqs = rs_xrealloc(w->reqs, w->cap * sizeof(*w->reqs), "cluster wait");
    }
    w->reqs[w->n++] = (cl_cb){r, r->attempt};
    r->refs++;
}

static bool cl_send(cl_req *r, cl_node *n, bool wait)
{
    cl_cb *cb = rs_xmalloc(sizeof(*cb), "cluster request");
    *cb = (cl_cb){r, r->attempt};
    if (r->ask != NULL) {
        const char *argv[1] = {"ASKING"};
        size_t lens[1] = {6};
        if (redis_conn_send(n->conn, 1, argv, lens, cl_ignore, NULL) != 0) {
            free(cb);
            return false;
        }
    }
    if (redis_conn_send_formatted(n->conn, r->cmd, r->len, cl_reply, cb) != 0) {
        free(cb);
        return false;
    }
    r->refs++;
    if (wait)
        cl_wait_join(r, n);
    return true;
}

static void cl_dispatch(cl_req *r)
{
    store_cluster *s = r->s;
    if (s->closing) {
        cl_fail(r, "closing");
        return;
    }
    cl_node *n = r->ask != NULL ? r->ask : s->table[r->slot];
    if (n == NULL || !redis_conn_may_send(n->conn)) {
        if (n == NULL)
            cl_refresh_schedule(s, true);
        if (r->kind == CL_MERGE && s->table_loaded) {
            /* Its primary is known unreachable: fail now, so the users of
             * the same engine call on primaries that are up are not held
             * until the deadline (the engine retries these ENG_RETRY_NS
             * later, by which time a replica may have taken over). */
            s->stats.unreachable_fails++;
            cl_fail(r, "primary_unreachable");
            return;
        }
        cl_park(r);
        return;
    }
    r->attempt++;
    if (r->attempt > 1)
        s->stats.retries++;
    r->sent_to = n;
    bool wait = r->kind == CL_MERGE && s->cfg.wait_replicas > 0;
    if (wait && n->wait_short) {
        /* Its replicas are missing (a promoted replica has none until the
         * old primary rejoins): a WAIT would block the connection for its
         * whole timeout. Not durable: fail now; retried by the engine. */
        s->stats.wait_short_fails++;
        cl_fail(r, "replicas_missing");
        return;
    }
    if (!cl_send(r, n, wait)) {
        cl_park(r);
        return;
    }
    if (r->kind == CL_MERGE) {
        s->stats.merge_calls++;
        s->stats.merge_call_users += r->n;
    }
    r->ask = NULL;
}

static void cl_log_loop(store_cluster *s, const cl_req *r, const char *what)
{
    uint64_t now = rs_now_ns();
    if (now - s->last_loop_log_ns < 1000000000ull && s->last_loop_log_ns != 0)
        return; /* once a second at most */
    s->last_loop_log_ns = now;
    if (r->asked) /* ASK, then TRYAGAIN on the target: normal while a slot migrates */
        RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_cluster_migrating",
               "slot=%u users=%u redirects=%u last=\"%s\" (keys of this call are split "
               "between the slot's old and new primary while it migrates; the users stay "
               "dirty and go again)",
               r->slot, r->n, r->redirects, what);
    else
        RS_LOG(s->cfg.log, RS_LOG_ERROR, "redis_cluster_redirect_loop",
               "slot=%u redirects=%u last=\"%s\" (the cluster keeps redirecting this slot: "
               "check CLUSTER SLOTS on every node)",
               r->slot, r->redirects, what);
}

/* A redirection or transient error: handled (true), or an ordinary reply. */
static bool cl_redirected(cl_req *r, const redisReply *reply)
{
    store_cluster *s = r->s;
    if (reply == NULL || reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return false;
    const char *e = reply->str;
    size_t len = reply->len;
    cluster_redirect rd;
    cluster_redirect_kind k = cluster_redirect_parse(e, len, r->sent_to->host, &rd);
    if (k != CLUSTER_NO_REDIRECT) {
        if (k == CLUSTER_MOVED)
            s->stats.moved++;
        else
            s->stats.ask++;
        if (++r->redirects > CL_MAX_REDIRECTS) {
            s->stats.redirect_caps++;
            cl_log_loop(s, r, e);
            cl_fail(r, "redirect_loop");
            return true;
        }
        cl_node *to = cl_node_get(s, rd.host, rd.port);
        if (k == CLUSTER_MOVED) {
            to->moved_to++;
            cl_node *old = s->table[rd.slot];
            if (old != to) { /* keep each node's slot count the table's */
                if (old != NULL)
                    old->slots--;
                to->slots++;
                s->table[rd.slot] = to;
            }
            cl_refresh_schedule(s, true);
        } else {
            r->ask = to;
            r->asked = true;
        }
        cl_dispatch(r);
        return true;
    }
    if (strncmp(e, "TRYAGAIN", 8) == 0 || strncmp(e, "CLUSTERDOWN", 11) == 0) {
        if (e[0] == 'T') {
            s->stats.tryagain++;
        } else {
            s->stats.clusterdown++;
            cl_refresh_schedule(s, true);
        }
        cl_retry_later(r);
        return true;
    }
    if (r->kind == CL_MERGE && strncmp(e, "NOSCRIPT", 8) == 0) {
        s->stats.noscript++;
        if (++r->redirects > CL_MAX_REDIRECTS) {
            cl_fail(r, "noscript");
            return true;
        }
        redis_conn_reload_script(r->sent_to->conn); /* goes before the resend */
        cl_dispatch(r);
        return true;
    }
    return false;
}

static void cl_wait_done(cl_req *r, long long got)
{
    store_cluster *s = r->s;
    r->awaiting_wait = false;
    if (got < (long long)s->cfg.wait_replicas) {
        for (uint32_t i = 0; i < r->n; i++)
            if (r->held[i].result == RS_STORE_OK) {
                r->held[i].result = RS_STORE_ERROR;
                r->held[i].what =
                    "WAIT: fewer replicas acknowledged than --redis-wait-replicas";
            }
    }
    cl_merge_done(r, r->held);
}

/* A batch's merges learn how many replicas have them (got; -1: unknown). */
static void cl_wait_resolve(cl_wait *w, long long got)
{
    for (uint32_t i = 0; i < w->n; i++) {
        cl_req *r = w->reqs[i].r;
        r->refs--;
        if (w->reqs[i].attempt == r->attempt && r->awaiting_wait && !r->done)
            cl_wait_done(r, got);
        else if (w->reqs[i].attempt == r->attempt && !r->done)
            r->wait_lost = true; /* its merge has not answered: it fails when it does */
        cl_req_release(r);
    }
    free(w->reqs);
    free(w);
}

static void cl_wait_send(store_cluster *s, cl_node *n);

/* The WAIT of a node's batch answered (reply NULL: the connection went).
 * Merges that queued behind it get their own WAIT now, or, when this one
 * came back short, fail at once (a second WAIT would block as long). */
static void cl_wait_reply(void *arg, const redisReply *reply)
{
    cl_wait *w = arg;
    cl_node *n = w->node;
    store_cluster *s = n->s;
    n->wait_inflight = false;
    long long got = reply != NULL && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (got < (long long)s->cfg.wait_replicas && reply != NULL && !s->closing &&
        !n->wait_short) {
        RS_LOG(s->cfg.log, RS_LOG_WARN, "redis_wait_short",
               "addr=%s replicas=%lld wanted=%u merges=%u action=\"merges to this primary fail "
               "until ROLE shows the replicas (asked every 500 ms)\"",
               n->addr, got, s->cfg.wait_replicas, w->n);
        n->wait_short = true;
        if (!evtimer_pending(s->probe_ev, NULL)) {
            struct timeval tv = {0, 500000};
            evtimer_add(s->probe_ev, &tv);
        }
    }
    cl_wait_resolve(w, got);
    if (n->wait_open != NULL && !s->closing) {
        if (n->wait_short) {
            cl_wait *next = n->wait_open;
            n->wait_open = NULL;
            cl_wait_resolve(next, -1);
        } else {
            cl_wait_send(s, n);
        }
    }
}

/* Send n's open batch's WAIT, unless one is in flight (then it goes when
 * that one answers). */
static void cl_wait_send(store_cluster *s, cl_node *n)
{
    cl_wait *w = n->wait_open;
    if (w == NULL || n->wait_inflight)
        return;
    n->wait_open = NULL;
    const char *argv[3] = {"WAIT", s->wait_args[0], s->wait_args[1]};
    size_t lens[3] = {4, strlen(argv[1]), strlen(argv[2])};
    if (redis_conn_send(n->conn, 3, argv, lens, cl_wait_reply, w) == 0) {
        n->wait_inflight = true;
        return;
    }
    /* Not sent (the connection went since): the merges' own replies come as
     * NULL and fail them. */
    cl_wait_resolve(w, -1);
}

/* ROLE of a primary short of replicas: ["master", offset, [[ip, port,
 * offset], ...]]; enough replicas connected clears the short state. */
static void cl_probe_reply(void *arg, const redisReply *reply)
{
    cl_node *n = arg;
    store_cluster *s = n->s;
    if (s->closing || reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
        return;
    const redisReply *role = reply->element[0], *reps = reply->element[2];
    if (role->type != REDIS_REPLY_STRING || strcmp(role->str, "master") != 0 ||
        reps->type != REDIS_REPLY_ARRAY)
        return;
    if (reps->elements >= s->cfg.wait_replicas && n->wait_short) {
        n->wait_short = false;
        RS_LOG(s->cfg.log, RS_LOG_INFO, "redis_wait_replicas_back", "addr=%s replicas=%zu",
               n->addr, reps->elements);
    }
}

static void cl_probe_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_cluster *s = arg;
    bool any = false;
    for (cl_node *n = s->nodes; n != NULL; n = n->next) {
        if (!n->wait_short)
            continue;
        if (n->slots == 0) { /* no longer a primary: nothing to wait for */
            n->wait_short = false;
            continue;
        }
        any = true;
        const char *argv[1] = {"ROLE"};
        size_t lens[1] = {4};
        redis_conn_send(n->conn, 1, argv, lens, cl_probe_reply, n);
    }
    if (any) {
        struct timeval tv = {0, 500000};
        evtimer_add(s->probe_ev, &tv);
    }
}

/* End of the turn: one WAIT per node for the merges sent to it. */
static void cl_wait_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    store_cluster *s = arg;
    while (s->wait_nodes != NULL) {
        cl_node *n = s->wait_nodes;
        s->wait_nodes = n->wait_next;
        n->wait_next = NULL;
        n->wait_listed = false;
        cl_wait_send(s, n);
    }
}

static void cl_reply(void *arg, const redisReply *reply)
{
    cl_cb cb = *(cl_cb *)arg;
    free(arg);
    cl_req *r = cb.r;
    store_cluster *s = r->s;
    /* This reply's reference is dropped at the end: what runs meanwhile
     * (a resend that fails, cl_fail) may release r but never frees it. */
    if (r->done || cb.attempt != r->attempt) {
        r->refs--;
        cl_req_release(r);
        return;
    }
    if (reply == NULL) /* not known to have run; the primary may be gone */
        cl_refresh_schedule(s, true);
    else if (!s->closing && cl_redirected(r, reply)) {
        r->refs--;
        cl_req_release(r);
        return;
    }
    if (r->kind == CL_RING) {
        const char *g = NULL, *n = NULL, *rg = NULL;
        bool ok = redis_codec_ring_decode(reply, &g, &n, &rg);
        r->done = true;
        r->ring_fn(r->load_arg, ok, g, n, rg);
    } else if (r->kind == CL_LOAD) {
        rs_store_loaded out;
        redis_codec_load_decode(&s->codec, r->user_id, reply, s->closing, &out);
        r->done = true;
        r->load_fn(r->load_arg, &out);
    } else {
        const rs_store_outcome *out = redis_codec_merge_decode(&s->codec, r->n, reply);
        if (s->cfg.wait_replicas > 0 && r->wait_lost) {
            cl_merge_done(r, redis_codec_merge_decode(&s->codec, r->n, NULL));
        } else if (s->cfg.wait_replicas > 0 && reply != NULL && !s->closing) {
            memcpy(r->held, out, r->n * sizeof(*out));
            for (uint32_t i = 0; i < r->n; i++) /* texts live in the reply: copy them */
                if (out[i].what != NULL) {
                    char **slot = &r->call->whats[r->idx[i]];
                    free(*slot);
                    *slot = cl_strdup(out[i].what);
                    r->held[i].what = *slot;
                }
            r->awaiting_wait = true;
        } else {
            cl_merge_done(r, out);
        }
    }
    r->refs--;
    cl_req_release(r);
}

static cl_req *cl_req_new(store_cluster *s, cl_kind kind, uint32_t slot)
{
    cl_req *r = rs_xcalloc(1, sizeof(*r), "cluster request");
    r->s = s;
    r->kind = kind;
    r->slot = (uint16_t)slot;
    r->deadline_ns = rs_now_ns() + (uint64_t)s->cfg.timeout_ms * 1000000ull;
    evtimer_assign(&r->timer, s->base, cl_retry_cb, r);
    RS_DLIST_PUSH(s->live, r, lprev, lnext);
    return r;
}

static void cl_format(store_cluster *s, cl_req *r, int argc)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, s->codec.argv, s->codec.argvlen);
    if (len < 0 || cmd == NULL)
        rs_oom("cluster request");
    r->cmd = cmd;
    r->len = (size_t)len;
}

/* ---- the store's table ---------------------------------------------------------- */

static bool cl_first_connect(const store_cluster *s)
{
    for (cl_node *n = s->nodes; n != NULL; n = n->next)
        if (redis_conn_may_send(n->conn) || redis_conn_up(n->conn))
            return true;
    return false;
}

static int cluster_load(rs_store *base, uint64_t user_id, rs_store_load_fn fn, void *arg)
{
    store_cluster *s = (store_cluster *)base;
    if (s->closing)
        return -1;
    uint32_t slot = rs_user_slot(user_id);
    cl_node *n = s->table[slot];
    if (n == NULL ? s->table_loaded || !cl_first_connect(s) : !redis_conn_may_send(n->conn))
        return -1; /* UNAVAILABLE at once; the first table may still come */
    int argc = redis_codec_load_args(&s->codec, user_id, s->store.owner_gen);
    cl_req *r = cl_req_new(s, CL_LOAD, slot);
    r->load_fn = fn;
    r->load_arg = arg;
    r->user_id = user_id;
    cl_format(s, r, argc);
    if (n == NULL) {
        cl_park(r); /* the first table is on its way */
        return 0;
    }
    cl_dispatch(r);
    return 0;
}

static void cl_call_done_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    cl_call *call = arg;
    RS_DLIST_REMOVE(call->s->deferred, call, dprev, dnext);
    cl_call_finish(call);
}

/* The fleet's ring, from the primary of its key's slot. */
static int cluster_ring_get(rs_store *base, rs_store_ring_fn fn, void *arg)
{
    store_cluster *s = (store_cluster *)base;
    if (s->closing || !s->up)
        return -1;
    uint32_t slot = rs_key_slot(redis_codec_ring_argv[1], redis_codec_ring_argvlen[1]);
    cl_req *r = cl_req_new(s, CL_RING, slot);
    r->ring_fn = fn;
    r->load_arg = arg;
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, 5, (const char **)redis_codec_ring_argv,
                                     redis_codec_ring_argvlen);
    if (len < 0 || cmd == NULL)
        rs_oom("cluster request");
    r->cmd = cmd;
    r->len = (size_t)len;
    cl_dispatch(r);
    return 0;
}

static int cl_slot_cmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b; /* slot << 32 | index */
    return *x < *y ? -1 : *x > *y;
}

static int cluster_merge(rs_store *base, const rs_store_user *users, uint32_t n,
                         rs_store_merge_fn fn, void *arg)
{
    store_cluster *s = (store_cluster *)base;
    if (s->closing || !s->up || n < 1 || s->sha[0] == '\0')
        return -1; /* closing: refused, so a merge asked for during free is never left pending
                    */
    cl_call *call = rs_xcalloc(1, sizeof(*call), "cluster merge");
    call->fn = fn;
    call->arg = arg;
    call->s = s;
    call->n = n;
    call->out = rs_xcalloc(n, sizeof(*call->out), "cluster merge");
    call->whats = rs_xcalloc(n, sizeof(*call->whats), "cluster merge");
    uint64_t *order = rs_xmalloc(n * sizeof(*order), "cluster merge");
    for (uint32_t i = 0; i < n; i++)
        order[i] = (uint64_t)rs_user_slot(users[i].user->user_id) << 32 | i;
    qsort(order, n, sizeof(*order), cl_slot_cmp);
    rs_store_user *group = rs_xmalloc(n * sizeof(*group), "cluster merge");
    call->pending = 1; /* held until every group is sent */
    cl_req *reqs = NULL;
    for (uint32_t i = 0; i < n;) {
        uint32_t slot = (uint32_t)(order[i] >> 32), j = i;
        while (j < n && (uint32_t)(order[j] >> 32) == slot)
            j++;
        cl_req *r = cl_req_new(s, CL_MERGE, slot);
        r->call = call;
        r->n = j - i;
        r->idx = rs_xmalloc(r->n * sizeof(*r->idx), "cluster merge");
        r->user_ids = rs_xmalloc(r->n * sizeof(*r->user_ids), "cluster merge");
        if (s->cfg.wait_replicas > 0)
            r->held = rs_xcalloc(r->n, sizeof(*r->held), "cluster merge");
        for (uint32_t k = 0; k < r->n; k++) {
            uint32_t idx = (uint32_t)order[i + k];
            r->idx[k] = idx;
            r->user_ids[k] = users[idx].user->user_id;
            group[k] = users[idx];
        }
        cl_format(s, r, redis_codec_merge_args(&s->codec, s->sha, group, r->n));
        unsigned b = r->n == 1 ? 0 : r->n <= 4 ? 1 : r->n <= 16 ? 2 : 3;
        s->stats.group_calls[b]++;
        call->pending++;
        r->next = reqs; /* dispatched after every group is formatted */
        reqs = r;
        i = j;
    }
    free(order);
    free(group);
    while (reqs != NULL) {
        cl_req *r = reqs;
        reqs = r->next;
        r->next = NULL;
        cl_dispatch(r);
    }
    if (call->pending > 1) {
        cl_call_finish(call); /* drops the hold */
    } else {
        /* Every group failed inside this call (their primaries lack
         * replicas, the store is closing): complete from the loop, never
         * inside merge. */
        event_assign(&call->done_ev, s->base, -1, 0, cl_call_done_cb, call);
        event_active(&call->done_ev, EV_TIMEOUT, 0);
        RS_DLIST_PUSH(s->deferred, call, dprev, dnext);
    }
    return 0;
}

static bool cluster_up(const rs_store *base)
{
    return ((const store_cluster *)base)->up;
}

/* user_id's primary is known and up, and (with WAIT) has its replicas. */
static bool cluster_user_up(const rs_store *base, uint64_t user_id)
{
    const store_cluster *s = (const store_cluster *)base;
    const cl_node *n = s->table[rs_user_slot(user_id)];
    return s->up && n != NULL && redis_conn_up(n->conn) &&
           (s->cfg.wait_replicas == 0 || !n->wait_short);
}

static uint32_t cluster_group(const rs_store *base, uint64_t user_id)
{
    (void)base;
    return rs_user_slot(user_id);
}

static void cluster_stats(const rs_store *base, rs_store_stats *out)
{
    const store_cluster *s = (const store_cluster *)base;
    memset(out, 0, sizeof(*out));
    for (const cl_node *n = s->nodes; n != NULL; n = n->next) {
        const redis_conn_stats *cs = redis_conn_get_stats(n->conn);
        out->errors += cs->errors;
        out->reconnects += cs->reconnects;
        out->connects += cs->connects;
        out->timeouts += cs->timeouts;
    }
}

static int cluster_key(const rs_store *base, uint64_t user_id, char *buf, size_t size)
{
    (void)base;
    return redis_codec_key(user_id, buf, size);
}

static void cluster_free(rs_store *base)
{
    store_cluster *s = (store_cluster *)base;
    s->closing = true;
    if (s->refresh_ev != NULL)
        event_free(s->refresh_ev);
    if (s->park_ev != NULL)
        event_free(s->park_ev);
    s->refresh_ev = s->park_ev = NULL;
    if (s->wait_ev != NULL)
        event_free(s->wait_ev);
    s->wait_ev = NULL;
    if (s->probe_ev != NULL)
        event_free(s->probe_ev);
    s->probe_ev = NULL;
    /* Batches not sent yet: their merges' replies (NULL below) fail them. */
    s->wait_nodes = NULL;
    for (cl_node *n = s->nodes; n != NULL; n = n->next)
        if (n->wait_open != NULL) {
            cl_wait *w = n->wait_open;
            n->wait_open = NULL;
            cl_wait_resolve(w, -1);
        }
    while (s->parked_head != NULL)
        cl_fail(s->parked_head, "closing");
    while (s->deferred != NULL) {
        cl_call *call = s->deferred;
        event_del(&call->done_ev);
        RS_DLIST_REMOVE(s->deferred, call, dprev, dnext);
        cl_call_finish(call);
    }
    /* Pending requests complete with NULL replies as each connection goes. */
    for (cl_node *n = s->nodes; n != NULL; n = n->next) {
        redis_conn_free(n->conn);
        n->conn = NULL;
    }
    /* Left: requests between attempts (a backoff timer). */
    while (s->live != NULL) {
        cl_req *r = s->live;
        if (r->done) { /* cannot be: every reply has come */
            RS_DLIST_REMOVE(s->live, r, lprev, lnext);
            continue;
        }
        cl_fail(r, "closing");
    }
    cl_node *n = s->nodes;
    while (n != NULL) {
        cl_node *next = n->next;
        free(n->log);
        free(n);
        n = next;
    }
    redis_codec_fini(&s->codec);
    free(s->password);
    free(s->user);
    free(s);
}

int store_cluster_parse_seeds(const char *seeds, char *err, size_t errlen)
{
    int count = 0;
    const char *p = seeds;
    if (p == NULL || *p == '\0') {
        snprintf(err, errlen, "no seed nodes");
        return -1;
    }
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char one[CLUSTER_HOST_MAX + 8], host[CLUSTER_HOST_MAX];
        int port = 0;
        if (len == 0 || len >= sizeof(one)) {
            snprintf(err, errlen, "seed %d is empty or too long", count + 1);
            return -1;
        }
        memcpy(one, p, len);
        one[len] = '\0';
        if (rs_parse_hostport(one, host, sizeof(host), &port) != 0 || port == 0) {
            snprintf(err, errlen, "seed '%s' is not HOST:PORT", one);
            return -1;
        }
        if (++count > CL_MAX_SEEDS) {
            snprintf(err, errlen, "more than %d seeds", CL_MAX_SEEDS);
            return -1;
        }
        p += len;
        if (*p == ',')
            p++;
    }
    return count;
}

rs_store *store_cluster_new(struct event_base *base, const store_cluster_config *cfg,
                            rs_store_state_fn state_fn, void *ctx)
{
    char err[128];
    if (store_cluster_parse_seeds(cfg->seeds, err, sizeof(err)) < 0)
        return NULL;
    store_cluster *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->store.ops = &store_cluster_ops;
    s->store.persistent = true;
    s->store.merge_units = CL_CALL_UNITS;
    s->base = base;
    s->cfg = *cfg;
    s->cfg.seeds = NULL;
    if (s->cfg.timeout_ms == 0)
        s->cfg.timeout_ms = 1000;
    if (s->cfg.remerge_window_ms == 0)
        s->cfg.remerge_window_ms = 5000;
    if (cfg->password != NULL && cfg->password[0] != '\0')
        s->password = cl_strdup(cfg->password);
    if (cfg->user != NULL && cfg->user[0] != '\0')
        s->user = cl_strdup(cfg->user);
    s->state_fn = state_fn;
    s->state_ctx = ctx;
    redis_codec_init(&s->codec, cfg->max_states, cfg->log);
    snprintf(s->wait_args[0], sizeof(s->wait_args[0]), "%u", cfg->wait_replicas);
    snprintf(s->wait_args[1], sizeof(s->wait_args[1]), "%u", RS_MAX(1u, s->cfg.timeout_ms / 2));
    s->refresh_ev = evtimer_new(base, cl_refresh_cb, s);
    s->park_ev = evtimer_new(base, cl_park_cb, s);
    s->wait_ev = event_new(base, -1, 0, cl_wait_cb, s);
    s->probe_ev = evtimer_new(base, cl_probe_cb, s);
    if (s->refresh_ev == NULL || s->park_ev == NULL || s->wait_ev == NULL ||
        s->probe_ev == NULL) {
        cluster_free(&s->store);
        return NULL;
    }
    const char *p = cfg->seeds;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        char one[CLUSTER_HOST_MAX + 8], host[CLUSTER_HOST_MAX];
        int port = 0;
        memcpy(one, p, len);
        one[len] = '\0';
        rs_parse_hostport(one, host, sizeof(host), &port);
        cl_node_get(s, host, port);
        p += len;
        if (*p == ',')
            p++;
    }
    RS_LOG(s->cfg.log, RS_LOG_INFO, "redis_cluster_seeds", "seeds=\"%s\" wait_replicas=%u",
           cfg->seeds, cfg->wait_replicas);
    return &s->store;
}

const struct store_cluster *store_cluster_of(const rs_store *s)
{
    return s != NULL && s->ops == &store_cluster_ops ? (const store_cluster *)s : NULL;
}

void store_cluster_get_stats(const store_cluster *s, store_cluster_stats *out)
{
    *out = s->stats;
    out->table_age_ms = s->table_ns != 0 ? (rs_now_ns() - s->table_ns) / 1000000ull : 0;
    out->nodes = (uint32_t)s->nnodes;
    out->parked = s->nparked;
    uint32_t down = 0;
    for (uint32_t sl = 0; sl < RS_SLOTS; sl++)
        if (s->table[sl] == NULL || !redis_conn_up(s->table[sl]->conn))
            down++;
    out->slots_unreachable = down;
}

size_t store_cluster_node_count(const store_cluster *s)
{
    return s->nnodes;
}

void store_cluster_node_at(const store_cluster *s, size_t i, store_cluster_node *out)
{
    const cl_node *n = s->nodes;
    while (n != NULL && i-- > 0)
        n = n->next;
    memset(out, 0, sizeof(*out));
    if (n == NULL)
        return;
    const redis_conn_stats *cs = redis_conn_get_stats(n->conn);
    snprintf(out->addr, sizeof(out->addr), "%s", n->addr);
    out->up = redis_conn_up(n->conn);
    out->slots = n->slots;
    out->pending = redis_conn_pending(n->conn);
    out->replies = cs->replies;
    out->latency_ns = cs->latency_ns;
    out->errors = cs->errors;
    out->timeouts = cs->timeouts;
    out->reconnects = cs->reconnects;
    out->moved_to = n->moved_to;
}

uint32_t store_cluster_unreachable(const store_cluster *s, char *buf, size_t size)
{
    uint32_t count = 0;
    size_t used = 0;
    if (size > 0)
        buf[0] = '\0';
    for (uint32_t sl = 0; sl < RS_SLOTS;) {
        if (s->table[sl] != NULL && redis_conn_up(s->table[sl]->conn)) {
            sl++;
            continue;
        }
        uint32_t a = sl;
        while (sl < RS_SLOTS && (s->table[sl] == NULL || !redis_conn_up(s->table[sl]->conn)))
            sl++;
        count += sl - a;
        if (used + 1 < size) {
            int w = a == sl - 1 ? snprintf(buf + used, size - used, "%s%u", used ? "," : "", a)
                                : snprintf(buf + used, size - used, "%s%u-%u", used ? "," : "",
                                           a, sl - 1);
            if (w > 0)
                used = RS_MIN(used + (size_t)w, size - 1);
        }
    }
    return count;
}

static const rs_store_ops store_cluster_ops = {
    .name = "redis-cluster",
    .load = cluster_load,
    .merge = cluster_merge,
    .up = cluster_up,
    .user_up = cluster_user_up,
    .group = cluster_group,
    .ring_get = cluster_ring_get,
    .stats = cluster_stats,
    .key = cluster_key,
    .free = cluster_free,
};
