/* The options builder, table-name lists and `extra` (static or callback). */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "value_json.h"

/* ---- table-name lists ------------------------------------------------------ */

int resql__names_has(const resql_names *names, const char *name)
{
    for (int i = 0; i < names->count; i++)
        if (sqlite3_stricmp(names->items[i], name) == 0) return 1;
    return 0;
}

int resql__names_add(resql_names *names, const char *name)
{
    char **items = realloc(names->items, (size_t)(names->count + 1) * sizeof *items);
    if (!items) return RESQL_NOMEM;
    names->items = items;
    if (!(items[names->count] = strdup(name))) return RESQL_NOMEM;
    names->count++;
    return RESQL_OK;
}

int resql__names_copy(resql_names *dst, const resql_names *src)
{
    memset(dst, 0, sizeof *dst);
    for (int i = 0; i < src->count; i++)
        if (resql__names_add(dst, src->items[i]) != RESQL_OK) {
            resql__names_free(dst);
            return RESQL_NOMEM;
        }
    return RESQL_OK;
}

void resql__names_free(resql_names *names)
{
    for (int i = 0; i < names->count; i++) free(names->items[i]);
    free(names->items);
    memset(names, 0, sizeof *names);
}

/* ---- extra ---------------------------------------------------------------- */

int resql__extra_json_ok(const char *json, const char **msg)
{
    if (!json) return 1;
    const char *why = NULL;
    int type = resql__json_check(json, strlen(json), &why);
    if (type == 'o') return 1;
    *msg = type ? "extra must be a JSON object" : why;
    return 0;
}

int resql__extra_copy(resql_extra *dst, const resql_extra *src)
{
    dst->json = NULL;
    dst->callback = resql__callback_ref(src->callback);
    if (src->json && !(dst->json = strdup(src->json))) {
        resql__callback_unref(dst->callback);
        dst->callback = NULL;
        return RESQL_NOMEM;
    }
    return RESQL_OK;
}

void resql__extra_free(resql_extra *extra)
{
    free(extra->json);
    resql__callback_unref(extra->callback);
    extra->json = NULL;
    extra->callback = NULL;
}

int resql__extra_set(resql_extra *extra, const char *json, resql_extra_fn fn, void *ctx,
                     void (*destroy)(void *))
{
    resql_extra next = {NULL, NULL};
    if (fn) {
        if (!(next.callback = resql__callback_new((void (*)(void))fn, ctx, destroy)))
            return resql__fail(RESQL_NOMEM, "resql: out of memory");
    } else if (json) {
        const char *why = NULL;
        if (!resql__extra_json_ok(json, &why))
            return resql__fail(RESQL_MISUSE, "resql: invalid extra: %s", why);
        if (!(next.json = strdup(json))) return resql__fail(RESQL_NOMEM, "resql: out of memory");
    }
    resql__extra_free(extra);
    *extra = next;
    return RESQL_OK;
}

int resql__extra_eval(const resql_extra *extra, resql_buf *scratch, const char **json,
                      char *errmsg)
{
    *json = extra->json;
    if (!extra->callback) return 0;

    struct resql_extra_result result;
    result.answered = 0;
    resql__buf_init(&result.text);
    ((resql_extra_fn)extra->callback->fn)(&result, extra->callback->ctx);

    int rc = 0;
    const char *text = resql__buf_cstr(&result.text);
    if (result.text.oom) {
        resql__format(errmsg, "resql: out of memory in the extra callback");
        rc = -1;
    } else if (result.answered == 2) {
        resql__format(errmsg, "resql: extra callback failed: %s", text);
        rc = -1;
    } else if (result.answered == 1) {
        const char *why = NULL;
        if (!resql__extra_json_ok(text, &why)) {
            resql__format(errmsg, "resql: extra callback failed: %s", why);
            rc = -1;
        } else {
            resql__buf_reset(scratch);
            resql__buf_append(scratch, result.text.data, result.text.len);
            *json = resql__buf_cstr(scratch);
            if (!*json) {
                resql__format(errmsg, "resql: out of memory");
                rc = -1;
            }
        }
    } else {
        *json = NULL;
    }
    resql__buf_free(&result.text);
    return rc;
}

RESQL_API int resql_extra_json(resql_extra_result *result, const char *json)
{
    if (!result || !json)
        return resql__fail(RESQL_MISUSE, "resql: resql_extra_json: %s is NULL", result ? "json" : "result");
    resql__buf_reset(&result->text);
    resql__buf_puts(&result->text, json);
    result->answered = 1;
    return RESQL_OK;
}

RESQL_API int resql_extra_error(resql_extra_result *result, const char *message)
{
    if (!result) return resql__fail(RESQL_MISUSE, "resql: resql_extra_error: result is NULL");
    resql__buf_reset(&result->text);
    resql__buf_puts(&result->text, message ? message : "(no message)");
    result->answered = 2;
    return RESQL_OK;
}

/* ---- the builder ------------------------------------------------------------ */

RESQL_API int resql_options_new(resql_options **out)
{
    if (!out) return resql__fail(RESQL_MISUSE, "resql: resql_options_new: out is NULL");
    if (!(*out = calloc(1, sizeof **out))) return resql__fail(RESQL_NOMEM, "resql: out of memory");
    (*out)->busy_timeout_ms = RESQL_DEFAULT_BUSY_MS;
    return RESQL_OK;
}

RESQL_API void resql_options_free(resql_options *opts)
{
    if (!opts) return;
    resql__names_free(&opts->include);
    resql__names_free(&opts->exclude);
    resql__callback_unref(opts->clock);
    resql__extra_free(&opts->extra);
    free(opts);
}

static int add_table(resql_options *opts, resql_names *list, const char *table, const char *fn)
{
    if (!opts) return resql__fail(RESQL_MISUSE, "resql: %s: options is NULL", fn);
    if (!table || !*table) return resql__fail(RESQL_MISUSE, "resql: %s: table name is empty", fn);
    if (resql__names_add(list, table) != RESQL_OK) return resql__fail(RESQL_NOMEM, "resql: out of memory");
    return RESQL_OK;
}

RESQL_API int resql_options_include_table(resql_options *opts, const char *table)
{
    return add_table(opts, opts ? &opts->include : NULL, table, "resql_options_include_table");
}

RESQL_API int resql_options_exclude_table(resql_options *opts, const char *table)
{
    return add_table(opts, opts ? &opts->exclude : NULL, table, "resql_options_exclude_table");
}

RESQL_API int resql_options_set_clock(resql_options *opts, resql_clock_fn clock, void *ctx,
                                      void (*destroy)(void *))
{
    if (!opts || !clock) {
        if (destroy) destroy(ctx);
        return resql__fail(RESQL_MISUSE, "resql: resql_options_set_clock: %s is NULL",
                           opts ? "clock" : "options");
    }
    resql_callback *cb = resql__callback_new((void (*)(void))clock, ctx, destroy);
    if (!cb) return resql__fail(RESQL_NOMEM, "resql: out of memory");
    resql__callback_unref(opts->clock);
    opts->clock = cb;
    return RESQL_OK;
}

RESQL_API int resql_options_set_extra_json(resql_options *opts, const char *json)
{
    if (!opts) return resql__fail(RESQL_MISUSE, "resql: resql_options_set_extra_json: options is NULL");
    return resql__extra_set(&opts->extra, json, NULL, NULL, NULL);
}

RESQL_API int resql_options_set_extra_callback(resql_options *opts, resql_extra_fn fn, void *ctx,
                                               void (*destroy)(void *))
{
    if (!opts || !fn) {
        if (destroy) destroy(ctx);
        return resql__fail(RESQL_MISUSE, "resql: resql_options_set_extra_callback: %s is NULL",
                           opts ? "fn" : "options");
    }
    return resql__extra_set(&opts->extra, NULL, fn, ctx, destroy);
}

RESQL_API int resql_options_include_reads(resql_options *opts, int yes)
{
    if (!opts) return resql__fail(RESQL_MISUSE, "resql: resql_options_include_reads: options is NULL");
    opts->include_reads = yes != 0;
    return RESQL_OK;
}

RESQL_API int resql_options_drop_rollbacks(resql_options *opts, int yes)
{
    if (!opts) return resql__fail(RESQL_MISUSE, "resql: resql_options_drop_rollbacks: options is NULL");
    opts->drop_rollbacks = yes != 0;
    return RESQL_OK;
}

RESQL_API int resql_options_set_busy_timeout(resql_options *opts, int milliseconds)
{
    if (!opts) return resql__fail(RESQL_MISUSE, "resql: resql_options_set_busy_timeout: options is NULL");
    if (milliseconds < 0)
        return resql__fail(RESQL_MISUSE, "resql: resql_options_set_busy_timeout: %d is negative", milliseconds);
    opts->busy_timeout_ms = milliseconds;
    return RESQL_OK;
}
