/*
 * config.c: readstated's settings from defaults, READSTATED_* and flags.
 *
 * One table lists every setting once: its flag, type, field, default (as
 * text, parsed by the same code as user input, so --help shows exactly what
 * applies), bounds and help. The environment variable is derived from the
 * flag: --max-memory <-> READSTATED_MAX_MEMORY.
 *
 *   defaults (table) ──> --config file ──> environment ──> argv ──> checks
 *                         (flag beats env beats file beats default)
 *
 * SIGHUP builds the settings anew the same way (config_reread: the file
 * may have changed), config_diff reports what differs, and
 * config_apply_live copies the OPT_LIVE settings into the running
 * configuration; the others need a restart.
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

#include "rs_ring.h"
#include "store_cluster.h"

typedef enum opt_type {
    OPT_STR,        /* char[RS_ADDR_MAX] */
    OPT_U32,        /* uint32_t */
    OPT_INT,        /* int */
    OPT_SIZE,       /* size_t from "512MiB" */
    OPT_SIZE32,     /* uint32_t from "64KiB" */
    OPT_BOOL,       /* bool */
    OPT_DURABILITY, /* rs_durability */
    OPT_LOG_LEVEL,  /* rs_log_level */
    OPT_LIST,       /* char[RS_ADDR_MAX], "a,b,c": each use adds to it; "" empties it */
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
    unsigned flags; /* OPT_LIVE, OPT_SECRET */
} opt;

/* OPT_LIVE: a reload (SIGHUP) applies a new value to the running server.
 * OPT_SECRET: never printed; a reload says only that it changed. */
enum { OPT_LIVE = 1u << 0, OPT_SECRET = 1u << 1 };

#define F(field) offsetof(rs_config, field)
#define U32MAX   UINT32_MAX
#define SZMAX    ((uint64_t)1 << 48)

static const opt opts[] = {
    {"config", OPT_STR, F(config_file), "", 0, 0, "FILE",
     "settings file, KEY=value per line (READSTATED_KEY or flag name); re-read on SIGHUP"},
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
    {"redis-cluster", OPT_STR, F(redis_cluster), "", 0, 0, "HOST:PORT[,HOST:PORT...]",
     "seed nodes of a Redis Cluster to persist in (not with --redis); the slot table is "
     "read from them and refreshed on MOVED"},
    {"redis-wait-replicas", OPT_U32, F(redis_wait_replicas), "0", 0, 16, "N",
     "--redis-cluster: after merges, WAIT for N replicas of their primary (half of "
     "--redis-timeout-ms at most); a merge "
     "counts as done only once N replicas have it. 0: do not wait"},
    {"node-id", OPT_STR, F(node_id), "", 0, 0, "ID",
     "fleet: this node's id in the ring (readstates:ring in Redis; 1-64 of [A-Za-z0-9_.-]); "
     "calls for users other nodes own are forwarded to them. Empty: not in a fleet"},
    {"advertise", OPT_STR, F(advertise), "", 0, 0, "HOST:PORT",
     "fleet: the address other nodes and clients reach this node's TCP port at (default: "
     "--listen, which must then not be a wildcard)"},
    {"ring-refresh-ms", OPT_U32, F(ring_refresh_ms), "500", 50, 60000, "MS",
     "fleet: how often the ring is read from Redis"},
    {"forward-timeout-ms", OPT_U32, F(forward_timeout_ms), "1000", 1, 600000, "MS",
     "fleet: a call forwarded to its user's owner is answered UNAVAILABLE past this"},
    {"fleet-token-file", OPT_STR, F(fleet_token_file), "", 0, 0, "FILE",
     "fleet: the token (first line of FILE) this node sends in an Auth call to the nodes it "
     "forwards calls to, when they run with --auth-token-file"},
    {"redis-password", OPT_STR, F(redis_password), "", 0, 0, "SECRET",
     "password for Redis AUTH; empty sends none. Prefer the environment or "
     "--redis-password-file: a value given as a flag is scrubbed from the arguments, "
     "with a warning",
     OPT_SECRET},
    {"redis-password-file", OPT_STR, F(redis_password_file), "", 0, 0, "FILE",
     "read the Redis password from the first line of FILE (not with --redis-password)"},
    {"redis-user", OPT_STR, F(redis_user), "", 0, 0, "USER",
     "Redis 6+ ACL user: sends AUTH USER PASSWORD; empty uses the default user"},
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
     "close an HTTP connection idle this long between requests, or not reading its reply"},
    {"tls-cert", OPT_STR, F(tls_cert), "", 0, 0, "FILE",
     "PEM certificate chain: TLS (1.2+) on both ports; SIGHUP re-reads the files"},
    {"tls-key", OPT_STR, F(tls_key), "", 0, 0, "FILE", "PEM private key for --tls-cert"},
    {"tls-client-ca", OPT_STR, F(tls_client_ca), "", 0, 0, "FILE",
     "PEM CA certificates: clients must present a certificate they signed (mutual TLS)"},
    {"http-max-connections", OPT_U32, F(http_max_connections), "1000", 1, 10000000, "N",
     "open HTTP connections; over it a new connection gets 503 and is closed"},
    {"http-request-deadline-ms", OPT_U32, F(http_request_deadline_ms), "10000", 1, 3600000,
     "MS", "an HTTP request's headers and body must arrive within this from its first byte"},
    {"http2-max-streams", OPT_U32, F(http2_max_streams), "1024", 1, 1000000, "N",
     "HTTP/2: concurrent streams per connection (SETTINGS_MAX_CONCURRENT_STREAMS)"},
    {"http-cors-origin", OPT_LIST, F(http_cors_origin), "", 0, 0, "ORIGIN",
     "let browser pages from ORIGIN (scheme://host[:port], or *) call the RPC paths (CORS); "
     "repeatable, or comma-separated; none by default"},
    {"log-level", OPT_LOG_LEVEL, F(log_level), "info", 0, 0, "debug|info|warn|error|off",
     "lowest level logged (stderr); SIGHUP applies a new value", OPT_LIVE},
    {"log-requests", OPT_BOOL, F(log_requests), "false", 0, 0, "true|false",
     "log one line per request; SIGHUP applies a new value", OPT_LIVE},
    {"slow-request-ms", OPT_U32, F(slow_request_ms), "100", 0, 100000000, "MS",
     "log requests slower than this; 0 = off; SIGHUP applies a new value", OPT_LIVE},
    {"auth-token-file", OPT_STR, F(auth_token_file), "", 0, 0, "FILE",
     "bearer tokens, one a line ('#' comments): calls need one (TCP: an Auth call first; "
     "HTTP: Authorization: Bearer); empty accepts every caller; SIGHUP re-reads the file",
     OPT_LIVE},
    {"auth-admin", OPT_BOOL, F(auth_admin), "false", 0, 0, "true|false",
     "with --auth-token-file, /metrics and /dashboard also need a token; SIGHUP applies a "
     "new value",
     OPT_LIVE},
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

/* ---- option types: how each parses, prints and copies ---------------- */

enum { OPT_BAD = -1, OPT_RANGE = -2, OPT_LONG = -3 };

static int kind_str(const opt *o, void *field, const char *v)
{
    (void)o;
    size_t n = strlen(v);
    if (n >= RS_ADDR_MAX)
        return OPT_LONG;
    memcpy(field, v, n + 1);
    return 0;
}

static int kind_list(const opt *o, void *field, const char *v)
{
    (void)o;
    char *f = field;
    size_t have = strlen(f), n = strlen(v);
    if (n == 0 || have == 0)
        return kind_str(o, field, v);
    if (have + 1 + n >= RS_ADDR_MAX)
        return OPT_LONG;
    f[have] = ',';
    memcpy(f + have + 1, v, n + 1);
    return 0;
}

/* A number within [min, max], from a plain integer or a size ("64KiB"). */
static int kind_number(const opt *o, void *field, const char *v)
{
    uint64_t u = 0;
    size_t sz = 0;
    bool size = o->type == OPT_SIZE || o->type == OPT_SIZE32;
    if (size ? rs_parse_size(v, &sz) != 0 : rs_parse_u64(v, &u) != 0)
        return OPT_BAD;
    if (size)
        u = sz;
    if (u < o->min || u > o->max)
        return OPT_RANGE;
    switch (o->type) {
    case OPT_U32:
    case OPT_SIZE32: *(uint32_t *)field = (uint32_t)u; break;
    case OPT_INT: *(int *)field = (int)u; break;
    default: *(size_t *)field = (size_t)u; break;
    }
    return 0;
}

static int kind_bool(const opt *o, void *field, const char *v)
{
    (void)o;
    return parse_bool(v, field) == 0 ? 0 : OPT_BAD;
}

static int kind_durability(const opt *o, void *field, const char *v)
{
    (void)o;
    if (strcmp(v, "write-behind") == 0)
        *(rs_durability *)field = RS_DURABILITY_WRITE_BEHIND;
    else if (strcmp(v, "write-through") == 0)
        *(rs_durability *)field = RS_DURABILITY_WRITE_THROUGH;
    else
        return OPT_BAD;
    return 0;
}

static int kind_log_level(const opt *o, void *field, const char *v)
{
    (void)o;
    return rs_log_parse_level(v, field) == 0 ? 0 : OPT_BAD;
}

static const char *const log_level_names[] = {"debug", "info", "warn", "error", "off"};

static void opt_format(const rs_config *cfg, const opt *o, char *buf, size_t len)
{
    const char *field = (const char *)cfg + o->off;
    switch (o->type) {
    case OPT_STR:
    case OPT_LIST: snprintf(buf, len, "%s", field); break;
    case OPT_U32:
    case OPT_SIZE32: snprintf(buf, len, "%u", *(const uint32_t *)field); break;
    case OPT_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case OPT_SIZE: snprintf(buf, len, "%zu", *(const size_t *)field); break;
    case OPT_BOOL: snprintf(buf, len, "%s", *(const bool *)field ? "true" : "false"); break;
    case OPT_DURABILITY:
        snprintf(buf, len, "%s",
                 *(const rs_durability *)field == RS_DURABILITY_WRITE_THROUGH ? "write-through"
                                                                              : "write-behind");
        break;
    case OPT_LOG_LEVEL: {
        rs_log_level l = *(const rs_log_level *)field;
        snprintf(buf, len, "%s",
                 (size_t)l < RS_ARRAY_LEN(log_level_names) ? log_level_names[l] : "?");
        break;
    }
    default: snprintf(buf, len, "?"); break;
    }
}

typedef struct opt_kind {
    int (*parse)(const opt *o, void *field, const char *v); /* 0 or OPT_BAD/RANGE/LONG */
    size_t width;                                           /* bytes of the field */
    const char *expect;                                     /* "'v' is not <expect>" */
} opt_kind;

static const opt_kind opt_kinds[OPT_TYPE_MAX] = {
    [OPT_STR] = {kind_str, RS_ADDR_MAX, "a string"},
    [OPT_U32] = {kind_number, sizeof(uint32_t), "a non-negative integer"},
    [OPT_INT] = {kind_number, sizeof(int), "a non-negative integer"},
    [OPT_SIZE] = {kind_number, sizeof(size_t), "a size (examples: 65536, 64KiB, 512MiB, 1GiB)"},
    [OPT_SIZE32] = {kind_number, sizeof(uint32_t),
                    "a size (examples: 65536, 64KiB, 512MiB, 1GiB)"},
    [OPT_BOOL] = {kind_bool, sizeof(bool), "a boolean (true or false)"},
    [OPT_DURABILITY] = {kind_durability, sizeof(rs_durability),
                        "write-behind or write-through"},
    [OPT_LOG_LEVEL] = {kind_log_level, sizeof(rs_log_level), "debug, info, warn, error or off"},
    [OPT_LIST] = {kind_list, RS_ADDR_MAX, "a list"},
};

/* Set one option from text. src names where the value came from. Returns 0,
 * or -1 after printing an error to err. */
static int opt_set(rs_config *cfg, const opt *o, const char *v, const char *src, FILE *err)
{
    if ((unsigned)o->type >= OPT_TYPE_MAX)
        return -1;
    switch (opt_kinds[o->type].parse(o, (char *)cfg + o->off, v)) {
    case 0: return 0;
    case OPT_LONG:
        fprintf(err, "readstated: %s: value too long (max %d bytes)\n", src, RS_ADDR_MAX - 1);
        return -1;
    case OPT_RANGE:
        fprintf(err, "readstated: %s: %s is out of range (%llu..%llu)\n", src, v,
                (unsigned long long)o->min, (unsigned long long)o->max);
        return -1;
    default:
        fprintf(err, "readstated: %s: '%s' is not %s\n", src, v, opt_kinds[o->type].expect);
        return -1;
    }
}

void config_defaults(rs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        if (opt_set(cfg, &opts[i], opts[i].def, opts[i].name, stderr) != 0)
            abort(); /* a bad default in the table: a bug */
    }
}

void config_usage(FILE *out)
{
    fprintf(out,
            "usage: readstated [--flag value | --flag=value]...\n\n"
            "readstates server %s: read states (last read message and mention count per\n"
            "user and channel) over framed protobuf on TCP and Connect RPC on HTTP.\n"
            "Every flag can also be set in the environment (READSTATED_<FLAG>) or in the\n"
            "--config file; a flag beats the environment, which beats the file.\n"
            "SIGHUP re-reads the file and applies the settings marked so below.\n\n",
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

static int config_from_env(rs_config *cfg, FILE *err)
{
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        char env[96];
        opt_env_name(&opts[i], env, sizeof(env));
        const char *v = getenv(env);
        if (v != NULL && opt_set(cfg, &opts[i], v, env, err) != 0)
            return -1;
    }
    return 0;
}

/* Returns 0, 1 (--help/--version printed) or -1 (printed to err). */
static int config_from_argv(rs_config *cfg, int argc, char *const *argv, FILE *err)
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
            fprintf(err, "readstated: unexpected argument '%s' (see --help)\n", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt *o = opt_find(name, nlen);
        if (o == NULL) {
            fprintf(err, "readstated: unknown flag --%.*s (see --help)\n", (int)nlen, name);
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
            fprintf(err, "readstated: --%s needs a value (%s)\n", o->name, o->metavar);
            return -1;
        }
        char src[96];
        snprintf(src, sizeof(src), "--%s", o->name);
        if (opt_set(cfg, o, v, src, err) != 0)
            return -1;
    }
    return 0;
}

/* --node-id: a well-formed id, a Redis to keep the ring and the claims in,
 * and an address others can reach (--advertise, else --listen when it is
 * not a wildcard). */
static int config_fleet(rs_config *cfg, FILE *err)
{
    size_t n = strlen(cfg->node_id);
    bool ok = n <= RS_RING_ID_MAX;
    for (size_t i = 0; i < n && ok; i++) {
        char c = cfg->node_id[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '_' || c == '.' || c == '-';
    }
    if (!ok) {
        fprintf(err, "readstated: --node-id '%s': 1-%d of [A-Za-z0-9_.-]\n", cfg->node_id,
                RS_RING_ID_MAX);
        return -1;
    }
    if (cfg->redis[0] == '\0' && cfg->redis_cluster[0] == '\0') {
        fprintf(err, "readstated: --node-id needs --redis or --redis-cluster (the ring and "
                     "the owners' claims live there)\n");
        return -1;
    }
    char host[RS_ADDR_MAX];
    int port;
    if (cfg->advertise[0] == '\0') {
        /* Port 0 (tests): the bound port is advertised once known. */
        if (rs_parse_hostport(cfg->listen, host, sizeof(host), &port) != 0 ||
            strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0) {
            fprintf(err,
                    "readstated: --node-id needs --advertise HOST:PORT (--listen %s is "
                    "not an address others can reach)\n",
                    cfg->listen);
            return -1;
        }
        snprintf(cfg->advertise, sizeof(cfg->advertise), "%s", cfg->listen);
    } else if (rs_parse_hostport(cfg->advertise, host, sizeof(host), &port) != 0 || port == 0) {
        fprintf(err, "readstated: --advertise '%s' is not HOST:PORT\n", cfg->advertise);
        return -1;
    }
    return 0;
}

/* The password from --redis-password-file: the file's first line, without
 * its line end. Returns 0, or -1 (printed, naming the flag). */
static int read_password_file(rs_config *cfg, FILE *err)
{
    const char *path = cfg->redis_password_file;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(err, "readstated: --redis-password-file %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[RS_ADDR_MAX + 2];
    bool got = fgets(line, sizeof(line), f) != NULL;
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        fprintf(err, "readstated: --redis-password-file %s: read error\n", path);
        return -1;
    }
    size_t n = got ? strlen(line) : 0;
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n == 0) {
        fprintf(
            err,
            "readstated: --redis-password-file %s: empty (the password is its first line)\n",
            path);
        return -1;
    }
    if (n >= RS_ADDR_MAX) {
        fprintf(err, "readstated: --redis-password-file %s: password too long (max %d bytes)\n",
                path, RS_ADDR_MAX - 1);
        explicit_bzero(line, sizeof(line));
        return -1;
    }
    memcpy(cfg->redis_password, line, n + 1);
    explicit_bzero(line, sizeof(line));
    return 0;
}

/* The Redis password from one source only, and a user only with a
 * password. Returns 0, or -1 (printed). */
static int config_redis_secret(rs_config *cfg, FILE *err)
{
    if (cfg->redis_password_file[0] != '\0') {
        if (cfg->redis_password[0] != '\0') {
            fprintf(err, "readstated: --redis-password-file and --redis-password (or "
                         "READSTATED_REDIS_PASSWORD) are both set: give one\n");
            return -1;
        }
        if (read_password_file(cfg, err) != 0)
            return -1;
    }
    if (cfg->redis_user[0] != '\0' && cfg->redis_password[0] == '\0') {
        fprintf(err,
                "readstated: --redis-user %s needs a password (--redis-password-file or "
                "READSTATED_REDIS_PASSWORD)\n",
                cfg->redis_user);
        return -1;
    }
    return 0;
}

/* Cross-field checks and derived fields. Returns 0, or -1 (printed). */
static int config_check(rs_config *cfg, FILE *err)
{
    char host[RS_ADDR_MAX];
    int port;
    if (rs_parse_hostport(cfg->listen, host, sizeof(host), &port) != 0) {
        fprintf(err, "readstated: --listen '%s' is not HOST:PORT\n", cfg->listen);
        return -1;
    }
    if (strcmp(cfg->http, "off") != 0 &&
        rs_parse_hostport(cfg->http, host, sizeof(host), &port) != 0) {
        fprintf(err, "readstated: --http '%s' is not HOST:PORT or off\n", cfg->http);
        return -1;
    }
    cfg->redis_host[0] = '\0';
    cfg->redis_port = 0;
    if (cfg->redis[0] != '\0') {
        if (rs_parse_hostport(cfg->redis, cfg->redis_host, sizeof(cfg->redis_host),
                              &cfg->redis_port) != 0 ||
            cfg->redis_port == 0) {
            fprintf(err, "readstated: --redis '%s' is not HOST:PORT\n", cfg->redis);
            return -1;
        }
    }
    if (cfg->redis_cluster[0] != '\0') {
        char why[160];
        if (cfg->redis[0] != '\0') {
            fprintf(err, "readstated: --redis and --redis-cluster are exclusive: give one\n");
            return -1;
        }
        if (store_cluster_parse_seeds(cfg->redis_cluster, why, sizeof(why)) < 0) {
            fprintf(err, "readstated: --redis-cluster '%s': %s\n", cfg->redis_cluster, why);
            return -1;
        }
        if (cfg->redis_db != 0) {
            fprintf(err, "readstated: --redis-db %d: a Redis Cluster has only database 0\n",
                    cfg->redis_db);
            return -1;
        }
    }
    if (cfg->node_id[0] != '\0' && config_fleet(cfg, err) != 0)
        return -1;
    if (cfg->redis_wait_replicas > 0 && cfg->redis_cluster[0] == '\0') {
        fprintf(err, "readstated: --redis-wait-replicas needs --redis-cluster (it waits for "
                     "the primaries' replicas)\n");
        return -1;
    }
    if ((cfg->tls_cert[0] != '\0') != (cfg->tls_key[0] != '\0')) {
        fprintf(err, "readstated: --tls-cert and --tls-key go together\n");
        return -1;
    }
    if (cfg->tls_client_ca[0] != '\0' && cfg->tls_cert[0] == '\0') {
        fprintf(err, "readstated: --tls-client-ca needs --tls-cert and --tls-key\n");
        return -1;
    }
    if (config_redis_secret(cfg, err) != 0)
        return -1;
    if (cfg->max_output < (size_t)cfg->max_frame) {
        fprintf(err, "readstated: --max-output (%zu) must be at least --max-frame (%u)\n",
                cfg->max_output, cfg->max_frame);
        return -1;
    }
    if (cfg->auth_admin && cfg->auth_token_file[0] == '\0') {
        fprintf(err, "readstated: --auth-admin needs --auth-token-file\n");
        return -1;
    }
    return 0;
}

/* The settings file: --config (the last one) in argv, else READSTATED_CONFIG,
 * else none (""). */
static const char *config_file_path(int argc, char *const *argv)
{
    const char *path = getenv("READSTATED_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            path = argv[i] + 9;
    }
    return path != NULL ? path : "";
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 &&
           (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        p[--n] = '\0';
    return p;
}

/* The option a settings-file key names: READSTATED_SOME_FLAG or some-flag. */
static const opt *opt_find_key(const char *key)
{
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        char env[96];
        opt_env_name(&opts[i], env, sizeof(env));
        if (strcmp(key, env) == 0 || strcmp(key, opts[i].name) == 0)
            return &opts[i];
    }
    return NULL;
}

/* One setting a line, KEY=value, in the format of a systemd EnvironmentFile
 * (so /etc/default/readstated serves as both): '#' starts a comment line,
 * an optional `export ` prefix and quotes around the value are dropped.
 * Returns 0, or -1 (printed to err with the file and line). */
static int config_from_file(rs_config *cfg, const char *path, FILE *err)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(err, "readstated: --config %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[1024];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        if (strchr(line, '\n') == NULL && !feof(f)) {
            fprintf(err, "readstated: %s:%d: line too long\n", path, lineno);
            rc = -1;
            break;
        }
        char *p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        if (strncmp(p, "export ", 7) == 0)
            p = trim(p + 7);
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            fprintf(err, "readstated: %s:%d: expected KEY=value\n", path, lineno);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *key = trim(p), *v = trim(eq + 1);
        size_t vn = strlen(v);
        if (vn >= 2 && (v[0] == '"' || v[0] == '\'') && v[vn - 1] == v[0]) {
            v[vn - 1] = '\0';
            v++;
        }
        const opt *o = opt_find_key(key);
        if (o == NULL || strcmp(o->name, "config") == 0) {
            fprintf(err, "readstated: %s:%d: unknown setting '%s' (see --help)\n", path, lineno,
                    key);
            rc = -1;
            break;
        }
        char src[RS_ADDR_MAX + 96];
        snprintf(src, sizeof(src), "%s:%d: %s", path, lineno, key);
        rc = opt_set(cfg, o, v, src, err);
    }
    if (rc == 0 && ferror(f)) {
        fprintf(err, "readstated: --config %s: read error\n", path);
        rc = -1;
    }
    fclose(f);
    return rc;
}

/* defaults -> settings file -> environment -> argv -> checks. Returns 0, 1
 * (--help/--version printed) or -1 (printed to err). */
static int config_build(rs_config *cfg, int argc, char *const *argv, FILE *err)
{
    config_defaults(cfg);
    for (int i = 1; i < argc; i++) /* answered before any file is read */
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ||
            strcmp(argv[i], "--version") == 0)
            return config_from_argv(cfg, argc, argv, err);
    const char *path = config_file_path(argc, argv);
    if (path[0] != '\0' && config_from_file(cfg, path, err) != 0)
        return -1;
    if (config_from_env(cfg, err) != 0)
        return -1;
    int rc = config_from_argv(cfg, argc, argv, err);
    if (rc != 0)
        return rc;
    return config_check(cfg, err) == 0 ? 0 : -1;
}

int config_load(rs_config *cfg, int argc, char **argv)
{
    return config_build(cfg, argc, argv, stderr);
}

int config_reread(rs_config *next, int argc, char *const *argv, char *err, size_t errlen)
{
    err[0] = '\0';
    char *buf = NULL;
    size_t len = 0;
    FILE *ef = open_memstream(&buf, &len);
    if (ef == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = config_build(next, argc, argv, ef);
    fclose(ef);
    if (rc != 0) {
        /* one line, without the program-name prefix */
        const char *m = buf != NULL ? buf : "";
        if (strncmp(m, "readstated: ", 12) == 0)
            m += 12;
        snprintf(err, errlen, "%s", m[0] != '\0' ? m : "--help or --version in argv");
        for (char *p = err; *p != '\0'; p++)
            if (*p == '\n' || *p == '"')
                *p = *p == '\n' ? ' ' : '\'';
        for (size_t n = strlen(err); n > 0 && err[n - 1] == ' ';)
            err[--n] = '\0';
        rc = -1;
    }
    free(buf);
    return rc;
}

/* Walk argv as config_from_argv does and call fn for each secret flag's
 * value (never the empty value). */
typedef void (*argv_secret_fn)(void *arg, const opt *o, char *value);

static void argv_secrets(int argc, char *const *argv, argv_secret_fn fn, void *arg)
{
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            continue;
        char *name = a + 2;
        char *eq = strchr(name, '=');
        size_t nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        const opt *o = opt_find(name, nlen);
        if (o == NULL)
            continue;
        char *v = NULL;
        if (eq != NULL)
            v = eq + 1;
        else if (o->type != OPT_BOOL && i + 1 < argc)
            v = argv[++i];
        if (v != NULL && v[0] != '\0' && (o->flags & OPT_SECRET))
            fn(arg, o, v);
    }
}

typedef struct scrub_ctx {
    config_scrub_fn fn;
    void *arg;
    size_t n;
} scrub_ctx;

static void scrub_one(void *arg, const opt *o, char *value)
{
    scrub_ctx *c = arg;
    memset(value, '*', strlen(value));
    c->n++;
    if (c->fn == NULL)
        return;
    /* the safer ways: a --<name>-file flag if there is one, and the environment */
    char env[96], file_flag[96], hint[256];
    opt_env_name(o, env, sizeof(env));
    snprintf(file_flag, sizeof(file_flag), "%s-file", o->name);
    if (opt_find(file_flag, strlen(file_flag)) != NULL)
        snprintf(hint, sizeof(hint), "use --%s or %s", file_flag, env);
    else
        snprintf(hint, sizeof(hint), "use %s", env);
    c->fn(c->arg, o->name, hint);
}

size_t config_scrub_argv(int argc, char **argv, config_scrub_fn fn, void *arg)
{
    scrub_ctx c = {fn, arg, 0};
    argv_secrets(argc, argv, scrub_one, &c);
    return c.n;
}

typedef struct restore_ctx {
    rs_config *next;
    const rs_config *cur;
} restore_ctx;

static void restore_one(void *arg, const opt *o, char *value)
{
    (void)value;
    restore_ctx *c = arg;
    if (o->type == OPT_STR) /* every secret is text */
        memcpy((char *)c->next + o->off, (const char *)c->cur + o->off, RS_ADDR_MAX);
}

void config_restore_argv_secrets(rs_config *next, const rs_config *cur, int argc,
                                 char *const *argv)
{
    /* argv beats the file and the environment: a secret that argv gives is
     * the running one, whatever else changed */
    restore_ctx c = {next, cur};
    argv_secrets(argc, argv, restore_one, &c);
}

size_t config_diff(const rs_config *cur, const rs_config *next, config_diff_fn fn, void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++) {
        const opt *o = &opts[i];
        char a[RS_ADDR_MAX + 32], b[RS_ADDR_MAX + 32];
        opt_format(cur, o, a, sizeof(a));
        opt_format(next, o, b, sizeof(b));
        if (strcmp(a, b) == 0)
            continue;
        n++;
        if (o->flags & OPT_SECRET)
            fn(arg, o->name, "(hidden)", "(hidden)", (o->flags & OPT_LIVE) != 0);
        else
            fn(arg, o->name, a, b, (o->flags & OPT_LIVE) != 0);
    }
    return n;
}

void config_apply_live(rs_config *cur, const rs_config *next)
{
    for (size_t i = 0; i < RS_ARRAY_LEN(opts); i++)
        if (opts[i].flags & OPT_LIVE)
            memcpy((char *)cur + opts[i].off, (const char *)next + opts[i].off,
                   opt_kinds[opts[i].type].width);
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
    ec->cache.keep_tombstones = cfg->redis_host[0] != '\0' || cfg->redis_cluster[0] != '\0';
    ec->cache.alloc = NULL;
    if (cfg->redis_host[0] != '\0') {
        ec->redis_host = cfg->redis_host; /* points into cfg: keep cfg alive */
        ec->redis_port = cfg->redis_port;
    } else {
        ec->redis_host = NULL;
    }
    ec->redis_cluster = cfg->redis_cluster[0] != '\0' ? cfg->redis_cluster : NULL;
    ec->redis_wait_replicas = cfg->redis_wait_replicas;
    ec->redis_password = cfg->redis_password[0] != '\0' ? cfg->redis_password : NULL;
    ec->redis_user = cfg->redis_user[0] != '\0' ? cfg->redis_user : NULL;
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
