/*
 * fuzz_http_server.h: the in-process server the HTTP harnesses
 * (fuzz_http_request.c, fuzz_http2.c) drive: memory-only engine, small
 * limits, the HTTP port started on loopback (never connected to: inputs
 * arrive on adopted socketpairs). Built once and kept across inputs.
 */
#ifndef RS_FUZZ_HTTP_SERVER_H
#define RS_FUZZ_HTTP_SERVER_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "server.h"

/* The harness's own limits on top of the shared ones; may be NULL. */
typedef void (*fz_tune_fn)(rs_config *cfg);

static inline rs_server *fz_http_server(rs_server **slot, const char *harness, fz_tune_fn tune)
{
    if (*slot != NULL)
        return *slot;
    rs_config cfg;
    config_defaults(&cfg);
    strcpy(cfg.http, "127.0.0.1:0"); /* bound on loopback, never connected to */
    cfg.log_level = RS_LOG_OFF;
    cfg.max_list = 50;
    cfg.max_states_per_user = 100;
    cfg.max_memory = 1u << 20;
    cfg.http_max_body = 8192;
    cfg.http_max_headers = 2048;
    if (tune != NULL)
        tune(&cfg);
    rs_server *s = malloc(sizeof(*s));
    const char *failed = s == NULL || server_init(s, &cfg) != 0 ? "server_init" : NULL;
    if (failed == NULL && (s->loop.http = http_start(s)) == NULL)
        failed = "http_start";
    if (failed != NULL) {
        fprintf(stderr, "%s: %s\n", harness, failed);
        abort();
    }
    return *slot = s;
}

#endif /* RS_FUZZ_HTTP_SERVER_H */
