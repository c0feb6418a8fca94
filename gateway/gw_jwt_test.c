/* SPDX-License-Identifier: MIT */
/* gw_jwt_test.c: HS256 token verification against fixed vectors. The
 * vectors were made once with Node's crypto (createHmac('sha256')) and the
 * secret below, at a notional "now" of 1700000000. */
#include "gw_test.h"

#include "gw_jwt.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW    1700000000
#define LEEWAY 30

#define T_VALID                                                                \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMD" \
  "AwMDAwfQ.4pJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn_grDv4"
#define T_NOCLAIMS                                                             \
  "eyJhbGciOiJIUzI1NiJ9.e30.x68P15GCa1HmSDdw4rVLsw6ZdUMyLZHfITcI3kWE3Eg"
#define T_EXP_SOON                                                             \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE2OTk5OTk5OTB9."             \
  "xGjNqu7zkKRJdCI-Wr8qzbqxHfexLczsiPnii3bNoUc"
#define T_EXPIRED                                                              \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE2OTk5OTk5NDB9.EY-"          \
  "zXyed1YL29kpA6RXxxH5mkflkFYvWysL3rJKTBB0"
#define T_NBF_FUTURE                                                           \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjE3MDAwMDAxMjB9._"            \
  "dF3obpMovJrF_iuplP-IwDKRbjnjKmw1Ik9yIuEn-k"
#define T_NBF_SOON                                                             \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjE3MDAwMDAwMTB9."             \
  "mmFEgNQqsM6TU_22KdMxnIkCRnLlyI36w0yrjmPHk-0"
#define T_WRONG_SECRET                                                         \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoiYWxpY2UifQ."               \
  "uIsFlRGuC2XCkh_gvdw5xCVyiIDOWlEaFgwhnr3HZ8M"
#define T_ALG_NONE                                                             \
  "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJuYW1lIjoibWFsbG9yeSJ9."
#define T_ALG_HS384                                                            \
  "eyJhbGciOiJIUzM4NCJ9.eyJuYW1lIjoiYWxpY2UifQ.kEy0QuDCdlYdlOJ0sBlD453-"       \
  "Hr5IVreWC_sjs9oaMwc35sgjN7pK_vGzEiFt6L2X"
#define T_ALG_LOWER                                                            \
  "eyJhbGciOiJoczI1NiJ9.eyJuYW1lIjoiYWxpY2UifQ.swe4V-V3o05CnD-"                \
  "enu9IN5WGoFqtK6PYVp6Bx_ZXN4k"
#define T_NO_ALG                                                               \
  "eyJ0eXAiOiJKV1QifQ.eyJuYW1lIjoiYWxpY2UifQ.Tty9vO2X3Y6SuFcrcui8JP-dbDq-"     \
  "B2Y2hQfpXvoiv8U"
#define T_CRIT                                                                 \
  "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiZXhwIl19.eyJuYW1lIjoiYWxpY2UifQ."           \
  "Hez8WXrMVSMFi1k8v4qZ8yspon3q1XxCYdCEo-Mv9H8"
#define T_EXP_STRING                                                           \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOiIyMDAwMDAwMDAwIn0."          \
  "ZRDqL14OtaFkKB7mE2GdzJcnQz8Ezw3Rkphz7uTr6Vc"
#define T_NAME_NUMBER                                                          \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjo0Mn0."                      \
  "9rmkUsxg8ShiLTle36YeQFyHpJJZQZ4gW76HhjFwxFA"
#define T_NAME_NUL                                                             \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoiYWxcdTAwMDBpY2UifQ."       \
  "0ynIvRF3Xdr779GSzOz1nsItlsJLajRJHHPU_X0wJtY"
#define T_DUP_NAME                                                             \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJuYW1lIjoiYWxpY2UiLCJuYW1lIjoibWFsbG9yeSJ9."                              \
  "xDnSRaZbx8ocQqW4WQyTbMZKBISSxkbpE8mTOxp1nSM"
#define T_PAYLOAD_ARRAY                                                        \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.WyJhbGljZSJd.C-vT_"                    \
  "186NCrFADG4vjInfUa4qxftAKadjJjzndIYz5g"
#define T_UTF8_NAME                                                            \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYW1lIjoi66-87IiYIPCfmIAifQ."       \
  "Xwmw1aq4OJy-8zoerz1z_9snmuhJXrTmqDNTRKO_tSk"
#define T_EXP_FLOAT                                                            \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjE3MDAwMDAwMDAuNX0."          \
  "2tJcdmsgsF3Q1yTXavDMFNyLQmK3V2MnDzAccVJXcfM"
#define T_TAMPERED_PAYLOAD                                                     \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJtYWxsb3J5IiwiZXhwIjoyMDAwMDAwMDAwLCJpYXQiOjE3MD" \
  "AwMDAwMDB9.4pJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn_grDv4"
#define T_TAMPERED_SIG                                                         \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMD" \
  "AwMDAwfQ.ApJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn_grDv4"
#define T_PADDED                                                               \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMD" \
  "AwMDAwfQ.4pJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn_grDv4="
#define T_STD_ALPHABET                                                         \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMD" \
  "AwMDAwfQ.4pJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn/grDv4"
#define T_NONCANONICAL_SIG                                                     \
  "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                      \
  "eyJzdWIiOiJ1MSIsIm5hbWUiOiJhbGljZSIsImV4cCI6MjAwMDAwMDAwMCwiaWF0IjoxNzAwMD" \
  "AwMDAwfQ.4pJF9FualSfbEKqqrXsIVb8IhHwc1GPJtltZn_grDv5"

static int verify_at(const char *tok, int64_t now, gw_jwt_claims_t *c) {
  return gw_jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET), now, LEEWAY,
                       c);
}

/* check expects |tok| to fail with |want| and leave nothing allocated. */
static void check(const char *tok, int want) {
  gw_jwt_claims_t c;
  int rc = verify_at(tok, NOW, &c);
  if (rc != want)
    GW_TEST_FAIL("%.60s...: got %d (%s), want %d (%s)", tok, rc,
                 gw_jwt_strerror(rc), want, gw_jwt_strerror(want));
  GW_ASSERT(c.name == NULL);
  if (rc == 0)
    gw_jwt_claims_clear(&c);
}

static void test_valid(void) {
  gw_jwt_claims_t c;
  GW_ASSERT_OK(verify_at(T_VALID, NOW, &c));
  GW_ASSERT_STREQ(c.name, "alice");
  GW_ASSERT_EQ(c.name_len, 5);
  GW_ASSERT(c.has_exp);
  GW_ASSERT_EQ(c.exp, 2000000000);
  GW_ASSERT(!c.has_nbf);
  gw_jwt_claims_clear(&c);
  GW_ASSERT(c.name == NULL);

  GW_ASSERT_OK(verify_at(T_NOCLAIMS, NOW, &c)); /* no exp: never expires */
  GW_ASSERT(c.name == NULL && !c.has_exp);
  gw_jwt_claims_clear(&c);

  GW_ASSERT_OK(verify_at(T_UTF8_NAME, NOW, &c));
  GW_ASSERT_STREQ(c.name, "\xEB\xAF\xBC\xEC\x88\x98 \xF0\x9F\x98\x80");
  gw_jwt_claims_clear(&c);
}

static void test_signature(void) {
  check(T_TAMPERED_PAYLOAD, GW_JWT_ESIG);
  check(T_TAMPERED_SIG, GW_JWT_ESIG);
  check(T_WRONG_SECRET, GW_JWT_ESIG);
  /* The right token under another secret. */
  gw_jwt_claims_t c;
  const char *other = "0123456789abcdef0123456789abcdeF";
  GW_ASSERT_EQ(gw_jwt_verify(T_VALID, strlen(T_VALID), other, strlen(other),
                             NOW, LEEWAY, &c),
               GW_JWT_ESIG);
  /* Every truncation of a valid token fails. */
  for (size_t n = 0; n < strlen(T_VALID); n++) {
    int rc = gw_jwt_verify(T_VALID, n, SECRET, strlen(SECRET), NOW, LEEWAY, &c);
    GW_ASSERT(rc != 0);
  }
  /* Every single-character change of the signature fails. */
  char tok[sizeof(T_VALID)];
  memcpy(tok, T_VALID, sizeof(tok));
  char *sig = strrchr(tok, '.') + 1;
  for (char *p = sig; *p; p++) {
    char was = *p;
    *p = was == 'A' ? 'B' : 'A';
    GW_ASSERT(verify_at(tok, NOW, &c) != 0);
    *p = was;
  }
  GW_ASSERT_OK(verify_at(tok, NOW, &c));
  gw_jwt_claims_clear(&c);
}

static void test_algorithms(void) {
  check(T_ALG_NONE, GW_JWT_EALG);
  check(T_ALG_HS384, GW_JWT_EALG);
  check(T_ALG_LOWER, GW_JWT_EALG);
  check(T_NO_ALG, GW_JWT_EALG);
  check(T_CRIT, GW_JWT_EMALFORMED);
}

static void test_times(void) {
  gw_jwt_claims_t c;
  check(T_EXPIRED, GW_JWT_EEXPIRED);
  GW_ASSERT_OK(verify_at(T_EXP_SOON, NOW, &c)); /* 10 s late: leeway */
  gw_jwt_claims_clear(&c);
  GW_ASSERT_EQ(verify_at(T_EXP_SOON, NOW + 20, &c), GW_JWT_EEXPIRED);
  /* exp is exclusive: valid while now < exp + leeway. */
  GW_ASSERT_OK(verify_at(T_EXPIRED, NOW - 31, &c));
  gw_jwt_claims_clear(&c);
  GW_ASSERT_EQ(verify_at(T_EXPIRED, NOW - 30, &c), GW_JWT_EEXPIRED);
  /* Fractional NumericDate: 1700000000.5 */
  GW_ASSERT_OK(verify_at(T_EXP_FLOAT, NOW + LEEWAY, &c));
  gw_jwt_claims_clear(&c);
  GW_ASSERT_EQ(verify_at(T_EXP_FLOAT, NOW + LEEWAY + 1, &c), GW_JWT_EEXPIRED);
  check(T_NBF_FUTURE, GW_JWT_ENOTYET);
  GW_ASSERT_OK(verify_at(T_NBF_FUTURE, NOW + 90, &c));
  gw_jwt_claims_clear(&c);
  GW_ASSERT_OK(verify_at(T_NBF_SOON, NOW, &c));
  GW_ASSERT(c.has_nbf);
  gw_jwt_claims_clear(&c);
  GW_ASSERT_EQ(gw_jwt_verify(T_NBF_SOON, strlen(T_NBF_SOON), SECRET,
                             strlen(SECRET), NOW, 0, &c),
               GW_JWT_ENOTYET);
}

static void test_claims(void) {
  check(T_EXP_STRING, GW_JWT_ECLAIM);
  check(T_NAME_NUMBER, GW_JWT_ECLAIM);
  check(T_NAME_NUL, GW_JWT_EMALFORMED); /* jansson refuses \u0000 */
  check(T_DUP_NAME, GW_JWT_EMALFORMED); /* no parser differential */
  check(T_PAYLOAD_ARRAY, GW_JWT_EMALFORMED);
}

static void test_malformed(void) {
  check(T_PADDED, GW_JWT_ESIG);
  check(T_STD_ALPHABET, GW_JWT_ESIG);
  check(T_NONCANONICAL_SIG, GW_JWT_ESIG);
  check("", GW_JWT_EMALFORMED);
  check("abc", GW_JWT_EMALFORMED);
  check("..", GW_JWT_EMALFORMED);
  check("a.b.c.d", GW_JWT_EMALFORMED);
  check("eyJhbGciOiJIUzI1NiJ9", GW_JWT_EMALFORMED);
  check("eyJhbGciOiJIUzI1NiJ9.e30", GW_JWT_EMALFORMED);
  check("eyJhbGciOiJIUzI1NiJ9=.e30.x68P15GCa1HmSDdw4rVLsw6ZdUMyLZHfITcI3kWE3Eg",
        GW_JWT_EMALFORMED);
  check("e.e30.x68P15GCa1HmSDdw4rVLsw6ZdUMyLZHfITcI3kWE3Eg",
        GW_JWT_EMALFORMED); /* length 1 mod 4 */
  check("W10.e30.x68P15GCa1HmSDdw4rVLsw6ZdUMyLZHfITcI3kWE3Eg",
        GW_JWT_EMALFORMED); /* header [] */
  check("eyJhbGciOiJIUzI1NiJ9.e30.x68P15GCa1HmSDdw4rVLsw6ZdUMyLZHfITcI3kWE3Eg"
        ".e30.e30",
        GW_JWT_EMALFORMED); /* five parts (JWE) */
  /* A NUL inside the token ends nothing: length is explicit. */
  gw_jwt_claims_t c;
  GW_ASSERT(gw_jwt_verify("eyJhbGciOiJIUzI1NiJ9\0.e30.x", 26, SECRET,
                          strlen(SECRET), NOW, LEEWAY, &c) != 0);
}

static void test_huge(void) {
  size_t n = GW_JWT_MAX_TOKEN + 1;
  char *big = malloc(n + 1);
  GW_ASSERT(big != NULL);
  memset(big, 'A', n);
  memcpy(big, T_NOCLAIMS, strlen(T_NOCLAIMS));
  big[n] = '\0';
  check(big, GW_JWT_ETOOLONG);
  /* At the bound: decoded and refused for what it is, not for its size. */
  big[GW_JWT_MAX_TOKEN] = '\0';
  check(big, GW_JWT_ESIG);
  /* A header of the largest size still decodes within the bound. */
  memset(big, 'A', GW_JWT_MAX_TOKEN);
  big[GW_JWT_MAX_TOKEN - 4] = '.';
  big[GW_JWT_MAX_TOKEN - 2] = '.';
  big[GW_JWT_MAX_TOKEN] = '\0';
  check(big, GW_JWT_EMALFORMED);
  free(big);
}

GW_TEST_LIST = {
    {"valid tokens", test_valid},
    {"signature", test_signature},
    {"algorithms", test_algorithms},
    {"exp and nbf", test_times},
    {"claim types", test_claims},
    {"malformed", test_malformed},
    {"huge", test_huge},
    {NULL, NULL},
};
