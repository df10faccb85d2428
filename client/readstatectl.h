/*
 * readstatectl.h: what readstatectl's files share: the parsed arguments
 * and the helpers that print usage errors, failures and JSON strings.
 *
 *   readstatectl.c          options, the command table, the RPC commands
 *   readstatectl_cluster.c  `cluster init|show`: the fleet's slot table in
 *                           Redis (rs_ring.h), through ctl_redis.h
 */
#ifndef READSTATECTL_H
#define READSTATECTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "rs_client.h"

#define CTL_EXIT_USAGE 2
#define CTL_ADDR_MAX   256

typedef struct ctl_args {
    const char *server;
    bool json;
    bool ring; /* --ring: user calls go to the user's owner */
    int timeout_ms;
    bool timeout_given;     /* --timeout-ms was given */
    bool all;               /* delete --all */
    uint32_t count;         /* mentions --count (0: the server's default of 1) */
    long long max_events;   /* watch --events (0: unlimited) */
    long long for_ms;       /* watch --for-ms (0: until interrupted) */
    const char *token;      /* --token */
    const char *token_file; /* --token-file */
    char token_buf[4096];   /* the token to send (run: from --token, the file or env) */
    bool have_token;
    bool tls;               /* --tls (implied by the other --tls-* options) */
    rs_client_tls tls_opts; /* --tls-ca, --tls-cert, --tls-key, --tls-server-name */
    int connect_rc;         /* the exit status when ctl_connect fails */
    const char *cmd;
    char **pos; /* positional arguments after the command */
    int npos;
    rs_client *client; /* connected by ctl_connect once the arguments are valid */

    /* cluster: where the slot table lives, and what init writes */
    const char *redis;               /* --redis HOST:PORT */
    const char *redis_cluster;       /* --redis-cluster SEEDS */
    const char *redis_password_file; /* --redis-password-file FILE */
    const char *redis_user;          /* --redis-user USER */
    int redis_db;                    /* --redis-db N */
    const char **nodes;              /* --node and --nodes values, in order */
    int nnodes;
    const char *ranges;         /* --ranges */
    bool have_expect;           /* --expect-generation given */
    uint64_t expect_generation; /* its value */
} ctl_args;

/* Print "readstatectl: <fmt with arg>" and a pointer to --help on stderr.
 * Returns CTL_EXIT_USAGE. */
int ctl_usage_error(const char *fmt, const char *arg);

/* Report a failure ("error: CODE: message" on stderr, and with --json an
 * error object on stdout) and return the exit status (the failure's code). */
int ctl_report_error(const ctl_args *a, rs_status st, const char *msg);

/* A JSON string with the escapes JSON requires. */
void ctl_json_string(FILE *out, const char *s);

/* Connect to --server once the arguments are valid (with the Auth call
 * when a token is set); run() closes it. Returns NULL after reporting the
 * failure, with the exit status in a->connect_rc. */
rs_client *ctl_connect(ctl_args *a);

/* `cluster init|show` and `ring` (readstatectl_cluster.c). */
int ctl_cmd_cluster(ctl_args *a);
int ctl_cmd_ring(ctl_args *a);

#endif /* READSTATECTL_H */
