/*
 * rs_testsupport.h: helpers for integration tests that run the real
 * programs: child processes by PID, a real redis-server on an ephemeral
 * loopback port, the real readstated on port 0, bounded polling and
 * temporary directories.
 *
 *   test program
 *     ├── rs_test_redis  ── rs_proc ── redis-server --port P --dir <tmp>
 *     │      (cluster mode: one rs_proc per node, --cluster-enabled yes)
 *     └── rs_test_server ── rs_proc ── readstated --listen 127.0.0.1:0
 *                                          --port-file <tmp>/port --http off
 *
 * Every child gets its own temporary directory holding its captured stdout
 * and stderr (stdout.log, stderr.log) and, for Redis, its data. A child dies
 * with the test (PR_SET_PDEATHSIG), so a crashed test leaves no process
 * behind; since that signal follows the thread that forked, start children
 * from the main thread (or one that outlives them). Every wait here is bounded in time; nothing
 * sleeps a fixed delay where a condition can be polled.
 *
 * Only loopback addresses (127.0.0.1) are ever used. Set RS_TEST_KEEP_TMP=1
 * to keep the temporary directories (logs, Redis data) after a run.
 *
 * Status conventions: functions returning int return 0 on success and -1 on
 * failure (with a line on stderr saying why); nothing here aborts.
 */
#ifndef RS_TESTSUPPORT_H
#define RS_TESTSUPPORT_H

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

/* ---- temporary directories ------------------------------------------- */

/* Create a fresh directory under $TMPDIR (or /tmp) named rs-<tag>-XXXXXX
 * and write its path into out. Returns 0 or -1. */
int rs_tmpdir_create(const char *tag, char *out, size_t outlen);

/* Remove a directory tree created by rs_tmpdir_create (unless
 * RS_TEST_KEEP_TMP is set). Does nothing for an empty path. Returns 0 or
 * -1. */
int rs_tmpdir_remove(const char *path);

/* Read a whole file into a NUL-terminated malloc'd buffer (the caller
 * frees it); *len (optional) receives its length. Returns NULL on error. */
char *rs_read_file(const char *path, size_t *len);

/* Write a string to a file, replacing it. Returns 0 or -1. */
int rs_write_file(const char *path, const char *text);

/* ---- polling ------------------------------------------------------------ */

typedef bool (*rs_cond_fn)(void *arg);

/* Call cond(arg) until it returns true or timeout_ms passes, sleeping
 * 1 ms growing to 50 ms between calls. Returns true if the condition held. */
bool rs_poll_until(rs_cond_fn cond, void *arg, int timeout_ms);

/* Sleep for ms milliseconds (for pacing loops, never as a wait for a
 * condition). */
void rs_sleep_ms(int ms);

/* Monotonic milliseconds. */
long long rs_mono_ms(void);

/* ---- child processes ---------------------------------------------------- */

typedef struct rs_proc {
    pid_t pid;                  /* 0 when not started */
    bool reaped;                /* waitpid has collected the exit status */
    int wait_status;            /* raw waitpid status once reaped */
    char dir[PATH_MAX];         /* temporary directory owning the logs */
    char stdout_path[PATH_MAX]; /* captured stdout */
    char stderr_path[PATH_MAX]; /* captured stderr */
} rs_proc;

/*
 * Start argv[0] (a path, or a name searched in PATH) with argv, the
 * current environment plus env_extra ("KEY=VALUE" strings, NULL-terminated,
 * NULL for none; an entry replaces a variable of the same name), stdin from
 * /dev/null, stdout and stderr captured to files in a fresh temporary
 * directory. Returns 0 once the program has been exec'd, -1 if it could not
 * be (a missing binary is reported here, not later).
 * Release with rs_proc_cleanup.
 */
int rs_proc_start(const char *const argv[], const char *const env_extra[], rs_proc *proc);

/* True while the process runs (reaps it if it has exited). */
bool rs_proc_alive(rs_proc *proc);

/*
 * Send `sig` (0 means SIGTERM) and wait up to timeout_ms for the process to
 * exit; past that, SIGKILL it and reap. *wait_status (optional) receives
 * the raw waitpid status (use WIFEXITED/WEXITSTATUS/WIFSIGNALED).
 * Returns 0 if it exited within the timeout, 1 if it had to be killed,
 * -1 if it was never started.
 */
int rs_proc_stop(rs_proc *proc, int sig, int timeout_ms, int *wait_status);

/* SIGKILL and reap. Returns 0, or -1 if it was never started. */
int rs_proc_kill9(rs_proc *proc);

/* Wait up to timeout_ms for the process to exit by itself. Returns 0 with
 * *wait_status set once it has exited, -1 if it still runs. */
int rs_proc_wait(rs_proc *proc, int timeout_ms, int *wait_status);

/* Exit code for a normal exit, 128 + signal for a death by signal, -1 if
 * not reaped yet. */
int rs_proc_exit_code(const rs_proc *proc);

/* Print the last max_bytes of the captured stderr (and stdout) to out, each
 * line prefixed with `label`. For diagnosing a failed test. */
void rs_proc_dump_log(const rs_proc *proc, const char *label, FILE *out, size_t max_bytes);

/* Kill the process if it still runs and remove its directory. The struct
 * may be reused afterwards. */
void rs_proc_cleanup(rs_proc *proc);

/*
 * Run a program to completion: start it like rs_proc_start, wait up to
 * timeout_ms (then kill it), and return its captured stdout and stderr as
 * malloc'd strings (the caller frees; out/err may be NULL to discard).
 * Returns the exit code as rs_proc_exit_code does, or -1 if it could not be
 * started or was killed at the timeout.
 */
int rs_run(const char *const argv[], const char *const env_extra[], int timeout_ms, char **out,
           char **err);

/* ---- sockets ------------------------------------------------------------ */

/* A port that was free on 127.0.0.1 a moment ago (bind port 0, read it,
 * close). Returns the port or -1. */
int rs_free_port(void);

/* Blocking TCP connection to 127.0.0.1:port, waiting up to timeout_ms.
 * Returns the fd (caller closes) or -1. */
int rs_tcp_connect(int port, int timeout_ms);

/* Write all n bytes (blocking, bounded by timeout_ms). Returns 0, or -1 on
 * an error or a closed peer. */
int rs_fd_write_all(int fd, const void *buf, size_t n, int timeout_ms);

/* True if the peer closes the connection (EOF or reset) within timeout_ms;
 * bytes that arrive meanwhile are read and discarded. */
bool rs_fd_wait_closed(int fd, int timeout_ms);

/* ---- redis-server ---------------------------------------------------- */

/*
 * Two modes, chosen when the Redis is started:
 *
 *   single   one redis-server (proc, port, dir below)
 *   cluster  RS_TEST_REDIS_CLUSTER_NODES primaries without replicas, each
 *            --cluster-enabled yes --cluster-node-timeout 1000 in its own
 *            data directory <dir>/node<i>, together owning all 16384 slots
 *            (nodes[] below)
 *
 * rs_test_redis_start picks cluster mode when the environment says
 * RS_TEST_REDIS_CLUSTER=1 (ctest sets it for the persist_*_cluster
 * registrations); every function below then acts on every node. Tests that
 * talk to Redis themselves use rs_test_redis_command (routed by key,
 * following MOVED and ASK) and rs_test_redis_command_all (keyless commands,
 * run on every primary), which work in both modes.
 */
#define RS_TEST_REDIS_CLUSTER_NODES 3

/* Nodes a cluster may hold: the primaries plus up to three replicas each
 * (rs_test_redis_start_cluster_replicas). */
#define RS_TEST_REDIS_CLUSTER_MAX_REPLICAS 3
#define RS_TEST_REDIS_CLUSTER_MAX_NODES                                                        \
    (RS_TEST_REDIS_CLUSTER_NODES * (1 + RS_TEST_REDIS_CLUSTER_MAX_REPLICAS))

typedef struct rs_test_redis_node {
    rs_proc proc;
    int port;           /* loopback port; its cluster bus is port + 10000 */
    char dir[PATH_MAX]; /* data directory (append-only file, nodes.conf) */
} rs_test_redis_node;

typedef struct rs_test_redis {
    rs_proc proc;       /* single mode; unused (pid 0) in cluster mode */
    int port;           /* single: its port; cluster: node 0's port */
    char dir[PATH_MAX]; /* single: data directory; cluster: holds node<i>/ */
    char bin[PATH_MAX]; /* redis-server binary */
    bool cluster;       /* cluster mode */
    int n_nodes;        /* cluster mode: nodes in use */
    rs_test_redis_node nodes[RS_TEST_REDIS_CLUSTER_MAX_NODES]; /* cluster mode */
    int replicas; /* cluster mode: replicas per primary (0: none) */
} rs_test_redis;

/*
 * Start a real redis-server: binary from $REDIS_SERVER, else the one found
 * at configure time, else `redis-server` from PATH; on a free ephemeral
 * port of 127.0.0.1 (retried on a bind race) with
 *   --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec
 *   --dir <fresh tmpdir> --daemonize no
 * and returns once it answers PING. With RS_TEST_REDIS_CLUSTER=1 in the
 * environment, rs_test_redis_start_cluster instead. Returns 0, or -1
 * (nothing left running).
 */
int rs_test_redis_start(rs_test_redis *r);

/*
 * Start a Redis Cluster of RS_TEST_REDIS_CLUSTER_NODES primaries, whatever
 * the environment says: each node as above plus --cluster-enabled yes
 * --cluster-config-file nodes.conf --cluster-node-timeout 1000, on a free
 * port whose bus port (+10000) is free too; slots split in equal ranges
 * (CLUSTER ADDSLOTS), CLUSTER MEET, and returns once every node reports
 * cluster_state:ok with all slots covered and every node known (about a
 * second). Returns 0, or -1 (nothing left running, the logs printed).
 */
int rs_test_redis_start_cluster(rs_test_redis *r);

/* True if the environment asks for cluster mode (RS_TEST_REDIS_CLUSTER set
 * and not "0"). */
bool rs_test_redis_cluster_requested(void);

/* True if r was started in cluster mode. */
bool rs_test_redis_is_cluster(const rs_test_redis *r);

/* SIGTERM (Redis fsyncs its AOF and exits) with a bounded wait; the port
 * and the data directory are kept for rs_test_redis_restart. Cluster: every
 * node. Returns 0, or -1 if one had to be killed. */
int rs_test_redis_stop(rs_test_redis *r);

/* SIGKILL: an abrupt outage (data directory kept). Cluster: every node. */
void rs_test_redis_kill9(rs_test_redis *r);

/* Start again on the same port and data directory, and wait for PING.
 * Cluster: every node that is not running, on its port and directory
 * (nodes.conf keeps the cluster), then wait for cluster_state:ok on every
 * node again (a restarted primary waits about 2 s before it says ok).
 * Returns 0 or -1. */
int rs_test_redis_restart(rs_test_redis *r);

/* Send sig (SIGSTOP, SIGCONT...) to the server, or to every node. Returns
 * 0, or -1 if one could not be signalled or none runs. */
int rs_test_redis_signal(rs_test_redis *r, int sig);

/* "127.0.0.1:<port>" into buf (for --redis); cluster: the seed list
 * "127.0.0.1:<p0>,127.0.0.1:<p1>,..." (for --redis-cluster). Returns buf. */
char *rs_test_redis_addr(const rs_test_redis *r, char *buf, size_t len);

/* A blocking hiredis connection (redisContext *; declared as void * so this
 * header does not need hiredis.h) to the server; cluster: to node 0 (use
 * rs_test_redis_command for keys). The caller frees it with redisFree.
 * Returns NULL if Redis does not answer. */
void *rs_test_redis_connect(const rs_test_redis *r);

/*
 * Cluster with replicas: RS_TEST_REDIS_CLUSTER_NODES primaries (nodes
 * 0..2, the slots split as rs_test_redis_start_cluster does) and
 * `replicas` (1..RS_TEST_REDIS_CLUSTER_MAX_REPLICAS) replicas of each: node
 * RS_TEST_REDIS_CLUSTER_NODES + k replicates primary k % 3 (CLUSTER
 * REPLICATE). Returns once every node says cluster_state:ok with all slots
 * and every node known, and every replica is in sync (link up, online on
 * its primary): a few seconds. Every node has --cluster-node-timeout 1000,
 * so a replica takes over about two seconds after its primary dies. Roles
 * change with failovers: ask rs_test_redis_node_is_primary. In this mode
 * rs_test_redis_command_all runs on the nodes whose ROLE is master.
 * Returns 0, or -1 (nothing left running, the logs printed).
 */
int rs_test_redis_start_cluster_replicas(rs_test_redis *r, int replicas);

/* SIGKILL node i alone (its port and data directory are kept). Returns 0,
 * or -1 for a bad index or a node that was not started. */
int rs_test_redis_kill9_node(rs_test_redis *r, int i);

/* SIGTERM node i alone, bounded (then SIGKILL). Returns 0, -1 as above or
 * if it had to be killed. */
int rs_test_redis_stop_node(rs_test_redis *r, int i);

/* Start node i again, if it does not run, on its port and data directory
 * (nodes.conf keeps its place: a primary that lost its slots to a replica
 * while it was away rejoins as that replica's replica), and wait for PING
 * only: poll rs_test_redis_cluster_settled for the rest. Returns 0 or -1. */
int rs_test_redis_restart_node(rs_test_redis *r, int i);

/* True if node i answers ROLE with "master". */
bool rs_test_redis_node_is_primary(const rs_test_redis *r, int i);

/* Node i's cluster node id (CLUSTER MYID) into out. Returns 0 or -1. */
int rs_test_redis_node_id(const rs_test_redis *r, int i, char *out, size_t len);

/* The index of the node serving `slot` as primary, from the CLUSTER SLOTS
 * of the first node that answers; -1 if none says. */
int rs_test_redis_slot_node(const rs_test_redis *r, int slot);

/* True when every node runs and says cluster_state:ok with all 16384 slots
 * ok and every node known, and (with replicas) every primary has all of
 * its replicas online and every replica's link is up. A poll condition
 * (arg: the rs_test_redis). */
bool rs_test_redis_cluster_settled(void *r);

/* Nodes: 1 in single mode. */
int rs_test_redis_node_count(const rs_test_redis *r);

/* A blocking connection to node i (0 <= i < rs_test_redis_node_count), as
 * rs_test_redis_connect. Returns NULL if it does not answer. */
void *rs_test_redis_connect_node(const rs_test_redis *r, int i);

/* A blocking connection to the node that serves `key` (for pipelining
 * commands on one key); single mode: the server. Returns NULL on error. */
void *rs_test_redis_connect_key(const rs_test_redis *r, const char *key);

/*
 * One command, formatted like redisCommand (printf-style, %s %b %d %llu
 * ...), sent over a fresh blocking connection and routed: in cluster mode
 * it goes to node 0 first and follows `-MOVED <slot> 127.0.0.1:<port>`
 * (and `-ASK`, sending ASKING first) to another node, at most 5 redirects;
 * TRYAGAIN is retried a few times. Only loopback targets are followed.
 * Returns the final reply (redisReply *, which may be an error reply; the
 * caller frees it with freeReplyObject), or NULL on a connection or I/O
 * error or too many redirects (with a line on stderr).
 */
void *rs_test_redis_command(const rs_test_redis *r, const char *fmt, ...);
void *rs_test_redis_vcommand(const rs_test_redis *r, const char *fmt, va_list ap);
void *rs_test_redis_command_argv(const rs_test_redis *r, int argc, const char **argv,
                                 const size_t *argvlen);

/*
 * A command without a key (FLUSHALL, DBSIZE, CONFIG SET, DEBUG ...) run on
 * every primary (single mode: the server), formatted like redisCommand.
 * *sum (optional) receives the sum of the integer replies (DBSIZE: the
 * keys of the whole cluster). Returns 0 if every node answered and none
 * with an error, -1 otherwise (with a line on stderr).
 */
int rs_test_redis_command_all(const rs_test_redis *r, long long *sum, const char *fmt, ...);

/* True if Redis answers PING now (cluster: every node). */
bool rs_test_redis_ping(const rs_test_redis *r);

/* Stop it if it runs and remove its data directory (cluster: every node). */
void rs_test_redis_cleanup(rs_test_redis *r);

/* ---- readstated --------------------------------------------------------- */

#define RS_TEST_SERVER_MAX_ARGS 64

typedef struct rs_test_server_opts {
    const char *const *args; /* extra flags, NULL-terminated, or NULL */
    const char *const *env;  /* extra KEY=VALUE, NULL-terminated, or NULL */
    bool http;               /* also listen for HTTP on 127.0.0.1:0 (http_port) */
    int start_timeout_ms;    /* 0 means 15000 */
} rs_test_server_opts;

typedef struct rs_test_server {
    rs_proc proc;
    int port;           /* bound TCP port, read from the port file */
    int http_port;      /* bound HTTP port when opts.http, else 0 */
    char dir[PATH_MAX]; /* holds the port files */
    char port_file[PATH_MAX];
    char http_port_file[PATH_MAX];
    char bin[PATH_MAX]; /* readstated binary */
    /* a copy of the options, for rs_test_server_restart */
    char *args[RS_TEST_SERVER_MAX_ARGS + 1];
    char *env[RS_TEST_SERVER_MAX_ARGS + 1];
    bool http;
    int start_timeout_ms;
} rs_test_server;

/* The readstated binary: $READSTATED_BIN, else the path CMake compiled in. */
const char *rs_test_readstated_bin(void);

/* The readstatectl binary: $READSTATECTL_BIN, else the path CMake compiled
 * in. */
const char *rs_test_readstatectl_bin(void);

/*
 * Start readstated with
 *   --listen 127.0.0.1:0 --port-file <tmp>/port --http off  [opts->args...]
 * (with opts->http: --http 127.0.0.1:0 --http-port-file <tmp>/http_port)
 * and wait (bounded) until the port file names the bound port.
 * Returns 0 with srv->port set, or -1 (the server's log is printed, and
 * nothing is left running). opts may be NULL.
 */
int rs_test_server_start_opts(rs_test_server *srv, const rs_test_server_opts *opts);

/* Same, with extra flags as a NULL-terminated list of strings:
 *   rs_test_server_start(&srv, "--redis", addr, NULL);  */
int rs_test_server_start(rs_test_server *srv, ...);

/* Stop the process (SIGTERM, then SIGKILL after timeout_ms; 0 means
 * 30000). *wait_status (optional) as for rs_proc_stop. The options are kept
 * for rs_test_server_restart. Returns what rs_proc_stop returns. */
int rs_test_server_stop(rs_test_server *srv, int timeout_ms, int *wait_status);

/* Start again with the same options (a new port: read srv->port).
 * Returns 0 or -1. */
int rs_test_server_restart(rs_test_server *srv);

/* Stop it if it runs, remove its directory, free the options. */
void rs_test_server_cleanup(rs_test_server *srv);

#endif /* RS_TESTSUPPORT_H */
