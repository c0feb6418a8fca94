/* SPDX-License-Identifier: MIT */
/* gw_httpresp.h: the head of an HTTP/1.1 response (status line and header
 * fields, RFC 9112), as the relay reads it from a peer gateway (what
 * libwebsockets 4.1.6 answers there). Pure: no I/O, no allocation; the
 * parsed head borrows from the caller's buffer. Strict where framing is at
 * stake (Content-Length, Transfer-Encoding), since a relay that misreads
 * where a body ends would splice two responses together. */
#ifndef GW_HTTPRESP_H
#define GW_HTTPRESP_H

#include <stddef.h>
#include <stdint.h>

/* The longest head accepted, final CRLFCRLF included. */
#define GW_HTTPRESP_MAX_HEAD 8192

typedef struct gw_httpresp {
  int status;             /* 100..599 */
  int64_t content_length; /* -1 when absent */
  unsigned chunked : 1;   /* Transfer-Encoding: chunked */
  /* Connection: close, or HTTP/1.0 without Connection: keep-alive: either
   * way the peer closes the connection after this response. */
  unsigned close : 1;
  /* Upgrade: websocket (a case-insensitive token of its list) and 101. */
  unsigned upgrade : 1;
  const char *content_type; /* borrowed from the buffer; NULL/0 if absent */
  size_t content_type_len;  /* (surrounding whitespace trimmed) */
} gw_httpresp_t;

/* gw_httpresp_parse parses the response head at the start of |buf|/|len|
 * (borrowed; |out|->content_type points into it). Returns:
 *   > 0        the head is complete: its length in bytes, final CRLFCRLF
 *              included (at most GW_HTTPRESP_MAX_HEAD); the body, if any,
 *              starts there. |out| is filled.
 *   0          more bytes are needed (only while len < GW_HTTPRESP_MAX_HEAD).
 *   GW_EPROTO  malformed, or no end of head within GW_HTTPRESP_MAX_HEAD
 *              bytes.
 * On 0 and GW_EPROTO |out| is cleared (status 0, content_length -1, no
 * flags, content_type NULL), so a caller that reads it anyway sees no
 * garbage. The answer depends only on the bytes given: on a prefix of an input
 * it is 0 or that input's answer, so a reader may call it again each time more
 * bytes arrive (and malformed starts, such as a status line not beginning
 * "HTTP/1.", fail early).
 *
 * Accepted: "HTTP/1.1" and "HTTP/1.0"; a three-digit status 100..599
 * followed by SP and a reason phrase (possibly empty), or by the line end;
 * header names case-insensitive; optional whitespace around values.
 * Refused (GW_EPROTO): bare LF or bare CR line ends, obsolete line folding,
 * control characters, a header line without ':' or with whitespace before
 * it, a Content-Length that repeats (even with the same value) or is not
 * all digits or overflows int64_t, a repeated Content-Type, Content-Length
 * together with chunked, and a Transfer-Encoding whose last coding is not
 * chunked or that names chunked twice (such a body has no framing a relay
 * can follow). */
int gw_httpresp_parse(const char *buf, size_t len, gw_httpresp_t *out);

#endif /* GW_HTTPRESP_H */
