/*
 * lg_main.c: readstate-loadgen's command line. Parses flags into an
 * lg_config, runs the engine, renders the results.
 *
 *   readstate-loadgen [--target rs://H:P | redis://H:P] (--rate R | --max)
 *                     [workload flags] [--hiccups] [--json F] [--csv F] [--html F]
 *   readstate-loadgen --fill-users N --fill-channels M [--target ...]
 *   readstate-loadgen compare A.json B.json [--html out.html]
 *   readstate-loadgen field RESULT.json totals.throughput_rps
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lg_engine.h"
#include "lg_report.h"
#include "rs_client.h"
#include "rs_common.h"
#include "rs_ring.h"

typedef struct lg_cli {
    lg_config cfg;
    char target_url[300];
    const char *json_path, *csv_path, *html_path, *label;
    const char *token, *token_file; /* --token, --token-file */
    int live;                       /* -1 auto (a terminal), 0 off, 1 on */
    bool ring;                      /* --ring: route by the fleet's ring */
    bool mix_given;
} lg_cli;

static void cli_usage(FILE *f)
{
    fprintf(
        f, "usage: readstate-loadgen [options]\n"
           "       readstate-loadgen compare A.json B.json [--html out.html]\n"
           "       readstate-loadgen field RESULT.json key.key   (one value, for scripts)\n"
           "\n"
           "target and load:\n"
           "  --target URL            rs://host:port (default rs://127.0.0.1:7480),\n"
           "                          rss://host:port (the same over TLS) or\n"
           "                          redis://host:port (the Redis-direct baseline)\n"
           "  --tls-ca F              rss: PEM CAs to verify the server with (default: the\n"
           "                          system's)\n"
           "  --tls-cert F --tls-key F  rss: client certificate for mutual TLS\n"
           "  --rate R                open loop at R requests/s (default 1000)\n"
           "  --max                   closed loop: keep every pipeline full\n"
           "  --connections N         connections (default 16)\n"
           "  --pipeline D            requests in flight per connection (default 1)\n"
           "  --duration S            measured seconds (default 10)\n"
           "  --warmup S              seconds of load before measuring (default 0)\n"
           "  --drain S               wait at most S s for answers at the end (default 5)\n"
           "  --connect-timeout S     give up if no connection is up after S s (default 5)\n"
           "  --batch-us U            rate mode: send at most once per U us; requests due\n"
           "                          closer together go out in one write (default 50;\n"
           "                          the wait counts in their latency)\n"
           "  --token T               rs target: bearer token for a server with\n"
           "                          --auth-token-file, sent in an Auth call on every\n"
           "                          connection before load starts (default\n"
           "                          $READSTATES_TOKEN; prefer it or --token-file: argv\n"
           "                          is visible to others)\n"
           "  --token-file F          read the token from F (its first token line)\n"
           "  --ring                  rs target in a fleet: read the slot table (GetRing)\n"
           "                          from the target and send every request straight to\n"
           "                          its user's owner, connections spread over the nodes\n"
           "                          (at least one each); the table is read once\n"
           "  --hiccups               also measure the platform's own stalls: a thread\n"
           "                          sleeps 1 ms over and over and records how late it\n"
           "                          wakes (hypervisor pauses, steal, scheduling)\n"
           "workload:\n"
           "  --ack P --get-one P --get-all P --bulk-ack P --mentions P --set P --ping P\n"
           "                          mix in percent (default ack 90, get-one 10; once any is\n"
           "                          given the others default to 0; they must sum to 100)\n"
           "  --users N               hot users (default 100000)\n"
           "  --channels-per-user M   (default 20)\n"
           "  --zipf S                skew over users, 0 = uniform (default 0.99)\n"
           "  --cold P                percent of requests for never-seen users (default 0)\n"
           "  --bulk-size N           entries per bulk ack (default 10)\n"
           "  --mention-users N       users per AddMentions (default 3)\n"
           "  --seed N                PRNG seed (default 1)\n"
           "  --fill-users N --fill-channels M\n"
           "                          load N*M states with pipelined bulk acks, then exit\n"
           "                          (users 1..N are the same hot users a run uses)\n"
           "output:\n"
           "  --json F --csv F --html F   results, per-second rows, self-contained report\n"
           "  --label S               name of this run in reports\n"
           "  --server-pid PID        also measure the server's CPU per request\n"
           "  --live / --quiet        a line every second (default: when stderr is a tty)\n"
           "  --version               print the version and exit\n");
}

enum {
    OPT_TARGET = 256,
    OPT_RATE,
    OPT_MAX,
    OPT_CONNS,
    OPT_PIPELINE,
    OPT_BATCH_US,
    OPT_DURATION,
    OPT_WARMUP,
    OPT_DRAIN,
    OPT_USERS,
    OPT_CHANNELS,
    OPT_ZIPF,
    OPT_COLD,
    OPT_BULK,
    OPT_MENTION_USERS,
    OPT_SEED,
    OPT_FILL_USERS,
    OPT_FILL_CHANNELS,
    OPT_JSON,
    OPT_CSV,
    OPT_HTML,
    OPT_LABEL,
    OPT_SERVER_PID,
    OPT_LIVE,
    OPT_QUIET,
    OPT_HELP,
    OPT_VERSION,
    OPT_CONNECT_TIMEOUT,
    OPT_HICCUPS,
    OPT_RING,
    OPT_TOKEN,
    OPT_TOKEN_FILE,
    OPT_TLS_CA,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_MIX_BASE /* + lg_method */
};

static const struct option opts_[] = {
    {"target", required_argument, NULL, OPT_TARGET},
    {"rate", required_argument, NULL, OPT_RATE},
    {"max", no_argument, NULL, OPT_MAX},
    {"connections", required_argument, NULL, OPT_CONNS},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"batch-us", required_argument, NULL, OPT_BATCH_US},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"drain", required_argument, NULL, OPT_DRAIN},
    {"users", required_argument, NULL, OPT_USERS},
    {"channels-per-user", required_argument, NULL, OPT_CHANNELS},
    {"zipf", required_argument, NULL, OPT_ZIPF},
    {"cold", required_argument, NULL, OPT_COLD},
    {"bulk-size", required_argument, NULL, OPT_BULK},
    {"mention-users", required_argument, NULL, OPT_MENTION_USERS},
    {"seed", required_argument, NULL, OPT_SEED},
    {"fill-users", required_argument, NULL, OPT_FILL_USERS},
    {"fill-channels", required_argument, NULL, OPT_FILL_CHANNELS},
    {"json", required_argument, NULL, OPT_JSON},
    {"csv", required_argument, NULL, OPT_CSV},
    {"html", required_argument, NULL, OPT_HTML},
    {"label", required_argument, NULL, OPT_LABEL},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"live", no_argument, NULL, OPT_LIVE},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, OPT_HELP},
    {"version", no_argument, NULL, OPT_VERSION},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"hiccups", no_argument, NULL, OPT_HICCUPS},
    {"ring", no_argument, NULL, OPT_RING},
    {"token", required_argument, NULL, OPT_TOKEN},
    {"token-file", required_argument, NULL, OPT_TOKEN_FILE},
    {"tls-ca", required_argument, NULL, OPT_TLS_CA},
    {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
    {"tls-key", required_argument, NULL, OPT_TLS_KEY},
    {"ack", required_argument, NULL, OPT_MIX_BASE + LG_ACK},
    {"get-one", required_argument, NULL, OPT_MIX_BASE + LG_GET_ONE},
    {"get-all", required_argument, NULL, OPT_MIX_BASE + LG_GET_ALL},
    {"bulk-ack", required_argument, NULL, OPT_MIX_BASE + LG_BULK_ACK},
    {"mentions", required_argument, NULL, OPT_MIX_BASE + LG_MENTIONS},
    {"set", required_argument, NULL, OPT_MIX_BASE + LG_SET},
    {"ping", required_argument, NULL, OPT_MIX_BASE + LG_PING},
    {NULL, 0, NULL, 0},
};

static int cli_num(const char *name, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "readstate-loadgen: --%s: expected a number in [%g, %g], got '%s'\n",
                name, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int cli_u64(const char *name, const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    if (rs_parse_u64(s, out) != 0 || *out < lo || *out > hi) {
        fprintf(stderr,
                "readstate-loadgen: --%s: expected an integer in [%llu, %llu], got '%s'\n",
                name, (unsigned long long)lo, (unsigned long long)hi, s);
        return -1;
    }
    return 0;
}

static int cli_parse_target(lg_cli *cli, const char *url)
{
    const char *rest;
    if (strncmp(url, "rs://", 5) == 0) {
        cli->cfg.target = LG_TARGET_RS;
        rest = url + 5;
    } else if (strncmp(url, "rss://", 6) == 0) {
        cli->cfg.target = LG_TARGET_RS;
        cli->cfg.tls = true;
        rest = url + 6;
    } else if (strncmp(url, "redis://", 8) == 0) {
        cli->cfg.target = LG_TARGET_REDIS;
        rest = url + 8;
    } else {
        fprintf(stderr,
                "readstate-loadgen: --target must be rs://host:port, rss://host:port or "
                "redis://host:port\n");
        return -1;
    }
    if (rs_parse_hostport(rest, cli->cfg.host, sizeof(cli->cfg.host), &cli->cfg.port) != 0) {
        fprintf(stderr, "readstate-loadgen: bad address in --target '%s'\n", url);
        return -1;
    }
    snprintf(cli->target_url, sizeof(cli->target_url), "%s", url);
    return 0;
}

static int cli_parse_one(lg_cli *cli, int o, const char *arg, const char *name)
{
    lg_config *c = &cli->cfg;
    uint64_t u;
    if (o >= OPT_MIX_BASE && o < OPT_MIX_BASE + LG_METHOD_MAX) {
        if (!cli->mix_given)
            memset(c->work.mix, 0, sizeof(c->work.mix));
        cli->mix_given = true;
        return cli_num(name, arg, 0, 100, &c->work.mix[o - OPT_MIX_BASE]);
    }
    switch (o) {
    case OPT_TARGET: return cli_parse_target(cli, arg);
    case OPT_RATE: c->mode = LG_MODE_RATE; return cli_num(name, arg, 0.001, 1e8, &c->rate);
    case OPT_MAX: c->mode = LG_MODE_CLOSED; return 0;
    case OPT_CONNS:
        if (cli_u64(name, arg, 1, 10000, &u))
            return -1;
        c->conns = (uint32_t)u;
        return 0;
    case OPT_PIPELINE:
        if (cli_u64(name, arg, 1, 65536, &u))
            return -1;
        c->depth = (uint32_t)u;
        return 0;
    case OPT_BATCH_US:
        if (cli_u64(name, arg, 1, 1000000, &u))
            return -1;
        c->batch_ns = u * 1000u;
        return 0;
    case OPT_DURATION: return cli_num(name, arg, 0.001, 86400, &c->duration_s);
    case OPT_WARMUP: return cli_num(name, arg, 0, 86400, &c->warmup_s);
    case OPT_DRAIN: return cli_num(name, arg, 0, 3600, &c->drain_s);
    case OPT_CONNECT_TIMEOUT: return cli_num(name, arg, 0.1, 3600, &c->connect_s);
    case OPT_USERS: return cli_u64(name, arg, 1, 1000000000ull, &c->work.users);
    case OPT_CHANNELS:
        if (cli_u64(name, arg, 1, 1u << 20, &u))
            return -1;
        c->work.channels = (uint32_t)u;
        return 0;
    case OPT_ZIPF: return cli_num(name, arg, 0, 100, &c->work.zipf_s);
    case OPT_COLD: return cli_num(name, arg, 0, 100, &c->work.cold_pct);
    case OPT_BULK:
        if (cli_u64(name, arg, 1, LG_LIST_MAX, &u))
            return -1;
        c->work.bulk_size = (uint32_t)u;
        return 0;
    case OPT_MENTION_USERS:
        if (cli_u64(name, arg, 1, LG_LIST_MAX, &u))
            return -1;
        c->work.mention_users = (uint32_t)u;
        return 0;
    case OPT_SEED: return cli_u64(name, arg, 0, UINT64_MAX, &c->work.seed);
    case OPT_FILL_USERS:
        c->mode = LG_MODE_FILL;
        return cli_u64(name, arg, 1, 1000000000ull, &c->fill_users);
    case OPT_FILL_CHANNELS:
        c->mode = LG_MODE_FILL;
        if (cli_u64(name, arg, 1, 1u << 20, &u))
            return -1;
        c->fill_channels = (uint32_t)u;
        return 0;
    case OPT_JSON: cli->json_path = arg; return 0;
    case OPT_CSV: cli->csv_path = arg; return 0;
    case OPT_HTML: cli->html_path = arg; return 0;
    case OPT_LABEL: cli->label = arg; return 0;
    case OPT_SERVER_PID:
        if (cli_u64(name, arg, 1, 1u << 30, &u))
            return -1;
        c->server_pid = (int)u;
        return 0;
    case OPT_HICCUPS: c->hiccups = true; return 0;
    case OPT_RING: cli->ring = true; return 0;
    case OPT_TOKEN: cli->token = arg; return 0;
    case OPT_TOKEN_FILE: cli->token_file = arg; return 0;
    case OPT_TLS_CA:
    case OPT_TLS_CERT:
    case OPT_TLS_KEY: {
        char *dst = o == OPT_TLS_CA ? c->tls_ca : o == OPT_TLS_CERT ? c->tls_cert : c->tls_key;
        if (strlen(arg) >= sizeof(c->tls_ca)) {
            fprintf(stderr, "readstate-loadgen: %s: path too long\n", name);
            return -1;
        }
        strcpy(dst, arg);
        return 0;
    }
    case OPT_LIVE: cli->live = 1; return 0;
    case OPT_QUIET: cli->live = 0; return 0;
    default: return -1;
    }
}

static bool cli_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* s (len bytes) trimmed into the config's token. Returns 1, 0 when blank,
 * -1 (printed) when too long. */
static int cli_token_put(lg_config *c, const char *s, size_t len, const char *src)
{
    while (len > 0 && cli_blank(*s)) {
        s++;
        len--;
    }
    while (len > 0 && cli_blank(s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if (len >= sizeof(c->token)) {
        fprintf(stderr, "readstate-loadgen: %s: token too long (max %zu bytes)\n", src,
                sizeof(c->token) - 1);
        return -1;
    }
    memcpy(c->token, s, len);
    c->token[len] = '\0';
    return 1;
}

/* The token: --token, else the first token line of --token-file ('#'
 * comments and blank lines skipped), else $READSTATES_TOKEN. Returns 0, or
 * -1 (printed) for a file that gives none. */
static int cli_token_resolve(lg_cli *cli)
{
    lg_config *c = &cli->cfg;
    c->token[0] = '\0';
    if (cli->token != NULL)
        return cli_token_put(c, cli->token, strlen(cli->token), "--token") < 0 ? -1 : 0;
    if (cli->token_file != NULL) {
        FILE *f = fopen(cli->token_file, "r");
        if (f == NULL) {
            fprintf(stderr, "readstate-loadgen: --token-file %s: %s\n", cli->token_file,
                    strerror(errno));
            return -1;
        }
        char line[LG_TOKEN_MAX + 64];
        int rc = 0;
        while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
            const char *p = line;
            while (cli_blank(*p))
                p++;
            if (*p != '\0' && *p != '#')
                rc = cli_token_put(c, p, strlen(p), "--token-file");
        }
        fclose(f);
        if (rc == 0)
            fprintf(stderr, "readstate-loadgen: --token-file %s: no token in the file\n",
                    cli->token_file);
        return rc > 0 ? 0 : -1;
    }
    const char *env = getenv("READSTATES_TOKEN");
    if (env != NULL && cli_token_put(c, env, strlen(env), "READSTATES_TOKEN") < 0)
        return -1;
    return 0;
}

static int cli_parse(lg_cli *cli, int argc, char **argv)
{
    memset(cli, 0, sizeof(*cli));
    lg_config *c = &cli->cfg;
    c->target = LG_TARGET_RS;
    snprintf(c->host, sizeof(c->host), "127.0.0.1");
    c->port = 7480;
    snprintf(cli->target_url, sizeof(cli->target_url), "rs://127.0.0.1:7480");
    c->mode = LG_MODE_RATE;
    c->rate = 1000;
    c->conns = 16;
    c->depth = 1;
    c->batch_ns = LG_TICK_MIN_NS;
    c->duration_s = 10;
    c->drain_s = 5;
    c->connect_s = 5;
    lg_work_cfg_default(&c->work);
    cli->live = -1;
    bool duration_given = false;
    int o, idx = 0;
    while ((o = getopt_long(argc, argv, "h", opts_, &idx)) != -1) {
        if (o == 'h' || o == OPT_HELP) {
            cli_usage(stdout);
            exit(0);
        }
        if (o == OPT_VERSION) {
            printf("readstate-loadgen %s\n", RS_VERSION_STRING);
            exit(fflush(stdout) == 0 ? 0 : 1);
        }
        if (o == '?')
            return -1;
        duration_given |= (o == OPT_DURATION);
        if (cli_parse_one(cli, o, optarg, opts_[idx].name) != 0)
            return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "readstate-loadgen: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (c->mode == LG_MODE_FILL) {
        /* in fill mode the duration is only a time limit */
        if (!duration_given)
            c->duration_s = 600;
        c->warmup_s = 0;
    }
    if (cli_token_resolve(cli) != 0)
        return -1;
    if ((c->tls_ca[0] != '\0' || c->tls_cert[0] != '\0' || c->tls_key[0] != '\0') && !c->tls) {
        fprintf(stderr, "readstate-loadgen: --tls-ca, --tls-cert and --tls-key are for rss:// "
                        "targets\n");
        return -1;
    }
    if (c->token[0] != '\0' && c->target != LG_TARGET_RS) {
        if (cli->token != NULL || cli->token_file != NULL) {
            fprintf(stderr,
                    "readstate-loadgen: --token and --token-file are for rs:// targets\n");
            return -1;
        }
        c->token[0] = '\0'; /* $READSTATES_TOKEN is readstated's, not Redis's */
    }
    if (cli->live < 0)
        cli->live = isatty(STDERR_FILENO) ? 1 : 0;
    c->live = cli->live == 1;
    return 0;
}

/* --ring: the fleet's slot table from the target (GetRing), before the run. */
static int cli_read_ring(lg_cli *cli, rs_ring **out)
{
    lg_config *c = &cli->cfg;
    if (c->target != LG_TARGET_RS || c->tls) {
        fprintf(stderr, "readstate-loadgen: --ring is for rs:// targets\n");
        return -1;
    }
    char err[256] = "";
    rs_client *rc = rs_client_connect(c->host, c->port, 5000, err, sizeof(err));
    if (rc == NULL) {
        fprintf(stderr, "readstate-loadgen: --ring: %s\n", err);
        return -1;
    }
    if (c->token[0] != '\0' && rs_client_auth(rc, c->token) != RS_OK) {
        fprintf(stderr, "readstate-loadgen: --ring: Auth: %s\n", rs_client_errmsg(rc));
        rs_client_close(rc);
        return -1;
    }
    rs_ring *ring = malloc(sizeof(*ring));
    rs_status st = ring != NULL ? rs_client_get_ring(rc, ring) : RS_ERR_INTERNAL;
    if (st != RS_OK) {
        fprintf(stderr, "readstate-loadgen: --ring: GetRing: %s (%s)\n", rs_status_name(st),
                rs_client_errmsg(rc));
        rs_client_close(rc);
        free(ring);
        return -1;
    }
    rs_client_close(rc);
    if (c->conns < ring->nnodes)
        c->conns = (uint32_t)ring->nnodes;
    fprintf(stderr, "readstate-loadgen: ring generation %llu, %zu nodes, %u connections\n",
            (unsigned long long)ring->generation, ring->nnodes, c->conns);
    c->ring = ring;
    *out = ring;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "compare") == 0)
        return lg_compare_main(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "field") == 0)
        return lg_field_main(argc - 1, argv + 1);
    lg_cli cli;
    if (cli_parse(&cli, argc, argv) != 0) {
        fprintf(stderr, "readstate-loadgen: see --help\n");
        return 2;
    }
    char err[256] = "";
    rs_ring *ring = NULL;
    if (cli.ring && cli_read_ring(&cli, &ring) != 0)
        return 2;
    lg_engine *e = lg_engine_new(&cli.cfg, err, sizeof(err));
    if (e == NULL) {
        fprintf(stderr, "readstate-loadgen: %s\n", err);
        free(ring);
        return 2;
    }
    if (lg_engine_run(e) != 0) {
        fprintf(stderr, "readstate-loadgen: %s\n", e->err);
        lg_engine_free(e);
        free(ring);
        return 1;
    }
    const char *label = cli.label;
    if (label == NULL)
        label = cli.cfg.target == LG_TARGET_REDIS ? "redis-direct" : "readstated";
    json_t *doc = lg_report_build(e, cli.target_url, label);
    lg_engine_free(e);
    free(ring); /* the engine used it: freed after it */
    if (doc == NULL) {
        fprintf(stderr, "readstate-loadgen: out of memory building the report\n");
        return 1;
    }
    lg_report_text(stdout, doc);
    int rc = 0;
    if (cli.json_path && lg_report_write_json(cli.json_path, doc) != 0)
        rc = 1;
    if (cli.csv_path && lg_report_write_csv(cli.csv_path, doc) != 0)
        rc = 1;
    if (cli.html_path &&
        lg_report_write_html(cli.html_path, (const json_t *const *)&doc, 1) != 0)
        rc = 1;
    json_decref(doc);
    return rc;
}
