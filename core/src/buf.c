#include "buf.h"

#include <stdlib.h>
#include <string.h>

void resql__buf_init(resql_buf *b) { memset(b, 0, sizeof *b); }

void resql__buf_free(resql_buf *b)
{
    free(b->data);
    resql__buf_init(b);
}

void resql__buf_reset(resql_buf *b)
{
    b->len = 0;
    b->oom = 0;
}

int resql__buf_grow(resql_buf *b, size_t extra)
{
    if (b->oom) return 0;
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) {
        if (cap > ((size_t)-1) / 2) { b->oom = 1; return 0; }
        cap *= 2;
    }
    char *p = realloc(b->data, cap);
    if (!p) { b->oom = 1; return 0; }
    b->data = p;
    b->cap = cap;
    return 1;
}

const char *resql__buf_cstr(resql_buf *b)
{
    if (!resql__buf_grow(b, 1)) return NULL;
    b->data[b->len] = '\0';
    return b->data;
}
