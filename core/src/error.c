/* Error messages: the thread's last error for calls that have no logger. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static __thread char thread_error[RESQL_ERRMSG_MAX];

static void vformat(char *slot, const char *fmt, va_list ap)
{
    vsnprintf(slot, RESQL_ERRMSG_MAX, fmt, ap);
}

void resql__format(char *slot, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(slot, fmt, ap);
    va_end(ap);
}

int resql__fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vformat(thread_error, fmt, ap);
    va_end(ap);
    return code;
}

const char *resql__thread_error(void)
{
    return thread_error[0] ? thread_error : "not an error";
}
