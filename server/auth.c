/*
 * auth.c: the token set behind --auth-token-file (see auth.h).
 *
 * The file holds one token per line; blank lines and lines starting with
 * '#' are skipped, and blanks around a token are trimmed:
 *
 *   # readstates API tokens (rotate: add the new one, SIGHUP, retire the old)
 *   3f9c2d0e8a7b4c61d5e2f0a9b8c7d6e5
 *
 * Only SHA-256 digests of the tokens are kept, never the tokens, so a core
 * dump or a stray pointer holds nothing a caller could replay. A check
 * hashes the presented token (fixed-size work whatever it holds) and
 * compares the digest with every known one with CRYPTO_memcmp, folding the
 * results without an early exit: the time taken says neither which token
 * matched nor how much of one did.
 *
 * A reload builds the new set aside and swaps it in only once the whole
 * file has loaded, so a file being rewritten, emptied or unreadable keeps
 * the tokens in use.
 */
#include "auth.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rs_common.h"

#define AUTH_DIGEST_LEN 32 /* SHA-256 */

typedef struct auth_digest {
    uint8_t d[AUTH_DIGEST_LEN];
} auth_digest;

struct rs_auth {
    auth_digest *digests; /* malloc'd, n entries; NULL when off */
    size_t n;
};

rs_auth *auth_new(void)
{
    return rs_xcalloc(1, sizeof(rs_auth), "auth");
}

void auth_free(rs_auth *a)
{
    if (a == NULL)
        return;
    if (a->digests != NULL)
        OPENSSL_cleanse(a->digests, a->n * sizeof(*a->digests));
    free(a->digests);
    free(a);
}

bool auth_enabled(const rs_auth *a)
{
    return a != NULL && a->n > 0;
}

size_t auth_count(const rs_auth *a)
{
    return a != NULL ? a->n : 0;
}

static int auth_digest_of(const char *token, size_t len, auth_digest *out)
{
    unsigned int n = 0;
    if (EVP_Digest(token, len, out->d, &n, EVP_sha256(), NULL) != 1 || n != AUTH_DIGEST_LEN)
        return -1;
    return 0;
}

static bool auth_blank(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n' || ch == '\v' || ch == '\f';
}

/* Parse the file into a new digest array. Returns 0 with *out and *n, or
 * -1 with the reason in err. */
static int auth_parse(const char *path, auth_digest **out, size_t *n, char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    char line[RS_AUTH_TOKEN_MAX + 64];
    auth_digest *ds = NULL;
    size_t nd = 0, cap = 0;
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        lineno++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(err, errlen, "%s:%d: line too long (a token has at most %d bytes)", path,
                     lineno, RS_AUTH_TOKEN_MAX);
            rc = -1;
            break;
        }
        char *p = line;
        while (auth_blank(*p))
            p++;
        len = strlen(p);
        while (len > 0 && auth_blank(p[len - 1]))
            p[--len] = '\0';
        if (len == 0 || p[0] == '#')
            continue;
        bool bad_char = false;
        for (size_t i = 0; i < len; i++)
            bad_char |= (unsigned char)p[i] <= 0x20 || (unsigned char)p[i] == 0x7f;
        if (bad_char || len < RS_AUTH_TOKEN_MIN || len > RS_AUTH_TOKEN_MAX) {
            snprintf(err, errlen,
                     bad_char ? "%s:%d: a token may not contain spaces or control characters"
                              : "%s:%d: a token needs %d to %d bytes",
                     path, lineno, RS_AUTH_TOKEN_MIN, RS_AUTH_TOKEN_MAX);
            rc = -1;
            break;
        }
        if (nd == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            auth_digest *nds = realloc(ds, ncap * sizeof(*ds));
            if (nds == NULL) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = -1;
                break;
            }
            ds = nds;
            cap = ncap;
        }
        if (auth_digest_of(p, len, &ds[nd]) != 0) {
            snprintf(err, errlen, "%s: SHA-256 failed", path);
            rc = -1;
            break;
        }
        nd++;
    }
    OPENSSL_cleanse(line, sizeof(line));
    if (rc == 0 && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        rc = -1;
    }
    fclose(f);
    if (rc == 0 && nd == 0) {
        snprintf(err, errlen, "%s: no token in the file (one per line; '#' starts a comment)",
                 path);
        rc = -1;
    }
    if (rc != 0) {
        if (ds != NULL)
            OPENSSL_cleanse(ds, cap * sizeof(*ds));
        free(ds);
        return -1;
    }
    *out = ds;
    *n = nd;
    return 0;
}

int auth_reload(rs_auth *a, const char *path, char *err, size_t errlen)
{
    if (errlen > 0)
        err[0] = '\0';
    auth_digest *ds = NULL;
    size_t n = 0;
    if (path != NULL && path[0] != '\0' && auth_parse(path, &ds, &n, err, errlen) != 0)
        return -1;
    if (a->digests != NULL)
        OPENSSL_cleanse(a->digests, a->n * sizeof(*a->digests));
    free(a->digests);
    a->digests = ds;
    a->n = n;
    return 0;
}

bool auth_check(const rs_auth *a, const char *token, size_t len)
{
    if (!auth_enabled(a) || token == NULL)
        return false;
    auth_digest d;
    if (auth_digest_of(token, len, &d) != 0)
        return false;
    /* Every digest is compared; the results are folded, never branched on. */
    unsigned int match = 0;
    for (size_t i = 0; i < a->n; i++)
        match |= (unsigned int)(CRYPTO_memcmp(d.d, a->digests[i].d, AUTH_DIGEST_LEN) == 0);
    OPENSSL_cleanse(&d, sizeof(d));
    return match != 0;
}

bool auth_check_bearer(const rs_auth *a, const char *authorization)
{
    if (authorization == NULL)
        return false;
    const char *p = authorization;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "Bearer", 6) != 0 || (p[6] != ' ' && p[6] != '\t'))
        return false;
    p += 6;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t len = strlen(p);
    while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
        len--;
    return len > 0 && auth_check(a, p, len);
}
