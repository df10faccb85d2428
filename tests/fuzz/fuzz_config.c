/*
 * fuzz_config.c: libFuzzer harness for readstated's settings parser
 * (server/config.c): the --config settings file and argv, through
 * config_reread, the entry SIGHUP uses (errors into a string, nothing
 * printed), then config_diff against the defaults and config_apply_live.
 *
 * Input: the settings file's text up to the first NUL byte, written to a
 * temporary file that `--config` names; the rest, split at NUL bytes, is
 * up to 16 further argv strings. Arguments that would print (--help, -h,
 * --version) or name another settings file (--config...) are skipped, so
 * the fuzzer never opens a path it made up; READSTATED_* variables are
 * removed from the environment once. Only crashes, sanitizer reports and
 * leaks are findings; every input either parses or is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

extern char **environ;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FC_MAX_ARGS 16

static char fc_path[64];

static void fc_cleanup(void)
{
    if (fc_path[0] != '\0')
        unlink(fc_path);
}

/* Once: the temporary settings file, and no READSTATED_* in the environment
 * (the parser reads them; the inputs alone must decide). */
static void fc_init(void)
{
    if (fc_path[0] != '\0')
        return;
    snprintf(fc_path, sizeof(fc_path), "/tmp/fuzz_config.XXXXXX");
    int fd = mkstemp(fc_path);
    if (fd < 0) {
        perror("fuzz_config: mkstemp");
        abort();
    }
    close(fd);
    atexit(fc_cleanup);
    for (int rounds = 0; rounds < 256; rounds++) {
        char *name = NULL;
        for (char **e = environ; e != NULL && *e != NULL; e++)
            if (strncmp(*e, "READSTATED_", 11) == 0) {
                name = strndup(*e, strcspn(*e, "="));
                break;
            }
        if (name == NULL)
            break;
        unsetenv(name);
        free(name);
    }
}

static void fc_diff(void *arg, const char *name, const char *old_value, const char *new_value,
                    bool live)
{
    size_t *n = arg;
    *n += strlen(name) + strlen(old_value) + strlen(new_value) + (live ? 1 : 0);
}

static void fc_no_live(void *arg, const char *name, const char *old_value,
                       const char *new_value, bool live)
{
    (void)arg;
    if (live) {
        fprintf(stderr, "fuzz_config: live setting %s differs after apply: %s -> %s\n", name,
                old_value, new_value);
        abort();
    }
}

static bool fc_skip(const char *a)
{
    return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "--version") == 0 ||
           strncmp(a, "--config", 8) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fc_init();
    const uint8_t *nul = memchr(data, 0, size);
    size_t flen = nul != NULL ? (size_t)(nul - data) : size;
    FILE *f = fopen(fc_path, "w");
    if (f == NULL || fwrite(data, 1, flen, f) != flen || fclose(f) != 0)
        abort();

    /* argv: program, --config FILE, then the NUL-separated rest. */
    char *rest = NULL;
    char *argv[3 + FC_MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = "readstated";
    argv[argc++] = "--config";
    argv[argc++] = fc_path;
    if (nul != NULL) {
        size_t rlen = size - flen - 1;
        rest = malloc(rlen + 1);
        if (rest == NULL)
            abort();
        memcpy(rest, nul + 1, rlen);
        rest[rlen] = '\0';
        for (char *p = rest; p <= rest + rlen && argc < 3 + FC_MAX_ARGS; p += strlen(p) + 1)
            if (!fc_skip(p))
                argv[argc++] = p;
    }
    argv[argc] = NULL;

    rs_config cur, next;
    config_defaults(&cur);
    char err[512];
    int rc = config_reread(&next, argc, argv, err, sizeof(err));
    if (rc == 0) {
        size_t n = 0;
        config_diff(&cur, &next, fc_diff, &n);
        config_apply_live(&cur, &next);
        /* Live settings now match: only restart-only ones may differ. */
        config_diff(&cur, &next, fc_no_live, NULL);
        if (config_diff(&cur, &cur, fc_diff, &n) != 0)
            abort();
    } else if (rc != -1 || err[0] == '\0') {
        fprintf(stderr, "fuzz_config: config_reread returned %d with error '%s'\n", rc, err);
        abort();
    }
    free(rest);
    return 0;
}
