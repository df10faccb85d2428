/*
 * rs_proc.c: child processes for integration tests, by PID, plus temporary
 * directories, small file helpers and bounded polling.
 *
 * A child is started with fork/execve. Everything the child needs (the
 * resolved binary path, argv, the merged environment, the open log files)
 * is prepared in the parent, so the child only calls async-signal-safe
 * functions between fork and exec (tests may have threads). A CLOEXEC pipe
 * reports an exec failure back to the parent:
 *
 *   parent: prepare path/env/logs ── fork ──> child: dup2 logs, execve
 *              │                                  │ (failure: write errno)
 *              └──── read(pipe) == 0 bytes <──────┘  exec succeeded
 *
 * Invariants: a started rs_proc is reaped exactly once (pid stays valid
 * until then, so signals never hit a recycled PID); every wait is bounded.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rs_testsupport.h"

extern char **environ;

#define RS_PROC_MAX_ENV    4096
#define RS_TMP_MAX_DEPTH   8
#define RS_EXEC_REPORT_LEN sizeof(int)

/* ---- time and polling --------------------------------------------------- */

long long rs_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000LL + ts.tv_nsec / 1000000L;
}

void rs_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

bool rs_poll_until(rs_cond_fn cond, void *arg, int timeout_ms)
{
    long long deadline = rs_mono_ms() + timeout_ms;
    int nap = 1;
    for (;;) {
        if (cond(arg))
            return true;
        if (rs_mono_ms() >= deadline)
            return false;
        rs_sleep_ms(nap);
        nap = nap < 50 ? nap * 2 : 50;
    }
}

/* ---- temporary directories and files ------------------------------------ */

static bool keep_tmp(void)
{
    const char *k = getenv("RS_TEST_KEEP_TMP");
    return k != NULL && k[0] != '\0' && strcmp(k, "0") != 0;
}

int rs_tmpdir_create(const char *tag, char *out, size_t outlen)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0')
        base = "/tmp";
    int n = snprintf(out, outlen, "%s/rs-%s-XXXXXX", base, tag != NULL ? tag : "test");
    if (n < 0 || (size_t)n >= outlen) {
        fprintf(stderr, "rs_tmpdir_create: path too long\n");
        return -1;
    }
    if (mkdtemp(out) == NULL) {
        fprintf(stderr, "rs_tmpdir_create: mkdtemp %s: %s\n", out, strerror(errno));
        out[0] = '\0';
        return -1;
    }
    return 0;
}

static int remove_tree(const char *path, int depth)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? 0 : -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    if (depth > RS_TMP_MAX_DEPTH)
        return -1;
    DIR *d = opendir(path);
    if (d == NULL)
        return -1;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[PATH_MAX];
        int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(child) || remove_tree(child, depth + 1) != 0)
            rc = -1;
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = -1;
    return rc;
}

int rs_tmpdir_remove(const char *path)
{
    if (path == NULL || path[0] == '\0')
        return 0;
    if (keep_tmp()) {
        fprintf(stderr, "rs_tmpdir_remove: keeping %s\n", path);
        return 0;
    }
    return remove_tree(path, 0);
}

char *rs_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        if (cap - used < 2) {
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + used, 1, cap - used - 1, f);
        used += got;
        if (got == 0)
            break;
    }
    fclose(f);
    if (buf == NULL)
        return NULL;
    buf[used] = '\0';
    if (len != NULL)
        *len = used;
    return buf;
}

int rs_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return -1;
    size_t n = strlen(text);
    int rc = fwrite(text, 1, n, f) == n ? 0 : -1;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

/* ---- starting a child ---------------------------------------------------- */

/* Resolve a program name against PATH (in the parent, before fork). */
static int resolve_path(const char *name, char *out, size_t outlen)
{
    if (strchr(name, '/') != NULL) {
        int n = snprintf(out, outlen, "%s", name);
        return (n < 0 || (size_t)n >= outlen) ? -1 : 0;
    }
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    const char *p = path;
    while (*p != '\0') {
        const char *colon = strchr(p, ':');
        size_t dlen = colon != NULL ? (size_t)(colon - p) : strlen(p);
        int n = snprintf(out, outlen, "%.*s/%s", (int)dlen, dlen > 0 ? p : ".", name);
        if (n > 0 && (size_t)n < outlen && access(out, X_OK) == 0)
            return 0;
        if (colon == NULL)
            break;
        p = colon + 1;
    }
    return -1;
}

static size_t env_key_len(const char *kv)
{
    const char *eq = strchr(kv, '=');
    return eq != NULL ? (size_t)(eq - kv) : strlen(kv);
}

/* environ with env_extra merged in (extras replace same-named variables).
 * Returns a malloc'd NULL-terminated array of borrowed strings. */
static char **merge_env(const char *const env_extra[])
{
    size_t n_env = 0, n_extra = 0;
    while (environ[n_env] != NULL && n_env < RS_PROC_MAX_ENV)
        n_env++;
    while (env_extra != NULL && env_extra[n_extra] != NULL && n_extra < RS_PROC_MAX_ENV)
        n_extra++;
    char **envp = calloc(n_env + n_extra + 1, sizeof(*envp));
    if (envp == NULL)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        bool replaced = false;
        for (size_t j = 0; j < n_extra && !replaced; j++) {
            size_t kl = env_key_len(env_extra[j]);
            replaced =
                env_key_len(environ[i]) == kl && strncmp(environ[i], env_extra[j], kl) == 0;
        }
        if (!replaced)
            envp[k++] = environ[i];
    }
    for (size_t j = 0; j < n_extra; j++)
        envp[k++] = (char *)env_extra[j];
    envp[k] = NULL;
    return envp;
}

/* The child's side: only async-signal-safe calls. Never returns. */
static void child_exec(const char *path, char *const argv[], char *const envp[], int out_fd,
                       int err_fd, int report_fd, pid_t parent)
{
    /* Die with the test, so a crashed test leaves no process behind. */
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) {
        int e = errno;
        (void)!write(report_fd, &e, sizeof(e));
        _exit(127);
    }
    /* Leave only 0, 1, 2 and the report pipe (CLOEXEC) open. */
    for (int fd = 3; fd < 1024; fd++)
        if (fd != report_fd)
            close(fd);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    execve(path, argv, envp);
    int e = errno;
    (void)!write(report_fd, &e, sizeof(e));
    _exit(127);
}

static int open_log(const char *dir, const char *name, char *path, size_t pathlen)
{
    int n = snprintf(path, pathlen, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= pathlen)
        return -1;
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
}

/* Fork and exec; returns 0 once exec succeeded. Files are already open. */
static int spawn(rs_proc *proc, const char *path, const char *const argv[], char **envp,
                 int out_fd, int err_fd)
{
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
    fcntl(pipefd[1], F_SETFD, FD_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0)
        child_exec(path, (char *const *)argv, envp, out_fd, err_fd, pipefd[1], parent);
    close(pipefd[1]);
    int child_errno = 0;
    ssize_t got;
    do {
        got = read(pipefd[0], &child_errno, sizeof(child_errno));
    } while (got < 0 && errno == EINTR);
    close(pipefd[0]);
    proc->pid = pid;
    proc->reaped = false;
    if (got > 0) {
        int st;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
        }
        proc->reaped = true;
        proc->wait_status = st;
        fprintf(stderr, "rs_proc_start: exec %s: %s\n", path, strerror(child_errno));
        return -1;
    }
    return 0;
}

int rs_proc_start(const char *const argv[], const char *const env_extra[], rs_proc *proc)
{
    memset(proc, 0, sizeof(*proc));
    char path[PATH_MAX];
    if (argv == NULL || argv[0] == NULL || resolve_path(argv[0], path, sizeof(path)) != 0) {
        fprintf(stderr, "rs_proc_start: cannot find %s\n",
                argv && argv[0] ? argv[0] : "(null)");
        return -1;
    }
    if (rs_tmpdir_create("proc", proc->dir, sizeof(proc->dir)) != 0)
        return -1;
    int out_fd =
        open_log(proc->dir, "stdout.log", proc->stdout_path, sizeof(proc->stdout_path));
    int err_fd =
        open_log(proc->dir, "stderr.log", proc->stderr_path, sizeof(proc->stderr_path));
    char **envp = merge_env(env_extra);
    int rc = -1;
    if (out_fd >= 0 && err_fd >= 0 && envp != NULL)
        rc = spawn(proc, path, argv, envp, out_fd, err_fd);
    else
        fprintf(stderr, "rs_proc_start: cannot prepare %s: %s\n", path, strerror(errno));
    free(envp);
    if (out_fd >= 0)
        close(out_fd);
    if (err_fd >= 0)
        close(err_fd);
    return rc;
}

/* ---- watching, stopping, reaping -------------------------------------- */

/* Non-blocking reap. Returns true if the process has exited. */
static bool try_reap(rs_proc *proc)
{
    if (proc->reaped)
        return true;
    int st;
    pid_t r;
    do {
        r = waitpid(proc->pid, &st, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == proc->pid || (r < 0 && errno == ECHILD)) {
        proc->reaped = true;
        proc->wait_status = r == proc->pid ? st : 0;
        return true;
    }
    return false;
}

static bool proc_exited(void *arg)
{
    return try_reap(arg);
}

bool rs_proc_alive(rs_proc *proc)
{
    return proc->pid > 0 && !try_reap(proc);
}

int rs_proc_wait(rs_proc *proc, int timeout_ms, int *wait_status)
{
    if (proc->pid <= 0 || !rs_poll_until(proc_exited, proc, timeout_ms))
        return -1;
    if (wait_status != NULL)
        *wait_status = proc->wait_status;
    return 0;
}

int rs_proc_kill9(rs_proc *proc)
{
    if (proc->pid <= 0)
        return -1;
    if (!try_reap(proc)) {
        kill(proc->pid, SIGKILL);
        int st;
        while (waitpid(proc->pid, &st, 0) < 0 && errno == EINTR) {
        }
        proc->reaped = true;
        proc->wait_status = st;
    }
    return 0;
}

int rs_proc_stop(rs_proc *proc, int sig, int timeout_ms, int *wait_status)
{
    if (proc->pid <= 0)
        return -1;
    int rc = 0;
    if (!try_reap(proc)) {
        kill(proc->pid, sig != 0 ? sig : SIGTERM);
        if (!rs_poll_until(proc_exited, proc, timeout_ms)) {
            fprintf(stderr, "rs_proc_stop: pid %d still runs after %d ms: SIGKILL\n",
                    (int)proc->pid, timeout_ms);
            rs_proc_kill9(proc);
            rc = 1;
        }
    }
    if (wait_status != NULL)
        *wait_status = proc->wait_status;
    return rc;
}

int rs_proc_exit_code(const rs_proc *proc)
{
    if (!proc->reaped)
        return -1;
    if (WIFEXITED(proc->wait_status))
        return WEXITSTATUS(proc->wait_status);
    if (WIFSIGNALED(proc->wait_status))
        return 128 + WTERMSIG(proc->wait_status);
    return -1;
}

static void dump_one(const char *path, const char *label, const char *stream, FILE *out,
                     size_t max_bytes)
{
    size_t len = 0;
    char *text = rs_read_file(path, &len);
    if (text == NULL || len == 0) {
        free(text);
        return;
    }
    const char *p = len > max_bytes ? text + (len - max_bytes) : text;
    fprintf(out, "---- %s %s (%zu bytes) ----\n", label, stream, len);
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t l = nl != NULL ? (size_t)(nl - p) : strlen(p);
        fprintf(out, "%s| %.*s\n", label, (int)l, p);
        p += l + (nl != NULL ? 1 : 0);
    }
    free(text);
}

void rs_proc_dump_log(const rs_proc *proc, const char *label, FILE *out, size_t max_bytes)
{
    if (proc->dir[0] == '\0')
        return;
    dump_one(proc->stdout_path, label, "stdout", out, max_bytes);
    dump_one(proc->stderr_path, label, "stderr", out, max_bytes);
}

void rs_proc_cleanup(rs_proc *proc)
{
    if (proc->pid > 0 && !proc->reaped)
        rs_proc_stop(proc, SIGKILL, 5000, NULL);
    rs_tmpdir_remove(proc->dir);
    memset(proc, 0, sizeof(*proc));
}

int rs_run(const char *const argv[], const char *const env_extra[], int timeout_ms, char **out,
           char **err)
{
    rs_proc p;
    if (out != NULL)
        *out = NULL;
    if (err != NULL)
        *err = NULL;
    if (rs_proc_start(argv, env_extra, &p) != 0) {
        rs_proc_cleanup(&p);
        return -1;
    }
    int code = -1;
    if (rs_proc_wait(&p, timeout_ms, NULL) == 0) {
        code = rs_proc_exit_code(&p);
    } else {
        fprintf(stderr, "rs_run: %s did not finish in %d ms\n", argv[0], timeout_ms);
        rs_proc_kill9(&p);
    }
    if (out != NULL)
        *out = rs_read_file(p.stdout_path, NULL);
    if (err != NULL)
        *err = rs_read_file(p.stderr_path, NULL);
    rs_proc_cleanup(&p);
    return code;
}
