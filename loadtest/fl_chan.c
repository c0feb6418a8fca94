/* SPDX-License-Identifier: MIT */
/* fl_chan.c: record framing over a uv_pipe_t (see fl_chan.h). */
#include "fl_chan.h"

#include <stdlib.h>
#include <string.h>

typedef struct chan_wr {
  uv_write_t req;
  uint8_t data[];
} chan_wr_t;

static void chan_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b) {
  fl_chan_t *ch = h->data;
  (void)hint;
  if (ch->cap - ch->len < 65536) {
    size_t cap = ch->cap ? ch->cap * 2 : 131072;
    uint8_t *nb = realloc(ch->buf, cap);
    if (nb == NULL) {
      *b = uv_buf_init(NULL, 0);
      return;
    }
    ch->buf = nb;
    ch->cap = cap;
  }
  *b = uv_buf_init((char *)ch->buf + ch->len, (unsigned)(ch->cap - ch->len));
}

static void chan_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b) {
  fl_chan_t *ch = s->data;
  (void)b;
  if (nread < 0) {
    uv_read_stop(s);
    if (ch->on_eof != NULL && !ch->closing)
      ch->on_eof(ch);
    return;
  }
  ch->len += (size_t)nread;
  size_t off = 0;
  while (ch->len - off >= 8 && !ch->closing) {
    uint32_t rl, type;
    memcpy(&rl, ch->buf + off, 4);
    memcpy(&type, ch->buf + off + 4, 4);
    if (ch->len - off - 8 < rl)
      break;
    ch->on_rec(ch, type, ch->buf + off + 8, rl);
    off += 8 + (size_t)rl;
  }
  if (off > 0) {
    memmove(ch->buf, ch->buf + off, ch->len - off);
    ch->len -= off;
  }
}

int fl_chan_open(fl_chan_t *ch, uv_loop_t *loop, int fd, fl_chan_rec_cb rec,
                 fl_chan_eof_cb eof) {
  void *data = ch->data;
  memset(ch, 0, sizeof *ch);
  ch->data = data;
  ch->on_rec = rec;
  ch->on_eof = eof;
  int rc = uv_pipe_init(loop, &ch->pipe, 0);
  if (rc)
    return rc;
  ch->pipe.data = ch;
  if ((rc = uv_pipe_open(&ch->pipe, fd)) != 0 ||
      (rc = uv_read_start((uv_stream_t *)&ch->pipe, chan_alloc, chan_read)) !=
          0) {
    fl_chan_close(ch, NULL);
    return rc;
  }
  return 0;
}

static void chan_written(uv_write_t *req, int status) {
  (void)status;
  free(req);
}

int fl_chan_send(fl_chan_t *ch, uint32_t type, const void *a, size_t an,
                 const void *b, size_t bn) {
  if (ch->closing)
    return UV_EPIPE;
  uint32_t rl = (uint32_t)(an + bn);
  chan_wr_t *w = malloc(sizeof *w + 8 + an + bn);
  if (w == NULL)
    return UV_ENOMEM;
  memcpy(w->data, &rl, 4);
  memcpy(w->data + 4, &type, 4);
  if (an)
    memcpy(w->data + 8, a, an);
  if (bn)
    memcpy(w->data + 8 + an, b, bn);
  uv_buf_t buf = uv_buf_init((char *)w->data, (unsigned)(8 + an + bn));
  int rc = uv_write(&w->req, (uv_stream_t *)&ch->pipe, &buf, 1, chan_written);
  if (rc)
    free(w);
  return rc;
}

static void chan_closed(uv_handle_t *h) {
  fl_chan_t *ch = h->data;
  free(ch->buf);
  ch->buf = NULL;
  ch->len = ch->cap = 0;
  if (ch->on_closed != NULL)
    ch->on_closed(ch);
}

void fl_chan_close(fl_chan_t *ch, void (*closed)(fl_chan_t *ch)) {
  if (ch->closing)
    return;
  ch->closing = 1;
  ch->on_closed = closed;
  uv_close((uv_handle_t *)&ch->pipe, chan_closed);
}
