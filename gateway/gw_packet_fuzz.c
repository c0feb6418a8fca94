/* SPDX-License-Identifier: MIT */
/* gw_packet_fuzz.c: fuzz target for everything a client's bytes reach before
 * the adapter: the Engine.IO/Socket.IO decoder and the name validator.
 * Built twice (h2o style): as a libFuzzer target with -DGW_FUZZ=ON under
 * clang, and as a corpus replayer that runs in plain ctest. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_chat.h"
#include "gw_eio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gw_eio_pkt_t pkt;
  if (gw_eio_parse((const char *)data, size, &pkt) == 0) {
    json_t *arg = json_array_get(pkt.data, 1);
    const char *keys[] = {"roomName", "userName", "message"};
    for (int i = 0; i < 3; i++) {
      json_t *v = json_object_get(arg, keys[i]);
      const char *t;
      size_t tl;
      if (json_is_string(v) &&
          gw_chat_trim_name(json_string_value(v), json_string_length(v), 64, &t,
                            &tl) == 0 &&
          (t < json_string_value(v) ||
           t + tl > json_string_value(v) + json_string_length(v)))
        abort(); /* the trimmed span must lie inside the input */
    }
    gw_eio_pkt_clear(&pkt);
  }
  return 0;
}

#ifndef GW_FUZZ
/* Corpus replay: every file in the directories given on the command line. */
int main(int argc, char **argv) {
  int n = 0;
  for (int a = 1; a < argc; a++) {
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
      FILE *f = fopen(path, "rb");
      if (f == NULL)
        continue;
      static uint8_t buf[1 << 20];
      size_t len = fread(buf, 1, sizeof(buf), f);
      fclose(f);
      LLVMFuzzerTestOneInput(buf, len);
      n++;
    }
    closedir(d);
  }
  fprintf(stderr, "replayed %d inputs\n", n);
  return n > 0 ? 0 : 1;
}
#endif
