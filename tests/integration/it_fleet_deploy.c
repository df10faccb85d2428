/*
 * it_fleet_deploy.c: the fleet's deploy files against the real programs and tools.
 *
 * - deploy/fleet.sh up 2 on a private redis-server: every node runs with
 *   its --node-id, pinned to its CPU when there are enough, answers a Ping
 *   and uses the ring it wrote; a user's state written through one node is
 *   read back through the other; status; a second up refuses; down stops
 *   every node and the private Redis by PID and removes the folder;
 * - fleet.sh up on a private Redis Cluster (unpinned), and on a Redis it is
 *   given (the ring lands there; down leaves that Redis running);
 * - fleet.sh refusals: no N, a bad option, a busy --base-port, a readstated
 *   without --node-id, nothing left running;
 * - systemd-analyze verifies deploy/systemd/readstated@.service for an
 *   instance (the template loaded, ExecStart pointed at the built binary);
 * - the Kubernetes manifests parse as YAML (python3-yaml) and hold what the
 *   fleet needs (a headless Service the StatefulSet names, the node id and
 *   the advertised address from the pod's name), and the ring Job's script
 *   builds the node list for its replica count (run with a stand-in
 *   readstatectl that records its arguments).
 */
#include <hiredis/hiredis.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rs_common.h"
#include "rs_ring.h"
#include "rs_testsupport.h"

#define DEPLOY   RS_SOURCE_DIR "/deploy"
#define FLEET_SH DEPLOY "/fleet.sh"
#define RUN_MS   120000

typedef struct fleet_ctx {
    char tmp[PATH_MAX];      /* this test's folder */
    char dir[PATH_MAX + 16]; /* the fleet's --dir */
    char state_env[PATH_MAX + 64];
    char bin_env[PATH_MAX + 32];
    char ctl_env[PATH_MAX + 32];
    const char *env[5];
} fleet_ctx;

typedef struct run_out {
    int code;
    char *out;
    char *err;
} run_out;

static void run_out_free(run_out *o)
{
    free(o->out);
    free(o->err);
}

/* fleet.sh args... (NULL-terminated) with the test's environment. */
static run_out fleet(const fleet_ctx *f, ...)
{
    const char *argv[32];
    size_t n = 0;
    argv[n++] = "bash";
    argv[n++] = FLEET_SH;
    va_list ap;
    va_start(ap, f);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    run_out o = {0};
    o.code = rs_run(argv, f->env, RUN_MS, &o.out, &o.err);
    assert_non_null(o.out);
    assert_non_null(o.err);
    return o;
}

static void expect_code(const run_out *o, int code, const char *what)
{
    if (o->code != code)
        fail_msg("%s exited %d, expected %d\nstdout:\n%s\nstderr:\n%s", what, o->code, code,
                 o->out, o->err);
}

static int fleet_setup(void **state)
{
    fleet_ctx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(rs_tmpdir_create("fleet", f->tmp, sizeof(f->tmp)), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/fleet", f->tmp);
    snprintf(f->state_env, sizeof(f->state_env), "READSTATES_FLEET_STATE=%s/state", f->tmp);
    snprintf(f->bin_env, sizeof(f->bin_env), "READSTATED_BIN=%s", rs_test_readstated_bin());
    snprintf(f->ctl_env, sizeof(f->ctl_env), "READSTATECTL_BIN=%s", rs_test_readstatectl_bin());
    f->env[0] = f->state_env;
    f->env[1] = f->bin_env;
    f->env[2] = f->ctl_env;
    f->env[3] = NULL;
    *state = f;
    return 0;
}

/* Whatever a failed test left running goes down with its folder. */
static int fleet_teardown(void **state)
{
    fleet_ctx *f = *state;
    char marker[PATH_MAX + 64];
    snprintf(marker, sizeof(marker), "%s/.readstates-fleet", f->dir);
    if (access(marker, F_OK) == 0) {
        run_out o = fleet(f, "down", "--dir", f->dir, NULL);
        run_out_free(&o);
    }
    rs_tmpdir_remove(f->tmp);
    free(f);
    return 0;
}

/* A whole file of the fleet's folder (malloc'd), or fail. */
static char *fleet_file(const fleet_ctx *f, const char *name)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    char *s = rs_read_file(path, NULL);
    if (s == NULL)
        fail_msg("no %s", path);
    return s;
}

typedef struct fleet_node {
    char id[16];
    int port, http_port;
    pid_t pid;
    char cpu[16];
} fleet_node;

/* DIR/nodes: "<id> 127.0.0.1:<tcp> 127.0.0.1:<http> <pid> <cpu|->" lines. */
static int read_nodes(const fleet_ctx *f, fleet_node *nodes, int cap)
{
    char *s = fleet_file(f, "nodes");
    int n = 0;
    for (char *line = strtok(s, "\n"); line != NULL && n < cap; line = strtok(NULL, "\n")) {
        fleet_node *nd = &nodes[n];
        int pid;
        if (sscanf(line, "%15s 127.0.0.1:%d 127.0.0.1:%d %d %15s", nd->id, &nd->port,
                   &nd->http_port, &pid, nd->cpu) != 5)
            fail_msg("bad nodes line: %s", line);
        nd->pid = (pid_t)pid;
        n++;
    }
    free(s);
    return n;
}

/* True while pid runs and is not a zombie. */
static bool pid_running(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    char *s = rs_read_file(path, NULL);
    if (s == NULL)
        return false;
    const char *p = strrchr(s, ')');
    bool run = p != NULL && p[1] == ' ' && p[2] != 'Z';
    free(s);
    return run;
}

/* A line of /proc/<pid>/<file> that starts with key (malloc'd), or NULL. */
static char *proc_line(pid_t pid, const char *file, const char *key)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    char *s = rs_read_file(path, NULL);
    if (s == NULL)
        return NULL;
    char *at = strstr(s, key), *res = NULL;
    if (at != NULL) {
        size_t len = strcspn(at, "\n");
        res = strndup(at, len);
    }
    free(s);
    return res;
}

/* /proc/<pid>/cmdline with its NULs as spaces (malloc'd). */
static char *cmdline(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    size_t len = 0;
    char *s = rs_read_file(path, &len);
    assert_non_null(s);
    for (size_t i = 0; i < len; i++)
        if (s[i] == '\0')
            s[i] = ' ';
    return s;
}

typedef struct pids_arg {
    const pid_t *pids;
    int n;
} pids_arg;

static bool all_gone(void *arg)
{
    const pids_arg *p = arg;
    for (int i = 0; i < p->n; i++)
        if (pid_running(p->pids[i]))
            return false;
    return true;
}

static long nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* readstatectl --server 127.0.0.1:<port> args... ; returns its stdout. */
static char *ctl_at(int port, ...)
{
    const char *argv[16];
    char server[32];
    size_t n = 0;
    snprintf(server, sizeof(server), "127.0.0.1:%d", port);
    argv[n++] = rs_test_readstatectl_bin();
    argv[n++] = "--server";
    argv[n++] = server;
    va_list ap;
    va_start(ap, port);
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL && n < RS_ARRAY_LEN(argv) - 1)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 20000, &out, &err);
    if (code != 0)
        fail_msg("readstatectl %s: exit %d\n%s%s", argv[3], code, out ? out : "",
                 err ? err : "");
    free(err);
    return out;
}

/* The fleet's nodes: running with their ids, each a ring node; a write
 * through one node read back through the other (users on both sides of
 * the split, so some calls are forwarded). */
static void check_running_fleet(const fleet_ctx *f, const run_out *up, int n, bool pinned)
{
    fleet_node nodes[8];
    assert_int_equal(read_nodes(f, nodes, 8), n);
    char servers[512] = "";
    for (int i = 0; i < n; i++) {
        char id[16], flag[64];
        snprintf(id, sizeof(id), "n%d", i);
        assert_string_equal(nodes[i].id, id);
        assert_true(pid_running(nodes[i].pid));
        char *cmd = cmdline(nodes[i].pid);
        snprintf(flag, sizeof(flag), "--node-id n%d ", i);
        if (strstr(cmd, flag) == NULL)
            fail_msg("node %d runs '%s'", i, cmd);
        free(cmd);
        char *cpus = proc_line(nodes[i].pid, "status", "Cpus_allowed_list:");
        assert_non_null(cpus);
        if (pinned) {
            char want[64];
            snprintf(want, sizeof(want), "Cpus_allowed_list:\t%d", i);
            assert_string_equal(cpus, want);
            assert_int_equal(atoi(nodes[i].cpu), i);
        } else {
            assert_string_equal(nodes[i].cpu, "-");
        }
        free(cpus);
        snprintf(servers + strlen(servers), sizeof(servers) - strlen(servers), "%s127.0.0.1:%d",
                 i ? "," : "", nodes[i].port);
    }
    /* The last line of stdout, and DIR/servers. */
    char last[sizeof(servers) + 2];
    snprintf(last, sizeof(last), "%s\n", servers);
    size_t ol = strlen(up->out), ll = strlen(last);
    assert_true(ol >= ll && strcmp(up->out + ol - ll, last) == 0);
    char *sv = fleet_file(f, "servers");
    assert_string_equal(sv, last);
    free(sv);
    assert_non_null(strstr(up->err, pinned ? "pinned to its CPU" : "unpinned"));

    /* Users 1..20 cover both halves of a two-node ring. */
    for (int u = 1; u <= 20; u++) {
        char user[16], msg[16];
        snprintf(user, sizeof(user), "%d", u);
        snprintf(msg, sizeof(msg), "%d", 100 + u);
        free(ctl_at(nodes[u % n].port, "ack", user, "7", msg, NULL));
        char *got = ctl_at(nodes[(u + 1) % n].port, "--json", "get", user, NULL);
        char want[64];
        snprintf(want, sizeof(want), "\"lastMessageId\":\"%d\"", 100 + u);
        if (strstr(got, want) == NULL)
            fail_msg("user %d through node %d: %s", u, (u + 1) % n, got);
        free(got);
    }

    run_out st = fleet(f, "status", NULL);
    expect_code(&st, 0, "fleet.sh status");
    for (int i = 0; i < n; i++) {
        char want[64];
        snprintf(want, sizeof(want), "n%d: running, PID %d", i, (int)nodes[i].pid);
        assert_non_null(strstr(st.out, want));
    }
    assert_non_null(strstr(st.out, "generation  1"));
    const char *p = st.out;
    int ring1 = 0;
    while ((p = strstr(p, ", ring 1)")) != NULL) {
        ring1++;
        p++;
    }
    assert_int_equal(ring1, n);
    run_out_free(&st);
}

/* down: every node and the private Redis stopped, the folder gone. */
static void check_down(const fleet_ctx *f, pid_t redis_pid)
{
    fleet_node nodes[8];
    int n = read_nodes(f, nodes, 8);
    pid_t pids[9];
    for (int i = 0; i < n; i++)
        pids[i] = nodes[i].pid;
    if (redis_pid > 0)
        pids[n++] = redis_pid;
    run_out o = fleet(f, "down", NULL); /* the state file names the folder */
    expect_code(&o, 0, "fleet.sh down");
    run_out_free(&o);
    pids_arg pa = {pids, n};
    assert_true(rs_poll_until(all_gone, &pa, 10000));
    assert_int_equal(access(f->dir, F_OK), -1);
    char state[PATH_MAX + 16];
    snprintf(state, sizeof(state), "%s/state", f->tmp);
    assert_int_equal(access(state, F_OK), -1);
}

static void test_fleet_up_down(void **state)
{
    fleet_ctx *f = *state;
    bool pin = nproc() >= 2;
    run_out o = fleet(f, "up", "2", "--dir", f->dir, NULL);
    expect_code(&o, 0, "fleet.sh up 2");
    check_running_fleet(f, &o, 2, pin);
    run_out_free(&o);

    /* The private Redis runs from the folder, and holds the ring. */
    char *pidtext = fleet_file(f, "redis/redis.pid");
    pid_t redis_pid = (pid_t)atoi(pidtext);
    free(pidtext);
    assert_true(pid_running(redis_pid));
    char *args = fleet_file(f, "redis.args");
    assert_true(strncmp(args, "--redis 127.0.0.1:", 18) == 0);
    free(args);

    /* One fleet per state file. */
    char other[PATH_MAX + 32];
    snprintf(other, sizeof(other), "%s/other", f->tmp);
    o = fleet(f, "up", "1", "--dir", other, NULL);
    expect_code(&o, 1, "a second fleet.sh up");
    assert_non_null(strstr(o.err, "already up"));
    run_out_free(&o);

    check_down(f, redis_pid);
}

static void test_fleet_redis_cluster(void **state)
{
    fleet_ctx *f = *state;
    /* More nodes than CPUs leaves them unpinned; on a big machine --no-pin
     * does. */
    long cpus = nproc();
    int n = cpus < 4 ? (int)cpus + 1 : 2;
    char nodes[16];
    snprintf(nodes, sizeof(nodes), "%d", n);
    run_out o = cpus < 4 ? fleet(f, "up", nodes, "--redis-cluster", "--replicas", "0", "--dir",
                                 f->dir, NULL)
                         : fleet(f, "up", nodes, "--redis-cluster", "--replicas", "0", "--dir",
                                 f->dir, "--no-pin", NULL);
    expect_code(&o, 0, "fleet.sh up --redis-cluster");
    check_running_fleet(f, &o, n, false);
    run_out_free(&o);
    char *args = fleet_file(f, "redis.args");
    assert_true(strncmp(args, "--redis-cluster 127.0.0.1:", 26) == 0);
    free(args);
    check_down(f, 0);
}

/* A Redis it is given: the ring lands there, and down leaves it running;
 * extra readstated flags after --. */
static void test_fleet_given_redis(void **state)
{
    fleet_ctx *f = *state;
    rs_test_redis r;
    assert_int_equal(rs_test_redis_start(&r), 0);
    char addr[512];
    rs_test_redis_addr(&r, addr, sizeof(addr));
    const char *flag = rs_test_redis_is_cluster(&r) ? "--redis-cluster" : "--redis";
    run_out o = fleet(f, "up", "1", flag, addr, "--dir", f->dir, "--no-pin", "--",
                      "--durability", "write-through", NULL);
    expect_code(&o, 0, "fleet.sh up 1 --redis");
    fleet_node nd;
    assert_int_equal(read_nodes(f, &nd, 1), 1);
    char *cmd = cmdline(nd.pid);
    assert_non_null(strstr(cmd, "--durability write-through"));
    free(cmd);
    redisReply *rep = rs_test_redis_command(&r, "HGET %s nodes", RS_RING_KEY);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    char want[64];
    snprintf(want, sizeof(want), "n0=127.0.0.1:%d", nd.port);
    assert_string_equal(rep->str, want);
    freeReplyObject(rep);
    run_out_free(&o);

    /* write-through: the ack is in Redis once answered */
    free(ctl_at(nd.port, "ack", "4242", "9", "77", NULL));
    rep = rs_test_redis_command(&r, "EXISTS readstates:{4242}");
    assert_non_null(rep);
    assert_int_equal(rep->integer, 1);
    freeReplyObject(rep);

    check_down(f, 0);
    assert_true(rs_test_redis_ping(&r));
    rs_test_redis_cleanup(&r);
}

/* A listening socket on a free loopback port (the caller closes it). */
static int busy_port(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    socklen_t len = sizeof(sa);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

static void test_fleet_refusals(void **state)
{
    fleet_ctx *f = *state;
    run_out o = fleet(f, "up", NULL);
    expect_code(&o, 1, "fleet.sh up");
    assert_non_null(strstr(o.err, "number of nodes"));
    run_out_free(&o);
    o = fleet(f, "up", "0", NULL);
    expect_code(&o, 1, "fleet.sh up 0");
    run_out_free(&o);
    o = fleet(f, "up", "2", "--frobnicate", NULL);
    expect_code(&o, 2, "fleet.sh up --frobnicate");
    run_out_free(&o);
    o = fleet(f, "up", "2", "--redis", "127.0.0.1:1", "--redis-cluster", NULL);
    expect_code(&o, 1, "fleet.sh up --redis --redis-cluster");
    run_out_free(&o);
    o = fleet(f, "down", "--dir", f->dir, NULL);
    expect_code(&o, 1, "fleet.sh down of nothing");
    run_out_free(&o);

    /* A --base-port range that holds a busy port: refused before anything
     * starts. */
    int port;
    int fd = busy_port(&port);
    char base[16];
    snprintf(base, sizeof(base), "%d", port - 1);
    o = fleet(f, "up", "1", "--base-port", base, "--dir", f->dir, NULL);
    close(fd);
    expect_code(&o, 1, "fleet.sh up --base-port <busy>");
    assert_non_null(strstr(o.err, "is in use"));
    run_out_free(&o);
    assert_int_equal(access(f->dir, F_OK), -1);

    /* A readstated that cannot run in a fleet. */
    char fake[PATH_MAX + 32], env_bin[PATH_MAX + 64];
    snprintf(fake, sizeof(fake), "%s/old-readstated", f->tmp);
    assert_int_equal(rs_write_file(fake, "#!/bin/sh\necho 'usage: readstated --listen'\n"), 0);
    assert_int_equal(chmod(fake, 0755), 0);
    snprintf(env_bin, sizeof(env_bin), "READSTATED_BIN=%s", fake);
    const char *env[] = {f->state_env, env_bin, f->ctl_env, NULL};
    const char *argv[] = {"bash", FLEET_SH, "up", "1", "--dir", f->dir, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(rs_run(argv, env, RUN_MS, &out, &err), 1);
    assert_non_null(strstr(err, "has no --node-id"));
    free(out);
    free(err);
    assert_int_equal(access(f->dir, F_OK), -1);
}

static void test_systemd_template(void **state)
{
    fleet_ctx *f = *state;
    char *unit = rs_read_file(DEPLOY "/systemd/readstated@.service", NULL);
    assert_non_null(unit);
    assert_non_null(strstr(unit, "Type=notify"));
    assert_non_null(strstr(unit, "Environment=READSTATED_NODE_ID=%i"));
    assert_non_null(strstr(unit, "--config /etc/readstates/%i.env"));
    assert_non_null(strstr(unit, "EnvironmentFile=/etc/readstates/fleet.env"));
    /* verify needs ExecStart to exist: point it at the built binary */
    const char *exec = "ExecStart=/usr/local/bin/readstated";
    char *at = strstr(unit, exec);
    assert_non_null(at);
    size_t n = strlen(unit) + PATH_MAX;
    char *copy = malloc(n);
    snprintf(copy, n, "%.*sExecStart=%s%s", (int)(at - unit), unit, rs_test_readstated_bin(),
             at + strlen(exec));
    char path[PATH_MAX + 64], instance[PATH_MAX + 64];
    snprintf(path, sizeof(path), "%s/readstated@.service", f->tmp);
    snprintf(instance, sizeof(instance), "%s/readstated@n0.service", f->tmp);
    assert_int_equal(rs_write_file(path, copy), 0);
    const char *argv[] = {"systemd-analyze", "verify", instance, NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(argv, NULL, 60000, &out, &err);
    if (code != 0 || (err != NULL && strstr(err, "readstated@") != NULL))
        fail_msg("systemd-analyze verify: %d\n%s%s", code, out ? out : "", err ? err : "");
    free(out);
    free(err);
    free(copy);
    free(unit);

    /* The shared settings file names no per-node address. */
    char *env = rs_read_file(DEPLOY "/systemd/fleet.env", NULL);
    assert_non_null(env);
    assert_null(strstr(env, "\nREADSTATED_LISTEN="));
    assert_null(strstr(env, "\nREADSTATED_ADVERTISE="));
    assert_null(strstr(env, "\nREADSTATED_NODE_ID="));
    free(env);
}

/* The manifests' checks, in Python over the parsed YAML: prints "ok" or
 * what is wrong. argv[1]: the manifests' folder. */
static const char k8s_check[] =
    "import os, sys, yaml\n"
    "d = sys.argv[1]\n"
    "docs = {}\n"
    "for name in sorted(os.listdir(d)):\n"
    "    if name.endswith('.yaml'):\n"
    "        for doc in yaml.safe_load_all(open(os.path.join(d, name))):\n"
    "            if doc:\n"
    "                docs.setdefault(doc['kind'], []).append(doc)\n"
    "k = docs['Kustomization'][0]\n"
    "listed = set(k['resources'])\n"
    "files = {n for n in os.listdir(d) if n.endswith('.yaml') and n != 'kustomization.yaml'}\n"
    "assert listed == files, ('kustomization resources', listed, files)\n"
    "sts = docs['StatefulSet'][0]\n"
    "svc = {s['metadata']['name']: s for s in docs['Service']}\n"
    "head = svc[sts['spec']['serviceName']]\n"
    "assert head['spec']['clusterIP'] == 'None', 'the serviceName Service is not headless'\n"
    "sel = sts['spec']['selector']['matchLabels']\n"
    "assert head['spec']['selector'] == sel\n"
    "assert sts['spec']['template']['metadata']['labels'] == sel\n"
    "c = sts['spec']['template']['spec']['containers'][0]\n"
    "env = {e['name']: e for e in c['env']}\n"
    "names = [e['name'] for e in c['env']]\n"
    "assert env['POD_NAME']['valueFrom']['fieldRef']['fieldPath'] == 'metadata.name'\n"
    "assert env['READSTATED_NODE_ID']['value'] == '$(POD_NAME)'\n"
    "assert names.index('POD_NAME') < names.index('READSTATED_NODE_ID')\n"
    "adv = env['READSTATED_ADVERTISE']['value']\n"
    "want = '$(POD_NAME).' + head['metadata']['name'] + '.$(POD_NAMESPACE).svc:7480'\n"
    "assert adv == want, adv\n"
    "ports = {p['name']: p['containerPort'] for p in c['ports']}\n"
    "assert ports == {'rpc': 7480, 'http': 7481}, ports\n"
    "assert c['resources']['requests']['cpu'] == c['resources']['limits']['cpu'] == '1'\n"
    "assert c['readinessProbe']['httpGet']['path'] == '/readyz'\n"
    "assert sts['spec']['template']['spec']['terminationGracePeriodSeconds'] >= 30\n"
    "cm = docs['ConfigMap'][0]\n"
    "assert c['envFrom'][0]['configMapRef']['name'] == cm['metadata']['name']\n"
    "job = docs['Job'][0]['spec']['template']['spec']\n"
    "jc = job['containers'][0]\n"
    "jenv = {e['name']: e.get('value') for e in jc['env']}\n"
    "assert jenv['REPLICAS'] == str(sts['spec']['replicas']), 'REPLICAS != replicas'\n"
    "assert jc['command'][:2] == ['/bin/sh', '-c']\n"
    "open(sys.argv[2], 'w').write(jc['command'][2])\n"
    "print('ok')\n";

static void test_kubernetes_manifests(void **state)
{
    fleet_ctx *f = *state;
    char script[PATH_MAX + 32], job[PATH_MAX + 32];
    snprintf(script, sizeof(script), "%s/check.py", f->tmp);
    snprintf(job, sizeof(job), "%s/ring-job.sh", f->tmp);
    assert_int_equal(rs_write_file(script, k8s_check), 0);
    const char *py[] = {"python3", script, DEPLOY "/kubernetes", job, NULL};
    char *out = NULL, *err = NULL;
    int code = rs_run(py, NULL, 60000, &out, &err);
    if (code != 0 || strcmp(out, "ok\n") != 0)
        fail_msg("the manifests (python3 with python3-yaml: apt-get install python3-yaml): "
                 "exit %d\n%s%s",
                 code, out ? out : "", err ? err : "");
    free(out);
    free(err);

    /* The ring Job's script with a stand-in readstatectl: the node list it
     * builds for 4 replicas, and a show where every node uses the ring. */
    char bindir[PATH_MAX + 16], fake[PATH_MAX + 64], args[PATH_MAX + 32];
    snprintf(bindir, sizeof(bindir), "%s/bin", f->tmp);
    assert_int_equal(mkdir(bindir, 0700), 0);
    snprintf(fake, sizeof(fake), "%s/readstatectl", bindir);
    snprintf(args, sizeof(args), "%s/args", f->tmp);
    char body[2 * PATH_MAX];
    snprintf(body, sizeof(body),
             "#!/bin/sh\n"
             "echo \"$*\" >>'%s'\n"
             "[ \"$2\" = show ] || exit 0\n"
             "for i in 0 1 2 3; do\n"
             "  echo \"readstated-$i  x  4096  y  up (0.1.0, rtt 0.1 ms, ring 7)\"\n"
             "done\n",
             args);
    assert_int_equal(rs_write_file(fake, body), 0);
    assert_int_equal(chmod(fake, 0755), 0);
    char path_env[2 * PATH_MAX];
    snprintf(path_env, sizeof(path_env), "PATH=%s:%s", bindir, getenv("PATH"));
    char tmp_env[PATH_MAX + 16];
    snprintf(tmp_env, sizeof(tmp_env), "TMPDIR=%s", f->tmp);
    const char *env[] = {path_env,
                         "REPLICAS=4",
                         "POD_NAMESPACE=prod",
                         "READSTATED_REDIS=redis:6379",
                         "READSTATED_REDIS_CLUSTER=",
                         NULL};
    /* The script writes /tmp/show (an emptyDir in the pod): run it with
     * /tmp/show pointed at the test's folder. */
    char *text = rs_read_file(job, NULL);
    assert_non_null(text);
    char show[PATH_MAX + 16], *patched = malloc(strlen(text) * 2 + PATH_MAX * 8);
    snprintf(show, sizeof(show), "%s/show", f->tmp);
    size_t used = 0;
    for (const char *p = text; *p != '\0';) {
        if (strncmp(p, "/tmp/show", 9) == 0) {
            used += (size_t)sprintf(patched + used, "%s", show);
            p += 9;
        } else {
            patched[used++] = *p++;
        }
    }
    patched[used] = '\0';
    const char *sh[] = {"sh", "-c", patched, NULL};
    code = rs_run(sh, env, 60000, &out, &err);
    if (code != 0)
        fail_msg("the ring Job's script: exit %d\n%s%s", code, out, err);
    free(out);
    free(err);
    char *got = rs_read_file(args, NULL);
    assert_non_null(got);
    const char *nodes = "readstated-0=readstated-0.readstated.prod.svc:7480,"
                        "readstated-1=readstated-1.readstated.prod.svc:7480,"
                        "readstated-2=readstated-2.readstated.prod.svc:7480,"
                        "readstated-3=readstated-3.readstated.prod.svc:7480";
    char want[1024];
    snprintf(want, sizeof(want),
             "cluster init --redis redis:6379 --nodes %s\ncluster show --redis redis:6379\n",
             nodes);
    assert_string_equal(got, want);
    free(got);

    /* A Redis Cluster with a password file and an ACL user. */
    assert_int_equal(unlink(args), 0);
    const char *env2[] = {path_env,
                          "REPLICAS=4",
                          "POD_NAMESPACE=prod",
                          "READSTATED_REDIS_CLUSTER=r0:6379,r1:6379",
                          "READSTATED_REDIS_PASSWORD_FILE=/run/secrets/redis",
                          "READSTATED_REDIS_USER=fleet",
                          NULL};
    code = rs_run(sh, env2, 60000, &out, &err);
    if (code != 0)
        fail_msg("the ring Job's script (cluster): exit %d\n%s%s", code, out, err);
    free(out);
    free(err);
    got = rs_read_file(args, NULL);
    assert_non_null(got);
    const char *redis = "--redis-cluster r0:6379,r1:6379 --redis-password-file "
                        "/run/secrets/redis --redis-user fleet";
    snprintf(want, sizeof(want), "cluster init %s --nodes %s\ncluster show %s\n", redis, nodes,
             redis);
    assert_string_equal(got, want);
    free(got);
    free(patched);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fleet_up_down, fleet_setup, fleet_teardown),
        cmocka_unit_test_setup_teardown(test_fleet_redis_cluster, fleet_setup, fleet_teardown),
        cmocka_unit_test_setup_teardown(test_fleet_given_redis, fleet_setup, fleet_teardown),
        cmocka_unit_test_setup_teardown(test_fleet_refusals, fleet_setup, fleet_teardown),
        cmocka_unit_test_setup_teardown(test_systemd_template, fleet_setup, fleet_teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_manifests, fleet_setup, fleet_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
