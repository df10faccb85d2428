/*
 * readstatectl: the operator's command line for readstates.
 *
 *   readstatectl [--server host:port] [--json] [--timeout-ms N]
 *                [--token TOKEN | --token-file FILE]
 *                [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE] COMMAND ARGS
 *
 * One command, one connection, one request (watch: a stream of events).
 * Output is a readable table, or with --json one JSON object (proto3 JSON
 * style: lowerCamelCase names, 64-bit ids as strings; watch prints one
 * object per line). Exit status: 0 on success, 2 on a usage error,
 * otherwise the numeric code of the failure (the server's code, e.g. 3 for
 * INVALID_ARGUMENT, or 14 UNAVAILABLE when the server cannot be reached),
 * with "error: CODE: message" on stderr.
 *
 * A server with tokens (--auth-token-file) needs one on every connection:
 * --token, else --token-file, else $READSTATES_TOKEN; the connection sends
 * the Auth call right after connecting, before the command.
 *
 *   argv ──parse──> ctl_args ──command table──> rs_client_* ──> print_*
 *
 * A thin main over the client library: all protocol work is in rs_client.
 * `cluster init|show` reads and writes the fleet's slot table in Redis
 * instead (readstatectl_cluster.c, readstatectl.h holds what they share).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "readstatectl.h"
#include "rs_client.h"
#include "rs_common.h"

#define CTL_DEFAULT_SERVER "127.0.0.1:7480"
#define CTL_MAX_IDS        100000
#define CTL_PARSED_VERSION 3 /* parse_args: --version given */

typedef int (*ctl_cmd_fn)(ctl_args *a);

typedef struct ctl_command {
    const char *name;
    ctl_cmd_fn run;
    int min_args; /* positional arguments */
    int max_args; /* -1: any number */
    const char *usage;
} ctl_command;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: readstatectl [--server HOST:PORT] [--json] [--timeout-ms N]\n"
            "                    [--token TOKEN | --token-file FILE]\n"
            "                    [--tls] [--tls-ca FILE] [--tls-cert FILE --tls-key FILE]\n"
            "                    COMMAND ...\n"
            "\n"
            "commands:\n"
            "  ping                                  check the server, show its version\n"
            "  ack USER CHANNEL MSG [MENTIONS]       mark read up to MSG (forward only)\n"
            "  set USER CHANNEL MSG [MENTIONS]       set the state exactly (mark unread)\n"
            "  bulk-ack USER CHANNEL:MSG...          ack many channels of one user, in order\n"
            "  mentions CHANNEL MSG [--count N] USER...\n"
            "                                        add mentions of message MSG to users\n"
            "  get USER [CHANNEL...]                 show states (all when no channel given)\n"
            "  delete USER (--all | CHANNEL...)      delete states\n"
            "  watch USER... [--events N] [--for-ms N]\n"
            "                                        stream changes of users as they happen\n"
            "  ring                                  the slot table the server uses (GetRing)\n"
            "  cluster show REDIS                    the fleet's slot table: generation,\n"
            "                                        nodes, slots, health (a Ping each)\n"
            "  cluster init REDIS NODES [--ranges R] [--expect-generation G]\n"
            "                                        write a new slot table (slots split\n"
            "                                        evenly in node order unless --ranges)\n"
            "\n"
            "cluster options:\n"
            "  REDIS is --redis HOST:PORT or --redis-cluster HOST:PORT[,HOST:PORT...]\n"
            "  (the Redis the fleet's nodes use), with --redis-password-file FILE (its\n"
            "  first line; else $READSTATECTL_REDIS_PASSWORD), --redis-user USER and\n"
            "  --redis-db N as for readstated.\n"
            "  NODES is --node ID=HOST:PORT, repeated, or --nodes ID=HOST:PORT,...\n"
            "  (the address is the node's --advertise).\n"
            "  --ranges \"FIRST-LAST=NODE ...\"\n"
            "                      explicit slot ranges (NODE: index from 0 in NODES\n"
            "                      order, or id); every slot 0-16383 exactly once\n"
            "  --expect-generation G\n"
            "                      write only if the stored generation is G (0: no\n"
            "                      table yet); default: the one stored when read\n"
            "\n"
            "options:\n"
            "  --server HOST:PORT  server address (default $READSTATECTL_SERVER, else %s)\n"
            "  --json              print JSON (64-bit ids as strings) instead of tables\n"
            "  --ring              in a fleet: send a user's call straight to its owner\n"
            "                      (the slot table read from --server with GetRing)\n"
            "  --timeout-ms N      connect and request timeout (default %d)\n"
            "  --token TOKEN       bearer token for a server with --auth-token-file (sent\n"
            "                      in an Auth call right after connecting); prefer the\n"
            "                      file or $READSTATES_TOKEN, argv is visible to others\n"
            "  --token-file FILE   read the token from FILE (its first token line)\n"
            "  --tls               speak TLS (a server with --tls-cert); verify it against\n"
            "                      the system's CAs unless --tls-ca is given\n"
            "  --tls-ca FILE       PEM CAs to verify the server with (implies --tls)\n"
            "  --tls-cert FILE     client certificate for mutual TLS (implies --tls)\n"
            "  --tls-key FILE      its private key (default: in --tls-cert's file)\n"
            "  --tls-server-name N name to verify instead of the host (implies --tls)\n"
            "  --help              show this help\n"
            "  --version           print the version and exit\n"
            "\n"
            "exit status: 0 ok; 2 usage error (cluster init: also a table that leaves\n"
            "slots without a node); 1 cluster init lost a race (the table is not at the\n"
            "generation read or --expect-generation); otherwise the failure's code\n"
            "(3 INVALID_ARGUMENT, 4 DEADLINE_EXCEEDED, 8 RESOURCE_EXHAUSTED, 13 INTERNAL,\n"
            "14 UNAVAILABLE, 16 UNAUTHENTICATED, ...), with \"error: CODE: message\" on\n"
            "stderr.\n",
            CTL_DEFAULT_SERVER, RS_CLIENT_TIMEOUT_DEFAULT_MS);
}

int ctl_usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "readstatectl: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see readstatectl --help)\n");
    return CTL_EXIT_USAGE;
}

/* ---- argument parsing ------------------------------------------------- */

static int parse_id(const char *s, uint64_t *out)
{
    return rs_parse_u64(s, out);
}

static int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (rs_parse_u64(s, &v) != 0 || v > UINT32_MAX)
        return -1;
    *out = (uint32_t)v;
    return 0;
}

static int parse_count(const char *s, long long *out)
{
    uint64_t v;
    if (rs_parse_u64(s, &v) != 0 || v > (uint64_t)1 << 40)
        return -1;
    *out = (long long)v;
    return 0;
}

/* An option that takes a value: returns the value or NULL (usage error). */
static const char *opt_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* Returns 0, 1 for --help, CTL_PARSED_VERSION for --version, or
 * CTL_EXIT_USAGE. Options may appear anywhere. */
static int parse_args(int argc, char **argv, ctl_args *a)
{
    const char *env = getenv("READSTATECTL_SERVER");
    a->server = env != NULL && env[0] != '\0' ? env : CTL_DEFAULT_SERVER;
    a->timeout_ms = RS_CLIENT_TIMEOUT_DEFAULT_MS;
    a->pos = calloc((size_t)argc + 1, sizeof(*a->pos));
    a->nodes = calloc((size_t)argc + 1, sizeof(*a->nodes));
    if (a->pos == NULL || a->nodes == NULL)
        return CTL_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *v = NULL;
        long long n;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            return 1;
        } else if (strcmp(arg, "--version") == 0) {
            return CTL_PARSED_VERSION;
        } else if (strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if (strcmp(arg, "--ring") == 0) {
            a->ring = true;
        } else if (strcmp(arg, "--all") == 0) {
            a->all = true;
        } else if (strcmp(arg, "--server") == 0) {
            if ((a->server = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs HOST:PORT", arg);
        } else if (strcmp(arg, "--timeout-ms") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL || parse_count(v, &n) != 0 || n <= 0 ||
                n > 3600000)
                return ctl_usage_error("%s needs a number of milliseconds (1..3600000)", arg);
            a->timeout_ms = (int)n;
            a->timeout_given = true;
        } else if (strcmp(arg, "--token") == 0) {
            if ((a->token = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs a token", arg);
        } else if (strcmp(arg, "--token-file") == 0) {
            if ((a->token_file = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs a file", arg);
        } else if (strcmp(arg, "--tls") == 0) {
            a->tls = true;
        } else if (strcmp(arg, "--tls-ca") == 0 || strcmp(arg, "--tls-cert") == 0 ||
                   strcmp(arg, "--tls-key") == 0 || strcmp(arg, "--tls-server-name") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs a value", arg);
            const char **slot = strcmp(arg, "--tls-ca") == 0     ? &a->tls_opts.ca_file
                                : strcmp(arg, "--tls-cert") == 0 ? &a->tls_opts.cert_file
                                : strcmp(arg, "--tls-key") == 0  ? &a->tls_opts.key_file
                                                                 : &a->tls_opts.server_name;
            *slot = v;
            a->tls = true;
        } else if (strcmp(arg, "--count") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL || parse_u32(v, &a->count) != 0)
                return ctl_usage_error("%s needs a count (0..4294967295)", arg);
        } else if (strcmp(arg, "--events") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL || parse_count(v, &a->max_events) != 0)
                return ctl_usage_error("%s needs a number of events", arg);
        } else if (strcmp(arg, "--for-ms") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL || parse_count(v, &a->for_ms) != 0)
                return ctl_usage_error("%s needs a number of milliseconds", arg);
        } else if (strcmp(arg, "--redis") == 0 || strcmp(arg, "--redis-cluster") == 0 ||
                   strcmp(arg, "--redis-password-file") == 0 ||
                   strcmp(arg, "--redis-user") == 0 || strcmp(arg, "--ranges") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs a value", arg);
            const char **slot = strcmp(arg, "--redis") == 0           ? &a->redis
                                : strcmp(arg, "--redis-cluster") == 0 ? &a->redis_cluster
                                : strcmp(arg, "--redis-user") == 0    ? &a->redis_user
                                : strcmp(arg, "--ranges") == 0        ? &a->ranges
                                                                      : &a->redis_password_file;
            *slot = v;
        } else if (strcmp(arg, "--redis-db") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL || parse_count(v, &n) != 0 ||
                n > 1000000)
                return ctl_usage_error("%s needs a database number", arg);
            a->redis_db = (int)n;
        } else if (strcmp(arg, "--node") == 0 || strcmp(arg, "--nodes") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL)
                return ctl_usage_error("%s needs ID=HOST:PORT", arg);
            a->nodes[a->nnodes++] = v;
        } else if (strcmp(arg, "--expect-generation") == 0) {
            if ((v = opt_value(argc, argv, &i)) == NULL ||
                rs_parse_u64(v, &a->expect_generation) != 0)
                return ctl_usage_error("%s needs a generation (0: no table yet)", arg);
            a->have_expect = true;
        } else if (strncmp(arg, "--", 2) == 0 && arg[2] != '\0') {
            return ctl_usage_error("unknown option %s", arg);
        } else if (a->cmd == NULL) {
            a->cmd = arg;
        } else {
            a->pos[a->npos++] = argv[i];
        }
    }
    if (a->cmd == NULL)
        return ctl_usage_error("%s", "no command given");
    return 0;
}

/* Parse positional ids from..npos into a malloc'd array. Returns the count,
 * or -1 after printing a usage error. */
static long parse_ids(const ctl_args *a, int from, uint64_t **out)
{
    long n = a->npos - from;
    *out = calloc(n > 0 ? (size_t)n : 1, sizeof(**out));
    if (*out == NULL || n > CTL_MAX_IDS)
        return -1;
    for (long i = 0; i < n; i++) {
        if (parse_id(a->pos[from + i], &(*out)[i]) != 0) {
            ctl_usage_error("not an id: %s", a->pos[from + i]);
            return -1;
        }
    }
    return n;
}

/* ---- output ------------------------------------------------------------- */

static const char *flags_text(uint32_t flags)
{
    return (flags & RS_CLIENT_FLAG_MANUAL) ? "manual" : "-";
}

static void json_state(const rs_client_state *s)
{
    printf("{\"channelId\":\"%llu\",\"lastMessageId\":\"%llu\",\"mentionCount\":%u,"
           "\"flags\":%u,\"version\":\"%llu\"}",
           (unsigned long long)s->channel_id, (unsigned long long)s->last_message_id,
           s->mention_count, s->flags, (unsigned long long)s->version);
}

static void json_states(const rs_client_state *states, size_t n)
{
    printf("[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            printf(",");
        json_state(&states[i]);
    }
    printf("]");
}

/* A JSON string with the escapes JSON requires. */
void ctl_json_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", out);
        else if (*p < 0x20)
            fprintf(out, "\\u%04x", *p);
        else
            fputc(*p, out);
    }
    fputc('"', out);
}

static void table_header(void)
{
    printf("%-20s  %-20s  %10s  %-6s  %10s\n", "CHANNEL", "LAST_MESSAGE", "MENTIONS", "FLAGS",
           "VERSION");
}

static void table_row(const rs_client_state *s)
{
    printf("%-20llu  %-20llu  %10u  %-6s  %10llu\n", (unsigned long long)s->channel_id,
           (unsigned long long)s->last_message_id, s->mention_count, flags_text(s->flags),
           (unsigned long long)s->version);
}

/* Report a failure and return the exit status (the failure's code). */
int ctl_report_error(const ctl_args *a, rs_status st, const char *msg)
{
    const char *name = rs_status_name(st);
    size_t nl = strlen(name);
    /* msg is "CODE: message" from the client library; keep the message. */
    const char *text = msg;
    if (strncmp(msg, name, nl) == 0 && msg[nl] == ':' && msg[nl + 1] == ' ')
        text = msg + nl + 2;
    const char *hint = st == RS_ERR_UNAUTHENTICATED && !a->have_token
                           ? " (the server needs a token: give --token, --token-file or "
                             "READSTATES_TOKEN)"
                           : "";
    fprintf(stderr, "error: %s: %s%s\n", name, text, hint);
    if (a->json) {
        printf("{\"error\":{\"code\":");
        ctl_json_string(stdout, name);
        printf(",\"message\":");
        ctl_json_string(stdout, text);
        printf("}}\n");
    }
    int code = (int)st;
    return code > 0 && code < 126 ? code : 1;
}

/* Connect once the arguments are known to be valid; run() closes it.
 * Returns NULL after reporting the failure (exit status UNAVAILABLE). */
rs_client *ctl_connect(ctl_args *a)
{
    char host[CTL_ADDR_MAX], err[RS_CLIENT_ERRLEN];
    int port;
    if (rs_parse_hostport(a->server, host, sizeof(host), &port) != 0) {
        snprintf(err, sizeof(err), "not HOST:PORT: %s", a->server);
        a->connect_rc = ctl_report_error(a, RS_ERR_UNAVAILABLE, err);
        return NULL;
    }
    a->client = rs_client_connect_tls(host, port, a->tls ? &a->tls_opts : NULL, a->timeout_ms,
                                      err, sizeof(err));
    if (a->client == NULL) {
        a->connect_rc = ctl_report_error(a, RS_ERR_UNAVAILABLE, err);
        return NULL;
    }
    if (a->have_token) {
        rs_status st = rs_client_auth(a->client, a->token_buf);
        if (st != RS_OK) {
            const char *m = rs_client_errmsg(a->client);
            size_t nl = strlen(rs_status_name(st));
            if (strncmp(m, rs_status_name(st), nl) == 0 && strncmp(m + nl, ": ", 2) == 0)
                m += nl + 2;
            snprintf(err, sizeof(err), "the server refused the token (%s)", m);
            a->connect_rc = ctl_report_error(a, st, err);
            rs_client_close(a->client);
            a->client = NULL;
        }
    }
    return a->client;
}

/* ctl_connect, for a call about user: with --ring, to the user's owner in
 * the fleet's slot table (read from --server with GetRing), so the call
 * takes no hop through another node. */
static rs_client *ctl_connect_user(ctl_args *a, uint64_t user)
{
    rs_client *c = ctl_connect(a);
    if (c == NULL || !a->ring)
        return c;
    rs_ring *ring = malloc(sizeof(*ring));
    rs_status st = ring != NULL ? rs_client_get_ring(c, ring) : RS_ERR_INTERNAL;
    if (st != RS_OK) {
        a->connect_rc = ctl_report_error(a, st, rs_client_errmsg(c));
        free(ring);
        return NULL;
    }
    const rs_ring_node *owner = rs_ring_owner(ring, user);
    char addr[CTL_ADDR_MAX + 8];
    if (owner != NULL && ring->generation != 0) /* outside a fleet: the server itself */
        snprintf(addr, sizeof(addr), strchr(owner->host, ':') ? "[%s]:%d" : "%s:%d",
                 owner->host, owner->port);
    else
        snprintf(addr, sizeof(addr), "%s", a->server);
    free(ring);
    if (strcmp(addr, a->server) == 0)
        return c;
    rs_client_close(c);
    a->client = NULL;
    static char owner_addr[CTL_ADDR_MAX + 8];
    snprintf(owner_addr, sizeof(owner_addr), "%s", addr);
    a->server = owner_addr;
    return ctl_connect(a);
}

/* ---- commands ------------------------------------------------------------ */

static int cmd_ping(ctl_args *a)
{
    uint64_t t0 = rs_now_ns(), server_ms = 0;
    char version[128];
    rs_client *c = ctl_connect(a);
    if (c == NULL)
        return a->connect_rc;
    rs_status st = rs_client_ping(c, &server_ms, version, sizeof(version));
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    double rtt_ms = (double)(rs_now_ns() - t0) / 1e6;
    if (a->json) {
        printf("{\"serverTimeMs\":\"%llu\",\"serverVersion\":", (unsigned long long)server_ms);
        ctl_json_string(stdout, version);
        printf(",\"rttMs\":%.3f}\n", rtt_ms);
    } else {
        printf("server_version  %s\nserver_time_ms  %llu\nrtt_ms          %.3f\n", version,
               (unsigned long long)server_ms, rtt_ms);
    }
    return 0;
}

static int ack_or_set(ctl_args *a, bool set)
{
    uint64_t user, channel, msg;
    uint32_t mentions = 0;
    if (parse_id(a->pos[0], &user) != 0 || parse_id(a->pos[1], &channel) != 0 ||
        parse_id(a->pos[2], &msg) != 0)
        return ctl_usage_error("%s: USER, CHANNEL and MSG must be unsigned integers", a->cmd);
    if (a->npos > 3 && parse_u32(a->pos[3], &mentions) != 0)
        return ctl_usage_error("not a mention count: %s", a->pos[3]);
    rs_client *c = ctl_connect_user(a, user);
    if (c == NULL)
        return a->connect_rc;
    rs_client_ack_result r;
    rs_status st = set ? rs_client_set(c, user, channel, msg, mentions, &r)
                       : rs_client_ack(c, user, channel, msg, mentions, &r);
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    if (a->json) {
        printf("{\"state\":");
        json_state(&r.state);
        printf(",\"applied\":%s,\"userVersion\":\"%llu\"}\n", r.applied ? "true" : "false",
               (unsigned long long)r.user_version);
    } else {
        table_header();
        table_row(&r.state);
        printf("applied: %s  user_version: %llu\n", r.applied ? "yes" : "no (unchanged)",
               (unsigned long long)r.user_version);
    }
    return 0;
}

static int cmd_ack(ctl_args *a)
{
    return ack_or_set(a, false);
}

static int cmd_set(ctl_args *a)
{
    return ack_or_set(a, true);
}

static void print_states(const ctl_args *a, const rs_client_states *s, bool with_applied)
{
    if (a->json) {
        printf("{\"states\":");
        json_states(s->states, s->n);
        if (with_applied)
            printf(",\"applied\":%u", s->applied);
        printf(",\"userVersion\":\"%llu\"}\n", (unsigned long long)s->user_version);
        return;
    }
    table_header();
    for (size_t i = 0; i < s->n; i++)
        table_row(&s->states[i]);
    if (with_applied)
        printf("applied: %u of %zu entries  user_version: %llu\n", s->applied, s->n,
               (unsigned long long)s->user_version);
    else
        printf("user_version: %llu  (%zu state%s)\n", (unsigned long long)s->user_version, s->n,
               s->n == 1 ? "" : "s");
}

/* "CHANNEL:MSG" into an entry. Returns 0 or -1. */
static int parse_ack_entry(const char *arg, rs_client_ack_entry *e)
{
    const char *colon = strchr(arg, ':');
    char channel[32];
    size_t n = colon != NULL ? (size_t)(colon - arg) : 0;
    if (n == 0 || n >= sizeof(channel))
        return -1;
    memcpy(channel, arg, n);
    channel[n] = '\0';
    return parse_id(channel, &e->channel_id) == 0 && parse_id(colon + 1, &e->message_id) == 0
               ? 0
               : -1;
}

static int cmd_bulk_ack(ctl_args *a)
{
    uint64_t user;
    if (parse_id(a->pos[0], &user) != 0)
        return ctl_usage_error("not a user id: %s", a->pos[0]);
    size_t n = (size_t)(a->npos - 1);
    rs_client_ack_entry *ents = calloc(n, sizeof(*ents));
    if (ents == NULL)
        return ctl_usage_error("%s", "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (parse_ack_entry(a->pos[1 + i], &ents[i]) != 0) {
            free(ents);
            return ctl_usage_error("not CHANNEL:MSG: %s", a->pos[1 + i]);
        }
    }
    rs_client *c = ctl_connect_user(a, user);
    rs_client_states s;
    rs_status st =
        c != NULL ? rs_client_bulk_ack(c, user, ents, n, &s) : (rs_status)a->connect_rc;
    free(ents);
    if (c == NULL)
        return st;
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    print_states(a, &s, true);
    rs_client_states_free(&s);
    return 0;
}

static int cmd_mentions(ctl_args *a)
{
    uint64_t channel, msg, *users;
    if (parse_id(a->pos[0], &channel) != 0 || parse_id(a->pos[1], &msg) != 0)
        return ctl_usage_error("%s: CHANNEL and MSG must be unsigned integers", a->cmd);
    long n = parse_ids(a, 2, &users);
    if (n < 0) {
        free(users);
        return CTL_EXIT_USAGE;
    }
    rs_client *c = ctl_connect(a);
    uint32_t *counts = calloc((size_t)n + 1, sizeof(*counts));
    if (c == NULL || counts == NULL) {
        free(counts);
        free(users);
        return c == NULL ? a->connect_rc
                         : ctl_report_error(a, RS_ERR_INTERNAL, "out of memory");
    }
    rs_status st = rs_client_add_mentions(c, channel, msg, users, (size_t)n, a->count, counts);
    int rc = 0;
    if (st != RS_OK) {
        rc = ctl_report_error(a, st, rs_client_errmsg(c));
    } else if (a->json) {
        printf("{\"userIds\":[");
        for (long i = 0; i < n; i++)
            printf("%s\"%llu\"", i > 0 ? "," : "", (unsigned long long)users[i]);
        printf("],\"mentionCounts\":[");
        for (long i = 0; i < n; i++)
            printf("%s%u", i > 0 ? "," : "", counts[i]);
        printf("]}\n");
    } else {
        printf("%-20s  %10s\n", "USER", "MENTIONS");
        for (long i = 0; i < n; i++)
            printf("%-20llu  %10u\n", (unsigned long long)users[i], counts[i]);
    }
    free(counts);
    free(users);
    return rc;
}

static int cmd_get(ctl_args *a)
{
    uint64_t user, *channels;
    if (parse_id(a->pos[0], &user) != 0)
        return ctl_usage_error("not a user id: %s", a->pos[0]);
    long n = parse_ids(a, 1, &channels);
    if (n < 0) {
        free(channels);
        return CTL_EXIT_USAGE;
    }
    rs_client *c = ctl_connect_user(a, user);
    rs_client_states s;
    rs_status st =
        c != NULL ? rs_client_get(c, user, channels, (size_t)n, &s) : (rs_status)a->connect_rc;
    free(channels);
    if (c == NULL)
        return st;
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    print_states(a, &s, false);
    rs_client_states_free(&s);
    return 0;
}

static int cmd_delete(ctl_args *a)
{
    uint64_t user, *channels;
    if (parse_id(a->pos[0], &user) != 0)
        return ctl_usage_error("not a user id: %s", a->pos[0]);
    if (a->all == (a->npos > 1))
        return ctl_usage_error("%s", "delete needs either --all or a list of channels");
    long n = parse_ids(a, 1, &channels);
    if (n < 0) {
        free(channels);
        return CTL_EXIT_USAGE;
    }
    rs_client *c = ctl_connect_user(a, user);
    uint32_t deleted = 0;
    uint64_t version = 0;
    rs_status st =
        c != NULL ? rs_client_delete(c, user, channels, (size_t)n, a->all, &deleted, &version)
                  : (rs_status)a->connect_rc;
    free(channels);
    if (c == NULL)
        return st;
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    if (a->json)
        printf("{\"deleted\":%u,\"userVersion\":\"%llu\"}\n", deleted,
               (unsigned long long)version);
    else
        printf("deleted: %u  user_version: %llu\n", deleted, (unsigned long long)version);
    return 0;
}

static void print_event(const ctl_args *a, const rs_client_event *ev)
{
    if (a->json) {
        printf("{\"userId\":\"%llu\",\"state\":", (unsigned long long)ev->user_id);
        json_state(&ev->state);
        printf(",\"deleted\":%s,\"userVersion\":\"%llu\"}\n", ev->deleted ? "true" : "false",
               (unsigned long long)ev->user_version);
    } else {
        printf("%-20llu  %-20llu  %-20llu  %10u  %-6s  %10llu  %s\n",
               (unsigned long long)ev->user_id, (unsigned long long)ev->state.channel_id,
               (unsigned long long)ev->state.last_message_id, ev->state.mention_count,
               flags_text(ev->state.flags), (unsigned long long)ev->user_version,
               ev->deleted ? "deleted" : "changed");
    }
    fflush(stdout);
}

static int cmd_watch(ctl_args *a)
{
    uint64_t *users;
    long n = parse_ids(a, 0, &users);
    if (n < 0) {
        free(users);
        return CTL_EXIT_USAGE;
    }
    rs_client *c = ctl_connect(a);
    rs_status st =
        c != NULL ? rs_client_watch(c, users, (size_t)n, NULL) : (rs_status)a->connect_rc;
    free(users);
    if (c == NULL)
        return st;
    if (st != RS_OK)
        return ctl_report_error(a, st, rs_client_errmsg(c));
    fprintf(stderr, "watching %ld user%s\n", n, n == 1 ? "" : "s");
    if (!a->json)
        printf("%-20s  %-20s  %-20s  %10s  %-6s  %10s  %s\n", "USER", "CHANNEL", "LAST_MESSAGE",
               "MENTIONS", "FLAGS", "VERSION", "EVENT");
    fflush(stdout);
    uint64_t end_ns = a->for_ms > 0 ? rs_now_ns() + (uint64_t)a->for_ms * 1000000ull : 0;
    for (long long seen = 0; a->max_events == 0 || seen < a->max_events;) {
        int wait_ms = 1000;
        if (end_ns != 0) {
            uint64_t now = rs_now_ns();
            if (now >= end_ns)
                break;
            wait_ms = (int)RS_MIN((end_ns - now) / 1000000ull + 1, 1000ull);
        }
        rs_client_event ev;
        st = rs_client_next_event(c, &ev, wait_ms);
        if (st == RS_ERR_DEADLINE)
            continue;
        if (st != RS_OK)
            return ctl_report_error(a, st, rs_client_errmsg(c));
        print_event(a, &ev);
        seen++;
    }
    return 0;
}

static const ctl_command commands[] = {
    {"ping", cmd_ping, 0, 0, "ping"},
    {"ack", cmd_ack, 3, 4, "ack USER CHANNEL MSG [MENTIONS]"},
    {"set", cmd_set, 3, 4, "set USER CHANNEL MSG [MENTIONS]"},
    {"bulk-ack", cmd_bulk_ack, 2, -1, "bulk-ack USER CHANNEL:MSG..."},
    {"mentions", cmd_mentions, 3, -1, "mentions CHANNEL MSG [--count N] USER..."},
    {"get", cmd_get, 1, -1, "get USER [CHANNEL...]"},
    {"delete", cmd_delete, 1, -1, "delete USER (--all | CHANNEL...)"},
    {"watch", cmd_watch, 1, -1, "watch USER... [--events N] [--for-ms N]"},
    {"ring", ctl_cmd_ring, 0, 0, "ring"},
    {"cluster", ctl_cmd_cluster, 1, 1,
     "cluster show|init (--redis HOST:PORT | --redis-cluster SEEDS) ..."},
};

/* Options that only one command takes. */
static int check_command_options(const ctl_args *a)
{
    if (a->all && strcmp(a->cmd, "delete") != 0)
        return ctl_usage_error("--all is an option of delete, not of %s", a->cmd);
    if (a->count != 0 && strcmp(a->cmd, "mentions") != 0)
        return ctl_usage_error("--count is an option of mentions, not of %s", a->cmd);
    if ((a->max_events != 0 || a->for_ms != 0) && strcmp(a->cmd, "watch") != 0)
        return ctl_usage_error("--events and --for-ms are options of watch, not of %s", a->cmd);
    if ((a->redis != NULL || a->redis_cluster != NULL || a->redis_password_file != NULL ||
         a->redis_user != NULL || a->redis_db != 0 || a->nnodes > 0 || a->ranges != NULL ||
         a->have_expect) &&
        strcmp(a->cmd, "cluster") != 0)
        return ctl_usage_error("--redis*, --node(s), --ranges and --expect-generation are "
                               "options of cluster, not of %s",
                               a->cmd);
    return 0;
}

static int run(ctl_args *a)
{
    const ctl_command *cmd = NULL;
    for (size_t i = 0; i < RS_ARRAY_LEN(commands); i++)
        if (strcmp(commands[i].name, a->cmd) == 0)
            cmd = &commands[i];
    if (cmd == NULL)
        return ctl_usage_error("unknown command %s", a->cmd);
    if (a->npos < cmd->min_args || (cmd->max_args >= 0 && a->npos > cmd->max_args))
        return ctl_usage_error("usage: readstatectl %s", cmd->usage);
    int rc = check_command_options(a);
    if (rc != 0)
        return rc;
    char host[CTL_ADDR_MAX];
    int port;
    if (rs_parse_hostport(a->server, host, sizeof(host), &port) != 0)
        return ctl_usage_error("not HOST:PORT: %s", a->server);
    int got = rs_client_token(a->token, a->token_file, a->token_buf, sizeof(a->token_buf));
    if (got < 0)
        return ctl_usage_error("no token: %s", a->token_buf);
    a->have_token = got > 0;
    rc = cmd->run(a);
    rs_client_close(a->client);
    a->client = NULL;
    return rc;
}

int main(int argc, char **argv)
{
    ctl_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc == 1) {
        usage(stdout);
        rc = 0;
    } else if (rc == CTL_PARSED_VERSION) {
        printf("readstatectl %s\n", RS_VERSION_STRING);
        rc = 0;
    } else if (rc == 0) {
        rc = run(&a);
    }
    free(a.pos);
    free(a.nodes);
    if (fflush(stdout) != 0 && rc == 0)
        rc = 1;
    return rc;
}
