/* A growable byte buffer. Appends never fail loudly: the first allocation
 * failure sets `oom`, later appends are ignored, and the owner checks `oom`
 * once at the end. That keeps encoders free of error plumbing. */
#ifndef RESQL_BUF_H
#define RESQL_BUF_H

#include <stddef.h>

typedef struct resql_buf {
    char *data;   /* not NUL-terminated unless resql__buf_cstr() was called */
    size_t len;
    size_t cap;
    int oom;
} resql_buf;

void resql__buf_init(resql_buf *b);
void resql__buf_free(resql_buf *b);
void resql__buf_reset(resql_buf *b);          /* len = 0, keeps memory and clears oom */
void resql__buf_append(resql_buf *b, const void *p, size_t n);
void resql__buf_puts(resql_buf *b, const char *s);
void resql__buf_putc(resql_buf *b, char c);
const char *resql__buf_cstr(resql_buf *b);     /* NUL-terminates (not counted in len); NULL if oom */

#endif
