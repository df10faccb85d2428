/*
 * http.h: the HTTP port (Connect/Twirp RPC, /metrics, /healthz, /readyz,
 * /dashboard) on the server's event base.
 */
#ifndef RS_HTTP_H
#define RS_HTTP_H

#include <stdbool.h>

typedef struct rs_server rs_server;
struct rs_http;

/* Start the HTTP port on s->cfg.http (NULL and nothing started when it is
 * "off"), write s->cfg.http_port_file, and hook the per-second metrics tick.
 * Returns the port, or NULL when off or on failure (logged). */
struct rs_http *http_start(rs_server *s);
/* Graceful shutdown has begun: close the listening socket (no new
 * connections; /readyz probes see the port refuse). Open connections stay:
 * calls in flight finish, and new RPCs on them get UNAVAILABLE. NULL is
 * allowed. */
void http_stop_accepting(struct rs_http *h);
/* Replies are still being written (the server waits for them at exit);
 * false for NULL. */
bool http_writing(const struct rs_http *h);
/* Close the port and every HTTP connection; NULL is allowed. */
void http_stop(struct rs_http *h);

#endif /* RS_HTTP_H */
