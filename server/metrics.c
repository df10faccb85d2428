/* metrics.c: recording side of metrics.h. */
#include "metrics.h"

#include <stdlib.h>
#include <string.h>

const double rs_metrics_bucket_bounds[RS_METRICS_NBUCKETS] = {
    0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01,     0.025,   0.05,   0.1,     0.25,   0.5,   0.75,   1.0,
};

static const char *const method_names[RS_METHOD_MAX] = {
    "Ping",        "Ack",           "SetReadState",     "BulkAck",
    "AddMentions", "GetReadStates", "DeleteReadStates", "Watch",
    "Invalid",
};

const char *rs_method_name(rs_method m)
{
    return (unsigned)m < RS_METHOD_MAX ? method_names[m] : "Unknown";
}

int metrics_init(rs_metrics *m)
{
    memset(m, 0, sizeof(*m));
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        m->second[i] = malloc(sizeof(rs_hist));
        if (m->second[i] == NULL) {
            metrics_destroy(m);
            return -1;
        }
        rs_hist_reset(m->second[i]);
    }
    return 0;
}

void metrics_destroy(rs_metrics *m)
{
    for (int i = 0; i < RS_METHOD_MAX; i++) {
        free(m->second[i]);
        m->second[i] = NULL;
    }
}

void metrics_record(rs_metrics *m, rs_method method, rs_status st, uint64_t latency_ns)
{
    if ((unsigned)method >= RS_METHOD_MAX)
        method = RS_METHOD_INVALID;
    rs_method_metrics *mm = &m->method[method];
    unsigned code = (unsigned)st < RS_METRICS_NCODES ? (unsigned)st : RS_ERR_INTERNAL;
    mm->by_code[code]++;
    mm->count++;
    double secs = (double)latency_ns / 1e9;
    mm->sum_seconds += secs;
    int b = 0;
    while (b < RS_METRICS_NBUCKETS && secs > rs_metrics_bucket_bounds[b])
        b++;
    mm->buckets[b]++;
    rs_hist_record(m->second[method], latency_ns);
}
