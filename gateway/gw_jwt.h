/* SPDX-License-Identifier: MIT */
/* gw_jwt.h: verification of the JSON Web Tokens (RFC 7519) a Socket.IO
 * client presents in its CONNECT packet (`40{"token":"<JWT>"}`). Pure: no
 * I/O, no clock (the caller passes the time), no state. HS256 only: a token
 * naming any other algorithm, "none" included, is refused, so a token can
 * never choose how it is checked (algorithm confusion). */
#ifndef GW_JWT_H
#define GW_JWT_H

#include <stddef.h>
#include <stdint.h>

/* Longest token accepted, in bytes. Real tokens are a few hundred bytes;
 * the bound keeps decoding cheap and memory small for hostile input. */
#define GW_JWT_MAX_TOKEN 4096

/* Shortest secret: RFC 7518 section 3.2 requires an HS256 key of at least
 * the hash size, 256 bits. */
#define GW_JWT_MIN_SECRET 32

/* Why a token was refused. Verification results, not I/O errors: they name
 * the reason for logs and tests; every one means "unauthorized" on the wire.
 * (Negative and below the GW_E* range, as the project's errors are.) */
#define GW_JWT_ERR_MAP(XX)                                                     \
  XX(EMALFORMED, "malformed token")                                            \
  XX(ETOOLONG, "token too long")                                               \
  XX(EALG, "algorithm not HS256")                                              \
  XX(ESIG, "bad signature")                                                    \
  XX(EEXPIRED, "token expired")                                                \
  XX(ENOTYET, "token not valid yet")                                           \
  XX(ECLAIM, "claim of the wrong type")

typedef enum {
  GW_JWT_OK = 0,
  GW_JWT__ERR_BASE = -2000,
#define XX(code, msg) GW_JWT_##code,
  GW_JWT_ERR_MAP(XX)
#undef XX
} gw_jwt_err_t;

/* The claims the gateway uses. */
typedef struct gw_jwt_claims {
  int has_exp, has_nbf;
  int64_t exp, nbf; /* seconds since the epoch (fractions truncated) */
  char *name;       /* the `name` claim (owned, NUL-terminated) or NULL */
  size_t name_len;
} gw_jwt_claims_t;

/* gw_jwt_verify checks |token| (|len| bytes, not NUL-terminated) against
 * |secret|/|secret_len| at time |now| (seconds since the epoch), allowing
 * |leeway| seconds of clock skew on `exp` and `nbf`:
 *  - three base64url parts without padding, in canonical form;
 *  - a header that is a JSON object with "alg":"HS256" and no "crit";
 *  - an HMAC-SHA256 signature over "<header>.<payload>", compared in
 *    constant time;
 *  - a payload that is a JSON object; `exp`, when present, a number with
 *    now < exp + leeway; `nbf`, when present, a number with
 *    nbf <= now + leeway; `name`, when present, a string without NUL.
 * A token without `exp` never expires (as jsonwebtoken and PyJWT); issue
 * short-lived tokens. On success returns 0 and fills |out| (release it with
 * gw_jwt_claims_clear); otherwise returns a GW_JWT_E* code and |out| holds
 * nothing to release. */
int gw_jwt_verify(const char *token, size_t len, const void *secret,
                  size_t secret_len, int64_t now, int64_t leeway,
                  gw_jwt_claims_t *out);

/* gw_jwt_claims_clear frees what gw_jwt_verify allocated in |c|. */
void gw_jwt_claims_clear(gw_jwt_claims_t *c);

/* gw_jwt_strerror names a GW_JWT_E* code (static string). */
const char *gw_jwt_strerror(int err);

#endif /* GW_JWT_H */
