/* SPDX-License-Identifier: MIT */
/* gw_redis_url_fuzz.c: fuzz target for the redis:// URL parser
 * (gw_redis_url.c), which reads --redis from the command line and the
 * environment. The input is the URL (cut at a NUL, as a C string would be).
 * Built twice: libFuzzer (-DGW_FUZZ=ON) and corpus replay (ctest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_redis_url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *url = malloc(size + 1);
  if (url == NULL)
    return 0;
  memcpy(url, data, size);
  url[size] = '\0';
  gw_redis_url_t u;
  memset(&u, 0xA5, sizeof(u)); /* a parser relying on a zeroed |out| shows */
  if (gw_redis_url_parse(url, &u) == 0) {
    /* Every string it returns is terminated inside its buffer, and the
     * numbers are in range. */
    if (memchr(u.host, '\0', sizeof(u.host)) == NULL || u.host[0] == '\0' ||
        memchr(u.user, '\0', sizeof(u.user)) == NULL ||
        memchr(u.password, '\0', sizeof(u.password)) == NULL || u.port < 1 ||
        u.port > 65535 || u.db < 0 || (u.has_user != 0 && u.has_user != 1) ||
        (u.has_password != 0 && u.has_password != 1))
      abort();
  }
  free(url);
  return 0;
}
