/* SPDX-License-Identifier: MIT */
/* gw_packet_fuzz.c: fuzz target for everything a client's bytes reach before
 * the adapter: the Engine.IO/Socket.IO decoder and the name validator.
 * Built twice (h2o style, gw_fuzz_target in the root CMakeLists.txt): as a
 * libFuzzer target with -DGW_FUZZ=ON under clang, and as a corpus replayer
 * (tests/support/gw_fuzz_replay.c) that runs in plain ctest. */
#include <stdint.h>
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
