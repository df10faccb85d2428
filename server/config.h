/*
 * config.h: every setting of readstated, from flags and READSTATED_* env.
 *
 * Each flag --some-flag has the environment variable READSTATED_SOME_FLAG;
 * a flag beats the environment, the environment beats the settings file
 * (--config, KEY=value lines), and that beats the default.
 * `readstated --help` lists them all with their defaults.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "rs_log.h"

#define RS_ADDR_MAX 256

typedef struct rs_config {
    char config_file[RS_ADDR_MAX]; /* --config: settings file re-read on SIGHUP */
    /* network */
    char listen[RS_ADDR_MAX];    /* host:port of the framed TCP API; default 127.0.0.1:7480 */
    char http[RS_ADDR_MAX];      /* host:port of the HTTP port; "off" disables; default
                                    127.0.0.1:7481 */
    char port_file[RS_ADDR_MAX]; /* write the bound TCP port here */
    char http_port_file[RS_ADDR_MAX]; /* write the bound HTTP port here */
    /* storage */
    char redis[RS_ADDR_MAX];               /* host:port; empty = memory only */
    char redis_cluster[RS_ADDR_MAX];       /* seeds of a Redis Cluster; empty = none */
    char node_id[RS_ADDR_MAX];             /* fleet: this node's id; empty = not in a fleet */
    char advertise[RS_ADDR_MAX];           /* fleet: host:port others reach it at */
    uint32_t ring_refresh_ms;              /* fleet: how often the ring is read */
    uint32_t forward_timeout_ms;           /* fleet: a forwarded call's answer within this */
    char fleet_token_file[RS_ADDR_MAX];    /* fleet: the token this node sends its peers */
    uint32_t redis_wait_replicas;          /* WAIT for N replicas after each merge */
    char redis_password[RS_ADDR_MAX];      /* secret: flag (scrubbed from argv), env or file */
    char redis_password_file[RS_ADDR_MAX]; /* its first line is the password */
    char redis_user[RS_ADDR_MAX];          /* Redis 6 ACL user; empty = the default user */
    char redis_host[RS_ADDR_MAX];          /* parsed from redis by config_load; empty = none */
    int redis_port;                        /* parsed from redis by config_load */
    int redis_db;
    uint32_t redis_timeout_ms;    /* default 1000 */
    rs_durability durability;     /* default write-behind */
    uint32_t flush_interval_ms;   /* default 1000 */
    uint32_t flush_batch;         /* default 64 */
    uint32_t flush_call_users;    /* default 16 */
    size_t dirty_budget;          /* default 64MiB */
    uint32_t shutdown_timeout_ms; /* default 25000 */
    size_t max_memory;            /* default 1GiB */
    uint32_t max_states_per_user; /* default 10000 */
    /* limits */
    uint32_t max_frame;       /* request frame limit, default 64KiB */
    uint32_t max_list;        /* list entries, default 1000 */
    uint32_t max_connections; /* default 10000 */
    uint32_t max_inflight;    /* per connection, default 1024 */
    size_t max_output;        /* per-connection output buffer, default 8MiB */
    uint32_t idle_timeout_s;  /* default 300; 0 disables */
    uint32_t reqs_per_event;  /* requests served per connection per wake-up, default 64 */
    uint32_t max_watches;     /* users one connection may watch, default 100000 */
    /* HTTP */
    size_t http_max_body;          /* default 1MiB */
    size_t http_max_headers;       /* default 16KiB */
    uint32_t http_timeout_s;       /* idle between requests, or stalled writing; default 30 */
    uint32_t http_max_connections; /* default 1000 */
    /* TLS on both ports (empty: plain) */
    char tls_cert[RS_ADDR_MAX];
    char tls_key[RS_ADDR_MAX];
    char tls_client_ca[RS_ADDR_MAX];
    uint32_t http_request_deadline_ms;  /* headers and body of one request; default 10000 */
    uint32_t http2_max_streams;         /* HTTP/2 concurrent streams per connection; 1024 */
    char http_cors_origin[RS_ADDR_MAX]; /* CORS origins allowed, comma-separated; "" none */
    /* logs */
    rs_log_level log_level;   /* default info */
    bool log_requests;        /* one line per request; default off */
    uint32_t slow_request_ms; /* log requests slower than this; default 100; 0 = off */
    /* access */
    char auth_token_file[RS_ADDR_MAX]; /* bearer tokens, one a line; empty = no tokens */
    bool auth_admin; /* tokens also guard /metrics and /dashboard; default off */
    /* garbage-collected comparison build only */
    uint32_t gc_force_interval_s; /* default 120 */
} rs_config;

/* Defaults, then the --config file (or READSTATED_CONFIG), then the
 * environment, then argv. On --help prints usage to stdout and returns 1;
 * on an error prints a message to stderr and returns -1; otherwise
 * returns 0. */
int config_load(rs_config *cfg, int argc, char **argv);

/* Build the settings anew as config_load did at start (the settings file
 * is read again; argv and the environment are the process's own), quietly.
 * Returns 0, or -1 with a one-line reason in err. */
int config_reread(rs_config *next, int argc, char *const *argv, char *err, size_t errlen);

/* Called for each setting whose value differs; live says whether
 * config_apply_live applies it (else it needs a restart). Secrets show as
 * "(hidden)". */
typedef void (*config_diff_fn)(void *arg, const char *name, const char *old_value,
                               const char *new_value, bool live);
/* Report every difference between cur and next; returns their number. */
size_t config_diff(const rs_config *cur, const rs_config *next, config_diff_fn fn, void *arg);
/* Copy the settings that can change at run time (log level, request
 * logging, slow-request threshold, the token file and --auth-admin) from
 * next into cur. */
void config_apply_live(rs_config *cur, const rs_config *next);
void config_defaults(rs_config *cfg);
void config_usage(FILE *out);
/* Called by config_scrub_argv for each secret it scrubbed: flag without
 * the dashes, and a hint naming the safer ways to give it. */
typedef void (*config_scrub_fn)(void *arg, const char *flag, const char *hint);
/* Overwrite in place, with '*', the value of every secret flag in argv
 * (--redis-password VALUE or --redis-password=VALUE), so that
 * /proc/PID/cmdline and ps no longer show it; call after config_load, which
 * has copied the values. fn (may be NULL) is called for each. Returns the
 * number of values scrubbed. */
size_t config_scrub_argv(int argc, char **argv, config_scrub_fn fn, void *arg);
/* After config_reread over an argv that config_scrub_argv scrubbed: take
 * every secret that argv gives from the running settings cur again (argv
 * holds only '*' now), so a reload neither uses nor reports a changed
 * secret. */
void config_restore_argv_secrets(rs_config *next, const rs_config *cur, int argc,
                                 char *const *argv);
/* Fill an engine configuration from the server configuration. */
void config_to_engine(const rs_config *cfg, rs_engine_config *ec, const rs_log *log);

#endif /* RS_CONFIG_H */
