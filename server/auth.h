/*
 * auth.h: bearer tokens (--auth-token-file), the one secret a caller shows
 * to use the API. See auth.c for the file format and how tokens are held.
 *
 *   token file ──auth_reload──> rs_auth (SHA-256 digests, nothing else)
 *                                  │
 *   TCP Auth call / HTTP Authorization: Bearer ──auth_check──> true | false
 *
 * No tokens loaded means "off": every caller is accepted (the server says
 * so at start). auth_check is constant-time in the token's content: it
 * compares the presented token's digest with every known digest, with no
 * early exit.
 */
#ifndef RS_AUTH_H
#define RS_AUTH_H

#include <stdbool.h>
#include <stddef.h>

typedef struct rs_auth rs_auth;

/* Shortest token accepted from the file, in bytes. */
#define RS_AUTH_TOKEN_MIN 16
/* Longest token accepted from the file, in bytes. */
#define RS_AUTH_TOKEN_MAX 4096

/* Failed authentications (calls before a good Auth, wrong tokens) after
 * which a framed TCP connection is closed. */
#define RS_AUTH_MAX_FAILURES 3

/* A token set with no tokens (off). Aborts on out of memory. */
rs_auth *auth_new(void);
void auth_free(rs_auth *a);

/* Load the tokens of the file at path in place of the current ones; an
 * empty path turns tokens off. A file that cannot be read, has no token, or
 * a bad line (a token shorter than RS_AUTH_TOKEN_MIN or longer than
 * RS_AUTH_TOKEN_MAX bytes, or with spaces or control characters inside)
 * changes nothing: returns -1 with a one-line reason naming the file and
 * line in err. Returns 0 on success. */
int auth_reload(rs_auth *a, const char *path, char *err, size_t errlen);

/* Tokens are on (at least one is loaded). */
bool auth_enabled(const rs_auth *a);

/* The number of tokens loaded. */
size_t auth_count(const rs_auth *a);

/* Is token (len bytes, need not be terminated) one of the loaded tokens?
 * False when tokens are off. Takes the same time whichever token matches,
 * or none. */
bool auth_check(const rs_auth *a, const char *token, size_t len);

/* An HTTP Authorization header value: "Bearer <token>" (the scheme in any
 * case, blanks around the token ignored) with a loaded token. False for
 * NULL, another scheme, or an unknown token. */
bool auth_check_bearer(const rs_auth *a, const char *authorization);

#endif /* RS_AUTH_H */
