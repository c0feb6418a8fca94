/* SPDX-License-Identifier: MIT */
/* fl_http.h: the HTTP/1.1 client side of chat-flood's polling transport,
 * without I/O: request heads, response heads (status, framing, keep-alive)
 * and chunked bodies. Only what Engine.IO long-polling needs: no
 * pipelining, no 1xx interim answers, no trailers kept. loadtest/ has its
 * own parser on purpose: an independent client is the better oracle for
 * the gateway's HTTP code. All pointers are borrowed from the caller. */
#ifndef FL_HTTP_H
#define FL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define FL_HTTP_MAX_HEAD 16384 /* a longer response head is refused */

typedef enum fl_http_body {
  FL_HTTP_BODY_LENGTH = 0, /* Content-Length bytes (0 when absent, see below) */
  FL_HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
  FL_HTTP_BODY_EOF         /* neither: the body ends when the server closes */
} fl_http_body_t;

typedef struct fl_http_resp {
  int status;          /* 200, 400, ... */
  int minor;           /* HTTP/1.<minor> */
  fl_http_body_t body; /* how the body is framed */
  uint64_t length;     /* FL_HTTP_BODY_LENGTH: the body's length */
  int close;           /* the server closes the connection after the body */
} fl_http_resp_t;

/* fl_http_head parses the response head at |p| (|n| bytes so far) into |r|.
 * Returns the head's length (through the blank line) when it is complete
 * and valid, 0 when more bytes are needed, and -1 when it is malformed,
 * longer than FL_HTTP_MAX_HEAD, or frames its body in a way we do not
 * speak (a transfer coding other than chunked, a bad Content-Length).
 * Statuses 1xx, 204 and 304 have no body (length 0). */
long fl_http_head(const char *p, size_t n, fl_http_resp_t *r);

/* fl_http_chunked looks for a complete chunked body at |p| (|n| bytes after
 * the head). Returns the number of bytes it spans (chunks, last chunk and
 * trailer) when complete, 0 when more bytes are needed, -1 when malformed.
 * When complete and |out| is not NULL, the decoded body is written to |out|
 * (which may be |p|: decoding only shrinks) and its length to |*outlen|. */
long fl_http_chunked(const char *p, size_t n, char *out, size_t *outlen);

/* fl_http_request writes a request head into |out| (|cap| bytes): "|method|
 * |target| HTTP/1.1", Host |host|, and, when |ctype| is not NULL, the
 * Content-Type |ctype| and Content-Length |body_len| of the body the caller
 * sends after it. Returns the length, or 0 if it does not fit. */
size_t fl_http_request(char *out, size_t cap, const char *method,
                       const char *host, const char *target, const char *ctype,
                       size_t body_len);

#endif /* FL_HTTP_H */
