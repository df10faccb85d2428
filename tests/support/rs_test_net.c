/*
 * rs_test_net.c: loopback socket helpers for integration tests: a free
 * ephemeral port, a bounded connect, a bounded write, and "did the peer
 * close this connection".
 *
 * Everything talks to 127.0.0.1 only, and every wait is bounded by poll().
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rs_testsupport.h"

static void loopback_addr(struct sockaddr_in *sa, int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)port);
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

int rs_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    loopback_addr(&sa, 0);
    socklen_t len = sizeof(sa);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int remaining_ms(long long deadline)
{
    long long left = deadline - rs_mono_ms();
    return left > 0 ? (int)left : 0;
}

int rs_tcp_connect(int port, int timeout_ms)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in sa;
    loopback_addr(&sa, port);
    int flags = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int err = ETIMEDOUT;
        if (poll(&pfd, 1, timeout_ms) == 1) {
            socklen_t el = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
                err = errno;
        }
        rc = err == 0 ? 0 : -1;
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    fcntl(fd, F_SETFL, flags);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int rs_fd_write_all(int fd, const void *buf, size_t n, int timeout_ms)
{
    const char *p = buf;
    long long deadline = rs_mono_ms() + timeout_ms;
    while (n > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int pr = poll(&pfd, 1, remaining_ms(deadline));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return -1;
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

bool rs_fd_wait_closed(int fd, int timeout_ms)
{
    long long deadline = rs_mono_ms() + timeout_ms;
    char sink[4096];
    for (;;) {
        int left = remaining_ms(deadline);
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return false;
        ssize_t r = recv(fd, sink, sizeof(sink), MSG_DONTWAIT);
        if (r == 0)
            return true;
        if (r < 0 && errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)
            return true; /* reset */
        if (left == 0)
            return false;
    }
}
