/* test_metrics_render.c: Prometheus text, the per-second history and the
 * dashboard JSON (server/metrics_render.c) from a real rs_metrics. */
#include <inttypes.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <jansson.h>

#include "metrics_render.h"

/* The rendered buffer as a NUL-terminated string (caller frees). */
static char *drain(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    evbuffer_remove(b, s, n);
    s[n] = '\0';
    return s;
}

static char *render_prom(const rs_metrics_view *v)
{
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(metrics_render_prometheus(b, v), 0);
    char *s = drain(b);
    evbuffer_free(b);
    return s;
}

static uint64_t sample(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtoull(p + n + 1, NULL, 10);
    fail_msg("series %s missing", series);
    return 0;
}

/* Exposition-format rules: every sample belongs to a family declared once
 * with HELP then TYPE before its samples; names are [a-zA-Z_:][a-zA-Z0-9_:]*;
 * counters end in _total; values parse. */
static void check_exposition(char *text, int min_families)
{
    char families[128][96];
    char types[128][16];
    int nf = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[96], type[16];
        if (strncmp(line, "# HELP ", 7) == 0)
            continue;
        if (sscanf(line, "# TYPE %95s %15s", name, type) == 2) {
            for (int i = 0; i < nf; i++)
                if (strcmp(families[i], name) == 0)
                    fail_msg("family %s declared twice", name);
            assert_true(nf < 128);
            strcpy(families[nf], name);
            strcpy(types[nf], type);
            if (strcmp(type, "counter") == 0) {
                size_t n = strlen(name);
                if (n < 6 || strcmp(name + n - 6, "_total") != 0)
                    fail_msg("counter %s does not end in _total", name);
            }
            nf++;
            continue;
        }
        size_t n = strcspn(line, "{ ");
        assert_true(n > 0 && n < sizeof(name));
        memcpy(name, line, n);
        name[n] = '\0';
        for (size_t i = 0; i < n; i++) {
            char c = name[i];
            bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                      c == ':' || (i > 0 && c >= '0' && c <= '9');
            if (!ok)
                fail_msg("bad metric name %s", name);
        }
        /* the sample belongs to the last family declared */
        assert_true(nf > 0);
        const char *fam = families[nf - 1];
        size_t fl = strlen(fam);
        bool match = strncmp(name, fam, fl) == 0 &&
                     (name[fl] == '\0' || strcmp(name + fl, "_bucket") == 0 ||
                      strcmp(name + fl, "_sum") == 0 || strcmp(name + fl, "_count") == 0);
        if (!match)
            fail_msg("sample %s outside its family %s", name, fam);
        const char *val = strrchr(line, ' ');
        assert_non_null(val);
        char *end = NULL;
        strtod(val + 1, &end);
        if (*end != '\0')
            fail_msg("bad value in %s", line);
    }
    if (nf < min_families)
        fail_msg("%d families, expected at least %d", nf, min_families);
}

static void test_prometheus(void **state)
{
    (void)state;
    rs_metrics *m = calloc(1, sizeof(*m));
    assert_int_equal(metrics_init(m), 0);
    metrics_record(m, RS_METHOD_ACK, RS_OK, 10000);       /* 10 us */
    metrics_record(m, RS_METHOD_ACK, RS_OK, 300000);      /* 300 us */
    metrics_record(m, RS_METHOD_ACK, RS_OK, 20000000000); /* 20 s: +Inf */
    metrics_record(m, RS_METHOD_ACK, RS_ERR_NOT_FOUND, 1000000);
    m->conns_open = 3;
    m->conns_accepted = 10;
    rs_cache_stats cs = {.users = 5, .states = 50, .bytes = 4096, .hits = 7, .misses = 2};
    rs_engine_stats es = {.dirty_users = 4,
                          .flush_batches = 2,
                          .flush_users = 37,
                          .flush_latency_ns_sum = 3000000,
                          .redis_configured = true,
                          .redis_up = true};
    rs_proc_stats proc;
    assert_int_equal(metrics_proc_read(&proc), 0);
    assert_true(proc.rss_bytes > 0);
    assert_true(proc.start_time_s > 1e9);
    rs_alloc_stats alloc;
    metrics_alloc_read(&alloc);
    rs_http_stats hs = {.clients_gone = 2};
    hs.requests[RS_HTTP_HANDLER_CONNECT][1] = 9; /* 2xx */
    hs.requests[RS_HTTP_HANDLER_CONNECT][3] = 4; /* 4xx */
    hs.requests[RS_HTTP_HANDLER_METRICS][1] = 1;
    rs_metrics_view v = {.m = m,
                         .cache = &cs,
                         .cache_max_bytes = 1 << 20,
                         .engine = &es,
                         .proc = &proc,
                         .alloc = &alloc,
                         .http = &hs,
                         .inflight = 3,
                         .ready = true};
    char *text = render_prom(&v);

    const char *ack = "readstates_request_duration_seconds_bucket{method=\"Ack\",le=";
    char series[160];
    snprintf(series, sizeof(series), "%s\"1e-06\"}", ack);
    assert_int_equal(sample(text, series), 0);
    snprintf(series, sizeof(series), "%s\"5e-06\"}", ack);
    assert_int_equal(sample(text, series), 0);
    snprintf(series, sizeof(series), "%s\"1e-05\"}", ack); /* le: 10 us counts */
    assert_int_equal(sample(text, series), 1);
    snprintf(series, sizeof(series), "%s\"0.0002\"}", ack);
    assert_int_equal(sample(text, series), 1);
    snprintf(series, sizeof(series), "%s\"0.0005\"}", ack);
    assert_int_equal(sample(text, series), 2);
    snprintf(series, sizeof(series), "%s\"1\"}", ack);
    assert_int_equal(sample(text, series), 3);
    snprintf(series, sizeof(series), "%s\"10\"}", ack);
    assert_int_equal(sample(text, series), 3);
    snprintf(series, sizeof(series), "%s\"+Inf\"}", ack);
    assert_int_equal(sample(text, series), 4);
    assert_int_equal(sample(text, "readstates_request_duration_seconds_count{method=\"Ack\"}"),
                     4);
    assert_int_equal(sample(text, "readstates_requests_total{method=\"Ack\",code=\"ok\"}"), 3);
    assert_int_equal(
        sample(text, "readstates_requests_total{method=\"Ack\",code=\"not_found\"}"), 1);
    assert_int_equal(sample(text, "readstates_requests_total{method=\"Ping\",code=\"ok\"}"), 0);
    assert_int_equal(sample(text, "readstates_connections_open"), 3);
    assert_int_equal(sample(text, "readstates_cache_hits_total"), 7);
    assert_int_equal(sample(text, "readstates_cache_max_bytes"), 1 << 20);
    assert_int_equal(sample(text, "readstates_dirty_users"), 4);
    assert_int_equal(sample(text, "readstates_redis_up"), 1);
    assert_int_equal(sample(text, "readstates_ready"), 1);
    assert_int_equal(sample(text, "readstates_flush_duration_seconds_count"), 2);
    assert_int_equal(sample(text, "readstates_flush_users_total"), 37);
    assert_int_equal(
        sample(text, "readstates_http_requests_total{handler=\"connect\",code=\"2xx\"}"), 9);
    assert_int_equal(
        sample(text, "readstates_http_requests_total{handler=\"connect\",code=\"4xx\"}"), 4);
    assert_int_equal(
        sample(text, "readstates_http_requests_total{handler=\"readyz\",code=\"2xx\"}"), 0);
    assert_null(strstr(text, "handler=\"readyz\",code=\"5xx\""));
    assert_int_equal(sample(text, "readstates_http_clients_gone_total"), 2);
    assert_int_equal(sample(text, "readstates_requests_in_flight"), 3);
    assert_non_null(strstr(text, "\nprocess_cpu_seconds_total "));
    assert_true(sample(text, "process_resident_memory_bytes") > 0);
    assert_int_equal(strstr(text, "readstates_allocator_heap_bytes") != NULL, alloc.available);

    /* cumulative buckets never go down, per method */
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        uint64_t prev = 0;
        for (int b = 0; b < RS_METRICS_NBUCKETS; b++) {
            char le[32];
            snprintf(le, sizeof(le), "%g", rs_metrics_bucket_bounds[b]);
            snprintf(series, sizeof(series),
                     "readstates_request_duration_seconds_bucket{method=\"%s\",le=\"%s\"}",
                     rs_method_name((rs_method)i), le);
            uint64_t c = sample(text, series);
            assert_true(c >= prev);
            prev = c;
        }
    }
    check_exposition(text, 35);
    free(text);

    /* Shutting down: not ready; no cache or engine: those families vanish. */
    v.shutting_down = true;
    v.cache = NULL;
    v.engine = NULL;
    text = render_prom(&v);
    assert_int_equal(sample(text, "readstates_ready"), 0);
    assert_null(strstr(text, "readstates_cache_users"));
    check_exposition(text, 15);
    free(text);
    metrics_destroy(m);
    free(m);
}

static void test_tick(void **state)
{
    (void)state;
    rs_metrics *m = calloc(1, sizeof(*m));
    assert_int_equal(metrics_init(m), 0);
    rs_metrics_ticker t = {0};
    for (uint64_t us = 1; us <= 1000; us++)
        metrics_record(m, RS_METHOD_GET, RS_OK, us * 1000);
    metrics_record(m, RS_METHOD_ACK, RS_ERR_INVALID, 5000);
    rs_cache_stats cs = {.hits = 10, .misses = 5, .evictions = 1};
    rs_engine_stats es = {.dirty_users = 7, .redis_configured = true, .redis_up = false};
    metrics_tick(m, &t, 1000, &cs, &es);
    assert_int_equal(m->history_len, 1);
    const rs_metrics_second *s = metrics_history_at(m, 0);
    assert_non_null(s);
    assert_int_equal(s->unix_s, 1000);
    assert_int_equal(s->requests[RS_METHOD_GET], 1000);
    assert_in_range(s->p50_us[RS_METHOD_GET], 495, 510);
    assert_in_range(s->p99_us[RS_METHOD_GET], 985, 1000);
    assert_in_range(s->p999_us[RS_METHOD_GET], 995, 1010);
    assert_int_equal(s->max_us[RS_METHOD_GET], 1000);
    assert_int_equal(s->requests[RS_METHOD_ACK], 1);
    assert_int_equal(s->requests[RS_METHOD_PING], 0);
    assert_int_equal(s->p99_us[RS_METHOD_PING], 0);
    assert_int_equal(s->dirty_users, 7);
    assert_int_equal(s->redis_up, 0);
    /* the first tick has no previous totals: rates start at 0 */
    assert_int_equal(s->hits, 0);
    /* the second's histograms were reset */
    assert_int_equal(m->second[RS_METHOD_GET]->total, 0);

    cs.hits = 25;
    cs.misses = 6;
    es.redis_up = true;
    metrics_record(m, RS_METHOD_ACK, RS_ERR_EXHAUSTED, 5000);
    metrics_record(m, RS_METHOD_ACK, RS_OK, 5000);
    metrics_tick(m, &t, 1001, &cs, &es);
    s = metrics_history_at(m, 0);
    assert_int_equal(s->unix_s, 1001);
    assert_int_equal(s->hits, 15);
    assert_int_equal(s->misses, 1);
    assert_int_equal(s->evictions, 0);
    assert_int_equal(s->errors, 1);
    assert_int_equal(s->redis_up, 1);
    assert_int_equal(s->requests[RS_METHOD_GET], 0);
    assert_int_equal(metrics_history_at(m, 1)->unix_s, 1000);
    assert_null(metrics_history_at(m, 2));

    /* the ring keeps exactly the last RS_METRICS_HISTORY seconds */
    for (uint64_t sec = 1002; sec < 1002 + RS_METRICS_HISTORY + 50; sec++)
        metrics_tick(m, &t, sec, NULL, NULL);
    assert_int_equal(m->history_len, RS_METRICS_HISTORY);
    assert_int_equal(metrics_history_at(m, 0)->unix_s, 1002 + RS_METRICS_HISTORY + 49);
    assert_int_equal(metrics_history_at(m, RS_METRICS_HISTORY - 1)->unix_s, 1002 + 50);
    assert_null(metrics_history_at(m, RS_METRICS_HISTORY));
    metrics_destroy(m);
    free(m);
}

/* ---- histogram_quantile over the rendered buckets ----------------------- */

typedef struct prom_bucket {
    double le;
    double count;
} prom_bucket;

/* The cumulative _bucket samples of one method in the exposition text, in
 * order (the last is +Inf). Each le must parse completely as a float, as
 * Prometheus parses it. Returns how many. */
static int parse_buckets(const char *text, const char *method, prom_bucket *out, int max)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix),
             "readstates_request_duration_seconds_bucket{method=\"%s\",le=\"", method);
    size_t pl = strlen(prefix);
    int n = 0;
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p += pl) {
        if (p != text && p[-1] != '\n')
            continue;
        const char *le = p + pl;
        const char *q = strchr(le, '"');
        assert_non_null(q);
        assert_true(q - le > 0 && q - le < 32);
        assert_true(q[1] == '}' && q[2] == ' ');
        assert_true(n < max);
        char buf[32], *end = NULL;
        memcpy(buf, le, (size_t)(q - le));
        buf[q - le] = '\0';
        out[n].le = strcmp(buf, "+Inf") == 0 ? INFINITY : strtod(buf, &end);
        if (end != NULL && *end != '\0')
            fail_msg("le=\"%s\" is not a float", buf);
        out[n].count = strtod(q + 3, &end);
        assert_true(*end == '\n');
        n++;
    }
    return n;
}

/* Prometheus's histogram_quantile for one series set (promql/quantile.go,
 * bucketQuantile): the rank q * count falls in the first bucket whose
 * cumulative count reaches it, and the answer interpolates linearly inside
 * that bucket; the lowest bucket starts at 0, and a rank in +Inf answers
 * the highest finite bound. Buckets sorted, monotonic, the last +Inf. */
static double histogram_quantile(double q, const prom_bucket *b, int n)
{
    if (n < 2 || !isinf(b[n - 1].le) || b[n - 1].count == 0)
        return NAN;
    double rank = q * b[n - 1].count;
    int i = 0;
    while (i < n - 1 && b[i].count < rank)
        i++;
    if (i == n - 1)
        return b[n - 2].le;
    if (i == 0 && b[0].le <= 0)
        return b[0].le;
    double start = 0, end = b[i].le, count = b[i].count;
    if (i > 0) {
        start = b[i - 1].le;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return start + (end - start) * (rank / count);
}

/* The bucket of the contract's series (1, 2, 5 per decade, 1 us .. 10 s)
 * that holds v_ns, as [lo, hi] seconds: the resolution the quantiles must
 * reach, whatever table the server uses. */
static void contract_bucket(uint64_t v_ns, double *lo, double *hi)
{
    static const uint64_t steps[] = {1, 2, 5};
    uint64_t prev = 0;
    for (uint64_t decade = 1000; decade <= 10000000000ULL; decade *= 10)
        for (int i = 0; i < 3; i++) {
            uint64_t g = decade * steps[i];
            if (v_ns <= g) {
                *lo = (double)prev / 1e9;
                *hi = (double)g / 1e9;
                return;
            }
            prev = g;
        }
    fail_msg("%" PRIu64 " ns is over 10 s", v_ns);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define QT_MAX_SAMPLES 10000

/* Known latencies (ns) for distribution `which`; returns how many, 0 past
 * the last. Quantiles that fall exactly on a cumulative count (where one
 * more float ulp picks the next bucket) are left out of `qs`. */
static size_t qt_dist(int which, uint64_t *ns, const char **name, double qs[4])
{
    size_t n = 0;
    switch (which) {
    case 0:
        *name = "all at 5 us";
        for (; n < 1000; n++)
            ns[n] = 5000;
        memcpy(qs, (double[4]){0.5, 0.9, 0.99, 0.999}, 4 * sizeof(double));
        break;
    case 1:
        *name = "99% at 3 us, 1% at 40 ms";
        for (; n < 10000; n++)
            ns[n] = n % 100 == 0 ? 40000000 : 3000;
        memcpy(qs, (double[4]){0.5, 0.98, 0.995, 0.999}, 4 * sizeof(double));
        break;
    case 2:
        *name = "cache hits spread over 4..8 us";
        for (; n < 4001; n++)
            ns[n] = 4000 + n;
        memcpy(qs, (double[4]){0.5, 0.9, 0.99, 0.999}, 4 * sizeof(double));
        break;
    case 3: { /* 1 us * 10^(i/1000): seven decades */
        *name = "log-uniform over 1 us .. 10 s";
        double v = 1000;
        for (; n < 7001; n++, v *= 1.0023052380778996)
            ns[n] = (uint64_t)v;
        memcpy(qs, (double[4]){0.1, 0.5, 0.99, 0.999}, 4 * sizeof(double));
        break;
    }
    default: break;
    }
    return n;
}

/* The bucket lookup on the hot path (bit length, then one comparison)
 * agrees with the plain definition, the first bound >= the latency, at
 * every bound, either side of it, and over a sweep of all magnitudes. */
static void test_bucket_lookup(void **state)
{
    (void)state;
    rs_metrics *m = calloc(1, sizeof(*m));
    assert_int_equal(metrics_init(m), 0);
    uint64_t probes[4096];
    size_t np = 0;
    probes[np++] = 0;
    probes[np++] = UINT64_MAX;
    for (int b = 0; b < RS_METRICS_NBUCKETS; b++) {
        uint64_t ns = (uint64_t)(rs_metrics_bucket_bounds[b] * 1e9 + 0.5);
        probes[np++] = ns - 1;
        probes[np++] = ns;
        probes[np++] = ns + 1;
    }
    uint64_t x = 88172645463325252ULL;
    while (np < sizeof(probes) / sizeof(probes[0])) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        probes[np++] = x >> (x % 64); /* every bit length */
    }
    for (size_t i = 0; i < np; i++) {
        int want = 0;
        while (want < RS_METRICS_NBUCKETS &&
               (double)probes[i] / 1e9 > rs_metrics_bucket_bounds[want])
            want++;
        uint64_t before = m->method[RS_METHOD_PING].buckets[want];
        metrics_record(m, RS_METHOD_PING, RS_OK, probes[i]);
        if (m->method[RS_METHOD_PING].buckets[want] != before + 1)
            fail_msg("%" PRIu64 " ns: not in bucket %d", probes[i], want);
    }
    metrics_destroy(m);
    free(m);
}

/* Feed known latencies through metrics_record, render /metrics, parse the
 * buckets back and check that histogram_quantile lands in the contract's
 * bucket of the true quantile (the nearest-rank value). */
static void test_quantiles(void **state)
{
    (void)state;
    uint64_t *ns = malloc(QT_MAX_SAMPLES * sizeof(uint64_t));
    assert_non_null(ns);
    int bad = 0;
    for (int d = 0;; d++) {
        const char *name = NULL;
        double qs[4];
        size_t n = qt_dist(d, ns, &name, qs);
        if (n == 0)
            break;
        rs_metrics *m = calloc(1, sizeof(*m));
        assert_int_equal(metrics_init(m), 0);
        for (size_t i = 0; i < n; i++)
            metrics_record(m, RS_METHOD_GET, RS_OK, ns[i]);
        rs_metrics_view v = {.m = m, .ready = true};
        char *text = render_prom(&v);
        prom_bucket b[RS_METRICS_NBUCKETS + 1];
        assert_int_equal(parse_buckets(text, "GetReadStates", b, RS_METRICS_NBUCKETS + 1),
                         RS_METRICS_NBUCKETS + 1);
        for (int i = 0; i < RS_METRICS_NBUCKETS; i++)
            assert_true(b[i].le == rs_metrics_bucket_bounds[i]); /* exact round trip */
        assert_true(isinf(b[RS_METRICS_NBUCKETS].le));
        assert_true(b[RS_METRICS_NBUCKETS].count == (double)n);
        qsort(ns, n, sizeof(ns[0]), cmp_u64);
        for (int k = 0; k < 4; k++) {
            uint64_t truth = ns[(size_t)ceil(qs[k] * (double)n) - 1];
            double lo = 0, hi = 0;
            contract_bucket(truth, &lo, &hi);
            double est = histogram_quantile(qs[k], b, RS_METRICS_NBUCKETS + 1);
            bool ok = est >= lo * (1 - 1e-12) && est <= hi * (1 + 1e-12);
            printf("%-32s q=%-5g true %10.3f us  histogram_quantile %10.3f us  want "
                   "[%g, %g] us%s\n",
                   name, qs[k], (double)truth / 1e3, est * 1e6, lo * 1e6, hi * 1e6,
                   ok ? "" : "  WRONG");
            bad += !ok;
        }
        free(text);
        metrics_destroy(m);
        free(m);
    }
    free(ns);
    assert_int_equal(bad, 0);
    /* and the table is the contract's: 1 us .. 10 s, no step over 2.5x */
    assert_true(rs_metrics_bucket_bounds[0] == 1e-6);
    assert_true(rs_metrics_bucket_bounds[RS_METRICS_NBUCKETS - 1] == 10.0);
    for (int b = 1; b < RS_METRICS_NBUCKETS; b++)
        assert_true(rs_metrics_bucket_bounds[b] <=
                    2.5 * rs_metrics_bucket_bounds[b - 1] + 1e-15);
}

static json_t *render_dash(const rs_metrics_view *v, uint64_t since)
{
    struct evbuffer *b = evbuffer_new();
    assert_int_equal(metrics_render_dashboard(b, v, since), 0);
    char *s = drain(b);
    evbuffer_free(b);
    json_error_t err;
    json_t *j = json_loads(s, 0, &err);
    if (j == NULL)
        fail_msg("dashboard JSON does not parse: %s: %.200s", err.text, s);
    free(s);
    return j;
}

static void test_dashboard_json(void **state)
{
    (void)state;
    rs_metrics *m = calloc(1, sizeof(*m));
    assert_int_equal(metrics_init(m), 0);
    rs_metrics_ticker t = {0};
    rs_cache_stats cs = {.users = 3, .hits = 1};
    rs_engine_stats es = {.redis_configured = true, .redis_up = true, .dirty_users = 2};
    for (uint64_t sec = 100; sec < 110; sec++) {
        metrics_record(m, RS_METHOD_ACK, RS_OK, sec * 1000); /* sec us */
        metrics_tick(m, &t, sec, &cs, &es);
    }
    rs_metrics_view v = {.m = m, .cache = &cs, .engine = &es, .ready = true, .now_unix_ms = 5};
    json_t *j = render_dash(&v, 0);
    assert_true(json_is_true(json_object_get(j, "ready")));
    json_t *methods = json_object_get(j, "methods");
    assert_int_equal(json_array_size(methods), RS_METHOD_MAX);
    assert_string_equal(json_string_value(json_array_get(methods, RS_METHOD_ACK)), "Ack");
    json_t *h = json_object_get(j, "history");
    json_t *ts = json_object_get(h, "t");
    assert_int_equal(json_array_size(ts), 10);
    assert_int_equal(json_integer_value(json_array_get(ts, 0)), 100); /* oldest first */
    assert_int_equal(json_integer_value(json_array_get(ts, 9)), 109);
    json_t *p99 = json_object_get(h, "p99");
    assert_int_equal(json_array_size(p99), RS_METHOD_MAX);
    json_t *ack = json_array_get(p99, RS_METHOD_ACK);
    assert_int_equal(json_array_size(ack), 10);
    assert_in_range(json_integer_value(json_array_get(ack, 9)), 108, 110);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(h, "dirty"), 0)), 2);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "cache"), "users")),
                     3);
    json_decref(j);

    /* ?since= returns only newer seconds */
    j = render_dash(&v, 107);
    h = json_object_get(j, "history");
    assert_int_equal(json_array_size(json_object_get(h, "t")), 2);
    assert_int_equal(json_array_size(json_array_get(json_object_get(h, "max"), 0)), 2);
    json_decref(j);
    j = render_dash(&v, 200);
    assert_int_equal(json_array_size(json_object_get(json_object_get(j, "history"), "t")), 0);
    json_decref(j);
    metrics_destroy(m);
    free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prometheus),     cmocka_unit_test(test_bucket_lookup),
        cmocka_unit_test(test_quantiles),      cmocka_unit_test(test_tick),
        cmocka_unit_test(test_dashboard_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
