/*
 * lg_target_rs.c: the rs:// target, readstated's framed protocol.
 *
 * Requests are built as protobuf-c structs on the stack and packed straight
 * into space reserved in the connection's output evbuffer (header, then
 * payload): no allocation and no copy per request. The request id carries
 * the slot and its generation:
 *
 *   id = gen << 32 | slot
 *
 * Answers are not decoded into structs: a small scanner walks the
 * Response's top-level fields for the id (1) and the status code (2.1) and
 * skips the rest, so reading a large GetReadStates answer costs a pass over
 * its bytes and nothing more.
 */
#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "frame.h"
#include "lg_engine.h"
#include "lg_proto.h"

typedef struct rs_target {
    struct sockaddr_storage addr;
    socklen_t addrlen;
} rs_target;

static int rs_prepare_(lg_engine *e, char *err, size_t errlen)
{
    rs_target *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    e->target_data = t;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    char port[16];
    snprintf(port, sizeof(port), "%d", e->cfg.port);
    int rc = getaddrinfo(e->cfg.host, port, &hints, &res);
    if (rc != 0 || res == NULL) {
        snprintf(err, errlen, "cannot resolve %s: %s", e->cfg.host, gai_strerror(rc));
        return -1;
    }
    memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
    t->addrlen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void rs_read_cb_(struct bufferevent *bev, void *arg)
{
    lg_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t avail = evbuffer_get_length(in);
        uint8_t hdr[FRAME_HEADER_LEN];
        if (avail < FRAME_HEADER_LEN)
            return;
        evbuffer_copyout(in, hdr, FRAME_HEADER_LEN);
        uint32_t n;
        frame_result fr = frame_parse_header(hdr, FRAME_RESPONSE_MAX_DEFAULT, &n);
        if (fr != FRAME_OK) {
            lg_engine_on_conn_error(c, frame_result_name(fr));
            return;
        }
        if (avail - FRAME_HEADER_LEN < n)
            return;
        const uint8_t *p = evbuffer_pullup(in, (ssize_t)(FRAME_HEADER_LEN + n));
        uint64_t id = 0;
        uint32_t code = 0;
        int ok = p != NULL ? lg_scan_response(p + FRAME_HEADER_LEN, n, &id, &code) : -1;
        evbuffer_drain(in, FRAME_HEADER_LEN + n);
        uint32_t slot = (uint32_t)id;
        uint32_t gen = (uint32_t)(id >> 32);
        lg_engine *e = c->eng;
        if (ok != 0 || slot >= e->cfg.depth || !c->slots[slot].busy ||
            c->slots[slot].gen != gen) {
            e->stats.status[LG_ST_BAD_REPLY]++;
            continue;
        }
        lg_engine_on_answer(c, slot, code < LG_ST_WIRE_MAX ? (int)code : LG_ST_BAD_REPLY);
        if (c->state != LG_CONN_READY)
            return; /* closed inside the callback */
    }
}

static void rs_event_cb_(struct bufferevent *bev, short what, void *arg)
{
    lg_conn *c = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        lg_engine_on_ready(c);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        lg_engine_on_conn_error(c, (what & BEV_EVENT_EOF) ? "closed by peer" : "socket error");
}

static int rs_connect_(lg_conn *c)
{
    rs_target *t = c->eng->target_data;
    c->bev = bufferevent_socket_new(c->eng->base, -1, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL)
        return -1;
    bufferevent_setcb(c->bev, rs_read_cb_, NULL, rs_event_cb_, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&t->addr, (int)t->addrlen) != 0) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        return -1;
    }
    return 0;
}

static void rs_close_(lg_conn *c)
{
    if (c->bev != NULL) {
        bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
        bufferevent_free(c->bev);
        c->bev = NULL;
    }
}

static void rs_send_(lg_conn *c, const lg_op *op, uint32_t slot)
{
    uint64_t id = ((uint64_t)c->slots[slot].gen << 32) | slot;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (lg_encode_request(op, id, out) != 0) {
        /* the output buffer could not grow: out of memory */
        fprintf(stderr, "readstate-loadgen: out of memory encoding a request\n");
        abort();
    }
}

const lg_target_ops lg_target_rs_ops = {
    .scheme = "rs",
    .prepare = rs_prepare_,
    .connect = rs_connect_,
    .send = rs_send_,
    .close = rs_close_,
};
