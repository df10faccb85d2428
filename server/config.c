/*
 * config.c: readstated's settings from defaults, READSTATED_* and flags.
 *
 * One table lists every setting once: its flag, type, field, default (as
 * text, parsed by the same code as user input, so --help shows exactly what
 * applies), bounds and help. The environment variable is derived from the
 * flag: --max-memory <-> READSTATED_MAX_MEMORY.
 *
 *   defaults (table) ──> environment ──> argv ──> checks ──> rs_config
 *                         (flag beats env beats default)
 *
 * Flags take `--name value` or `--name=value`; a boolean flag alone means
 * true (`--log-requests`), or takes `=true|false|1|0|yes|no|on|off`.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

typedef enum opt_type {
    OPT_STR,        /* char[RS_ADDR_MAX] */
    OPT_U32,        /* uint32_t */
    OPT_INT,        /* int */
    OPT_SIZE,       /* size_t from "512MiB" */
    OPT_SIZE32,     /* uint32_t from "64KiB" */
    OPT_BOOL,       /* bool */
    OPT_DURABILITY, /* rs_durability */
    OPT_LOG_LEVEL,  /* rs_log_level */
    OPT_TYPE_MAX
} opt_type;

typedef struct opt {
    const char *name; /* flag without the leading dashes */
    opt_type type;
    size_t off;
    const char *def;
    uint64_t min, max; /* numeric bounds (inclusive) */
    const char *metavar;
    const char *help;
} opt;

#define F(field) offsetof(rs_config, field)
#define U32MAX   UINT32_MAX
#define SZMAX    ((uint64_t)1 << 48)

static const opt opts[] = {
    {"listen", OPT_STR, F(listen), "127.0.0.1:7480", 0, 0, "HOST:PORT",
     "address of the framed TCP API (port 0 picks a free port)"},
    {"http", OPT_STR, F(http), "127.0.0.1:7481", 0, 0, "HOST:PORT|off",
     "address of the HTTP port (Connect RPC, /metrics, /healthz, /readyz, /dashboard)"},
    {"port-file", OPT_STR, F(port_file), "", 0, 0, "PATH",
     "write the bound TCP port here once listening (atomically)"},
    {"http-port-file", OPT_STR, F(http_port_file), "", 0, 0, "PATH",
     "write the bound HTTP port here once listening"},
    {"redis", OPT_STR, F(redis), "", 0, 0, "HOST:PORT",
     "Redis to persist read states in; empty keeps them in memory only"},
    {"redis-password", OPT_STR, F(redis_password), "", 0, 0, "SECRET",
     "password for Redis AUTH; empty sends none"},
    {"redis-db", OPT_INT, F(redis_db), "0", 0, 1000000, "N", "Redis database number (SELECT)"},
    {"redis-timeout-ms", OPT_U32, F(redis_timeout_ms), "1000", 1, 600000, "MS",
     "per Redis request; loads fail with UNAVAILABLE after this"},
    {"durability", OPT_DURABILITY, F(durability), "write-behind", 0, 0,
     "write-behind|write-through",
     "answer once in memory (flushed within --flush-interval-ms) or once Redis has it"},
    {"flush-interval-ms", OPT_U32, F(flush_interval_ms), "1000", 1, 3600000, "MS",
     "write-behind: every dirty user is flushed within this"},
    {"flush-batch", OPT_U32, F(flush_batch), "64", 1, 1000000, "N",
     "users per flush batch; one batch is built per turn of the event loop"},
    {"flush-users-per-call", OPT_U32, F(flush_call_users), "16", 1, 100000, "N",
     "users merged by one EVALSHA; 1 keeps every call to one key (Redis Cluster)"},
    {"dirty-budget", OPT_SIZE, F(dirty_budget), "64MiB", 1, SZMAX, "SIZE",
     "bytes of unflushed users; over it writes get RESOURCE_EXHAUSTED"},
    {"shutdown-timeout-ms", OPT_U32, F(shutdown_timeout_ms), "25000", 0, 3600000, "MS",
     "on SIGTERM, give up flushing to Redis after this (exit 1)"},
    {"max-memory", OPT_SIZE, F(max_memory), "1GiB", 0, SZMAX, "SIZE",
     "cache memory budget (users, states, tables); 0 = no limit"},
    {"max-states-per-user", OPT_U32, F(max_states_per_user), "10000", 1, 100000000, "N",
     "read states per user; one more gets RESOURCE_EXHAUSTED"},
    {"max-frame", OPT_SIZE32, F(max_frame), "64KiB", 16, 16u << 20, "SIZE",
     "largest request frame; a bigger one closes the connection"},
    {"max-list", OPT_U32, F(max_list), "1000", 1, 1000000, "N",
     "entries in any list of a request"},
    {"max-connections", OPT_U32, F(max_connections), "10000", 1, 10000000, "N",
     "open TCP connections; over it a new connection is closed at once"},
    {"max-inflight", OPT_U32, F(max_inflight), "1024", 1, 10000000, "N",
     "requests in flight per connection; over it reading pauses"},
    {"max-output", OPT_SIZE, F(max_output), "8MiB", 1024, SZMAX, "SIZE",
     "per-connection output buffer; over it the connection is closed"},
    {"idle-timeout-s", OPT_U32, F(idle_timeout_s), "300", 0, 100000000, "S",
     "close connections idle this long (not watchers); 0 = never"},
    {"reqs-per-event", OPT_U32, F(reqs_per_event), "64", 1, 1000000, "N",
     "requests served per connection per loop wake-up"},
    {"max-watches", OPT_U32, F(max_watches), "100000", 1, 100000000, "N",
     "users one connection may watch; a Watch past it gets RESOURCE_EXHAUSTED"},
    {"http-max-body", OPT_SIZE, F(http_max_body), "1MiB", 1, SZMAX, "SIZE",
     "largest HTTP request body"},
    {"http-max-headers", OPT_SIZE, F(http_max_headers), "16KiB", 256, SZMAX, "SIZE",
     "largest HTTP request headers"},
    {"http-timeout-s", OPT_U32, F(http_timeout_s), "30", 1, 100000000, "S",
     "HTTP connection timeout"},
    {"log-level", OPT_LOG_LEVEL, F(log_level), "info", 0, 0, "debug|info|warn|error|off",
     "lowest level logged (stderr)"},
    {"log-requests", OPT_BOOL, F(log_requests), "false", 0, 0, "true|false",
     "log one line per request"},
    {"slow-request-ms", OPT_U32, F(slow_request_ms), "100", 0, 100000000, "MS",
     "log requests slower than this; 0 = off"},
    {"gc-force-interval-s", OPT_U32, F(gc_force_interval_s), "120", 0, 100000000, "S",
     "garbage-collected comparison build only: force a full collection this often; 0 = never"},
};

/* READSTATED_ + the flag upper-cased with '-' -> '_'. */
static void opt_env_name(const opt *o, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "READSTATED_");
    for (const char *p = o->name; *p != '\0' && n + 1 < len; p++)
        buf[n++] = *p == '-' ? '_' : (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
    buf[n] = '\0';
}

static int parse_bool(const char *v, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < RS_ARRAY_LEN(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

/* Set one option from text. src names where the value came from. Returns 0,
 * or -1 after printing an error. */
static int opt_set(rs_config *cfg, const opt *o, const char *v, const char *src)
{
    char *field = (char *)cfg + o->off;
    uint64_t u = 0;
    size_t sz = 0;
    switch (o->type) {
    case OPT_STR:
        if (strlen(v) >= RS_ADDR_MAX) {
            fprintf(stderr, "readstated: %s: value too long (max %d bytes)\n", src,
                    RS_ADDR_MAX - 1);
            return -1;
        }
        memcpy(field, v, strlen(v) + 1);
        return 0;
    case OPT_U32:
    case OPT_INT:
        if (rs_parse_u64(v, &u) != 0) {
            fprintf(stderr, "readstated: %s: '%s' is not a non-negative integer\n", src, v);
            return -1;
        }
        break;
    case OPT_SIZE:
    case OPT_SIZE32:
        if (rs_parse_size(v, &sz) != 0) {
            fprintf(
                stderr,
                "readstated: %s: '%s' is not a size (examples: 65536, 64KiB, 512MiB, 1GiB)\n",
                src, v);
            return -1;
        }
        u = sz;
        break;
    case OPT_BOOL:
        if (parse_bool(v, (bool *)field) != 0) {
            fprintf(stderr, "readstated: %s: '%s' is not a boolean (true or false)\n", src, v);
            return -1;
        }
        return 0;
    case OPT_DURABILITY:
        if (strcmp(v, "write-behind") == 0) {
            *(rs_durability *)field = RS_DURABILITY_WRITE_BEHIND;
        } else if (strcmp(v, "write-through") == 0) {
            *(rs_durability *)field = RS_DURABILITY_WRITE_THROUGH;
        } else {
            fprintf(stderr, "readstated: %s: '%s' is not write-behind or write-through\n", src,
                    v);
            return -1;
        }
        return 0;
    case OPT_LOG_LEVEL:
        if (rs_log_parse_level(v, (rs_log_level *)field) != 0) {
            fprintf(stderr, "readstated: %s: '%s' is not debug, info, warn, error or off\n",
                    src, v);
            return -1;
        }
        return 0;
    default: return -1;
    }
    if (u < o->min || u > o->max) {
        fprintf(stderr, "readstated: %s: %s is out of range (%llu..%llu)\n", src, v,
                (unsigned long long)o->min, (unsigned long long)o->max);
        return -1;
    }
    switch (o->type) {
    case OPT_U32:
    case OPT_SIZE32: *(uint32_t *)field = (uint32_t)u; break;
    case OPT_INT: *(int *)field = (int)u; break;
    case OPT_SIZE: *(size_t *)field = (size_t)u; break;
    default: break;
    }
    return 0;
}

void config_defaults(rs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        if (opt_set(cfg, &opts[i], opts[i].def, opts[i].name) != 0)
            abort(); /* a bad default in the table: a bug */
    }
}

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: readstated [--flag value | --flag=value]...\n\n"
            "readstates server %s: read states (last read message and mention count per\n"
            "user and channel) over framed protobuf on TCP and Connect RPC on HTTP.\n"
            "Every flag can also be set in the environment; a flag beats the "
            "environment.\n\n",
            RS_VERSION_STRING);
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        const opt *o = &opts[i];
        char env[96];
        opt_env_name(o, env, sizeof(env));
        char head[96];
        if (o->type == OPT_BOOL) /* alone means true; a value needs '=' */
            snprintf(head, sizeof(head), "--%s[=%s]", o->name, o->metavar);
        else
            snprintf(head, sizeof(head), "--%s %s", o->name, o->metavar);
        fprintf(out, "  %s\n      %s\n      env %s, default %s%s%s\n", head, o->help, env,
                o->def[0] != '\0' ? "" : "\"", o->def, o->def[0] != '\0' ? "" : "\"");
    }
    fprintf(out, "  --help\n      print this and exit\n"
                 "  --version\n      print the version and exit\n");
}

static const opt *opt_find(const char *name, size_t len)
{
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++)
        if (strlen(opts[i].name) == len && strncmp(opts[i].name, name, len) == 0)
            return &opts[i];
    return NULL;
}

static int config_from_env(rs_config *cfg)
{
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        char env[96];
        opt_env_name(&opts[i], env, sizeof(env));
        const char *v = getenv(env);
        if (v != NULL && opt_set(cfg, &opts[i], v, env) != 0)
            return -1;
    }
    return 0;
}

/* Returns 0, 1 (--help/--version printed) or -1 (error printed). */
static int config_from_argv(rs_config *cfg, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_usage(stdout);
            return 1;
        }
        if (strcmp(a, "--version") == 0) {
            printf("readstated %s\n", RS_VERSION_STRING);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "readstated: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt *o = opt_find(name, nlen);
        if (o == NULL) {
            fprintf(stderr, "readstated: unknown flag --%.*s (see --help)\n", (int)nlen, name);
            return -1;
        }
        const char *v;
        if (eq != NULL) {
            v = eq + 1;
        } else if (o->type == OPT_BOOL) {
            v = "true";
        } else if (i + 1 < argc) {
            v = argv[++i];
        } else {
            fprintf(stderr, "readstated: --%s needs a value (%s)\n", o->name, o->metavar);
            return -1;
        }
        char src[96];
        snprintf(src, sizeof(src), "--%s", o->name);
        if (opt_set(cfg, o, v, src) != 0)
            return -1;
    }
    return 0;
}

/* Cross-field checks and derived fields. Returns 0, or -1 (printed). */
static int config_check(rs_config *cfg)
{
    char host[RS_ADDR_MAX];
    int port;
    if (rs_parse_hostport(cfg->listen, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "readstated: --listen '%s' is not HOST:PORT\n", cfg->listen);
        return -1;
    }
    if (strcmp(cfg->http, "off") != 0 &&
        rs_parse_hostport(cfg->http, host, sizeof(host), &port) != 0) {
        fprintf(stderr, "readstated: --http '%s' is not HOST:PORT or off\n", cfg->http);
        return -1;
    }
    cfg->redis_host[0] = '\0';
    cfg->redis_port = 0;
    if (cfg->redis[0] != '\0') {
        if (rs_parse_hostport(cfg->redis, cfg->redis_host, sizeof(cfg->redis_host),
                              &cfg->redis_port) != 0 ||
            cfg->redis_port == 0) {
            fprintf(stderr, "readstated: --redis '%s' is not HOST:PORT\n", cfg->redis);
            return -1;
        }
    }
    if (cfg->max_output < (size_t)cfg->max_frame) {
        fprintf(stderr, "readstated: --max-output (%zu) must be at least --max-frame (%u)\n",
                cfg->max_output, cfg->max_frame);
        return -1;
    }
    return 0;
}

int config_load(rs_config *cfg, int argc, char **argv)
{
    config_defaults(cfg);
    if (config_from_env(cfg) != 0)
        return -1;
    int rc = config_from_argv(cfg, argc, argv);
    if (rc != 0)
        return rc;
    return config_check(cfg) == 0 ? 0 : -1;
}

/* 16 random bytes for the cache's SipHash key. */
static void config_random_seed(uint64_t seed[2])
{
    ssize_t got = getrandom(seed, 2 * sizeof(uint64_t), 0);
    if (got != (ssize_t)(2 * sizeof(uint64_t))) {
        /* No entropy source: a weaker key still beats a fixed one. */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed[0] = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)getpid();
        seed[1] = rs_now_ns() * 0x9e3779b97f4a7c15ull;
    }
}

void config_to_engine(const rs_config *cfg, rs_engine_config *ec, const rs_log *log)
{
    engine_config_defaults(ec);
    ec->cache.max_memory = cfg->max_memory;
    ec->cache.max_states_per_user = cfg->max_states_per_user;
    config_random_seed(ec->cache.seed);
    ec->cache.keep_tombstones = cfg->redis_host[0] != '\0';
    ec->cache.alloc = NULL;
    if (cfg->redis_host[0] != '\0') {
        ec->redis_host = cfg->redis_host; /* points into cfg: keep cfg alive */
        ec->redis_port = cfg->redis_port;
    } else {
        ec->redis_host = NULL;
    }
    ec->redis_password = cfg->redis_password[0] != '\0' ? cfg->redis_password : NULL;
    ec->redis_db = cfg->redis_db;
    ec->durability = cfg->durability;
    ec->flush_interval_ms = cfg->flush_interval_ms;
    ec->flush_batch = cfg->flush_batch;
    ec->flush_call_users = cfg->flush_call_users;
    ec->dirty_budget = cfg->dirty_budget;
    ec->redis_timeout_ms = cfg->redis_timeout_ms;
    ec->shutdown_timeout_ms = cfg->shutdown_timeout_ms;
    ec->log = log;
}
