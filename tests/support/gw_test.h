/* SPDX-License-Identifier: MIT */
/* gw_test.h: the project's tiny unit-test runner, modeled on libuv's task.h.
 * A test file defines GW_TEST_LIST; main() runs every test (or the one named
 * on the command line) and aborts on the first failed assertion, printing
 * both sides. */
#ifndef GW_TEST_H
#define GW_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gw_test {
  const char *name;
  void (*fn)(void);
} gw_test_t;

#define GW_TEST_FAIL(...)                                                      \
  do {                                                                         \
    fprintf(stderr, "%s:%d: ", __FILE__, __LINE__);                            \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    abort();                                                                   \
  } while (0)

#define GW_ASSERT(c)                                                           \
  do {                                                                         \
    if (!(c))                                                                  \
      GW_TEST_FAIL("assertion failed: %s", #c);                                \
  } while (0)

#define GW_ASSERT_EQ(a, b)                                                     \
  do {                                                                         \
    intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                           \
    if (a_ != b_)                                                              \
      GW_TEST_FAIL("%s == %s: %jd != %jd", #a, #b, a_, b_);                    \
  } while (0)

#define GW_ASSERT_OK(a) GW_ASSERT_EQ((a), 0)

#define GW_ASSERT_STREQ(a, b)                                                  \
  do {                                                                         \
    const char *a_ = (a), *b_ = (b);                                           \
    if (a_ == NULL || b_ == NULL || strcmp(a_, b_) != 0)                       \
      GW_TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",   \
                   b_ ? b_ : "(null)");                                        \
  } while (0)

/* Prints both buffers (not NUL-terminated) and aborts. */
static inline void gw_test_memeq_fail(const char *file, int line,
                                      const char *an, const char *bn,
                                      const void *a, size_t al, const void *b,
                                      size_t bl) {
  fprintf(stderr, "%s:%d: %s == %s: \"", file, line, an, bn);
  fwrite(a, 1, al, stderr);
  fputs("\" != \"", stderr);
  fwrite(b, 1, bl, stderr);
  fputs("\"\n", stderr);
  abort();
}

#define GW_ASSERT_MEMEQ(a, alen, b, blen)                                      \
  do {                                                                         \
    size_t al_ = (alen), bl_ = (blen);                                         \
    if (al_ != bl_ || memcmp((a), (b), al_) != 0)                              \
      gw_test_memeq_fail(__FILE__, __LINE__, #a, #b, (a), al_, (b), bl_);      \
  } while (0)

extern const gw_test_t gw_test_list[];
#define GW_TEST_LIST const gw_test_t gw_test_list[]

#ifndef GW_TEST_NO_MAIN
int main(int argc, char **argv) {
  int ran = 0;
  for (const gw_test_t *t = gw_test_list; t->name != NULL; t++) {
    if (argc > 1 && strcmp(argv[1], t->name) != 0)
      continue;
    fprintf(stderr, "-- %s\n", t->name);
    t->fn();
    ran++;
  }
  fprintf(stderr, "%d passed, 0 failed\n", ran);
  return ran > 0 ? 0 : 1;
}
#endif

#endif /* GW_TEST_H */
