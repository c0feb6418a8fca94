/* SPDX-License-Identifier: MIT */
/* gw_fuzz_replay.c: main() for a fuzz harness built without libFuzzer
 * (fluent-bit's local_test idea): it feeds every file of the directories (or
 * the files) named on the command line to LLVMFuzzerTestOneInput, so plain
 * ctest replays the committed corpus under any compiler and sanitizer. A
 * crash or a sanitizer report fails the test; so does an empty corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* replay_file runs one input from a heap copy of exactly its size, so that
 * ASan catches a harness or parser reading one byte past the end. */
static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    perror(path);
    return -1;
  }
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  size_t n;
  while (buf != NULL && (n = fread(buf + len, 1, cap - len, f)) > 0) {
    len += n;
    if (len == cap) {
      uint8_t *nb = realloc(buf, cap *= 2);
      if (nb == NULL)
        free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (buf == NULL)
    return -1;
  uint8_t *exact = malloc(len ? len : 1);
  if (exact == NULL) {
    free(buf);
    return -1;
  }
  memcpy(exact, buf, len);
  free(buf);
  LLVMFuzzerTestOneInput(exact, len);
  free(exact);
  return 0;
}

int main(int argc, char **argv) {
  int n = 0;
  for (int a = 1; a < argc; a++) {
    struct stat st;
    if (stat(argv[a], &st) != 0) {
      perror(argv[a]);
      return 1;
    }
    if (!S_ISDIR(st.st_mode)) {
      if (replay_file(argv[a]) != 0)
        return 1;
      n++;
      continue;
    }
    DIR *d = opendir(argv[a]);
    if (d == NULL) {
      perror(argv[a]);
      return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (e->d_name[0] == '.')
        continue;
      char path[4096];
      snprintf(path, sizeof(path), "%s/%s", argv[a], e->d_name);
      if (replay_file(path) != 0) {
        closedir(d);
        return 1;
      }
      n++;
    }
    closedir(d);
  }
  fprintf(stderr, "replayed %d inputs\n", n);
  return n > 0 ? 0 : 1;
}
