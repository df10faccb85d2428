/*
 * rs_test_redis.c: a real redis-server, or a small Redis Cluster, for
 * integration tests.
 *
 * Redis cannot report a port it picked itself (--port 0 disables TCP), so
 * the port is chosen here: bind 127.0.0.1:0, read the port, close, start
 * Redis on it; if another process took it meanwhile Redis exits, and we
 * retry with a new port. Readiness is "answers PING", polled with a
 * blocking hiredis client, bounded in time.
 *
 *   rs_test_redis_start ─> free port ─> redis-server --port P --dir D ─> PING
 *   rs_test_redis_stop / kill9 ─> (port P and dir D kept) ─> restart ─> PING
 *
 * The data directory survives stop and restart (append-only file,
 * everysec), so restart tests see what Redis persisted.
 *
 * Cluster mode (RS_TEST_REDIS_CLUSTER=1, or rs_test_redis_start_cluster):
 *
 *   node i: free port P_i (bus P_i + 10000 free too) ─> redis-server
 *           --cluster-enabled yes --dir D/node<i> ─> PING
 *   CLUSTER ADDSLOTS <range i> and SET-CONFIG-EPOCH i+1 on node i,
 *   CLUSTER MEET 127.0.0.1 P_i on node 0 ─> every node: cluster_state:ok,
 *   16384 slots ok, every node known
 *
 * No replicas: each node is a primary of a third of the slots. Stop, kill9
 * and restart act on every node; nodes.conf in each data directory keeps
 * the cluster across a restart on the same ports.
 *
 * With replicas (rs_test_redis_start_cluster_replicas): the same three
 * primaries, then R replicas of each started the same way (no slots), met
 * by node 0 and attached by CLUSTER REPLICATE once gossip has told them
 * their primary's id; ready when the cluster is ok and every replica is in
 * sync. One node at a time can be killed, stopped and restarted
 * (rs_test_redis_kill9_node, rs_test_redis_restart_node) for failovers.
 *
 * Commands from tests go through route(): node 0 first, then wherever
 * -MOVED or -ASK points (loopback only), on fresh connections, so nothing
 * here holds a connection across a stop or a restart.
 */
#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_testsupport.h"

#ifndef RS_TEST_REDIS_SERVER
#define RS_TEST_REDIS_SERVER ""
#endif

#define REDIS_START_TRIES     5
#define REDIS_READY_MS        10000
#define REDIS_STOP_MS         10000
#define REDIS_CONNECT_TIMEOUT 500
#define CLUSTER_READY_MS      20000
#define CLUSTER_SLOTS         16384
#define CLUSTER_BUS_OFFSET    10000
#define MAX_REDIRECTS         5
#define TRYAGAIN_RETRIES      20

static void pick_binary(rs_test_redis *r)
{
    const char *bin = getenv("REDIS_SERVER");
    if (bin == NULL || bin[0] == '\0')
        bin = RS_TEST_REDIS_SERVER;
    if (bin[0] == '\0')
        bin = "redis-server";
    snprintf(r->bin, sizeof(r->bin), "%s", bin);
}

bool rs_test_redis_cluster_requested(void)
{
    const char *v = getenv("RS_TEST_REDIS_CLUSTER");
    return v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

bool rs_test_redis_is_cluster(const rs_test_redis *r)
{
    return r->cluster;
}

int rs_test_redis_node_count(const rs_test_redis *r)
{
    return r->cluster ? r->n_nodes : 1;
}

/* ---- connections and routed commands ------------------------------------ */

static redisContext *connect_port(int port)
{
    struct timeval tv = {.tv_sec = 0, .tv_usec = REDIS_CONNECT_TIMEOUT * 1000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (c == NULL)
        return NULL;
    if (c->err != 0) {
        redisFree(c);
        return NULL;
    }
    struct timeval io = {.tv_sec = 5, .tv_usec = 0};
    redisSetTimeout(c, io);
    return c;
}

void *rs_test_redis_connect(const rs_test_redis *r)
{
    return connect_port(r->port);
}

static int node_port(const rs_test_redis *r, int i)
{
    return r->cluster ? r->nodes[i].port : r->port;
}

void *rs_test_redis_connect_node(const rs_test_redis *r, int i)
{
    if (i < 0 || i >= rs_test_redis_node_count(r))
        return NULL;
    return connect_port(node_port(r, i));
}

static bool ping_port(int port)
{
    redisContext *c = connect_port(port);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "PING");
    bool ok =
        reply != NULL && reply->type == REDIS_REPLY_STATUS && strcmp(reply->str, "PONG") == 0;
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

bool rs_test_redis_ping(const rs_test_redis *r)
{
    for (int i = 0; i < rs_test_redis_node_count(r); i++)
        if (!ping_port(node_port(r, i)))
            return false;
    return true;
}

/* "MOVED 3999 127.0.0.1:6381" / "ASK 3999 :6381": the target's port, or -1
 * when the reply is no redirect or points off loopback. */
static int redirect_port(const redisReply *reply, bool *ask)
{
    if (reply->type != REDIS_REPLY_ERROR || reply->str == NULL)
        return -1;
    const char *s = reply->str;
    if (strncmp(s, "MOVED ", 6) == 0)
        *ask = false;
    else if (strncmp(s, "ASK ", 4) == 0)
        *ask = true;
    else
        return -1;
    const char *addr = strchr(strchr(s, ' ') + 1, ' ');
    const char *colon = addr != NULL ? strrchr(addr, ':') : NULL;
    if (colon == NULL)
        return -1;
    size_t host_len = (size_t)(colon - (addr + 1));
    /* An empty host means "the node you asked". */
    if (host_len != 0 && !(host_len == 9 && strncmp(addr + 1, "127.0.0.1", 9) == 0)) {
        fprintf(stderr, "rs_test_redis: not following a redirect off loopback: %s\n", s);
        return -1;
    }
    long port = strtol(colon + 1, NULL, 10);
    return port > 0 && port < 65536 ? (int)port : -1;
}

/* Send a formatted command to node 0 (the server) and follow redirects.
 * With keep, the connection that gave the final reply is handed over. */
static redisReply *route(const rs_test_redis *r, const char *cmd, size_t len,
                         redisContext **keep)
{
    int port = r->port;
    bool ask = false;
    int tryagain = 0;
    for (int hop = 0; hop <= MAX_REDIRECTS + TRYAGAIN_RETRIES; hop++) {
        redisContext *c = connect_port(port);
        if (c == NULL) {
            fprintf(stderr, "rs_test_redis: cannot connect to 127.0.0.1:%d\n", port);
            return NULL;
        }
        if (ask) {
            redisReply *a = redisCommand(c, "ASKING");
            if (a != NULL)
                freeReplyObject(a);
        }
        redisReply *reply = NULL;
        if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK ||
            redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
            fprintf(stderr, "rs_test_redis: 127.0.0.1:%d: %s\n", port,
                    c->errstr[0] != '\0' ? c->errstr : "no reply");
            redisFree(c);
            return NULL;
        }
        bool is_ask = false;
        int next = redirect_port(reply, &is_ask);
        bool retry = reply->type == REDIS_REPLY_ERROR && reply->str != NULL &&
                     strncmp(reply->str, "TRYAGAIN", 8) == 0 && tryagain < TRYAGAIN_RETRIES;
        if (next < 0 && !retry) {
            if (keep != NULL)
                *keep = c;
            else
                redisFree(c);
            return reply;
        }
        redisFree(c);
        if (retry) {
            tryagain++;
            freeReplyObject(reply);
            rs_sleep_ms(25);
            continue;
        }
        if (hop - tryagain >= MAX_REDIRECTS) {
            fprintf(stderr, "rs_test_redis: more than %d redirects, last: %s\n", MAX_REDIRECTS,
                    reply->str);
            freeReplyObject(reply);
            return NULL;
        }
        freeReplyObject(reply);
        port = next;
        ask = is_ask;
    }
    return NULL;
}

void *rs_test_redis_vcommand(const rs_test_redis *r, const char *fmt, va_list ap)
{
    char *cmd = NULL;
    int len = redisvFormatCommand(&cmd, fmt, ap);
    if (len < 0) {
        fprintf(stderr, "rs_test_redis: cannot format \"%s\"\n", fmt);
        return NULL;
    }
    redisReply *reply = route(r, cmd, (size_t)len, NULL);
    redisFreeCommand(cmd);
    return reply;
}

void *rs_test_redis_command(const rs_test_redis *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    void *reply = rs_test_redis_vcommand(r, fmt, ap);
    va_end(ap);
    return reply;
}

void *rs_test_redis_command_argv(const rs_test_redis *r, int argc, const char **argv,
                                 const size_t *argvlen)
{
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (len < 0)
        return NULL;
    redisReply *reply = route(r, cmd, (size_t)len, NULL);
    redisFreeCommand(cmd);
    return reply;
}

void *rs_test_redis_connect_key(const rs_test_redis *r, const char *key)
{
    const char *argv[] = {"EXISTS", key};
    size_t lens[] = {6, strlen(key)};
    char *cmd = NULL;
    int len = redisFormatCommandArgv(&cmd, 2, argv, lens);
    if (len < 0)
        return NULL;
    redisContext *c = NULL;
    redisReply *reply = route(r, cmd, (size_t)len, &c);
    redisFreeCommand(cmd);
    if (reply == NULL)
        return NULL;
    bool ok = reply->type == REDIS_REPLY_INTEGER;
    if (!ok)
        fprintf(stderr, "rs_test_redis: EXISTS %s: %s\n", key,
                reply->str != NULL ? reply->str : "unexpected reply");
    freeReplyObject(reply);
    if (!ok) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int rs_test_redis_command_all(const rs_test_redis *r, long long *sum, const char *fmt, ...)
{
    char *cmd = NULL;
    va_list ap;
    va_start(ap, fmt);
    int len = redisvFormatCommand(&cmd, fmt, ap);
    va_end(ap);
    if (len < 0) {
        fprintf(stderr, "rs_test_redis: cannot format \"%s\"\n", fmt);
        return -1;
    }
    int rc = 0;
    long long total = 0;
    for (int i = 0; i < rs_test_redis_node_count(r); i++) {
        int port = node_port(r, i);
        if (r->cluster && r->replicas > 0 && !rs_test_redis_node_is_primary(r, i))
            continue; /* a replica (or a node that is down) */
        redisContext *c = connect_port(port);
        redisReply *reply = NULL;
        if (c == NULL || redisAppendFormattedCommand(c, cmd, (size_t)len) != REDIS_OK ||
            redisGetReply(c, (void **)&reply) != REDIS_OK || reply == NULL) {
            fprintf(stderr, "rs_test_redis: \"%s\" on 127.0.0.1:%d: %s\n", fmt, port,
                    c != NULL && c->errstr[0] != '\0' ? c->errstr : "no answer");
            rc = -1;
        } else if (reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "rs_test_redis: \"%s\" on 127.0.0.1:%d: %s\n", fmt, port,
                    reply->str);
            rc = -1;
        } else if (reply->type == REDIS_REPLY_INTEGER) {
            total += reply->integer;
        }
        if (reply != NULL)
            freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
    }
    redisFreeCommand(cmd);
    if (sum != NULL)
        *sum = total;
    return rc;
}

/* ---- starting and stopping one redis-server ------------------------------ */

typedef struct ready_arg {
    rs_proc *proc;
    int port;
} ready_arg;

/* Poll condition: Redis answers, or its process is gone (stop polling). */
static bool ready_or_dead(void *arg)
{
    ready_arg *a = arg;
    return !rs_proc_alive(a->proc) || ping_port(a->port);
}

/* Start once on port and dir (cluster: as a cluster node). Returns 0 when
 * it answers PING. */
static int start_once(const char *bin, rs_proc *proc, int port, const char *dir, bool cluster)
{
    char port_s[16];
    snprintf(port_s, sizeof(port_s), "%d", port);
    const char *argv[32] = {bin,         "--port",        port_s,     "--bind",
                            "127.0.0.1", "--save",        "",         "--appendonly",
                            "yes",       "--appendfsync", "everysec", "--dir",
                            dir,         "--daemonize",   "no",       "--protected-mode",
                            "yes",       "--loglevel",    "notice",   NULL};
    if (cluster) {
        /* A replica's full sync starts at once (the default waits 5 s for
         * more replicas to share a diskless transfer). */
        const char *more[] = {"--cluster-enabled",
                              "yes",
                              "--cluster-config-file",
                              "nodes.conf",
                              "--cluster-node-timeout",
                              "1000",
                              "--repl-diskless-sync-delay",
                              "0",
                              NULL};
        size_t n = 19;
        for (size_t i = 0; more[i] != NULL; i++)
            argv[n++] = more[i];
        argv[n] = NULL;
    }
    if (rs_proc_start(argv, NULL, proc) != 0)
        return -1;
    ready_arg a = {proc, port};
    if (rs_poll_until(ready_or_dead, &a, REDIS_READY_MS) && rs_proc_alive(proc))
        return 0;
    rs_proc_stop(proc, SIGKILL, 5000, NULL);
    return -1;
}

static int start_single(rs_test_redis *r)
{
    if (rs_tmpdir_create("redis", r->dir, sizeof(r->dir)) != 0)
        return -1;
    for (int attempt = 0; attempt < REDIS_START_TRIES; attempt++) {
        r->port = rs_free_port();
        if (r->port <= 0)
            continue;
        if (start_once(r->bin, &r->proc, r->port, r->dir, false) == 0)
            return 0;
        fprintf(stderr, "rs_test_redis_start: attempt %d on port %d failed\n", attempt + 1,
                r->port);
        rs_proc_dump_log(&r->proc, "redis", stderr, 2048);
        rs_proc_cleanup(&r->proc);
    }
    rs_tmpdir_remove(r->dir);
    r->dir[0] = '\0';
    return -1;
}

int rs_test_redis_start(rs_test_redis *r)
{
    if (rs_test_redis_cluster_requested())
        return rs_test_redis_start_cluster(r);
    memset(r, 0, sizeof(*r));
    pick_binary(r);
    return start_single(r);
}

/* ---- the cluster ------------------------------------------------------------ */

/* True if 127.0.0.1:port can be bound now. */
static bool port_bindable(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

/* A free port whose cluster bus port (+10000) is free too, not one of the
 * nodes before `upto`. */
static int free_cluster_port(const rs_test_redis *r, int upto)
{
    for (int tries = 0; tries < 200; tries++) {
        int p = rs_free_port();
        if (p <= 0 || p + CLUSTER_BUS_OFFSET > 65535 || !port_bindable(p + CLUSTER_BUS_OFFSET))
            continue;
        bool taken = false;
        for (int i = 0; i < upto; i++) {
            int q = r->nodes[i].port;
            taken =
                taken || p == q || p == q + CLUSTER_BUS_OFFSET || p + CLUSTER_BUS_OFFSET == q;
        }
        if (!taken)
            return p;
    }
    return -1;
}

static void dump_nodes(const rs_test_redis *r)
{
    for (int i = 0; i < r->n_nodes; i++) {
        char label[32];
        snprintf(label, sizeof(label), "redis node%d", i);
        rs_proc_dump_log(&r->nodes[i].proc, label, stderr, 2048);
    }
}

/* Run one command on a connection; true unless it fails or errors. */
static bool node_ok(redisContext *c, int argc, const char **argv, const size_t *lens)
{
    redisReply *reply = redisCommandArgv(c, argc, argv, lens);
    bool ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;
    if (!ok)
        fprintf(stderr, "rs_test_redis: %s %s: %s\n", argv[0], argc > 1 ? argv[1] : "",
                reply != NULL ? reply->str : c->errstr);
    if (reply != NULL)
        freeReplyObject(reply);
    return ok;
}

/* Each node its range of slots and its own config epoch; node 0 meets the
 * others (gossip tells them about each other). */
static int form_cluster(const rs_test_redis *r)
{
    static char slot_names[CLUSTER_SLOTS][12];
    const char **argv = calloc(CLUSTER_SLOTS + 2, sizeof(*argv));
    size_t *lens = calloc(CLUSTER_SLOTS + 2, sizeof(*lens));
    int rc = argv != NULL && lens != NULL ? 0 : -1;
    int primaries = r->n_nodes / (1 + r->replicas); /* replicas come after them */
    for (int i = 0; rc == 0 && i < r->n_nodes; i++) {
        redisContext *c = connect_port(r->nodes[i].port);
        if (c == NULL) {
            rc = -1;
            break;
        }
        int lo = i < primaries ? CLUSTER_SLOTS * i / primaries : 0;
        int hi = i < primaries ? CLUSTER_SLOTS * (i + 1) / primaries : 0;
        int argc = 0;
        argv[argc] = "CLUSTER";
        lens[argc++] = 7;
        argv[argc] = "ADDSLOTS";
        lens[argc++] = 8;
        for (int s = lo; s < hi; s++) {
            snprintf(slot_names[s], sizeof(slot_names[s]), "%d", s);
            argv[argc] = slot_names[s];
            lens[argc++] = strlen(slot_names[s]);
        }
        char epoch[16];
        snprintf(epoch, sizeof(epoch), "%d", i + 1);
        const char *ep[] = {"CLUSTER", "SET-CONFIG-EPOCH", epoch};
        size_t ep_lens[] = {7, 16, strlen(epoch)};
        if ((argc > 2 && !node_ok(c, argc, argv, lens)) || !node_ok(c, 3, ep, ep_lens))
            rc = -1;
        redisFree(c);
    }
    redisContext *c0 = rc == 0 ? connect_port(r->nodes[0].port) : NULL;
    if (rc == 0 && c0 == NULL)
        rc = -1;
    for (int i = 1; rc == 0 && i < r->n_nodes; i++) {
        char port[16];
        snprintf(port, sizeof(port), "%d", r->nodes[i].port);
        const char *meet[] = {"CLUSTER", "MEET", "127.0.0.1", port};
        size_t meet_lens[] = {7, 4, 9, strlen(port)};
        if (!node_ok(c0, 4, meet, meet_lens))
            rc = -1;
    }
    if (c0 != NULL)
        redisFree(c0);
    free(argv);
    free(lens);
    return rc;
}

/* CLUSTER INFO of one node says ok, all slots ok, n nodes known. */
static bool node_cluster_ok(int port, int n_nodes)
{
    redisContext *c = connect_port(port);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "CLUSTER INFO");
    bool ok = false;
    if (reply != NULL && reply->type == REDIS_REPLY_STRING) {
        char known[48];
        snprintf(known, sizeof(known), "cluster_known_nodes:%d\r\n", n_nodes);
        ok = strstr(reply->str, "cluster_state:ok\r\n") != NULL &&
             strstr(reply->str, "cluster_slots_ok:16384\r\n") != NULL &&
             strstr(reply->str, known) != NULL;
    }
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

static bool cluster_ok(void *arg)
{
    rs_test_redis *r = arg;
    for (int i = 0; i < r->n_nodes; i++)
        if (!node_cluster_ok(r->nodes[i].port, r->n_nodes))
            return false;
    return true;
}

static int wait_cluster_ok(rs_test_redis *r, const char *what)
{
    long long t0 = rs_mono_ms();
    if (rs_poll_until(cluster_ok, r, CLUSTER_READY_MS))
        return 0;
    fprintf(stderr, "rs_test_redis: %s: no cluster_state:ok on every node after %lld ms\n",
            what, rs_mono_ms() - t0);
    for (int i = 0; i < r->n_nodes; i++) {
        redisContext *c = connect_port(r->nodes[i].port);
        redisReply *reply = c != NULL ? redisCommand(c, "CLUSTER INFO") : NULL;
        fprintf(stderr, "node%d 127.0.0.1:%d:\n%s\n", i, r->nodes[i].port,
                reply != NULL && reply->str != NULL ? reply->str : "(no answer)");
        if (reply != NULL)
            freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
    }
    dump_nodes(r);
    return -1;
}

static void stop_nodes(rs_test_redis *r, int sig)
{
    for (int i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].proc.pid > 0 && !r->nodes[i].proc.reaped)
            kill(r->nodes[i].proc.pid, sig);
}

static void cleanup_nodes(rs_test_redis *r)
{
    stop_nodes(r, SIGKILL);
    for (int i = 0; i < r->n_nodes; i++)
        rs_proc_cleanup(&r->nodes[i].proc);
}

static int replicate_all(rs_test_redis *r);
static int wait_replicas_synced(rs_test_redis *r, const char *what);

static int start_cluster(rs_test_redis *r, int replicas)
{
    memset(r, 0, sizeof(*r));
    pick_binary(r);
    r->cluster = true;
    r->replicas = replicas;
    r->n_nodes = RS_TEST_REDIS_CLUSTER_NODES * (1 + replicas);
    long long t0 = rs_mono_ms();
    if (rs_tmpdir_create("redis-cluster", r->dir, sizeof(r->dir)) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < r->n_nodes; i++) {
        rs_test_redis_node *n = &r->nodes[i];
        int k = snprintf(n->dir, sizeof(n->dir), "%s/node%d", r->dir, i);
        if (k < 0 || (size_t)k >= sizeof(n->dir) || mkdir(n->dir, 0700) != 0) {
            perror(n->dir);
            rc = -1;
            break;
        }
        rc = -1;
        for (int attempt = 0; attempt < REDIS_START_TRIES && rc != 0; attempt++) {
            n->port = free_cluster_port(r, i);
            if (n->port <= 0)
                continue;
            if (start_once(r->bin, &n->proc, n->port, n->dir, true) == 0) {
                rc = 0;
                break;
            }
            fprintf(stderr,
                    "rs_test_redis_start_cluster: node%d attempt %d on port %d failed\n", i,
                    attempt + 1, n->port);
            rs_proc_dump_log(&n->proc, "redis", stderr, 2048);
            rs_proc_cleanup(&n->proc);
        }
    }
    if (rc == 0) {
        r->port = r->nodes[0].port;
        rc = form_cluster(r);
    }
    if (rc == 0 && r->replicas > 0)
        rc = replicate_all(r);
    if (rc == 0)
        rc = wait_cluster_ok(r, "rs_test_redis_start_cluster");
    if (rc == 0 && r->replicas > 0)
        rc = wait_replicas_synced(r, "rs_test_redis_start_cluster_replicas");
    if (rc != 0) {
        dump_nodes(r);
        cleanup_nodes(r);
        rs_tmpdir_remove(r->dir);
        memset(r, 0, sizeof(*r));
        return -1;
    }
    if (getenv("RS_TEST_VERBOSE") != NULL)
        fprintf(stderr, "rs_test_redis: cluster of %d nodes ready in %lld ms\n", r->n_nodes,
                rs_mono_ms() - t0);
    return 0;
}

int rs_test_redis_start_cluster(rs_test_redis *r)
{
    return start_cluster(r, 0);
}

/* ---- stop, restart, signals (both modes) ------------------------------------ */

int rs_test_redis_stop(rs_test_redis *r)
{
    if (!r->cluster) {
        if (r->proc.pid <= 0)
            return 0;
        int rc = rs_proc_stop(&r->proc, SIGTERM, REDIS_STOP_MS, NULL);
        return rc == 0 ? 0 : -1;
    }
    /* Every node gets SIGTERM at once, then each is waited for (the same
     * deadline for all), and SIGKILLed past it. */
    stop_nodes(r, SIGTERM);
    long long deadline = rs_mono_ms() + REDIS_STOP_MS;
    int rc = 0;
    for (int i = 0; i < r->n_nodes; i++) {
        rs_proc *p = &r->nodes[i].proc;
        if (p->pid <= 0)
            continue;
        long long left = deadline - rs_mono_ms();
        if (rs_proc_wait(p, left > 0 ? (int)left : 0, NULL) != 0) {
            fprintf(stderr, "rs_test_redis_stop: node%d (pid %d) still runs: SIGKILL\n", i,
                    (int)p->pid);
            rs_proc_kill9(p);
            rc = -1;
        }
    }
    return rc;
}

void rs_test_redis_kill9(rs_test_redis *r)
{
    if (!r->cluster) {
        if (r->proc.pid > 0)
            rs_proc_kill9(&r->proc);
        return;
    }
    for (int i = 0; i < r->n_nodes; i++)
        if (r->nodes[i].proc.pid > 0)
            rs_proc_kill9(&r->nodes[i].proc);
}

int rs_test_redis_signal(rs_test_redis *r, int sig)
{
    int sent = 0, rc = 0;
    for (int i = 0; i < rs_test_redis_node_count(r); i++) {
        rs_proc *p = r->cluster ? &r->nodes[i].proc : &r->proc;
        if (p->pid <= 0 || p->reaped)
            continue;
        if (kill(p->pid, sig) == 0)
            sent++;
        else
            rc = -1;
    }
    return sent > 0 ? rc : -1;
}

/* Start one stopped server again on its port and directory. */
static int restart_one(const char *bin, rs_proc *proc, int port, const char *dir, bool cluster)
{
    if (rs_proc_alive(proc))
        return 0;
    rs_proc_cleanup(proc);
    /* The old socket may linger briefly; Redis uses SO_REUSEADDR, but retry
     * a few times on the same port in case the first bind loses a race. */
    for (int attempt = 0; attempt < REDIS_START_TRIES; attempt++) {
        if (start_once(bin, proc, port, dir, cluster) == 0)
            return 0;
        rs_proc_dump_log(proc, "redis", stderr, 2048);
        rs_proc_cleanup(proc);
        rs_sleep_ms(100 * (attempt + 1));
    }
    fprintf(stderr, "rs_test_redis_restart: cannot restart on port %d\n", port);
    return -1;
}

int rs_test_redis_restart(rs_test_redis *r)
{
    if (!r->cluster) {
        if (rs_proc_alive(&r->proc))
            rs_test_redis_stop(r);
        return restart_one(r->bin, &r->proc, r->port, r->dir, false);
    }
    for (int i = 0; i < r->n_nodes; i++) {
        rs_test_redis_node *n = &r->nodes[i];
        if (restart_one(r->bin, &n->proc, n->port, n->dir, true) != 0)
            return -1;
    }
    return wait_cluster_ok(r, "rs_test_redis_restart");
}

char *rs_test_redis_addr(const rs_test_redis *r, char *buf, size_t len)
{
    if (!r->cluster) {
        snprintf(buf, len, "127.0.0.1:%d", r->port);
        return buf;
    }
    size_t used = 0;
    if (len > 0)
        buf[0] = '\0';
    for (int i = 0; i < r->n_nodes && used < len; i++) {
        int k = snprintf(buf + used, len - used, "%s127.0.0.1:%d", i > 0 ? "," : "",
                         r->nodes[i].port);
        if (k < 0)
            break;
        used += (size_t)k;
    }
    return buf;
}

void rs_test_redis_cleanup(rs_test_redis *r)
{
    if (!r->cluster) {
        if (r->proc.pid > 0 && rs_proc_alive(&r->proc))
            rs_test_redis_stop(r);
        rs_proc_cleanup(&r->proc);
    } else {
        /* A paused node would not see SIGTERM: let it go on first. */
        stop_nodes(r, SIGCONT);
        rs_test_redis_stop(r);
        cleanup_nodes(r);
    }
    rs_tmpdir_remove(r->dir);
    memset(r, 0, sizeof(*r));
}

/* ---- a cluster with replicas ------------------------------------------------- */

int rs_test_redis_node_id(const rs_test_redis *r, int i, char *out, size_t len)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    if (c == NULL)
        return -1;
    redisReply *reply = redisCommand(c, "CLUSTER MYID");
    int rc = reply != NULL && reply->type == REDIS_REPLY_STRING ? 0 : -1;
    if (rc == 0)
        snprintf(out, len, "%s", reply->str);
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return rc;
}

bool rs_test_redis_node_is_primary(const rs_test_redis *r, int i)
{
    redisContext *c = rs_test_redis_connect_node(r, i);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "ROLE");
    bool primary = reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
                   reply->element[0]->type == REDIS_REPLY_STRING &&
                   strcmp(reply->element[0]->str, "master") == 0;
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return primary;
}

int rs_test_redis_slot_node(const rs_test_redis *r, int slot)
{
    for (int i = 0; i < rs_test_redis_node_count(r); i++) {
        redisContext *c = rs_test_redis_connect_node(r, i);
        if (c == NULL)
            continue;
        redisReply *reply = redisCommand(c, "CLUSTER SLOTS");
        int owner = -1;
        bool answered = reply != NULL && reply->type == REDIS_REPLY_ARRAY;
        for (size_t k = 0; answered && k < reply->elements; k++) {
            const redisReply *range = reply->element[k];
            if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
                range->element[2]->type != REDIS_REPLY_ARRAY || range->element[2]->elements < 2)
                continue;
            long long lo = range->element[0]->integer, hi = range->element[1]->integer;
            long long port = range->element[2]->element[1]->integer;
            for (int j = 0; slot >= lo && slot <= hi && j < rs_test_redis_node_count(r); j++)
                if (node_port(r, j) == port)
                    owner = j;
        }
        if (reply != NULL)
            freeReplyObject(reply);
        redisFree(c);
        if (answered)
            return owner;
    }
    return -1;
}

static bool node_index_ok(const rs_test_redis *r, int i)
{
    if (!r->cluster || i < 0 || i >= r->n_nodes || r->nodes[i].proc.pid <= 0) {
        fprintf(stderr, "rs_test_redis: no cluster node %d\n", i);
        return false;
    }
    return true;
}

int rs_test_redis_kill9_node(rs_test_redis *r, int i)
{
    if (!node_index_ok(r, i))
        return -1;
    return rs_proc_kill9(&r->nodes[i].proc);
}

int rs_test_redis_stop_node(rs_test_redis *r, int i)
{
    if (!node_index_ok(r, i))
        return -1;
    return rs_proc_stop(&r->nodes[i].proc, SIGTERM, REDIS_STOP_MS, NULL) == 0 ? 0 : -1;
}

int rs_test_redis_restart_node(rs_test_redis *r, int i)
{
    if (!r->cluster || i < 0 || i >= r->n_nodes)
        return -1;
    rs_test_redis_node *n = &r->nodes[i];
    return restart_one(r->bin, &n->proc, n->port, n->dir, true);
}

/* CLUSTER REPLICATE on every replica: the id it needs must have reached it
 * by gossip first, so each is retried (bounded) until it says OK. */
static int replicate_all(rs_test_redis *r)
{
    int primaries = RS_TEST_REDIS_CLUSTER_NODES;
    long long deadline = rs_mono_ms() + CLUSTER_READY_MS;
    for (int i = primaries; i < r->n_nodes; i++) {
        char id[64];
        if (rs_test_redis_node_id(r, i % primaries, id, sizeof(id)) != 0)
            return -1;
        bool ok = false;
        char last[256] = "";
        while (!ok && rs_mono_ms() < deadline) {
            redisContext *c = connect_port(r->nodes[i].port);
            redisReply *reply = c != NULL ? redisCommand(c, "CLUSTER REPLICATE %s", id) : NULL;
            ok = reply != NULL && reply->type == REDIS_REPLY_STATUS;
            if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
                snprintf(last, sizeof(last), "%s", reply->str);
            if (reply != NULL)
                freeReplyObject(reply);
            if (c != NULL)
                redisFree(c);
            if (!ok)
                rs_sleep_ms(50);
        }
        if (!ok) {
            fprintf(stderr, "rs_test_redis: node%d CLUSTER REPLICATE %s: %s\n", i, id,
                    last[0] != '\0' ? last : "no answer");
            return -1;
        }
    }
    return 0;
}

/* INFO replication of one node holds every line in want[]. */
static bool info_has(int port, const char *const *want, int n)
{
    redisContext *c = connect_port(port);
    if (c == NULL)
        return false;
    redisReply *reply = redisCommand(c, "INFO replication");
    bool ok = reply != NULL && reply->type == REDIS_REPLY_STRING;
    for (int k = 0; ok && k < n; k++)
        ok = strstr(reply->str, want[k]) != NULL;
    if (reply != NULL)
        freeReplyObject(reply);
    redisFree(c);
    return ok;
}

/* Every primary (whichever nodes they are now) has r->replicas replicas
 * online, and every replica's link is up. */
static bool replicas_synced(const rs_test_redis *r)
{
    int primaries = 0;
    for (int i = 0; i < r->n_nodes; i++) {
        char slaves[48];
        snprintf(slaves, sizeof(slaves), "connected_slaves:%d\r\n", r->replicas);
        const char *as_primary[] = {"role:master\r\n", slaves};
        const char *as_replica[] = {"role:slave\r\n", "master_link_status:up\r\n",
                                    "master_sync_in_progress:0\r\n"};
        if (info_has(r->nodes[i].port, as_primary, 2)) {
            primaries++;
            /* each replica line says state=online */
            redisContext *c = connect_port(r->nodes[i].port);
            redisReply *reply = c != NULL ? redisCommand(c, "INFO replication") : NULL;
            int online = 0;
            for (const char *p = reply != NULL && reply->type == REDIS_REPLY_STRING ? reply->str
                                                                                    : NULL;
                 p != NULL && (p = strstr(p, "state=online")) != NULL; p++)
                online++;
            if (reply != NULL)
                freeReplyObject(reply);
            if (c != NULL)
                redisFree(c);
            if (online != r->replicas)
                return false;
        } else if (!info_has(r->nodes[i].port, as_replica, 3)) {
            return false;
        }
    }
    return primaries == RS_TEST_REDIS_CLUSTER_NODES;
}

bool rs_test_redis_cluster_settled(void *arg)
{
    rs_test_redis *r = arg;
    for (int i = 0; i < r->n_nodes; i++)
        if (!rs_proc_alive(&r->nodes[i].proc))
            return false;
    return cluster_ok(r) && (r->replicas == 0 || replicas_synced(r));
}

static bool replicas_synced_cond(void *arg)
{
    return replicas_synced(arg);
}

static int wait_replicas_synced(rs_test_redis *r, const char *what)
{
    long long t0 = rs_mono_ms();
    if (rs_poll_until(replicas_synced_cond, r, CLUSTER_READY_MS))
        return 0;
    fprintf(stderr, "rs_test_redis: %s: replicas not in sync after %lld ms\n", what,
            rs_mono_ms() - t0);
    for (int i = 0; i < r->n_nodes; i++) {
        redisContext *c = connect_port(r->nodes[i].port);
        redisReply *reply = c != NULL ? redisCommand(c, "INFO replication") : NULL;
        fprintf(stderr, "node%d 127.0.0.1:%d:\n%s\n", i, r->nodes[i].port,
                reply != NULL && reply->str != NULL ? reply->str : "(no answer)");
        if (reply != NULL)
            freeReplyObject(reply);
        if (c != NULL)
            redisFree(c);
    }
    return -1;
}

int rs_test_redis_start_cluster_replicas(rs_test_redis *r, int replicas)
{
    if (replicas < 1 || replicas > RS_TEST_REDIS_CLUSTER_MAX_REPLICAS) {
        fprintf(stderr, "rs_test_redis_start_cluster_replicas: %d replicas (1..%d)\n", replicas,
                RS_TEST_REDIS_CLUSTER_MAX_REPLICAS);
        memset(r, 0, sizeof(*r));
        return -1;
    }
    return start_cluster(r, replicas);
}
