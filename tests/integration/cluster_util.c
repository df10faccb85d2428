/*
 * cluster_util.c: see cluster_util.h.
 */
#include "cluster_util.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "readstates.pb-c.h"

#ifndef RS_LOADGEN_BIN
#define RS_LOADGEN_BIN "readstate-loadgen"
#endif

#define CU_ID_BASE (1ull << 40)

uint64_t cu_key_user(const cu_traffic *t, uint32_t k)
{
    return t->user0 + k / t->channels;
}

uint64_t cu_key_channel(const cu_traffic *t, uint32_t k)
{
    return 1 + k % t->channels;
}

static rs_client *cu_connect(int port)
{
    char err[RS_CLIENT_ERRLEN];
    rs_client *c = rs_client_connect("127.0.0.1", port, CU_RECV_TIMEOUT, err, sizeof(err));
    if (c == NULL)
        fprintf(stderr, "cluster_util: connect 127.0.0.1:%d: %s\n", port, err);
    return c;
}

int cu_traffic_init(cu_traffic *t, const char *name, int port, int nclients, int depth,
                    uint64_t user0, uint32_t users, uint32_t channels)
{
    memset(t, 0, sizeof(*t));
    if (nclients < 1 || nclients > CU_MAX_CLIENTS || depth < 1 || depth > CU_MAX_DEPTH ||
        (uint64_t)users * channels < (uint64_t)nclients * (uint64_t)depth)
        return -1; /* a key must not be twice in one round */
    t->name = name;
    t->port = port;
    t->nclients = nclients;
    t->depth = depth;
    t->user0 = user0;
    t->users = users;
    t->channels = channels;
    t->nkeys = users * channels;
    t->acked = calloc(t->nkeys, sizeof(*t->acked));
    t->acked_ms = calloc(t->nkeys, sizeof(*t->acked_ms));
    t->next_msg = calloc(t->nkeys, sizeof(*t->next_msg));
    if (t->acked == NULL || t->acked_ms == NULL || t->next_msg == NULL)
        return -1;
    for (uint32_t k = 0; k < t->nkeys; k++)
        t->next_msg[k] = 1000;
    for (int i = 0; i < nclients; i++)
        if ((t->c[i] = cu_connect(port)) == NULL)
            return -1;
    return 0;
}

static void cu_failure(cu_traffic *t, const char *what)
{
    long long now = rs_mono_ms();
    if (t->first_error_ms == 0) {
        t->first_error_ms = now;
        snprintf(t->first_error, sizeof(t->first_error), "%s", what);
    }
    t->last_error_ms = now;
}

static void cu_drop_client(cu_traffic *t, int i)
{
    if (t->c[i] != NULL)
        rs_client_close(t->c[i]);
    t->c[i] = NULL;
}

static void cu_snapshot_maybe(cu_traffic *t)
{
    long long now = rs_mono_ms();
    int last = (t->snap_next + CU_SNAPSHOTS - 1) % CU_SNAPSHOTS;
    if (t->snaps[last].ms != 0 && now - t->snaps[last].ms < CU_SNAPSHOT_MS)
        return;
    cu_snapshot *s = &t->snaps[t->snap_next];
    if (s->acked == NULL)
        s->acked = malloc(t->nkeys * sizeof(*s->acked));
    if (s->acked == NULL)
        return;
    memcpy(s->acked, t->acked, t->nkeys * sizeof(*s->acked));
    s->ms = now;
    t->snap_next = (t->snap_next + 1) % CU_SNAPSHOTS;
}

int cu_traffic_round(cu_traffic *t)
{
    uint32_t keys[CU_MAX_CLIENTS][CU_MAX_DEPTH];
    uint64_t msgs[CU_MAX_CLIENTS][CU_MAX_DEPTH], ids[CU_MAX_CLIENTS][CU_MAX_DEPTH];
    bool answered[CU_MAX_CLIENTS][CU_MAX_DEPTH];
    int nsent[CU_MAX_CLIENTS] = {0};
    int ok = 0;
    cu_snapshot_maybe(t);
    for (int i = 0; i < t->nclients; i++) {
        if (t->c[i] == NULL) {
            t->c[i] = cu_connect(t->port);
            if (t->c[i] == NULL)
                continue;
            t->reconnects++;
        }
        for (int d = 0; d < t->depth; d++) {
            uint32_t k = t->cursor++ % t->nkeys;
            Readstates__V1__AckRequest ack = READSTATES__V1__ACK_REQUEST__INIT;
            ack.user_id = cu_key_user(t, k);
            ack.channel_id = cu_key_channel(t, k);
            ack.message_id = t->next_msg[k]++;
            Readstates__V1__Request req = READSTATES__V1__REQUEST__INIT;
            req.id = CU_ID_BASE + ++t->sent;
            req.call_case = READSTATES__V1__REQUEST__CALL_ACK;
            req.ack = &ack;
            keys[i][d] = k;
            msgs[i][d] = ack.message_id;
            ids[i][d] = req.id;
            answered[i][d] = false;
            if (rs_client_send(t->c[i], &req) != RS_OK)
                break;
            nsent[i]++;
        }
        if (rs_client_flush(t->c[i]) != RS_OK) {
            char why[320];
            snprintf(why, sizeof(why), "flush: %s", rs_client_errmsg(t->c[i]));
            cu_failure(t, why);
            t->transport += (uint64_t)nsent[i];
            nsent[i] = 0;
            cu_drop_client(t, i);
        }
    }
    for (int i = 0; i < t->nclients; i++) {
        int got = 0;
        while (got < nsent[i]) {
            Readstates__V1__Response *resp = NULL;
            rs_status st = rs_client_recv(t->c[i], &resp, CU_RECV_TIMEOUT);
            if (st != RS_OK) {
                char why[320];
                snprintf(why, sizeof(why), "recv: %s %s", rs_status_name(st),
                         rs_client_errmsg(t->c[i]));
                cu_failure(t, why);
                t->transport += (uint64_t)(nsent[i] - got);
                cu_drop_client(t, i);
                break;
            }
            int d = 0;
            while (d < nsent[i] && (ids[i][d] != resp->id || answered[i][d]))
                d++;
            if (d == nsent[i]) {
                rs_client_response_free(resp);
                continue; /* not one of this round's: cannot be */
            }
            answered[i][d] = true;
            got++;
            rs_status rst = rs_client_response_status(resp);
            if (rst == RS_OK) {
                uint32_t k = keys[i][d];
                if (msgs[i][d] > t->acked[k]) {
                    t->acked[k] = msgs[i][d];
                    t->acked_ms[k] = rs_mono_ms();
                }
                t->ok++;
                ok++;
            } else {
                char why[320];
                snprintf(why, sizeof(why), "ack user %llu: %s %s",
                         (unsigned long long)cu_key_user(t, keys[i][d]), rs_status_name(rst),
                         resp->status != NULL && resp->status->message != NULL
                             ? resp->status->message
                             : "");
                cu_failure(t, why);
                if (rst == RS_ERR_UNAVAILABLE)
                    t->unavailable++;
                else
                    t->other_errors++;
            }
            rs_client_response_free(resp);
        }
    }
    return ok;
}

uint64_t cu_traffic_failures(const cu_traffic *t)
{
    return t->unavailable + t->other_errors + t->transport;
}

void cu_traffic_print(const cu_traffic *t)
{
    printf("# %s: sent=%llu ok=%llu unavailable=%llu other_errors=%llu transport=%llu "
           "reconnects=%llu",
           t->name, (unsigned long long)t->sent, (unsigned long long)t->ok,
           (unsigned long long)t->unavailable, (unsigned long long)t->other_errors,
           (unsigned long long)t->transport, (unsigned long long)t->reconnects);
    if (t->first_error_ms != 0)
        printf(" errors_for_ms=%lld first=\"%s\"", t->last_error_ms - t->first_error_ms,
               t->first_error);
    printf("\n");
    fflush(stdout);
}

long cu_traffic_all_ok(cu_traffic *t, long long deadline_ms)
{
    long failed = 0;
    for (uint32_t u = 0; u < t->users; u++) {
        uint32_t k = u * t->channels; /* channel 1 of each user */
        bool done = false;
        while (!done && rs_mono_ms() < deadline_ms) {
            if (t->c[0] == NULL && (t->c[0] = cu_connect(t->port)) == NULL) {
                rs_sleep_ms(50);
                continue;
            }
            rs_client_ack_result res;
            uint64_t msg = t->next_msg[k]++;
            rs_status st =
                rs_client_ack(t->c[0], cu_key_user(t, k), cu_key_channel(t, k), msg, 0, &res);
            t->sent++;
            if (st == RS_OK) {
                t->ok++;
                if (msg > t->acked[k]) {
                    t->acked[k] = msg;
                    t->acked_ms[k] = rs_mono_ms();
                }
                done = true;
            } else {
                if (rs_client_err(t->c[0]) != RS_OK) {
                    t->transport++;
                    cu_drop_client(t, 0);
                } else if (st == RS_ERR_UNAVAILABLE) {
                    t->unavailable++;
                } else {
                    t->other_errors++;
                }
                rs_sleep_ms(20);
            }
        }
        if (!done)
            failed++;
    }
    return failed;
}

int cu_traffic_mark(cu_traffic *t, long long window_ms)
{
    long long now = rs_mono_ms(), floor_ms = now - window_ms;
    free(t->floor);
    free(t->mark);
    t->floor = calloc(t->nkeys, sizeof(*t->floor));
    t->mark = malloc(t->nkeys * sizeof(*t->mark));
    if (t->floor == NULL || t->mark == NULL)
        return -1;
    memcpy(t->mark, t->acked, t->nkeys * sizeof(*t->mark));
    t->mark_ms = now;
    t->floor_ms = floor_ms;
    const cu_snapshot *best = NULL;
    for (int i = 0; i < CU_SNAPSHOTS; i++) {
        const cu_snapshot *s = &t->snaps[i];
        if (s->ms != 0 && s->ms <= floor_ms && (best == NULL || s->ms > best->ms))
            best = s;
    }
    if (best == NULL)
        return -1;
    memcpy(t->floor, best->acked, t->nkeys * sizeof(*t->floor));
    return 0;
}

int cu_traffic_verify(const cu_traffic *t, const rs_test_redis *r, cu_verify *out)
{
    memset(out, 0, sizeof(*out));
    int printed = 0;
    for (uint32_t u = 0; u < t->users; u++) {
        uint64_t user = t->user0 + u;
        rs_client_state *st = NULL;
        uint64_t version = 0;
        long n = pu_redis_user(r, user, &st, &version);
        if (n < 0) {
            fprintf(stderr, "cluster_util: cannot read user %llu back\n",
                    (unsigned long long)user);
            return -1;
        }
        for (uint32_t ch = 1; ch <= t->channels; ch++) {
            uint32_t k = u * t->channels + (ch - 1);
            if (t->acked[k] == 0)
                continue;
            out->keys++;
            uint64_t stored = 0;
            bool found = false;
            for (long i = 0; i < n; i++)
                if (st[i].channel_id == ch) {
                    stored = st[i].last_message_id;
                    found = true;
                }
            bool in_window = t->mark != NULL && t->floor[k] < t->mark[k];
            out->window_keys += in_window;
            if (stored >= t->acked[k])
                continue;
            out->lost++;
            out->missing += !found;
            out->worst_gap = RS_MAX(out->worst_gap, t->acked[k] - stored);
            if (t->mark != NULL) {
                if (stored < t->floor[k])
                    out->lost_before++;
                else if (t->acked[k] > t->mark[k])
                    out->lost_after++;
                else
                    out->lost_in_window++;
            }
            if (printed++ < 5)
                printf("# %s: lost user=%llu channel=%u stored=%llu acked=%llu "
                       "acked_at=%+lld ms from the mark floor=%llu\n",
                       t->name, (unsigned long long)user, ch, (unsigned long long)stored,
                       (unsigned long long)t->acked[k],
                       t->mark != NULL ? t->acked_ms[k] - t->mark_ms : 0,
                       t->floor != NULL ? (unsigned long long)t->floor[k] : 0ull);
        }
        free(st);
    }
    return 0;
}

void cu_verify_print(const cu_traffic *t, const cu_verify *v)
{
    printf("# %s: keys=%ld lost=%ld (missing=%ld in_window=%ld before_window=%ld "
           "after_mark=%ld) window_keys=%ld worst_gap=%llu\n",
           t->name, v->keys, v->lost, v->missing, v->lost_in_window, v->lost_before,
           v->lost_after, v->window_keys, (unsigned long long)v->worst_gap);
    fflush(stdout);
}

void cu_traffic_free(cu_traffic *t)
{
    for (int i = 0; i < CU_MAX_CLIENTS; i++)
        cu_drop_client(t, i);
    for (int i = 0; i < CU_SNAPSHOTS; i++)
        free(t->snaps[i].acked);
    free(t->acked);
    free(t->acked_ms);
    free(t->next_msg);
    free(t->floor);
    free(t->mark);
    memset(t, 0, sizeof(*t));
}

double cu_cpu_seconds(int pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    char *text = rs_read_file(path, NULL);
    if (text == NULL)
        return -1;
    /* Fields after the command name (in parentheses, may hold spaces):
     * state is field 3, utime 14, stime 15. */
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    int ok = p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                                 &ut, &st) == 2;
    free(text);
    long hz = sysconf(_SC_CLK_TCK);
    return ok && hz > 0 ? (double)(ut + st) / (double)hz : -1;
}

long cu_log_count(const rs_test_server *srv, ...)
{
    char *log = rs_read_file(srv->proc.stderr_path, NULL);
    if (log == NULL)
        return -1;
    const char *want[8];
    int nw = 0;
    va_list ap;
    va_start(ap, srv);
    const char *w;
    while (nw < 8 && (w = va_arg(ap, const char *)) != NULL)
        want[nw++] = w;
    va_end(ap);
    long count = 0;
    for (char *line = log; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        bool all = true;
        for (int i = 0; i < nw && all; i++)
            all = strstr(line, want[i]) != NULL;
        count += all;
        line = nl != NULL ? nl + 1 : NULL;
    }
    free(log);
    return count;
}

int cu_loadgen_start(rs_proc *p, int port, int rate, int duration_s, int users,
                     const char *json_path)
{
    char target[64], rate_s[16], dur_s[16], users_s[16];
    snprintf(target, sizeof(target), "rs://127.0.0.1:%d", port);
    snprintf(rate_s, sizeof(rate_s), "%d", rate);
    snprintf(dur_s, sizeof(dur_s), "%d", duration_s);
    snprintf(users_s, sizeof(users_s), "%d", users);
    const char *argv[] = {
        RS_LOADGEN_BIN, "--target", target,    "--rate",        rate_s, "--duration",
        dur_s,          "--users",  users_s,   "--connections", "4",    "--drain",
        "10",           "--json",   json_path, "--quiet",       NULL};
    return rs_proc_start(argv, NULL, p);
}

static double cu_loadgen_field(const char *json_path, const char *key)
{
    const char *argv[] = {RS_LOADGEN_BIN, "field", json_path, key, NULL};
    char *out = NULL;
    int rc = rs_run(argv, NULL, 10000, &out, NULL);
    double v = rc == 0 && out != NULL ? strtod(out, NULL) : -1;
    free(out);
    return v;
}

int cu_loadgen_finish(rs_proc *p, const char *json_path, double *sent, double *errors)
{
    int ws = 0;
    if (rs_proc_wait(p, 60000, &ws) != 0) {
        rs_proc_stop(p, SIGKILL, 1000, NULL);
        return -1;
    }
    int code = rs_proc_exit_code(p);
    if (code != 0)
        rs_proc_dump_log(p, "loadgen", stderr, 2048);
    *sent = cu_loadgen_field(json_path, "totals.sent");
    *errors = cu_loadgen_field(json_path, "totals.errors");
    return code;
}

bool cu_server_stop_clean(rs_test_server *srv)
{
    int ws = 0;
    int rc = rs_test_server_stop(srv, 30000, &ws);
    bool ok = rc == 0 && WIFEXITED(ws) && WEXITSTATUS(ws) == 0 &&
              cu_log_count(srv, "event=shutdown_complete", "unflushed_states=0", NULL) == 1;
    if (!ok) {
        fprintf(stderr, "readstated did not stop clean (rc=%d status=0x%x)\n", rc, ws);
        rs_proc_dump_log(&srv->proc, "readstated", stderr, 4096);
    }
    return ok;
}
