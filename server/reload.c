/*
 * reload.c: what SIGHUP does. The settings are built anew exactly as at
 * start (defaults, the --config file read again, the environment, argv);
 * each setting that differs from the running one is logged once, either
 * applied (log level, request logging, slow-request threshold: the server
 * reads them from s->proc.cfg on every request) or reported as needing a
 * restart, and one summary line closes the reload (these lines are written
 * whatever the log level, unless logs are off):
 *
 *   level=info event=reload_applied name=log-level old=info new=debug
 *   level=warn event=reload_needs_restart name=max-memory running=... new=...
 *   level=info event=reload changed=2 applied=1 needs_restart=1 config=/etc/...
 *
 * The TLS files (--tls-cert, --tls-key, --tls-client-ca) are read again
 * whatever changed: new connections get the new certificate, open ones
 * keep theirs; files that do not load leave the old ones in use. Their
 * paths, like every setting not listed above, need a restart.
 *
 * A secret given as a flag (--redis-password) was scrubbed from argv at
 * start: the reload keeps the running value rather than the '*' it reads.
 *
 * A file that does not parse (or a setting out of range) changes nothing:
 * the server keeps every running setting and logs reload_failed with the
 * reason. A reload never stops the server or touches its data.
 *
 * The token file (--auth-token-file) is read again on every reload: a new
 * path or new contents apply at once (reload_auth tokens=N); a file that
 * does not load keeps the tokens in use and logs reload_failed
 * what=auth-token-file.
 */
#include <stdio.h>
#include <string.h>

#include "auth.h"
#include "server.h"
#include "tls.h"

/* A reload is an operator's act: its lines are written whatever the log
 * level (a reload that lowers the level still says so), unless logs are
 * off. */
#define RELOAD_LOG(s, level, event, ...)                                                       \
    do {                                                                                       \
        if ((s)->proc.log.min != RS_LOG_OFF)                                                   \
            rs_log_write(&(s)->proc.log, (level), (event), __VA_ARGS__);                       \
    } while (0)

typedef struct reload_count {
    rs_server *s;
    unsigned applied, restart;
} reload_count;

static void reload_report(void *arg, const char *name, const char *old_value,
                          const char *new_value, bool live)
{
    reload_count *rc = arg;
    if (live) {
        rc->applied++;
        RELOAD_LOG(rc->s, RS_LOG_INFO, "reload_applied", "name=%s old=\"%s\" new=\"%s\"", name,
                   old_value, new_value);
    } else {
        rc->restart++;
        RELOAD_LOG(rc->s, RS_LOG_WARN, "reload_needs_restart",
                   "name=%s running=\"%s\" new=\"%s\"", name, old_value, new_value);
    }
}

/* The token file is read again on every reload, even when its path did
 * not change (rotating tokens means rewriting the file in place). A file
 * that does not load keeps the tokens in use, and the running path and
 * --auth-admin with them. Connections already authenticated stay so. */
static void reload_auth(rs_server *s, rs_config *next)
{
    char err[512];
    if (auth_reload(s->proc.auth, next->auth_token_file, err, sizeof(err)) != 0) {
        RELOAD_LOG(s, RS_LOG_ERROR, "reload_failed",
                   "what=auth-token-file error=\"%s\" kept_tokens=%zu", err,
                   auth_count(s->proc.auth));
        memcpy(next->auth_token_file, s->proc.cfg.auth_token_file,
               sizeof(next->auth_token_file));
        next->auth_admin = s->proc.cfg.auth_admin;
        return;
    }
    if (auth_enabled(s->proc.auth))
        RELOAD_LOG(s, RS_LOG_INFO, "reload_auth", "mode=tokens tokens=%zu admin_protected=%s",
                   auth_count(s->proc.auth), next->auth_admin ? "true" : "false");
    else
        RELOAD_LOG(s, RS_LOG_WARN, "reload_auth",
                   "mode=off warning=\"accepting unauthenticated calls\"");
}

void server_reload(rs_server *s)
{
    rs_config next;
    char err[512];
    if (config_reread(&next, s->proc.argc, s->proc.argv, err, sizeof(err)) != 0) {
        RELOAD_LOG(s, RS_LOG_ERROR, "reload_failed", "config=\"%s\" error=\"%s\" changed=0",
                   s->proc.cfg.config_file, err);
        return;
    }
    /* A secret given as a flag was scrubbed from argv at start (main.c):
     * the running value is still the one argv gave. */
    config_restore_argv_secrets(&next, &s->proc.cfg, s->proc.argc, s->proc.argv);
    /* Certificates are re-read even when their paths did not change: a
     * renewed certificate replaced in place is the usual case. */
    if (s->proc.tls != NULL) {
        if (tls_reload(s->proc.tls,
                       &(rs_tls_files){s->proc.cfg.tls_cert, s->proc.cfg.tls_key,
                                       s->proc.cfg.tls_client_ca},
                       err, sizeof(err)) == 0)
            RELOAD_LOG(s, RS_LOG_INFO, "reload_tls", "cert=\"%s\"", s->proc.cfg.tls_cert);
        else
            RELOAD_LOG(s, RS_LOG_ERROR, "reload_failed", "what=tls error=\"%s\" kept=old", err);
    }
    reload_count rc = {s, 0, 0};
    /* Apply before logging, so a raised level shows its own lines. */
    rs_config before = s->proc.cfg;
    reload_auth(s, &next);
    config_apply_live(&s->proc.cfg, &next);
    s->proc.log.min = s->proc.cfg.log_level;
    size_t changed = config_diff(&before, &next, reload_report, &rc);
    RELOAD_LOG(s, RS_LOG_INFO, "reload",
               "changed=%zu applied=%u needs_restart=%u config=\"%s\"", changed, rc.applied,
               rc.restart, s->proc.cfg.config_file);
}
