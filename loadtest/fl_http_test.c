/* SPDX-License-Identifier: MIT */
/* fl_http_test.c: chat-flood's HTTP/1.1 client parsing: response heads as
 * Node's http module and engine.io write them (keep-alive, Content-Length
 * for payloads, chunked for engine.io's 400 error bodies), refused heads,
 * chunked bodies fed a byte at a time, and request heads. */
#include "fl_http.h"
#include "gw_test.h"

static long head(const char *s, fl_http_resp_t *r) {
  return fl_http_head(s, strlen(s), r);
}

static void test_heads(void) {
  fl_http_resp_t r;
  /* engine.io's handshake answer (Node 20, socket.io 4.8) */
  const char *ok = "HTTP/1.1 200 OK\r\n"
                   "Content-Type: text/plain; charset=UTF-8\r\n"
                   "Content-Length: 118\r\n"
                   "cache-control: no-store\r\n"
                   "Date: Wed, 25 Nov 2026 13:06:27 GMT\r\n"
                   "Connection: keep-alive\r\n"
                   "Keep-Alive: timeout=5\r\n"
                   "\r\n"
                   "0{\"sid\":";
  GW_ASSERT_EQ(head(ok, &r), (long)strlen(ok) - 8);
  GW_ASSERT_EQ(r.status, 200);
  GW_ASSERT_EQ(r.minor, 1);
  GW_ASSERT_EQ(r.body, FL_HTTP_BODY_LENGTH);
  GW_ASSERT_EQ(r.length, 118);
  GW_ASSERT_EQ(r.close, 0);
  /* every prefix of the head needs more bytes */
  size_t hl = strlen(ok) - 8;
  for (size_t i = 0; i < hl; i++)
    GW_ASSERT_EQ(fl_http_head(ok, i, &r), 0);
  /* its error answer: chunked JSON */
  const char *bad = "HTTP/1.1 400 Bad Request\r\n"
                    "Content-Type: application/json\r\n"
                    "Connection: keep-alive\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n";
  GW_ASSERT_EQ(head(bad, &r), (long)strlen(bad));
  GW_ASSERT_EQ(r.status, 400);
  GW_ASSERT_EQ(r.body, FL_HTTP_BODY_CHUNKED);
  /* names are case-insensitive; blanks around values are not part of them */
  GW_ASSERT(head("HTTP/1.1 200 OK\r\ncontent-LENGTH:\t 2 \r\n"
                 "CONNECTION: Upgrade, Close\r\n\r\n",
                 &r) > 0);
  GW_ASSERT_EQ(r.length, 2);
  GW_ASSERT_EQ(r.close, 1);
  /* no reason phrase; the same length twice is fine */
  GW_ASSERT(head("HTTP/1.1 200\r\nContent-Length: 2\r\nContent-Length: 2\r\n"
                 "\r\n",
                 &r) > 0);
  GW_ASSERT_EQ(r.status, 200);
  /* no framing: the body runs to the end of the connection */
  GW_ASSERT(head("HTTP/1.1 200 OK\r\n\r\n", &r) > 0);
  GW_ASSERT_EQ(r.body, FL_HTTP_BODY_EOF);
  GW_ASSERT_EQ(r.close, 1);
  /* HTTP/1.0 closes unless it says keep-alive */
  GW_ASSERT(head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", &r) > 0);
  GW_ASSERT_EQ(r.close, 1);
  GW_ASSERT(head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n"
                 "Connection: keep-alive\r\n\r\n",
                 &r) > 0);
  GW_ASSERT_EQ(r.close, 0);
  /* statuses without a body, whatever the headers say */
  GW_ASSERT(head("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", &r) >
            0);
  GW_ASSERT_EQ(r.body, FL_HTTP_BODY_LENGTH);
  GW_ASSERT_EQ(r.length, 0);
  /* Transfer-Encoding wins over Content-Length */
  GW_ASSERT(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                 "Transfer-Encoding: CHUNKED\r\n\r\n",
                 &r) > 0);
  GW_ASSERT_EQ(r.body, FL_HTTP_BODY_CHUNKED);
}

static void test_bad_heads(void) {
  fl_http_resp_t r;
  const char *bad[] = {
      "HTTP/2 200 OK\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 099 Nope\r\n\r\n",
      "ICY 200 OK\r\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\nX: y\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n",
      NULL};
  for (int i = 0; bad[i] != NULL; i++) {
    if (head(bad[i], &r) != -1)
      GW_TEST_FAIL("accepted: %s", bad[i]);
  }
  /* a head that never ends is refused once it is too long */
  static char big[FL_HTTP_MAX_HEAD + 64];
  memcpy(big, "HTTP/1.1 200 OK\r\n", 17);
  memset(big + 17, 'x', sizeof big - 17);
  GW_ASSERT_EQ(fl_http_head(big, FL_HTTP_MAX_HEAD - 1, &r), 0);
  GW_ASSERT_EQ(fl_http_head(big, sizeof big, &r), -1);
}

static void test_chunked(void) {
  /* engine.io's "Session ID unknown", as Node frames it */
  const char *wire = "29\r\n{\"code\":1,\"message\":\"Session ID unknown\"}\r\n"
                     "0\r\n\r\n";
  size_t wl = strlen(wire);
  char buf[128], out[128];
  size_t ol = 0;
  /* every prefix needs more; the whole is complete */
  for (size_t i = 0; i < wl; i++)
    if (fl_http_chunked(wire, i, NULL, NULL) != 0)
      GW_TEST_FAIL("prefix %zu of %zu complete", i, wl);
  GW_ASSERT_EQ(fl_http_chunked(wire, wl, out, &ol), (long)wl);
  GW_ASSERT_MEMEQ(out, ol, "{\"code\":1,\"message\":\"Session ID unknown\"}",
                  41);
  /* several chunks, extensions, a trailer, bytes after it; in place */
  const char *multi = "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n1\r\n\x1e\r\n"
                      "0\r\nX-Trailer: 1\r\n\r\nNEXT";
  size_t ml = strlen(multi);
  memcpy(buf, multi, ml);
  long used = fl_http_chunked(buf, ml, buf, &ol);
  GW_ASSERT_EQ(used, (long)ml - 4);
  GW_ASSERT_MEMEQ(buf, ol, "abc0123456789\x1e", 14);
  /* an empty body */
  GW_ASSERT_EQ(fl_http_chunked("0\r\n\r\n", 5, out, &ol), 5);
  GW_ASSERT_EQ(ol, 0);
  /* malformed */
  GW_ASSERT_EQ(fl_http_chunked("x\r\n", 3, NULL, NULL), -1);
  GW_ASSERT_EQ(fl_http_chunked("3\r\nabcX\r\n", 9, NULL, NULL), -1);
  GW_ASSERT_EQ(fl_http_chunked("3\n\r\nabc", 7, NULL, NULL), -1);
  GW_ASSERT_EQ(fl_http_chunked("3\rxabc", 6, NULL, NULL), -1);
  GW_ASSERT_EQ(fl_http_chunked("1000000000000\r\n", 15, NULL, NULL), -1);
  /* a large size waits for its bytes rather than failing */
  GW_ASSERT_EQ(fl_http_chunked("ffff\r\nab", 8, NULL, NULL), 0);
}

static void test_requests(void) {
  char buf[512];
  size_t n =
      fl_http_request(buf, sizeof buf, "GET", "127.0.0.1:8000",
                      "/socket.io/?EIO=4&transport=polling&t=1", NULL, 0);
  const char *want = "GET /socket.io/?EIO=4&transport=polling&t=1 HTTP/1.1\r\n"
                     "Host: 127.0.0.1:8000\r\n\r\n";
  GW_ASSERT_MEMEQ(buf, n, want, strlen(want));
  n = fl_http_request(buf, sizeof buf, "POST", "h:1", "/p?sid=x",
                      "text/plain;charset=UTF-8", 12);
  want = "POST /p?sid=x HTTP/1.1\r\nHost: h:1\r\n"
         "Content-Type: text/plain;charset=UTF-8\r\nContent-Length: 12\r\n\r\n";
  GW_ASSERT_MEMEQ(buf, n, want, strlen(want));
  GW_ASSERT_EQ(fl_http_request(buf, 20, "GET", "h", "/", NULL, 0), 0);
}

GW_TEST_LIST = {{"response heads", test_heads},
                {"refused heads", test_bad_heads},
                {"chunked bodies", test_chunked},
                {"request heads", test_requests},
                {NULL, NULL}};
