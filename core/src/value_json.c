/* Lossless typed JSON for SQLite values: encoder, decoder and a strict
 * RFC 8259 checker. See value_json.h and DESIGN.md ("Values"). */
#include "value_json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real document, shallow enough for the C stack. */
#define JSON_MAX_DEPTH 1000

/* ---------------------------------------------------------------- UTF-8 */

/* Length (1..4) of the well-formed UTF-8 sequence at s[0..n), or 0 if it is
 * not one: stray continuation bytes, overlongs, surrogates, > U+10FFFF and
 * truncated sequences all give 0 (ranges from RFC 3629, table 3-7). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t len;

    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;       /* overlong */
        if (c == 0xED) hi = 0x9F;       /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;       /* overlong */
        if (c == 0xF4) hi = 0x8F;       /* > U+10FFFF */
    } else return 0;

    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

int resql__utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        if (s[i] < 0x80) { i++; continue; }
        size_t k = utf8_seq(s + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

static void put_utf8(resql_buf *out, unsigned long cp)
{
    char b[4];
    size_t n;
    if (cp < 0x80) { b[0] = (char)cp; n = 1; }
    else if (cp < 0x800) {
        b[0] = (char)(0xC0 | (cp >> 6));
        b[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xE0 | (cp >> 12));
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (cp >> 18));
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        b[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    resql__buf_append(out, b, n);
}

/* --------------------------------------------------------------- base64 */

static const char B64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard alphabet, with '=' padding. */
static void put_base64(resql_buf *out, const unsigned char *s, size_t n)
{
    char chunk[256]; /* batch appends: blobs can be large */
    size_t k = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned long v = (unsigned long)s[i] << 16;
        if (i + 1 < n) v |= (unsigned long)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        chunk[k++] = B64[(v >> 18) & 63];
        chunk[k++] = B64[(v >> 12) & 63];
        chunk[k++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
        chunk[k++] = i + 2 < n ? B64[v & 63] : '=';
        if (k == sizeof chunk) { resql__buf_append(out, chunk, k); k = 0; }
    }
    resql__buf_append(out, chunk, k);
}

static int b64_digit(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes s[0..n) in place (the output is never longer than the input) and
 * sets *outn. Only the canonical form is accepted: padded to a multiple of 4,
 * '=' only at the very end, unused bits zero. So each byte string has exactly
 * one accepted text, as the encoder writes it. */
static int b64_decode_inplace(unsigned char *s, size_t n, size_t *outn)
{
    size_t o = 0;
    if (n % 4) return -1;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = 0, d[4];
        for (size_t j = 0; j < 4; j++) {
            if (s[i + j] == '=' && last && j >= 2) { d[j] = 0; pad++; continue; }
            if (pad) return -1;                  /* data after '=' */
            if ((d[j] = b64_digit(s[i + j])) < 0) return -1;
        }
        unsigned long v = ((unsigned long)d[0] << 18) | ((unsigned long)d[1] << 12)
                        | ((unsigned long)d[2] << 6) | (unsigned long)d[3];
        if (pad == 2 && (v & 0xFFFF)) return -1; /* non-zero unused bits */
        if (pad == 1 && (v & 0xFF)) return -1;
        s[o++] = (unsigned char)(v >> 16);
        if (pad < 2) s[o++] = (unsigned char)(v >> 8);
        if (pad < 1) s[o++] = (unsigned char)v;
    }
    *outn = o;
    return 0;
}

/* -------------------------------------------------------------- encoder */

/* Escapes s[0..n) into a JSON string. With `replace`, bytes that are not
 * valid UTF-8 become U+FFFD; without it the caller has checked validity. */
static void put_string(resql_buf *out, const unsigned char *s, size_t n, int replace)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0; /* start of the pending run of bytes copied as-is */

    resql__buf_putc(out, '"');
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        const char *esc = NULL;
        char u[7];

        if (c >= 0x80) {
            size_t k = utf8_seq(s + i, n - i);
            if (k > 0 || !replace) { i += k ? k : 1; continue; }
            esc = "\xEF\xBF\xBD"; /* U+FFFD */
        } else if (c == '"') esc = "\\\"";
        else if (c == '\\') esc = "\\\\";
        else if (c >= 0x20) { i++; continue; }
        else if (c == '\b') esc = "\\b";
        else if (c == '\f') esc = "\\f";
        else if (c == '\n') esc = "\\n";
        else if (c == '\r') esc = "\\r";
        else if (c == '\t') esc = "\\t";
        else {
            memcpy(u, "\\u00", 4);
            u[4] = hex[c >> 4];
            u[5] = hex[c & 15];
            u[6] = '\0';
            esc = u;
        }
        resql__buf_append(out, s + run, i - run);
        resql__buf_puts(out, esc);
        run = ++i;
    }
    resql__buf_append(out, s + run, n - run);
    resql__buf_putc(out, '"');
}

void resql__json_string(resql_buf *out, const char *s, size_t n)
{
    put_string(out, (const unsigned char *)s, n, 1);
}

static void put_int(resql_buf *out, sqlite3_int64 i)
{
    char b[24];
    size_t k = sizeof b;
    /* Negate in unsigned arithmetic: -INT64_MIN does not fit an int64. */
    uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        b[--k] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    if (i < 0) b[--k] = '-';
    resql__buf_append(out, b + k, sizeof b - k);
}

typedef unsigned __int128 u128;

/* The integers n with n * 2^s inside [lo, hi] * 10^k (the ends included
 * when `inclusive`): *n_lo <= *n_hi when there is one. */
static void scaled_bounds(u128 lo, u128 hi, int s, int inclusive, u128 p10, u128 *n_lo, u128 *n_hi)
{
    u128 L = lo * p10, H = hi * p10;
    *n_hi = H >> s;                                     /* largest n with n * 2^s <= H */
    if ((*n_hi << s) == H && !inclusive) --*n_hi;
    *n_lo = L >> s;                                     /* smallest n with n * 2^s >= L */
    if ((*n_lo << s) < L || ((*n_lo << s) == L && !inclusive)) ++*n_lo;
}

/* Writes the JSON text of a finite or infinite (not NaN) double into buf
 * (>= 32 bytes) and returns its length. The text is the shortest "%.<p>g"
 * that strtod reads back to the same bits, with ".0" added when it has
 * neither '.' nor an exponent, so it reads back as REAL.
 *
 * For a normal double any decimal of <= 15 (DBL_DIG) significant digits
 * that reads back to it is what %.15g prints, so precision starts at 15;
 * subnormals have fewer digits of precision, so they start at 1 (5e-324).
 * Kept self-contained so a printf-free shortest algorithm can replace it. */
/* The shortest text for |x| in [1e-4, 1e15) without printf: the range where
 * %g writes plain decimals, which holds nearly every REAL an application
 * stores. x = M * 2^E exactly; every number strictly inside
 * ((M - 1/2) 2^E, (M + 1/2) 2^E) reads back as x (the ends too when M is
 * even, as strtod rounds half to even). For k = 0, 1, ... decimal places,
 * the first k for which that interval, times 10^k, holds an integer n gives
 * the shortest text: n with k decimals (the n nearest x when several fit).
 * With k <= 21 and E >= -66 every product fits 128 bits, so all of it is
 * exact integer arithmetic. Returns 0 outside the range.
 *
 * Once the interval times 10^k holds an integer n, it holds 10n at k + 1:
 * so after a few short decimals are tried in turn, the smallest k is
 * found by bisection (a product's 17 digits then cost 5 steps, not 17). */
static size_t format_real_fast(double x, char *buf)
{
    static const u128 p10[22] = {
        1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
        10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
        100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL, 100000000000000000ULL,
        1000000000000000000ULL, (u128)1000000000000000000ULL * 10, (u128)1000000000000000000ULL * 100,
        (u128)1000000000000000000ULL * 1000,
    };
    double a = fabs(x);
    if (!(a >= 1e-4 && a < 1e15)) return 0;
    uint64_t bits;                                      /* a normal double: a = m * 2^-shift */
    memcpy(&bits, &a, sizeof bits);
    uint64_t m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
    int shift = 1075 - (int)(bits >> 52);
    if (shift < 1 || shift > 120) return 0;
    /* Interval ends in units of 2^-(shift + 2): 4m - 2 .. 4m + 2, except that
     * below a power of two the neighbour is half as far: 4m - 1. */
    int inclusive = (m & 1) == 0;
    u128 lo = ((u128)m << 2) - (m == (1ULL << 52) ? 1 : 2);
    u128 hi = ((u128)m << 2) + 2;
    u128 mid = (u128)m << 2;
    int s = shift + 2;
    u128 n_lo, n_hi;
    int k = 0, first = 0, last = 22;                    /* the smallest k is in [first, last]; 22: none */
    for (; k < 3; k++) {
        scaled_bounds(lo, hi, s, inclusive, p10[k], &n_lo, &n_hi);
        if (n_lo <= n_hi) break;
    }
    if (k == 3) {
        first = 3;
        while (first < last) {
            int probe = (first + last) / 2;
            scaled_bounds(lo, hi, s, inclusive, p10[probe], &n_lo, &n_hi);
            if (n_lo <= n_hi) last = probe;
            else first = probe + 1;
        }
        if (first == 22) return 0;
        k = first;
        scaled_bounds(lo, hi, s, inclusive, p10[k], &n_lo, &n_hi);
    }
    u128 V = mid * p10[k];
    u128 n = V >> s;                                    /* the nearest to x, half to even */
    u128 rem = V - (n << s), half = (u128)1 << (s - 1);
    if (rem > half || (rem == half && (n & 1))) n++;
    if (n < n_lo) n = n_lo;
    if (n > n_hi) n = n_hi;
    char digits[24];
    int nd = 0;
    uint64_t d = (uint64_t)n;                           /* < 10^17: a shortest decimal */
    for (; d || nd == 0; d /= 10) digits[nd++] = (char)('0' + (int)(d % 10));
    size_t out = 0;
    if (x < 0) buf[out++] = '-';
    if (nd <= k) {                                      /* 0.000ddd */
        buf[out++] = '0';
        buf[out++] = '.';
        for (int z = 0; z < k - nd; z++) buf[out++] = '0';
        while (nd) buf[out++] = digits[--nd];
    } else {
        while (nd > k) buf[out++] = digits[--nd];
        buf[out++] = '.';
        if (k == 0) buf[out++] = '0';
        while (nd) buf[out++] = digits[--nd];
    }
    buf[out] = '\0';
    return out;
}

static size_t format_real(double x, char *buf)
{
    char tmp[40];
    size_t n = 0;

    if (isinf(x)) {
        strcpy(buf, x < 0 ? "-1e999" : "1e999");
        return strlen(buf);
    }
    if ((n = format_real_fast(x, buf))) return n;
    int p = (x != 0 && x > -DBL_MIN && x < DBL_MIN) ? 1 : 15;
    for (; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, x);
        double back = strtod(tmp, NULL);
        if (memcmp(&back, &x, sizeof x) == 0) break;
    }
    /* %.17g always round-trips, so tmp holds the answer here. printf uses the
     * locale's decimal point; JSON wants '.', so map anything that is not a
     * digit, sign or exponent mark to one '.'. */
    int has_point = 0, has_exp = 0;
    for (const char *t = tmp; *t;) {
        char c = *t;
        if ((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'e') {
            if (c == 'e') has_exp = 1;
            buf[n++] = c;
            t++;
        } else {
            buf[n++] = '.';
            has_point = 1;
            while (*t && !((*t >= '0' && *t <= '9') || *t == 'e')) t++;
        }
    }
    if (!has_point && !has_exp) { buf[n++] = '.'; buf[n++] = '0'; }
    buf[n] = '\0';
    return n;
}

void resql__json_value(resql_buf *out, const resql_value *v)
{
    char num[40];

    switch (v->type) {
    case SQLITE_INTEGER:
        put_int(out, v->i);
        break;
    case SQLITE_FLOAT:
        if (isnan(v->r)) { resql__buf_puts(out, "null"); break; } /* SQLite stores NaN as NULL */
        resql__buf_append(out, num, format_real(v->r, num));
        break;
    case SQLITE_TEXT:
        if (resql__utf8_valid(v->bytes, v->n)) {
            put_string(out, v->bytes, v->n, 0);
        } else {
            resql__buf_puts(out, "{\"$text\":\"");
            put_base64(out, v->bytes, v->n);
            resql__buf_puts(out, "\"}");
        }
        break;
    case SQLITE_BLOB:
        resql__buf_puts(out, "{\"$blob\":\"");
        put_base64(out, v->bytes, v->n);
        resql__buf_puts(out, "\"}");
        break;
    default:
        resql__buf_puts(out, "null");
        break;
    }
}

void resql__value_of(sqlite3_value *v, resql_value *out)
{
    out->type = sqlite3_value_type(v);
    out->i = 0;
    out->r = 0;
    out->bytes = NULL;
    out->n = 0;
    if (out->type == SQLITE_INTEGER) {
        out->i = sqlite3_value_int64(v);
    } else if (out->type == SQLITE_FLOAT) {
        out->r = sqlite3_value_double(v);
    } else if (out->type == SQLITE_TEXT) {
        /* sqlite3_value_bytes leaves the value in UTF-8 (converting a UTF-16
         * one); sqlite3_value_blob then gives its bytes as they are, where
         * sqlite3_value_text would make a NUL-terminated copy of a value
         * read from a record (a malloc per column in the preupdate hook). */
        out->n = (size_t)sqlite3_value_bytes(v);
        out->bytes = sqlite3_value_blob(v);
    } else if (out->type == SQLITE_BLOB) {
        out->bytes = sqlite3_value_blob(v);
        out->n = (size_t)sqlite3_value_bytes(v);
    }
}

int resql__value_same(const resql_value *a, const resql_value *b)
{
    if (a->type != b->type) return 0;
    switch (a->type) {
    case SQLITE_INTEGER:
        return a->i == b->i;
    case SQLITE_FLOAT: /* bits, so 0.0 != -0.0 */
        return memcmp(&a->r, &b->r, sizeof a->r) == 0;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
        return a->n == b->n && (a->n == 0 || memcmp(a->bytes, b->bytes, a->n) == 0);
    default:
        return 1;
    }
}

/* ------------------------------------------------------ shared scanning */

typedef struct cursor {
    const unsigned char *p;
    const unsigned char *end;
    const char *err; /* first error, static */
} cursor;

static int fail(cursor *c, const char *msg)
{
    if (!c->err) c->err = msg;
    return -1;
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int match(cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return fail(c, "invalid literal");
    c->p += n;
    return 0;
}

static int hex4(cursor *c, unsigned long *cp)
{
    *cp = 0;
    if (c->end - c->p < 4) return fail(c, "truncated \\u escape");
    for (int i = 0; i < 4; i++) {
        unsigned char h = *c->p++;
        int d = (h >= '0' && h <= '9') ? h - '0'
              : (h >= 'a' && h <= 'f') ? h - 'a' + 10
              : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
        if (d < 0) return fail(c, "bad \\u escape");
        *cp = *cp << 4 | (unsigned long)d;
    }
    return 0;
}

/* Scans a JSON string at c->p (on the opening quote). With `out`, appends the
 * decoded bytes and rejects lone surrogates (they have no UTF-8 form); without
 * it only validates, and lone surrogates are accepted as RFC 8259 allows. */
static int scan_string(cursor *c, resql_buf *out)
{
    const unsigned char *run;

    c->p++; /* opening quote */
    run = c->p;
    for (;;) {
        if (c->p >= c->end) return fail(c, "unterminated string");
        unsigned char ch = *c->p;
        if (ch == '"') break;
        if (ch < 0x20) return fail(c, "control character in string");
        if (ch >= 0x80) {
            size_t k = utf8_seq(c->p, (size_t)(c->end - c->p));
            if (k == 0) return fail(c, "invalid UTF-8 in string");
            c->p += k;
            continue;
        }
        if (ch != '\\') { c->p++; continue; }

        if (out) resql__buf_append(out, run, (size_t)(c->p - run));
        c->p++;
        if (c->p >= c->end) return fail(c, "unterminated string");
        unsigned long cp;
        switch (*c->p++) {
        case '"':  cp = '"'; break;
        case '\\': cp = '\\'; break;
        case '/':  cp = '/'; break;
        case 'b':  cp = '\b'; break;
        case 'f':  cp = '\f'; break;
        case 'n':  cp = '\n'; break;
        case 'r':  cp = '\r'; break;
        case 't':  cp = '\t'; break;
        case 'u':
            if (hex4(c, &cp)) return -1;
            if (cp >= 0xD800 && cp <= 0xDBFF && c->end - c->p >= 6
                && c->p[0] == '\\' && c->p[1] == 'u') {
                cursor peek = *c;
                unsigned long lo;
                peek.p += 2;
                if (hex4(&peek, &lo) == 0 && lo >= 0xDC00 && lo <= 0xDFFF) {
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    c->p = peek.p;
                }
            }
            if (out && cp >= 0xD800 && cp <= 0xDFFF)
                return fail(c, "lone surrogate in \\u escape");
            break;
        default:
            return fail(c, "bad escape in string");
        }
        if (out) put_utf8(out, cp);
        run = c->p;
    }
    if (out) resql__buf_append(out, run, (size_t)(c->p - run));
    c->p++; /* closing quote */
    return 0;
}

static int is_digit(const cursor *c)
{
    return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* Scans a JSON number at c->p. Sets *is_int when it has neither fraction
 * nor exponent. */
static int scan_number(cursor *c, int *is_int)
{
    *is_int = 1;
    if (c->p < c->end && *c->p == '-') c->p++;
    if (!is_digit(c)) return fail(c, "bad number");
    if (*c->p++ == '0' && is_digit(c)) return fail(c, "leading zero in number");
    while (is_digit(c)) c->p++;
    if (c->p < c->end && *c->p == '.') {
        *is_int = 0;
        c->p++;
        if (!is_digit(c)) return fail(c, "bad number");
        while (is_digit(c)) c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        *is_int = 0;
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) c->p++;
        if (!is_digit(c)) return fail(c, "bad number");
        while (is_digit(c)) c->p++;
    }
    return 0;
}

/* -------------------------------------------------------------- decoder */

/* s[0..n) is a valid integer token; exact, or an error outside int64. */
static int parse_int(cursor *c, const unsigned char *s, size_t n, sqlite3_int64 *out)
{
    int neg = s[0] == '-';
    uint64_t limit = neg ? (uint64_t)1 << 63 : ((uint64_t)1 << 63) - 1;
    uint64_t m = 0;
    for (size_t i = (size_t)neg; i < n; i++) {
        unsigned d = (unsigned)(s[i] - '0');
        if (m > (limit - d) / 10) return fail(c, "integer out of range");
        m = m * 10 + d;
    }
    /* -2^63 has no positive int64 twin, so it cannot go through -(int64)m. */
    if (!neg) *out = (sqlite3_int64)m;
    else if (m == (uint64_t)1 << 63) *out = INT64_MIN;
    else *out = -(sqlite3_int64)m;
    return 0;
}

/* s[0..n) is a valid non-integer number token. strtod needs a NUL-terminated
 * copy and the locale's decimal point; overflow gives +-inf, which is how
 * 1e999 / -1e999 decode. */
static int parse_real(cursor *c, const unsigned char *s, size_t n, resql_buf *tmp, double *out)
{
    const char *point = localeconv()->decimal_point;
    char *end;

    resql__buf_reset(tmp);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') resql__buf_puts(tmp, point);
        else resql__buf_putc(tmp, (char)s[i]);
    }
    const char *z = resql__buf_cstr(tmp);
    if (!z) return fail(c, "out of memory");
    *out = strtod(z, &end);
    if (end != z + tmp->len) return fail(c, "bad number");
    return 0;
}

/* Decodes {"$text":"b64"} or {"$blob":"b64"}; c->p is on the '{'. */
static int decode_object(cursor *c, resql_value *out, resql_buf *scratch)
{
    c->p++;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"') return fail(c, "unsupported object");
    resql__buf_reset(scratch);
    if (scan_string(c, scratch)) return -1;
    if (scratch->len == 5 && memcmp(scratch->data, "$text", 5) == 0) out->type = SQLITE_TEXT;
    else if (scratch->len == 5 && memcmp(scratch->data, "$blob", 5) == 0) out->type = SQLITE_BLOB;
    else return fail(c, "unsupported object");

    skip_ws(c);
    if (c->p >= c->end || *c->p != ':') return fail(c, "expected ':'");
    c->p++;
    skip_ws(c);
    if (c->p >= c->end || *c->p != '"') return fail(c, "expected base64 string");
    resql__buf_reset(scratch);
    if (scan_string(c, scratch)) return -1;
    if (scratch->oom) return fail(c, "out of memory");
    if (b64_decode_inplace((unsigned char *)scratch->data, scratch->len, &out->n))
        return fail(c, "malformed base64");
    scratch->len = out->n;
    out->bytes = (const unsigned char *)scratch->data;

    skip_ws(c);
    if (c->p >= c->end || *c->p != '}') return fail(c, "unsupported object");
    c->p++;
    return 0;
}

int resql__json_decode_value(const char *json, size_t n, resql_value *out,
                             resql_buf *scratch, const char **errmsg)
{
    cursor c = { (const unsigned char *)json, (const unsigned char *)json + n, NULL };
    int rc = 0;

    memset(out, 0, sizeof *out);
    out->type = SQLITE_NULL;
    resql__buf_reset(scratch);
    skip_ws(&c);

    if (c.p >= c.end) {
        rc = fail(&c, "empty input");
    } else if (*c.p == 'n') {
        rc = match(&c, "null");
    } else if (*c.p == '"') {
        rc = scan_string(&c, scratch);
        out->type = SQLITE_TEXT;
        out->bytes = (const unsigned char *)scratch->data;
        out->n = scratch->len;
    } else if (*c.p == '{') {
        rc = decode_object(&c, out, scratch);
    } else if (*c.p == '-' || (*c.p >= '0' && *c.p <= '9')) {
        const unsigned char *start = c.p;
        int is_int;
        rc = scan_number(&c, &is_int);
        if (rc == 0 && is_int) {
            out->type = SQLITE_INTEGER;
            rc = parse_int(&c, start, (size_t)(c.p - start), &out->i);
        } else if (rc == 0) {
            out->type = SQLITE_FLOAT;
            rc = parse_real(&c, start, (size_t)(c.p - start), scratch, &out->r);
            resql__buf_reset(scratch);
        }
    } else {
        rc = fail(&c, "unsupported JSON value");
    }

    if (rc == 0) {
        skip_ws(&c);
        if (c.p != c.end) rc = fail(&c, "trailing characters after value");
        else if (scratch->oom) rc = fail(&c, "out of memory");
    }
    if (rc) {
        memset(out, 0, sizeof *out);
        out->type = SQLITE_NULL;
        if (errmsg) *errmsg = c.err;
        return -1;
    }
    return 0;
}

/* -------------------------------------------------------------- checker */

/* Checks one value at c->p (whitespace already skipped); returns its type
 * char or 0. Recursion is bounded by JSON_MAX_DEPTH. */
static int check_value(cursor *c, int depth)
{
    if (c->p >= c->end) { fail(c, "unexpected end of input"); return 0; }
    switch (*c->p) {
    case '{':
    case '[': {
        int obj = *c->p == '{';
        char close = obj ? '}' : ']';
        if (depth >= JSON_MAX_DEPTH) { fail(c, "nesting too deep"); return 0; }
        c->p++;
        skip_ws(c);
        if (c->p < c->end && *c->p == close) { c->p++; return obj ? 'o' : 'a'; }
        for (;;) {
            if (obj) {
                if (c->p >= c->end || *c->p != '"') { fail(c, "expected member name"); return 0; }
                if (scan_string(c, NULL)) return 0;
                skip_ws(c);
                if (c->p >= c->end || *c->p != ':') { fail(c, "expected ':'"); return 0; }
                c->p++;
                skip_ws(c);
            }
            if (!check_value(c, depth + 1)) return 0;
            skip_ws(c);
            if (c->p < c->end && *c->p == ',') { c->p++; skip_ws(c); continue; }
            if (c->p < c->end && *c->p == close) { c->p++; return obj ? 'o' : 'a'; }
            fail(c, obj ? "expected ',' or '}'" : "expected ',' or ']'");
            return 0;
        }
    }
    case '"':
        return scan_string(c, NULL) ? 0 : 's';
    case 't':
        return match(c, "true") ? 0 : 't';
    case 'f':
        return match(c, "false") ? 0 : 'f';
    case 'n':
        return match(c, "null") ? 0 : 'z';
    default: {
        int is_int;
        return scan_number(c, &is_int) ? 0 : 'n';
    }
    }
}

int resql__json_check(const char *json, size_t n, const char **errmsg)
{
    cursor c = { (const unsigned char *)json, (const unsigned char *)json + n, NULL };

    skip_ws(&c);
    int type = check_value(&c, 0);
    if (type) {
        skip_ws(&c);
        if (c.p != c.end) { fail(&c, "trailing characters after value"); type = 0; }
    }
    if (!type && errmsg) *errmsg = c.err;
    return type;
}
