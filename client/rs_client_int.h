/*
 * rs_client_int.h: what the client's files share and callers do not see.
 */
#ifndef RS_CLIENT_INT_H
#define RS_CLIENT_INT_H

#include "rs_client.h"

/* Record a non-sticky failure message (a refused request, an unexpected
 * result) for rs_client_errmsg. */
void rs_client_note(rs_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* RS_CLIENT_INT_H */
