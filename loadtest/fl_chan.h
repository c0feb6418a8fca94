/* SPDX-License-Identifier: MIT */
/* fl_chan.h: length-prefixed records over a socketpair between chat-flood's
 * coordinator and its workers. A record is {uint32 len, uint32 type, len
 * bytes}; both ends are the same binary, so structs travel as bytes. The
 * channel is embedded by its owner (libuv style); fl_chan_close finishes in
 * the close callback. */
#ifndef FL_CHAN_H
#define FL_CHAN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef struct fl_chan fl_chan_t;
/* Called once per complete record; |p| is borrowed for the call. */
typedef void (*fl_chan_rec_cb)(fl_chan_t *ch, uint32_t type, const uint8_t *p,
                               size_t n);
/* Called once when the peer closed or the channel failed. */
typedef void (*fl_chan_eof_cb)(fl_chan_t *ch);

struct fl_chan {
  void *data; /* public: user slot */
  /* private */
  uv_pipe_t pipe;
  uint8_t *buf;
  size_t len, cap;
  fl_chan_rec_cb on_rec;
  fl_chan_eof_cb on_eof;
  void (*on_closed)(fl_chan_t *ch);
  int closing;
};

/* fl_chan_open wraps the connected socket |fd| and starts reading.
 * Returns 0 or a negative libuv error (then nothing needs closing but fd). */
int fl_chan_open(fl_chan_t *ch, uv_loop_t *loop, int fd, fl_chan_rec_cb rec,
                 fl_chan_eof_cb eof);

/* fl_chan_send queues the record |type| made of |a| then |b| (either may be
 * empty). Returns 0 or a negative libuv error. */
int fl_chan_send(fl_chan_t *ch, uint32_t type, const void *a, size_t an,
                 const void *b, size_t bn);

/* fl_chan_close closes the channel; |closed| (may be NULL) runs once the
 * handle is closed and the buffer freed. Idempotent. */
void fl_chan_close(fl_chan_t *ch, void (*closed)(fl_chan_t *ch));

#endif /* FL_CHAN_H */
