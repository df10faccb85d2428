/*
 * lg_report.c: the result document and its text and CSV views; the HTML
 * view is in lg_html.c, compare in lg_compare.c.
 *
 * Document layout (latencies in microseconds):
 *   { tool, version, label, target, measured_start_unix_ms, config{...},
 *     totals{scheduled, sent, answered, ok, errors, unsent, unanswered,
 *            duration_s, elapsed_s, throughput_rps},
 *     errors{<status name>: n},
 *     latency{all{count, mean_us, min_us, p50_us .. max_us}, ack{...}, ...},
 *     seconds[{t, sent, answered, errors, p50_us, p99_us, p999_us, max_us,
 *              methods{ack{answered, p50_us, p99_us, max_us}, ...},
 *              hiccup_max_us (--hiccups only; null for a second without a sleep)}],
 *     send_delay{count, ..., max_us} (rate mode: sent time - scheduled time),
 *     hiccups{interval_us, samples, p50_us, p90_us, p99_us, p999_us, max_us,
 *             over_1ms_pct, cpu_s} (--hiccups; null without),
 *     steal_pct (hypervisor steal in the measured phase, % of all CPU time;
 *                null when unknown),
 *     cpu{loadgen_s, loadgen_us_per_req, server_pid, server_s, server_us_per_req
 *         [, hiccup_meter_s]} }
 */
#include "lg_report.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "rs_common.h"

const double lg_report_pcts[LG_REPORT_NPCT] = {50, 90, 99, 99.9, 99.99, 100};
const char *const lg_report_pct_keys[LG_REPORT_NPCT] = {"p50_us",  "p90_us",   "p99_us",
                                                        "p999_us", "p9999_us", "max_us"};

static const char *const mode_names_[LG_MODE_MAX] = {"rate", "max", "fill"};

static json_t *rep_spectrum(const rs_hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "count", json_integer((json_int_t)h->total));
    json_object_set_new(o, "mean_us", json_real(rs_hist_mean(h) / 1e3));
    json_object_set_new(o, "min_us", json_real(h->total ? (double)h->min / 1e3 : 0.0));
    for (int i = 0; i < LG_REPORT_NPCT; i++)
        json_object_set_new(o, lg_report_pct_keys[i],
                            json_real((double)rs_hist_percentile(h, lg_report_pcts[i]) / 1e3));
    return o;
}

static json_t *rep_config(const lg_engine *e)
{
    const lg_config *c = &e->cfg;
    json_t *o = json_object();
    json_object_set_new(o, "mode", json_string(mode_names_[c->mode]));
    json_object_set_new(o, "rate", json_real(c->mode == LG_MODE_RATE ? c->rate : 0.0));
    json_object_set_new(o, "connections", json_integer(c->conns));
    json_object_set_new(o, "pipeline", json_integer(c->depth));
    json_object_set_new(o, "batch_us", json_integer((json_int_t)(c->batch_ns / 1000u)));
    json_object_set_new(o, "hiccups", json_boolean(c->hiccups));
    json_object_set_new(o, "duration_s", json_real(c->duration_s));
    json_object_set_new(o, "warmup_s", json_real(c->warmup_s));
    json_object_set_new(o, "users", json_integer((json_int_t)c->work.users));
    json_object_set_new(o, "channels_per_user", json_integer(c->work.channels));
    json_object_set_new(o, "zipf", json_real(c->work.zipf_s));
    json_object_set_new(o, "cold_pct", json_real(c->work.cold_pct));
    json_object_set_new(o, "seed", json_integer((json_int_t)c->work.seed));
    json_object_set_new(o, "bulk_size", json_integer(c->work.bulk_size));
    json_object_set_new(o, "mention_users", json_integer(c->work.mention_users));
    if (c->mode == LG_MODE_FILL) {
        json_object_set_new(o, "fill_users", json_integer((json_int_t)c->fill_users));
        json_object_set_new(o, "fill_channels", json_integer(c->fill_channels));
    }
    json_t *mix = json_object();
    for (int m = 0; m < LG_METHOD_MAX; m++)
        json_object_set_new(mix, lg_method_name((lg_method)m), json_real(c->work.mix[m]));
    json_object_set_new(o, "mix", mix);
    return o;
}

static json_t *rep_totals(const lg_engine *e)
{
    const lg_stats *st = &e->stats;
    json_t *o = json_object();
    uint64_t answered = lg_stats_total_answered(st);
    double dur = e->cfg.mode == LG_MODE_FILL ? st->elapsed_s : e->cfg.duration_s;
    if (e->cfg.mode != LG_MODE_FILL && st->elapsed_s < dur)
        dur = st->elapsed_s; /* stopped early */
    /* throughput over the time the answers actually took: from the start of
     * the measured phase to the last answer (a target that fell behind a
     * fixed rate and caught up in the drain shows its real rate) */
    double span = st->elapsed_s > 0 ? st->elapsed_s : dur;
    json_object_set_new(o, "scheduled", json_integer((json_int_t)st->scheduled));
    json_object_set_new(o, "sent", json_integer((json_int_t)lg_stats_total_sent(st)));
    json_object_set_new(o, "answered", json_integer((json_int_t)answered));
    json_object_set_new(o, "ok", json_integer((json_int_t)st->status[LG_ST_OK]));
    json_object_set_new(o, "errors", json_integer((json_int_t)lg_stats_total_errors(st)));
    json_object_set_new(o, "unsent", json_integer((json_int_t)st->status[LG_ST_UNSENT]));
    json_object_set_new(o, "unanswered",
                        json_integer((json_int_t)st->status[LG_ST_UNANSWERED]));
    json_object_set_new(o, "duration_s", json_real(dur));
    json_object_set_new(o, "elapsed_s", json_real(st->elapsed_s));
    json_object_set_new(o, "throughput_rps",
                        json_real(span > 0 ? (double)answered / span : 0.0));
    if (e->cfg.mode == LG_MODE_FILL)
        json_object_set_new(o, "states_written", json_integer((json_int_t)e->fill_total));
    return o;
}

static json_t *rep_seconds(const lg_engine *e)
{
    json_t *a = json_array();
    for (uint32_t i = 0; i < e->stats.used; i++) {
        const lg_second *s = &e->stats.sec[i];
        json_t *r = json_object();
        json_object_set_new(r, "t", json_integer(i));
        json_object_set_new(r, "sent", json_integer((json_int_t)s->sent));
        json_object_set_new(r, "answered", json_integer((json_int_t)s->answered));
        json_object_set_new(r, "errors", json_integer((json_int_t)s->errors));
        json_object_set_new(r, "p50_us", json_real(rs_hist_percentile(&s->hist, 50) / 1e3));
        json_object_set_new(r, "p99_us", json_real(rs_hist_percentile(&s->hist, 99) / 1e3));
        json_object_set_new(r, "p999_us", json_real(rs_hist_percentile(&s->hist, 99.9) / 1e3));
        json_object_set_new(r, "max_us", json_real((double)s->hist.max / 1e3));
        json_t *per = json_object();
        for (int m = 0; m < LG_METHOD_MAX; m++) {
            const rs_hist *h = s->method[m];
            if (h == NULL)
                continue;
            json_t *o = json_object();
            json_object_set_new(o, "answered", json_integer((json_int_t)h->total));
            json_object_set_new(o, "p50_us", json_real(rs_hist_percentile(h, 50) / 1e3));
            json_object_set_new(o, "p99_us", json_real(rs_hist_percentile(h, 99) / 1e3));
            json_object_set_new(o, "max_us", json_real((double)h->max / 1e3));
            json_object_set_new(per, lg_method_name((lg_method)m), o);
        }
        json_object_set_new(r, "methods", per);
        if (e->hiccup != NULL) {
            const lg_hiccup_rec *hr = &e->hiccup->rec;
            bool have = i < hr->nsec && hr->sec_n[i] > 0;
            json_object_set_new(r, "hiccup_max_us",
                                have ? json_real((double)hr->sec_max[i] / 1e3) : json_null());
        }
        json_array_append_new(a, r);
    }
    return a;
}

static json_t *rep_cpu(const lg_engine *e)
{
    const lg_stats *st = &e->stats;
    uint64_t answered = lg_stats_total_answered(st);
    json_t *o = json_object();
    json_object_set_new(o, "loadgen_s", json_real(st->loadgen_cpu_s));
    json_object_set_new(o, "loadgen_us_per_req",
                        answered ? json_real(st->loadgen_cpu_s * 1e6 / (double)answered)
                                 : json_null());
    json_object_set_new(o, "server_pid", json_integer(e->cfg.server_pid));
    if (st->server_cpu_s >= 0) {
        json_object_set_new(o, "server_s", json_real(st->server_cpu_s));
        json_object_set_new(o, "server_us_per_req",
                            answered ? json_real(st->server_cpu_s * 1e6 / (double)answered)
                                     : json_null());
    } else {
        json_object_set_new(o, "server_s", json_null());
        json_object_set_new(o, "server_us_per_req", json_null());
    }
    /* kept out of loadgen_s: the meter is not part of the load generator */
    if (e->hiccup != NULL)
        json_object_set_new(o, "hiccup_meter_s", json_real(e->hiccup->cpu_s));
    return o;
}

/* The platform hiccup meter's figures (call after the run: its thread is
 * joined). */
static json_t *rep_hiccups(const lg_hiccup *h)
{
    const lg_hiccup_rec *r = &h->rec;
    static const double pcts[] = {50, 90, 99, 99.9};
    static const char *const keys[] = {"p50_us", "p90_us", "p99_us", "p999_us"};
    json_t *o = json_object();
    json_object_set_new(o, "interval_us",
                        json_integer((json_int_t)(LG_HICCUP_INTERVAL_NS / 1000u)));
    json_object_set_new(o, "samples", json_integer((json_int_t)r->hist.total));
    for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
        json_object_set_new(o, keys[i],
                            json_real((double)rs_hist_percentile(&r->hist, pcts[i]) / 1e3));
    json_object_set_new(o, "max_us", json_real((double)r->hist.max / 1e3));
    json_object_set_new(o, "over_1ms_pct", json_real(lg_hiccup_rec_over_pct(r)));
    json_object_set_new(o, "cpu_s", json_real(h->cpu_s));
    return o;
}

json_t *lg_report_build(const lg_engine *e, const char *target_url, const char *label)
{
    json_t *doc = json_object();
    if (doc == NULL)
        return NULL;
    json_object_set_new(doc, "tool", json_string("readstate-loadgen"));
    json_object_set_new(doc, "version", json_string(RS_VERSION_STRING));
    json_object_set_new(doc, "label", json_string(label ? label : target_url));
    json_object_set_new(doc, "target", json_string(target_url));
    json_object_set_new(doc, "measured_start_unix_ms",
                        e->started ? json_integer((json_int_t)e->meas_unix_ms) : json_null());
    json_object_set_new(doc, "config", rep_config(e));
    json_object_set_new(doc, "totals", rep_totals(e));
    json_t *errs = json_object();
    for (int s = 1; s < LG_STATUS_MAX; s++)
        if (e->stats.status[s])
            json_object_set_new(errs, lg_status_name(s),
                                json_integer((json_int_t)e->stats.status[s]));
    json_object_set_new(doc, "errors", errs);
    json_t *lat = json_object();
    json_object_set_new(lat, "all", rep_spectrum(&e->stats.all));
    for (int m = 0; m < LG_METHOD_MAX; m++)
        if (e->stats.method[m].total || e->cfg.work.mix[m] > 0)
            json_object_set_new(lat, lg_method_name((lg_method)m),
                                rep_spectrum(&e->stats.method[m]));
    json_object_set_new(doc, "latency", lat);
    /* how late requests went out against their schedule (rate mode): time
     * spent waiting for a free pipeline slot, or a generator that could not
     * keep up; it is part of the latency above */
    if (e->cfg.mode == LG_MODE_RATE)
        json_object_set_new(doc, "send_delay", rep_spectrum(&e->stats.send_delay));
    json_object_set_new(doc, "seconds", rep_seconds(e));
    /* what the platform itself did meanwhile */
    json_object_set_new(doc, "hiccups", e->hiccup ? rep_hiccups(e->hiccup) : json_null());
    json_object_set_new(doc, "steal_pct",
                        e->stats.steal_pct >= 0 ? json_real(e->stats.steal_pct) : json_null());
    json_object_set_new(doc, "cpu", rep_cpu(e));
    return doc;
}

static double rep_num(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0.0;
}

/* A count of the document (requests, samples) as a whole number. */
static long long rep_count(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    return json_is_number(v) ? llround(json_number_value(v)) : 0;
}

/* The platform's share: hiccups (--hiccups) and hypervisor steal. */
static void rep_platform_text(FILE *out, const json_t *doc)
{
    const json_t *h = json_object_get(doc, "hiccups");
    const json_t *steal = json_object_get(doc, "steal_pct");
    fprintf(out, "\n");
    if (json_is_object(h))
        fprintf(out,
                "platform hiccups (1 ms sleeps): p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms,"
                " time in hiccups > 1 ms: %.2f%%  (%lld sleeps)\n",
                rep_num(h, "p50_us") / 1e3, rep_num(h, "p99_us") / 1e3,
                rep_num(h, "p999_us") / 1e3, rep_num(h, "max_us") / 1e3,
                rep_num(h, "over_1ms_pct"), rep_count(h, "samples"));
    if (json_is_number(steal))
        fprintf(out, "hypervisor steal in the measured phase: %.1f%% of all CPU time%s\n",
                json_number_value(steal),
                json_is_object(h) ? "" : "  (--hiccups: the platform's own stalls)");
    else
        fprintf(out, "hypervisor steal: unknown (no /proc/stat, or no measured phase)\n");
}

void lg_report_text(FILE *out, const json_t *doc)
{
    const json_t *cfg = json_object_get(doc, "config");
    const json_t *tot = json_object_get(doc, "totals");
    fprintf(out, "\n%s: %s, %s", json_string_value(json_object_get(doc, "label")),
            json_string_value(json_object_get(doc, "target")),
            json_string_value(json_object_get(cfg, "mode")));
    if (rep_num(cfg, "rate") > 0)
        fprintf(out, " %.0f req/s", rep_num(cfg, "rate"));
    fprintf(out, ", %lld connections x pipeline %lld, %.1f s measured (+%.1f s warm-up)\n",
            rep_count(cfg, "connections"), rep_count(cfg, "pipeline"),
            rep_num(tot, "duration_s"), rep_num(cfg, "warmup_s"));
    fprintf(out,
            "requests: scheduled %lld  sent %lld  answered %lld  ok %lld  errors %lld"
            "  (unsent %lld, unanswered %lld)\n",
            rep_count(tot, "scheduled"), rep_count(tot, "sent"), rep_count(tot, "answered"),
            rep_count(tot, "ok"), rep_count(tot, "errors"), rep_count(tot, "unsent"),
            rep_count(tot, "unanswered"));
    if (json_object_get(tot, "states_written") != NULL)
        fprintf(out, "fill: states written %lld\n", rep_count(tot, "states_written"));
    fprintf(out, "throughput: %.1f answered/s\n\n", rep_num(tot, "throughput_rps"));
    fprintf(out, "%-10s %10s %10s %10s %10s %10s %10s %10s   (ms)\n", "method", "count", "p50",
            "p90", "p99", "p99.9", "p99.99", "max");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)json_object_get(doc, "latency"), k, v)
    {
        fprintf(out, "%-10s %10lld", k, rep_count(v, "count"));
        for (int i = 0; i < LG_REPORT_NPCT; i++)
            fprintf(out, " %10.3f", rep_num(v, lg_report_pct_keys[i]) / 1e3);
        fprintf(out, "\n");
    }
    const json_t *sd = json_object_get(doc, "send_delay");
    if (sd != NULL)
        fprintf(
            out,
            "\nsend delay behind schedule (included above): p50 %.3f  p99 %.3f  max %.3f ms\n",
            rep_num(sd, "p50_us") / 1e3, rep_num(sd, "p99_us") / 1e3,
            rep_num(sd, "max_us") / 1e3);
    rep_platform_text(out, doc);
    const json_t *errs = json_object_get(doc, "errors");
    fprintf(out, "\nerrors by status:");
    if (json_object_size(errs) == 0)
        fprintf(out, " none");
    json_object_foreach((json_t *)errs, k, v)
        fprintf(out, " %s=%lld", k, (long long)json_integer_value(v));
    const json_t *cpu = json_object_get(doc, "cpu");
    fprintf(out, "\ncpu: loadgen %.2f s (%.2f us/req)", rep_num(cpu, "loadgen_s"),
            rep_num(cpu, "loadgen_us_per_req"));
    if (json_is_number(json_object_get(cpu, "server_s")))
        fprintf(out, ", server %.2f s (%.2f us/req)", rep_num(cpu, "server_s"),
                rep_num(cpu, "server_us_per_req"));
    else
        fprintf(out, ", server unknown (pass --server-pid)");
    fprintf(out, "\n");
}

int lg_report_write_json(const char *path, const json_t *doc)
{
    if (json_dump_file(doc, path,
                       JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10)) != 0) {
        fprintf(stderr, "readstate-loadgen: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int lg_report_write_csv(const char *path, const json_t *doc)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "readstate-loadgen: cannot write %s\n", path);
        return -1;
    }
    const json_t *rows = json_object_get(doc, "seconds");
    /* per-method columns for the methods of the first row (the same in every row) */
    const json_t *first = json_object_get(json_array_get(rows, 0), "methods");
    const char *k;
    const json_t *v;
    fprintf(f, "t,sent,answered,errors,p50_us,p99_us,p999_us,max_us");
    json_object_foreach((json_t *)first, k, v)
        fprintf(f, ",%s_answered,%s_p50_us,%s_p99_us,%s_max_us", k, k, k, k);
    /* last, so readers by position keep working; empty without --hiccups */
    fprintf(f, ",hiccup_max_us\n");
    size_t i;
    const json_t *r;
    json_array_foreach(rows, i, r)
    {
        fprintf(f, "%lld,%lld,%lld,%lld,%.3f,%.3f,%.3f,%.3f", rep_count(r, "t"),
                rep_count(r, "sent"), rep_count(r, "answered"), rep_count(r, "errors"),
                rep_num(r, "p50_us"), rep_num(r, "p99_us"), rep_num(r, "p999_us"),
                rep_num(r, "max_us"));
        const json_t *per = json_object_get(r, "methods");
        json_object_foreach((json_t *)first, k, v)
        {
            const json_t *o = json_object_get(per, k);
            fprintf(f, ",%lld,%.3f,%.3f,%.3f", rep_count(o, "answered"), rep_num(o, "p50_us"),
                    rep_num(o, "p99_us"), rep_num(o, "max_us"));
        }
        const json_t *hic = json_object_get(r, "hiccup_max_us");
        if (json_is_number(hic))
            fprintf(f, ",%.3f\n", json_number_value(hic));
        else
            fprintf(f, ",\n");
    }
    int rc = ferror(f) ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}
