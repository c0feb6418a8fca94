/* SPDX-License-Identifier: MIT */
/* gw_eio_test.c: the Engine.IO / Socket.IO codec, table-driven. */
#include "gw_test.h"

#include "gw_eio.h"
#include "gw_err.h"

typedef struct {
  const char *in;
  int ok;
  int eio, sio;
  const char *nsp;
  long long id; /* -1: none */
  const char *event;
} pcase_t;

static const pcase_t cases[] = {
    {"2", 1, GW_EIO_PING, 0, NULL, -1, NULL},
    {"3", 1, GW_EIO_PONG, 0, NULL, -1, NULL},
    {"3probe", 1, GW_EIO_PONG, 0, NULL, -1, NULL},
    {"1", 1, GW_EIO_CLOSE, 0, NULL, -1, NULL},
    {"40", 1, GW_EIO_MESSAGE, GW_SIO_CONNECT, "/", -1, NULL},
    {"40{\"token\":\"1\"}", 1, GW_EIO_MESSAGE, GW_SIO_CONNECT, "/", -1, NULL},
    {"40/chat,", 1, GW_EIO_MESSAGE, GW_SIO_CONNECT, "/chat", -1, NULL},
    {"40/chat", 1, GW_EIO_MESSAGE, GW_SIO_CONNECT, "/chat", -1, NULL},
    {"40/chat,{\"a\":1}", 1, GW_EIO_MESSAGE, GW_SIO_CONNECT, "/chat", -1, NULL},
    {"41", 1, GW_EIO_MESSAGE, GW_SIO_DISCONNECT, "/", -1, NULL},
    {"42[\"hello\",1]", 1, GW_EIO_MESSAGE, GW_SIO_EVENT, "/", -1, "hello"},
    {"4212[\"create\",{}]", 1, GW_EIO_MESSAGE, GW_SIO_EVENT, "/", 12, "create"},
    {"42/chat,7[\"x\"]", 1, GW_EIO_MESSAGE, GW_SIO_EVENT, "/chat", 7, "x"},
    {"42[1]", 1, GW_EIO_MESSAGE, GW_SIO_EVENT, "/", -1, NULL},
    {"435[]", 1, GW_EIO_MESSAGE, GW_SIO_ACK, "/", 5, NULL},
    /* a NUL makes it another name than the reserved "connect" */
    {"42[\"connect\\u0000x\"]", 1, GW_EIO_MESSAGE, GW_SIO_EVENT, "/", -1,
     "connect"},
    /* malformed: each would close the connection */
    {"", 0, 0, 0, NULL, -1, NULL},
    {"9", 0, 0, 0, NULL, -1, NULL},
    {"x", 0, 0, 0, NULL, -1, NULL},
    {"4", 0, 0, 0, NULL, -1, NULL},
    {"4abc", 0, 0, 0, NULL, -1, NULL},
    {"47", 0, 0, 0, NULL, -1, NULL},
    {"42{}", 0, 0, 0, NULL, -1, NULL},
    {"42[]", 0, 0, 0, NULL, -1, NULL},
    {"42", 0, 0, 0, NULL, -1, NULL},
    {"42[\"connect\"]", 0, 0, 0, NULL, -1, NULL},
    {"42[\"disconnecting\",1]", 0, 0, 0, NULL, -1, NULL},
    {"42[\"a\"", 0, 0, 0, NULL, -1, NULL},
    {"42[\"a\"]x", 0, 0, 0, NULL, -1, NULL},
    {"42[{\"a\":1}]", 0, 0, 0, NULL, -1, NULL},
    {"42abc[\"a\"]", 0, 0, 0, NULL, -1, NULL},
    {"42[\"a\",{\"k\":1,\"k\":2}]", 0, 0, 0, NULL, -1, NULL},
    {"421234567890123456[\"a\"]", 0, 0, 0, NULL, -1, NULL},
    {"43[1]x", 0, 0, 0, NULL, -1, NULL},
    {"43{}", 0, 0, 0, NULL, -1, NULL},
    {"40[1]", 0, 0, 0, NULL, -1, NULL},
    {"41{}", 0, 0, 0, NULL, -1, NULL},
    {"44{\"message\":\"x\"}", 0, 0, 0, NULL, -1, NULL},
    {"451-[\"baz\",{\"_placeholder\":true,\"num\":0}]", 0, 0, 0, NULL, -1,
     NULL},
    {"461-15[\"bar\",{\"_placeholder\":true,\"num\":0}]", 0, 0, 0, NULL, -1,
     NULL},
};

static void test_parse_table(void) {
  for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const pcase_t *c = &cases[i];
    gw_eio_pkt_t p;
    int rc = gw_eio_parse(c->in, strlen(c->in), &p);
    if ((rc == 0) != c->ok)
      GW_TEST_FAIL("case \"%s\": rc %d, want %s", c->in, rc,
                   c->ok ? "ok" : "error");
    if (!c->ok) {
      GW_ASSERT_EQ(rc, GW_EPROTO);
      GW_ASSERT(p.data == NULL);
      continue;
    }
    GW_ASSERT_EQ(p.eio_type, c->eio);
    if (c->eio == GW_EIO_MESSAGE) {
      GW_ASSERT_EQ(p.sio_type, c->sio);
      GW_ASSERT_MEMEQ(p.nsp, p.nsp_len, c->nsp, strlen(c->nsp));
      GW_ASSERT_EQ(p.id == GW_EIO_NO_ID ? -1 : (long long)p.id, c->id);
      if (c->event)
        GW_ASSERT_STREQ(p.event, c->event);
      else
        GW_ASSERT(p.event == NULL);
    }
    gw_eio_pkt_clear(&p);
  }
}

static void test_sid(void) {
  char a[21], b[21];
  GW_ASSERT_OK(gw_eio_sid(a));
  GW_ASSERT_OK(gw_eio_sid(b));
  GW_ASSERT_EQ(strlen(a), 20);
  GW_ASSERT(strcmp(a, b) != 0);
  for (int i = 0; i < 20; i++)
    GW_ASSERT(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789-_",
                     a[i]) != NULL);
}

#define V5 "{\"code\":5,\"message\":\"Unsupported protocol version\"}"
#define T0 "{\"code\":0,\"message\":\"Transport unknown\"}"

static void test_query_check(void) {
  static const struct {
    const char *q;
    const char *want; /* NULL: accepted */
  } qcases[] = {
      {"EIO=4&transport=websocket", NULL},
      {"transport=websocket&EIO=4", NULL},
      {"EIO=4&transport=websocket&t=N8hyd6w&b64=1", NULL},
      {"&&EIO=4&&transport=websocket&", NULL},
      {"EIO=%34&transport=web%73ocket", NULL},       /* encoded values */
      {"%45IO=4&%74ransport=websocket", NULL},       /* encoded names */
      {"x=%zz&y=%&EIO=4&transport=websocket", NULL}, /* bad '%' elsewhere */
      {"token="
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
       "&EIO=4&transport=websocket",
       NULL}, /* a long argument first */
      {"", V5},
      {"EIO=3&transport=websocket", V5},
      {"EIO=5&transport=websocket", V5},
      {"transport=websocket", V5},
      {"EIO&transport=websocket", V5},         /* no '=' */
      {"EIO=&transport=websocket", V5},        /* empty value */
      {"EIO=4&EIO=4&transport=websocket", V5}, /* repeated */
      {"EIO=4&EIO=3&transport=websocket", V5},
      {"EIO=44&transport=websocket", V5},
      {"EIO=4%00&transport=websocket", V5}, /* decoded NUL */
      {"EIO=%4&transport=websocket", V5},   /* malformed: "%4" */
      {"EIO=+4&transport=websocket", V5},   /* '+' is a space */
      {"eio=4&transport=websocket", V5},    /* names are exact */
      {"EIO%3D4&transport=websocket", V5},  /* encoded '=' */
      {"EIO=4", T0},
      {"EIO=4&transport=polling", NULL},
      {"EIO=4&transport=polling&transport=websocket", T0},
      {"EIO=4&transport=websocket&transport=websocket", T0},
      {"EIO=4&transport=websocket%20", T0},
      {"EIO=4&transport=WebSocket", T0},
      {"EIO=4&transport", T0},
      {"EIO=3&transport=polling", V5}, /* EIO is checked first */
  };
  for (size_t i = 0; i < sizeof(qcases) / sizeof(*qcases); i++) {
    const char *got = gw_eio_query_check(qcases[i].q, strlen(qcases[i].q));
    if (got != qcases[i].want && (got == NULL || qcases[i].want == NULL ||
                                  strcmp(got, qcases[i].want) != 0))
      GW_TEST_FAIL("query \"%s\": got %s, want %s", qcases[i].q,
                   got ? got : "ok", qcases[i].want ? qcases[i].want : "ok");
  }
  /* The length bounds the query: nothing is read past it. */
  GW_ASSERT(gw_eio_query_check("EIO=4&transport=websocketX", 25) == NULL);
  GW_ASSERT(gw_eio_query_check("EIO=4&transport=websocke", 24) != NULL);
}

/* The decoded form, one argument at a time as lws hands them out. */
static void test_query_add(void) {
  gw_eio_query_t q;
  gw_eio_query_init(&q);
  GW_ASSERT_STREQ(gw_eio_query_error(&q), V5);
  gw_eio_query_add(&q, "t=a&b", 5); /* a decoded '&' is just a byte */
  gw_eio_query_add(&q, "EIO=4", 5);
  GW_ASSERT_STREQ(gw_eio_query_error(&q), T0);
  gw_eio_query_add(&q, "transport=websocket", 19);
  GW_ASSERT(gw_eio_query_error(&q) == NULL);
  gw_eio_query_add(&q, "EIO=4", 5);
  GW_ASSERT_STREQ(gw_eio_query_error(&q), V5);

  gw_eio_query_init(&q);
  gw_eio_query_add(&q, "EIO=4\0", 6); /* NUL kept by the length */
  gw_eio_query_add(&q, "transport=websocket", 19);
  GW_ASSERT_STREQ(gw_eio_query_error(&q), V5);
  gw_eio_query_init(&q);
  gw_eio_query_add(&q, "EIO=%34", 7); /* already decoded: taken literally */
  gw_eio_query_add(&q, "transport=websocket", 19);
  GW_ASSERT_STREQ(gw_eio_query_error(&q), V5);
}

/* The transport and the sid of polling requests and upgrades. */
static void test_query_sid(void) {
  static const struct {
    const char *q;
    int transport;
    const char *sid; /* NULL: none; "": names no session */
  } scases[] = {
      {"EIO=4&transport=polling&t=x", GW_EIO_T_POLLING, NULL},
      {"EIO=4&transport=websocket", GW_EIO_T_WEBSOCKET, NULL},
      {"EIO=4&transport=polling&sid=abcdefghij0123456789", GW_EIO_T_POLLING,
       "abcdefghij0123456789"},
      {"sid=abcdefghij01234567-_&EIO=4&transport=websocket", GW_EIO_T_WEBSOCKET,
       "abcdefghij01234567-_"},
      {"EIO=4&transport=polling&sid=abcdefghij012345678%39", GW_EIO_T_POLLING,
       "abcdefghij0123456789"}, /* decoded */
      {"EIO=4&transport=polling&sid=abcdefghij012345678", GW_EIO_T_POLLING,
       ""}, /* 19 */
      {"EIO=4&transport=polling&sid=abcdefghij01234567890", GW_EIO_T_POLLING,
       ""}, /* 21 */
      {"EIO=4&transport=polling&sid=abcdefghij012345678%2F", GW_EIO_T_POLLING,
       ""}, /* '/' */
      {"EIO=4&transport=polling&sid=abcdefghij0123456789&sid="
       "abcdefghij0123456789",
       GW_EIO_T_POLLING, ""}, /* repeated */
      {"EIO=4&transport=polling&sid", GW_EIO_T_POLLING, ""},
      {"EIO=4&transport=xhr&sid=abcdefghij0123456789", GW_EIO_T_NONE,
       "abcdefghij0123456789"},
  };
  for (size_t i = 0; i < sizeof(scases) / sizeof(*scases); i++) {
    gw_eio_query_t q;
    gw_eio_query_init(&q);
    gw_eio_query_parse(&q, scases[i].q, strlen(scases[i].q));
    if (gw_eio_query_transport(&q) != scases[i].transport)
      GW_TEST_FAIL("query \"%s\": transport %d", scases[i].q,
                   gw_eio_query_transport(&q));
    const char *sid = gw_eio_query_sid(&q);
    if ((sid == NULL) != (scases[i].sid == NULL) ||
        (sid != NULL && strcmp(sid, scases[i].sid) != 0))
      GW_TEST_FAIL("query \"%s\": sid %s", scases[i].q, sid ? sid : "(none)");
  }
}

/* The bound on JSON values, counted before jansson builds anything. */
static void test_json_values(void) {
  char buf[8192];
  for (int n = 250; n <= 260; n++) {
    /* 42["e",1,1,...]: the array, "e" and n ones. */
    size_t k = (size_t)snprintf(buf, sizeof(buf), "42[\"e\"");
    for (int i = 0; i < n; i++)
      k += (size_t)snprintf(buf + k, sizeof(buf) - k, ",1");
    k += (size_t)snprintf(buf + k, sizeof(buf) - k, "]");
    gw_eio_pkt_t pkt;
    int rc = gw_eio_parse(buf, k, &pkt);
    if (n + 2 <= GW_EIO_MAX_JSON_VALUES) {
      GW_ASSERT_OK(rc);
      gw_eio_pkt_clear(&pkt);
    } else {
      GW_ASSERT_EQ(rc, GW_EPROTO);
    }
  }
  /* Commas, brackets and escaped quotes inside strings are no values. */
  size_t k = (size_t)snprintf(buf, sizeof(buf), "42[\"e\",\"\\\"");
  for (int i = 0; i < 2000; i++)
    buf[k++] = i % 3 == 0 ? ',' : i % 3 == 1 ? '[' : '{';
  k += (size_t)snprintf(buf + k, sizeof(buf) - k, "\"]");
  gw_eio_pkt_t pkt;
  GW_ASSERT_OK(gw_eio_parse(buf, k, &pkt));
  gw_eio_pkt_clear(&pkt);
}

GW_TEST_LIST = {
    {"json values", test_json_values},
    {"query check", test_query_check},
    {"query sid", test_query_sid},
    {"query add", test_query_add},
    {"parse table", test_parse_table},
    {"sid", test_sid},
    {NULL, NULL},
};
