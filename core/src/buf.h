/* A growable byte buffer. Appends never fail loudly: the first allocation
 * failure sets `oom`, later appends are ignored, and the owner checks `oom`
 * once at the end. That keeps encoders free of error plumbing. */
#ifndef RESQL_BUF_H
#define RESQL_BUF_H

#include <stddef.h>
#include <string.h>

typedef struct resql_buf {
    char *data;   /* not NUL-terminated unless resql__buf_cstr() was called */
    size_t len;
    size_t cap;
    int oom;
} resql_buf;

void resql__buf_init(resql_buf *b);
void resql__buf_free(resql_buf *b);
void resql__buf_reset(resql_buf *b);          /* len = 0, keeps memory and clears oom */
const char *resql__buf_cstr(resql_buf *b);     /* NUL-terminates (not counted in len); NULL if oom */

/* Makes room for `extra` more bytes; 0 (and oom set) if it cannot. */
int resql__buf_grow(resql_buf *b, size_t extra);

/* Inline: the encoders append a few bytes at a time, and a buffer that is
 * reused has room nearly always. */
static inline void resql__buf_append(resql_buf *b, const void *p, size_t n)
{
    if (n == 0) return;
    if ((b->oom || b->cap - b->len < n) && !resql__buf_grow(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static inline void resql__buf_puts(resql_buf *b, const char *s) { resql__buf_append(b, s, strlen(s)); }

static inline void resql__buf_putc(resql_buf *b, char c)
{
    if ((b->oom || b->cap == b->len) && !resql__buf_grow(b, 1)) return;
    b->data[b->len++] = c;
}

#endif
