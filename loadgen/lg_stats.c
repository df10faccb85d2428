/* lg_stats.c: run measurements, see lg_stats.h. */
#include "lg_stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rs_common.h"

const char *lg_status_name(int st)
{
    switch (st) {
    case LG_ST_CONN: return "conn_error";
    case LG_ST_BAD_REPLY: return "bad_reply";
    case LG_ST_REDIS_ERR: return "redis_error";
    case LG_ST_UNANSWERED: return "unanswered";
    case LG_ST_UNSENT: return "unsent";
    default: break;
    }
    if (st >= 0 && st < LG_ST_WIRE_MAX) {
        const char *n = rs_status_name((rs_status)st);
        if (strcmp(n, "UNKNOWN") != 0)
            return n;
        return "UNKNOWN_CODE";
    }
    return "unknown";
}

int lg_stats_init(lg_stats *st, uint32_t nsec, unsigned method_mask)
{
    memset(st, 0, sizeof(*st));
    st->nsec = nsec ? nsec : 1;
    st->sec = calloc(st->nsec, sizeof(*st->sec));
    if (st->sec == NULL)
        return -1;
    for (uint32_t i = 0; i < st->nsec; i++) {
        rs_hist_reset(&st->sec[i].hist);
        for (int m = 0; m < LG_METHOD_MAX; m++) {
            if (!(method_mask & (1u << m)))
                continue;
            st->sec[i].method[m] = malloc(sizeof(rs_hist));
            if (st->sec[i].method[m] == NULL)
                return -1;
            rs_hist_reset(st->sec[i].method[m]);
        }
    }
    for (int m = 0; m < LG_METHOD_MAX; m++)
        rs_hist_reset(&st->method[m]);
    rs_hist_reset(&st->all);
    rs_hist_reset(&st->send_delay);
    st->server_cpu_s = -1;
    st->steal_pct = -1;
    return 0;
}

void lg_stats_free(lg_stats *st)
{
    for (uint32_t i = 0; st->sec != NULL && i < st->nsec; i++)
        for (int m = 0; m < LG_METHOD_MAX; m++)
            free(st->sec[i].method[m]);
    free(st->sec);
    st->sec = NULL;
}

void lg_stats_start(lg_stats *st, uint64_t t_start_ns)
{
    st->t_start_ns = t_start_ns;
}

static lg_second *sts_window(lg_stats *st, uint64_t now_ns)
{
    uint64_t i = now_ns > st->t_start_ns ? (now_ns - st->t_start_ns) / 1000000000ull : 0;
    if (i >= st->nsec)
        i = st->nsec - 1;
    if (i + 1 > st->used)
        st->used = (uint32_t)i + 1;
    return &st->sec[i];
}

void lg_stats_sent(lg_stats *st, lg_method m, uint64_t start_ns, uint64_t now_ns)
{
    if (!lg_stats_counts(st, start_ns))
        return;
    st->sent[m]++;
    sts_window(st, now_ns)->sent++;
    rs_hist_record(&st->send_delay, now_ns > start_ns ? now_ns - start_ns : 0);
}

void lg_stats_done(lg_stats *st, lg_method m, uint64_t start_ns, uint64_t now_ns, int status)
{
    if (!lg_stats_counts(st, start_ns))
        return;
    if (status < 0 || status >= LG_STATUS_MAX)
        status = LG_ST_BAD_REPLY;
    st->status[status]++;
    lg_second *w = sts_window(st, now_ns);
    bool answered = status < LG_ST_WIRE_MAX || status == LG_ST_REDIS_ERR;
    if (status != LG_ST_OK)
        w->errors++;
    if (!answered)
        return;
    uint64_t lat = now_ns > start_ns ? now_ns - start_ns : 0;
    st->answered[m]++;
    w->answered++;
    rs_hist_record(&w->hist, lat);
    if (w->method[m] != NULL)
        rs_hist_record(w->method[m], lat);
    rs_hist_record(&st->method[m], lat);
    rs_hist_record(&st->all, lat);
}

uint64_t lg_stats_total_sent(const lg_stats *st)
{
    uint64_t n = 0;
    for (int m = 0; m < LG_METHOD_MAX; m++)
        n += st->sent[m];
    return n;
}

uint64_t lg_stats_total_answered(const lg_stats *st)
{
    uint64_t n = 0;
    for (int m = 0; m < LG_METHOD_MAX; m++)
        n += st->answered[m];
    return n;
}

uint64_t lg_stats_total_errors(const lg_stats *st)
{
    uint64_t n = 0;
    for (int s = 1; s < LG_STATUS_MAX; s++)
        n += st->status[s];
    return n;
}

uint64_t lg_arrival_mono_ns(uint64_t stamp_wall_ns, uint64_t wall_now_ns, uint64_t mono_now_ns)
{
    uint64_t age = wall_now_ns > stamp_wall_ns ? wall_now_ns - stamp_wall_ns : 0;
    return mono_now_ns > age ? mono_now_ns - age : 0;
}

double lg_cpu_self_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double lg_cpu_pid_s(int pid)
{
    if (pid <= 0)
        return -1;
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime = 0, stime = 0;
    /* after ')': state(3) ... utime is field 14, stime 15 */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        return -1;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    return (double)(utime + stime) / (double)tck;
}

int lg_cpu_ticks_parse(const char *text, lg_cpu_ticks *out)
{
    memset(out, 0, sizeof(*out));
    for (const char *p = text; p != NULL && *p != '\0';) {
        if (strncmp(p, "cpu ", 4) == 0) {
            unsigned long long v[8];
            if (sscanf(p + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7]) != 8)
                return -1;
            for (int i = 0; i < 8; i++)
                out->total += v[i];
            out->steal = v[7];
            out->ok = true;
            return 0;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return -1;
}

int lg_cpu_ticks_read(lg_cpu_ticks *out)
{
    memset(out, 0, sizeof(*out));
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    char buf[512]; /* the `cpu` line comes first */
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return lg_cpu_ticks_parse(buf, out);
}

double lg_steal_pct(const lg_cpu_ticks *before, const lg_cpu_ticks *after)
{
    if (!before->ok || !after->ok || after->total <= before->total ||
        after->steal < before->steal)
        return -1;
    return 100.0 * (double)(after->steal - before->steal) /
           (double)(after->total - before->total);
}
