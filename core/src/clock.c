/* Time: a replaceable clock and its ISO-8601 UTC text. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "internal.h"

sqlite3_int64 resql__clock_now(const resql_callback *clock)
{
    if (clock) return ((resql_clock_fn)clock->fn)(clock->ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (sqlite3_int64)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian), so any
 * 64-bit time formats without gmtime's range limits. */
static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void put_digits(char *p, long long v, int n)
{
    while (n--) {
        p[n] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* Called for every log row, so without printf: the date and time of day are
 * formatted once per second (per thread), the microseconds every time. */
void resql__format_time(sqlite3_int64 micros, char out[48])
{
    static __thread long long cached_secs = -1;
    static __thread char cached[20];                       /* YYYY-MM-DDTHH:MM:SS */
    long long secs = micros / 1000000, frac = micros % 1000000;
    if (frac < 0) { frac += 1000000; secs -= 1; }
    if (secs != cached_secs) {
        long long days = secs / 86400, rem = secs % 86400;
        if (rem < 0) { rem += 86400; days -= 1; }
        long long y;
        int m, d;
        civil_from_days(days, &y, &m, &d);
        if (y < 0 || y > 9999) {                           /* outside ISO-8601's 4-digit years */
            snprintf(out, 48, "%04lld-%02d-%02dT%02d:%02d:%02d.%06lldZ", y, m, d,
                     (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60), frac);
            return;
        }
        put_digits(cached, y, 4);
        cached[4] = '-';
        put_digits(cached + 5, m, 2);
        cached[7] = '-';
        put_digits(cached + 8, d, 2);
        cached[10] = 'T';
        put_digits(cached + 11, rem / 3600, 2);
        cached[13] = ':';
        put_digits(cached + 14, rem / 60 % 60, 2);
        cached[16] = ':';
        put_digits(cached + 17, rem % 60, 2);
        cached_secs = secs;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    put_digits(out + 20, frac, 6);
    out[26] = 'Z';
    out[27] = '\0';
}
