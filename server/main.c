/*
 * main.c: readstated, a thin main over server.h.
 *
 *   config_load ─> config_scrub_argv ─> server_init ─> server_listen ─> http_start
 *   ─> server_run (until SIGTERM/SIGINT and a graceful shutdown; SIGHUP reloads)
 *   ─> http_stop ─> server_destroy
 *
 * Exit codes: 0 after a clean shutdown (everything flushed) or --help;
 * 1 when start-up failed or states were left unflushed; 2 on bad flags.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "http.h"
#include "server.h"
#include "signals.h"

/* A secret was given as a flag: it is scrubbed now, but was visible to
 * every local user until this moment. */
static void warn_secret_in_argv(void *arg, const char *flag, const char *hint)
{
    RS_LOG((const rs_log *)arg, RS_LOG_WARN, "secret_in_argv", "flag=--%s hint=\"%s\"", flag,
           hint);
}

int main(int argc, char **argv)
{
    rs_config cfg;
    int rc = config_load(&cfg, argc, argv);
    if (rc > 0)
        return 0; /* --help or --version */
    if (rc < 0)
        return 2;
    /* Out of /proc/PID/cmdline and ps at once (config_load copied it);
     * reloads take it from the running settings (server_reload). */
    rs_log boot_log = {.min = cfg.log_level, .out = NULL};
    config_scrub_argv(argc, argv, warn_secret_in_argv, &boot_log);

    signals_ignore_quiet(); /* SIGPIPE and co. (signals.h) */

    rs_server *s = malloc(sizeof(*s));
    if (s == NULL) {
        fputs("readstated: out of memory\n", stderr);
        return 1;
    }
    int code = 1;
    int ok = server_init(s, &cfg);
    s->proc.argc = argc; /* for reloads (SIGHUP) */
    s->proc.argv = argv;
    if (ok == 0 && server_listen(s) == 0) {
        /* http_start also installs the metrics tick; NULL with --http off. */
        s->loop.http = http_start(s);
        if (s->loop.http != NULL || strcmp(cfg.http, "off") == 0)
            code = server_run(s);
        http_stop(s->loop.http);
        s->loop.http = NULL;
    }
    server_destroy(s);
    free(s);
    return code;
}
