/* SPDX-License-Identifier: MIT */
/* gw_jwt.c: HS256 JSON Web Token verification (see gw_jwt.h). jansson
 * parses the decoded header and payload; OpenSSL's libcrypto computes the
 * HMAC and compares it in constant time. Nothing outlives the call but the
 * claims handed to the caller. */
#include "gw_jwt.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define SIG_LEN 32 /* SHA-256 */

const char *gw_jwt_strerror(int err) {
  switch (err) {
  case GW_JWT_OK:
    return "ok";
#define XX(code, msg)                                                          \
  case GW_JWT_##code:                                                          \
    return msg;
    GW_JWT_ERR_MAP(XX)
#undef XX
  default:
    return "unknown error";
  }
}

void gw_jwt_claims_clear(gw_jwt_claims_t *c) {
  free(c->name);
  memset(c, 0, sizeof(*c));
}

/* b64url_val maps one base64url character to its 6 bits, or -1. */
static int b64url_val(unsigned char ch) {
  if (ch >= 'A' && ch <= 'Z')
    return ch - 'A';
  if (ch >= 'a' && ch <= 'z')
    return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9')
    return ch - '0' + 52;
  if (ch == '-')
    return 62;
  if (ch == '_')
    return 63;
  return -1;
}

/* b64url_decode decodes |in|/|n| (base64url, no padding, RFC 7515 section
 * 2) into |out|, which has room for n * 3 / 4 bytes. Refuses padding, other
 * alphabets, an impossible length and non-zero leftover bits: each byte
 * string has exactly one accepted encoding, so a token cannot be altered
 * without the signature check seeing it. Returns the length or -1. */
static long b64url_decode(const char *in, size_t n, unsigned char *out) {
  if (n % 4 == 1)
    return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_val((unsigned char)in[i]);
    if (v < 0)
      return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits);
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return -1; /* non-canonical: leftover bits must be zero */
  return (long)o;
}

/* decode_json decodes one base64url part into a JSON object (owned). */
static json_t *decode_json(const char *in, size_t n) {
  unsigned char buf[GW_JWT_MAX_TOKEN];
  long len = b64url_decode(in, n, buf);
  if (len <= 0)
    return NULL;
  json_t *j =
      json_loadb((const char *)buf, (size_t)len, JSON_REJECT_DUPLICATES, NULL);
  if (j != NULL && !json_is_object(j)) {
    json_decref(j);
    return NULL;
  }
  return j;
}

/* time_claim reads a NumericDate claim: 0 absent, 1 present (|*v| set),
 * -1 not a number. */
static int time_claim(json_t *payload, const char *key, double *v) {
  json_t *j = json_object_get(payload, key);
  if (j == NULL)
    return 0;
  if (!json_is_number(j))
    return -1;
  *v = json_number_value(j);
  return 1;
}

static int64_t clamp_i64(double d) {
  if (d >= 9.2e18)
    return INT64_MAX;
  if (d <= -9.2e18)
    return INT64_MIN;
  return (int64_t)d;
}

int gw_jwt_verify(const char *token, size_t len, const void *secret,
                  size_t secret_len, int64_t now, int64_t leeway,
                  gw_jwt_claims_t *out) {
  memset(out, 0, sizeof(*out));
  if (len > GW_JWT_MAX_TOKEN)
    return GW_JWT_ETOOLONG;
  const char *dot1 = memchr(token, '.', len);
  if (dot1 == NULL)
    return GW_JWT_EMALFORMED;
  const char *dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
  if (dot2 == NULL)
    return GW_JWT_EMALFORMED;
  const char *sig = dot2 + 1;
  size_t hlen = (size_t)(dot1 - token), plen = (size_t)(dot2 - dot1 - 1),
         slen = len - (size_t)(sig - token);
  if (memchr(sig, '.', slen) != NULL) /* a JWE has five parts */
    return GW_JWT_EMALFORMED;

  /* The header first: its algorithm decides whether to go on at all. */
  json_t *hdr = decode_json(token, hlen);
  if (hdr == NULL)
    return GW_JWT_EMALFORMED;
  json_t *alg = json_object_get(hdr, "alg");
  int alg_ok = json_is_string(alg) &&
               strcmp(json_string_value(alg), "HS256") == 0 &&
               json_string_length(alg) == 5;
  /* "crit" lists extensions the verifier must understand (RFC 7515 section
   * 4.1.11); we understand none. */
  int crit = json_object_get(hdr, "crit") != NULL;
  json_decref(hdr);
  if (!alg_ok)
    return GW_JWT_EALG;
  if (crit)
    return GW_JWT_EMALFORMED;

  unsigned char want[EVP_MAX_MD_SIZE], got[GW_JWT_MAX_TOKEN];
  unsigned int want_len = 0;
  if (HMAC(EVP_sha256(), secret, (int)secret_len, (const unsigned char *)token,
           hlen + 1 + plen, want, &want_len) == NULL ||
      want_len != SIG_LEN)
    return GW_JWT_ESIG;
  long got_len = b64url_decode(sig, slen, got);
  if (got_len != SIG_LEN || CRYPTO_memcmp(want, got, SIG_LEN) != 0)
    return GW_JWT_ESIG;

  /* Signed by the holder of the secret: now read the claims. */
  json_t *payload = decode_json(dot1 + 1, plen);
  if (payload == NULL)
    return GW_JWT_EMALFORMED;
  int rc = GW_JWT_OK;
  double exp = 0, nbf = 0;
  int has_exp = time_claim(payload, "exp", &exp);
  int has_nbf = time_claim(payload, "nbf", &nbf);
  json_t *name = json_object_get(payload, "name");
  if (has_exp < 0 || has_nbf < 0 || (name != NULL && !json_is_string(name)))
    rc = GW_JWT_ECLAIM;
  else if (has_exp && !((double)(now - leeway) < exp))
    rc = GW_JWT_EEXPIRED;
  else if (has_nbf && !(nbf <= (double)(now + leeway)))
    rc = GW_JWT_ENOTYET;
  if (rc == GW_JWT_OK && name != NULL) {
    size_t nl = json_string_length(name);
    const char *nv = json_string_value(name);
    if (memchr(nv, '\0', nl) != NULL) /* jansson refuses \u0000 already */
      rc = GW_JWT_ECLAIM;
    else if ((out->name = malloc(nl + 1)) == NULL)
      rc = GW_JWT_EMALFORMED; /* out of memory: refuse, never admit */
    else {
      memcpy(out->name, nv, nl + 1);
      out->name_len = nl;
    }
  }
  json_decref(payload);
  if (rc != GW_JWT_OK) {
    gw_jwt_claims_clear(out);
    return rc;
  }
  out->has_exp = has_exp;
  out->has_nbf = has_nbf;
  out->exp = clamp_i64(exp);
  out->nbf = clamp_i64(nbf);
  return 0;
}
