/* Reference-counted caller callbacks, so each destructor runs exactly once. */
#include <stdlib.h>

#include "internal.h"

resql_callback *resql__callback_new(void (*fn)(void), void *ctx, void (*destroy)(void *))
{
    resql_callback *cb = malloc(sizeof *cb);
    if (!cb) {
        if (destroy) destroy(ctx);
        return NULL;
    }
    cb->refs = 1;
    cb->fn = fn;
    cb->ctx = ctx;
    cb->destroy = destroy;
    return cb;
}

resql_callback *resql__callback_ref(resql_callback *cb)
{
    /* Loggers made from one options object may be freed on other threads. */
    if (cb) __atomic_fetch_add(&cb->refs, 1, __ATOMIC_RELAXED);
    return cb;
}

void resql__callback_unref(resql_callback *cb)
{
    if (!cb || __atomic_sub_fetch(&cb->refs, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (cb->destroy) cb->destroy(cb->ctx);
    free(cb);
}
