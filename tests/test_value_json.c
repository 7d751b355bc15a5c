/* Tests for the lossless typed JSON of SQLite values (core/src/value_json.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "value_json.h"

/* ------------------------------------------------------------ helpers */

static resql_value mk(int type)
{
    resql_value v;
    memset(&v, 0, sizeof v);
    v.type = type;
    return v;
}

static resql_value mk_int(sqlite3_int64 i)
{
    resql_value v = mk(SQLITE_INTEGER);
    v.i = i;
    return v;
}

static resql_value mk_real(double r)
{
    resql_value v = mk(SQLITE_FLOAT);
    v.r = r;
    return v;
}

static resql_value mk_bytes(int type, const void *p, size_t n)
{
    resql_value v = mk(type);
    v.bytes = p;
    v.n = n;
    return v;
}

/* Encodes v into b and returns the NUL-terminated text. */
static const char *encode(resql_buf *b, const resql_value *v)
{
    resql__buf_reset(b);
    resql__json_value(b, v);
    const char *z = resql__buf_cstr(b);
    assert_non_null(z);
    return z;
}

/* encode -> check -> decode gives back the same storage class and bytes. */
static void roundtrip(const resql_value *v)
{
    resql_buf json, scratch;
    resql_value back;
    const char *err = NULL;

    resql__buf_init(&json);
    resql__buf_init(&scratch);
    encode(&json, v);
    int want = v->type == SQLITE_NULL ? 'z'
             : v->type == SQLITE_INTEGER || v->type == SQLITE_FLOAT ? 'n'
             : v->type == SQLITE_TEXT && resql__utf8_valid(v->bytes, v->n) ? 's' : 'o';
    assert_int_equal(resql__json_check(json.data, json.len, &err), want);
    if (v->type == SQLITE_FLOAT) {
        assert_true(memchr(json.data, '.', json.len) || memchr(json.data, 'e', json.len));
    }
    int rc = resql__json_decode_value(json.data, json.len, &back, &scratch, &err);
    if (rc != 0) fail_msg("decode of %s failed: %s", json.data, err);
    if (!resql__value_same(v, &back)) fail_msg("round trip changed the value: %s", json.data);
    resql__buf_free(&json);
    resql__buf_free(&scratch);
}

static void expect_json(const resql_value *v, const char *want)
{
    resql_buf b;
    resql__buf_init(&b);
    assert_string_equal(encode(&b, v), want);
    resql__buf_free(&b);
}

static void expect_decode_error(const char *json)
{
    resql_buf scratch;
    resql_value v;
    const char *err = NULL;

    resql__buf_init(&scratch);
    if (resql__json_decode_value(json, strlen(json), &v, &scratch, &err) != -1)
        fail_msg("decoded invalid input: '%s'", json);
    assert_non_null(err);
    resql__buf_free(&scratch);
}

static int check(const char *json)
{
    const char *err = NULL;
    int t = resql__json_check(json, strlen(json), &err);
    if (t == 0) assert_non_null(err);
    return t;
}

/* ------------------------------------------------------------ integers */

static void test_integers(void **state)
{
    (void)state;
    const sqlite3_int64 ints[] = { INT64_MIN, INT64_MAX, 0, -1, 1, INT64_MIN + 1, 1000000007 };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        resql_value v = mk_int(ints[i]);
        roundtrip(&v);
    }
    resql_value v = mk_int(INT64_MIN);
    expect_json(&v, "-9223372036854775808");
    v = mk_int(INT64_MAX);
    expect_json(&v, "9223372036854775807");
    v = mk_int(0);
    expect_json(&v, "0");
}

/* --------------------------------------------------------------- reals */

static void test_reals_roundtrip(void **state)
{
    (void)state;
    volatile double a = 0.1, b = 0.2; /* computed, not folded into 0.3 */
    const double reals[] = {
        0.0, -0.0, 1.0, a + b, 1e308, 5e-324, DBL_MAX, -1.5e-300, INFINITY, -INFINITY,
        DBL_MIN, -DBL_MAX, 0.1, 1e16, 123456789012345678.0, 2.2250738585072009e-308, 1e-7, -3.0
    };
    for (size_t i = 0; i < sizeof reals / sizeof reals[0]; i++) {
        resql_value v = mk_real(reals[i]);
        roundtrip(&v);
    }
}

/* Pseudo-random bit patterns: every finite double must round trip. */
static void test_reals_random_bits(void **state)
{
    (void)state;
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        double d;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        memcpy(&d, &x, sizeof d);
        if (isnan(d)) continue;
        resql_value v = mk_real(d);
        roundtrip(&v);
    }
}

static void test_reals_text(void **state)
{
    (void)state;
    volatile double a = 0.1, b = 0.2;
    resql_value v;

    v = mk_real(1.0);        expect_json(&v, "1.0");
    v = mk_real(-0.0);       expect_json(&v, "-0.0");
    v = mk_real(0.0);        expect_json(&v, "0.0");
    v = mk_real(a + b);      expect_json(&v, "0.30000000000000004");
    v = mk_real(1e300);      expect_json(&v, "1e+300");
    v = mk_real(5e-324);     expect_json(&v, "5e-324");
    v = mk_real(0.1);        expect_json(&v, "0.1");
    v = mk_real(-2.5);       expect_json(&v, "-2.5");
    v = mk_real(INFINITY);   expect_json(&v, "1e999");
    v = mk_real(-INFINITY);  expect_json(&v, "-1e999");
    v = mk_real(NAN);        expect_json(&v, "null");
}

/* Decoding accepts any JSON number spelling, not only the encoder's. */
static void test_reals_decode(void **state)
{
    (void)state;
    resql_buf scratch;
    resql_value v;
    resql__buf_init(&scratch);

    assert_int_equal(resql__json_decode_value("1E2", 3, &v, &scratch, NULL), 0);
    assert_int_equal(v.type, SQLITE_FLOAT);
    assert_true(v.r == 100.0);
    assert_int_equal(resql__json_decode_value(" -1e999 ", 8, &v, &scratch, NULL), 0);
    assert_int_equal(v.type, SQLITE_FLOAT);
    assert_true(isinf(v.r) && v.r < 0);
    assert_int_equal(resql__json_decode_value("-0", 2, &v, &scratch, NULL), 0);
    assert_int_equal(v.type, SQLITE_INTEGER);
    assert_true(v.i == 0);

    resql__buf_free(&scratch);
}

/* ---------------------------------------------------------------- text */

static void test_text_roundtrip(void **state)
{
    (void)state;
    /* Literal text with its exact length (embedded NULs included). */
#define T(lit) { lit, sizeof lit - 1 }
    static const struct { const char *s; size_t n; } texts[] = {
        T("plain"),
        T("quote\" backslash\\ slash/"),
        T("a\0b\0"),
        T("\0"),
        T("emoji \xF0\x9F\x98\x80 and \xC3\xA9 \xE2\x82\xAC"),
        T("del \x7F"),
        /* from here on not valid UTF-8, so encoded as {"$text":...} */
        T("\xFF"),
        T("\xC0\x80"),
        T("\xED\xA0\x80"),
        T("\xE2\x82"),
        T("\xF4\x90\x80\x80"),
        T("ok \xF0\x9F\x98"),
        T("\x80"),
    };
#undef T
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        resql_value v = mk_bytes(SQLITE_TEXT, texts[i].s, texts[i].n);
        assert_int_equal(resql__utf8_valid(v.bytes, v.n), i < 6);
        roundtrip(&v);
    }

    char ctl[32];
    for (int c = 1; c < 0x20; c++) ctl[c - 1] = (char)c;
    ctl[31] = '"';
    resql_value v = mk_bytes(SQLITE_TEXT, ctl, sizeof ctl);
    roundtrip(&v);
}

static void test_text_exact(void **state)
{
    (void)state;
    resql_value v;

    v = mk_bytes(SQLITE_TEXT, "a\"b\\c\n", 6);
    expect_json(&v, "\"a\\\"b\\\\c\\n\"");
    v = mk_bytes(SQLITE_TEXT, "\0", 1);
    expect_json(&v, "\"\\u0000\"");
    v = mk_bytes(SQLITE_TEXT, "\xFF", 1);
    expect_json(&v, "{\"$text\":\"/w==\"}");
    v = mk_bytes(SQLITE_TEXT, "\b\f\r\t\x01\x1F\x7F", 7);
    expect_json(&v, "\"\\b\\f\\r\\t\\u0001\\u001f\x7F\"");
    v = mk_bytes(SQLITE_TEXT, "\xE2\x82\xAC", 3);
    expect_json(&v, "\"\xE2\x82\xAC\"");
    v = mk_bytes(SQLITE_TEXT, NULL, 0);
    expect_json(&v, "\"\"");
}

/* Escapes the encoder never writes must still decode to UTF-8 bytes. */
static void test_text_decode_escapes(void **state)
{
    (void)state;
    resql_buf scratch;
    resql_value v;
    const char *err = NULL;
    resql__buf_init(&scratch);

    const char *j = "\"\\u00e9\\ud83d\\ude00\\/\\u0000\\u20AC\"";
    assert_int_equal(resql__json_decode_value(j, strlen(j), &v, &scratch, &err), 0);
    assert_int_equal(v.type, SQLITE_TEXT);
    assert_int_equal(v.n, 2 + 4 + 1 + 1 + 3);
    assert_memory_equal(v.bytes, "\xC3\xA9\xF0\x9F\x98\x80/\0\xE2\x82\xAC", v.n);

    /* A lone surrogate has no UTF-8 form. */
    expect_decode_error("\"\\ud800\"");
    expect_decode_error("\"\\udc00x\"");
    expect_decode_error("\"\\ud83d\\u0041\"");
    /* Raw control characters and invalid UTF-8 are not JSON. */
    expect_decode_error("\"a\nb\"");
    expect_decode_error("\"\xFF\"");

    resql__buf_free(&scratch);
}

static void test_empty_vs_null(void **state)
{
    (void)state;
    resql_value null = mk(SQLITE_NULL);
    resql_value text = mk_bytes(SQLITE_TEXT, "", 0);
    resql_value blob = mk_bytes(SQLITE_BLOB, NULL, 0);

    expect_json(&null, "null");
    expect_json(&text, "\"\"");
    expect_json(&blob, "{\"$blob\":\"\"}");
    assert_false(resql__value_same(&null, &text));
    assert_false(resql__value_same(&null, &blob));
    assert_false(resql__value_same(&text, &blob));
    roundtrip(&null);
    roundtrip(&text);
    roundtrip(&blob);
}

/* ---------------------------------------------------------------- blobs */

static void test_blobs(void **state)
{
    (void)state;
    resql_value v;

    v = mk_bytes(SQLITE_BLOB, "a", 1);      expect_json(&v, "{\"$blob\":\"YQ==\"}");
    v = mk_bytes(SQLITE_BLOB, "ab", 2);     expect_json(&v, "{\"$blob\":\"YWI=\"}");
    v = mk_bytes(SQLITE_BLOB, "abc", 3);    expect_json(&v, "{\"$blob\":\"YWJj\"}");
    v = mk_bytes(SQLITE_BLOB, "\0\xFF\xFE", 3);
    roundtrip(&v);

    /* 1 MiB of pseudo-random bytes (xorshift). */
    size_t n = 1u << 20;
    unsigned char *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >> 17; x ^= x << 5;
        p[i] = (unsigned char)(x >> 24);
    }
    v = mk_bytes(SQLITE_BLOB, p, n);
    roundtrip(&v);
    v = mk_bytes(SQLITE_TEXT, p, n); /* almost surely invalid UTF-8 -> $text */
    roundtrip(&v);
    free(p);
}

/* ---------------------------------------------------------- value_same */

static void test_value_same(void **state)
{
    (void)state;
    resql_value a = mk_real(0.0), b = mk_real(-0.0);
    assert_false(resql__value_same(&a, &b));
    assert_true(resql__value_same(&a, &a));

    a = mk_int(1);
    b = mk_real(1.0);
    assert_false(resql__value_same(&a, &b));

    a = mk_bytes(SQLITE_TEXT, "ab", 2);
    b = mk_bytes(SQLITE_BLOB, "ab", 2);
    assert_false(resql__value_same(&a, &b));
    b = mk_bytes(SQLITE_TEXT, "abc", 2);
    assert_true(resql__value_same(&a, &b));
    b = mk_bytes(SQLITE_TEXT, "ac", 2);
    assert_false(resql__value_same(&a, &b));
}

/* ------------------------------------------------------- decode errors */

static void test_decode_errors(void **state)
{
    (void)state;
    const char *bad[] = {
        "", "   ", "true", "false", "[1]", "{}", "nul", "nulll",
        "{\"$blob\":\"!!\"}", "{\"$blob\":\"YQ=\"}", "{\"$blob\":\"YR==\"}", "{\"$blob\":\"YWJ=\"}", "{\"$blob\":\"Y===\"}",
        "{\"$blob\":\"YQ==YQ==\"}", "{\"$blob\":1}", "{\"$blob\":\"\"", "{\"$blob\":\"\",\"x\":1}",
        "{\"$other\":\"x\"}", "{\"$text\":\"/w==\" x}",
        "1 2", "\"a\" \"b\"", "null,",
        "99999999999999999999", "9223372036854775808", "-9223372036854775809",
        "01", "1.", ".5", "-", "1e", "+1", "\"abc", "\"\\x\"", "\"\\u12\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) expect_decode_error(bad[i]);

    /* The edges of int64 are fine. */
    resql_buf scratch;
    resql_value v;
    resql__buf_init(&scratch);
    assert_int_equal(resql__json_decode_value("-9223372036854775808", 20, &v, &scratch, NULL), 0);
    assert_true(v.type == SQLITE_INTEGER && v.i == INT64_MIN);
    assert_int_equal(resql__json_decode_value("9223372036854775807", 19, &v, &scratch, NULL), 0);
    assert_true(v.type == SQLITE_INTEGER && v.i == INT64_MAX);
    /* Whitespace inside the typed objects is allowed. */
    const char *j = " { \"$text\" : \"/w==\" } ";
    assert_int_equal(resql__json_decode_value(j, strlen(j), &v, &scratch, NULL), 0);
    assert_true(v.type == SQLITE_TEXT && v.n == 1 && v.bytes[0] == 0xFF);
    /* Length is honoured: no reading past n. */
    assert_int_equal(resql__json_decode_value("12345", 2, &v, &scratch, NULL), 0);
    assert_true(v.type == SQLITE_INTEGER && v.i == 12);
    resql__buf_free(&scratch);
}

/* ----------------------------------------------------------- json_check */

static void test_check_valid(void **state)
{
    (void)state;
    assert_int_equal(check("{\"a\":1,\"b\":[true,false,null,\"x\",-1.5e+3,{}],\"c\":{\"d\":[]}}"), 'o');
    assert_int_equal(check(" [ 1 , [ 2 , [ 3 ] ] ] "), 'a');
    assert_int_equal(check("\"\\ud800 lone surrogate is allowed\""), 's');
    assert_int_equal(check("-0.0e-0"), 'n');
    assert_int_equal(check("true"), 't');
    assert_int_equal(check("false"), 'f');
    assert_int_equal(check("null"), 'z');
    assert_int_equal(check("{}"), 'o');
    assert_int_equal(check("[]"), 'a');
}

static void test_check_invalid(void **state)
{
    (void)state;
    const char *bad[] = {
        "", " ", "{\"a\":1,}", "[1,]", "[,1]", "01", "-01", "1.", ".1", "1e+", "{\"a\"}",
        "{a:1}", "'x'", "\"unterminated", "\"tab\there\"", "[1 2]", "{\"a\":1 \"b\":2}",
        "tru", "nulls", "1 2", "[", "]", "{", "\"\\q\"", "\"\xC0\x80\"", "NaN", "Infinity",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (check(bad[i]) != 0) fail_msg("accepted invalid JSON: '%s'", bad[i]);
    }
}

static void test_check_depth(void **state)
{
    (void)state;
    size_t depth = 5000;
    char *s = malloc(2 * depth);
    assert_non_null(s);
    memset(s, '[', depth);
    memset(s + depth, ']', depth);
    const char *err = NULL;
    assert_int_equal(resql__json_check(s, 2 * depth, &err), 0);
    assert_non_null(err);
    /* 100 levels are fine. */
    assert_int_equal(resql__json_check(s + depth - 100, 200, NULL), 'a');
    free(s);
}

/* ------------------------------------------------------- json_string */

static void test_json_string_names(void **state)
{
    (void)state;
    resql_buf b;
    resql__buf_init(&b);

    resql__json_string(&b, "my \"col\"\n", 9);
    assert_int_equal(b.len, strlen("\"my \\\"col\\\"\\n\""));
    assert_memory_equal(b.data, "\"my \\\"col\\\"\\n\"", b.len);

    resql__buf_reset(&b);
    resql__json_string(&b, "a\xFF" "b\xE2\x82" "c\xC3\xA9", 8);
    const char *want = "\"a\xEF\xBF\xBD" "b\xEF\xBF\xBD\xEF\xBF\xBD" "c\xC3\xA9\"";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.data, want, b.len);
    assert_int_equal(resql__json_check(b.data, b.len, NULL), 's');

    resql__buf_free(&b);
}

static void test_utf8_valid(void **state)
{
    (void)state;
    assert_true(resql__utf8_valid((const unsigned char *)"", 0));
    assert_true(resql__utf8_valid((const unsigned char *)"a\0b", 3));
    assert_true(resql__utf8_valid((const unsigned char *)"\xF4\x8F\xBF\xBF", 4));   /* U+10FFFF */
    assert_true(resql__utf8_valid((const unsigned char *)"\xEF\xBF\xBF", 3));       /* U+FFFF */
    assert_true(resql__utf8_valid((const unsigned char *)"\xED\x9F\xBF", 3));       /* U+D7FF */
    assert_false(resql__utf8_valid((const unsigned char *)"\xED\xBF\xBF", 3));      /* U+DFFF */
    assert_false(resql__utf8_valid((const unsigned char *)"\xE0\x9F\xBF", 3));      /* overlong */
    assert_false(resql__utf8_valid((const unsigned char *)"\xF0\x8F\xBF\xBF", 4));  /* overlong */
    assert_false(resql__utf8_valid((const unsigned char *)"\xF5\x80\x80\x80", 4));
    assert_false(resql__utf8_valid((const unsigned char *)"\xC1\xBF", 2));
    assert_false(resql__utf8_valid((const unsigned char *)"\xC3", 1));
}

/* printf/strtod follow LC_NUMERIC; JSON must keep '.' in a comma locale.
 * Skipped where no such locale is installed. */
static void test_reals_comma_locale(void **state)
{
    (void)state;
    if (!setlocale(LC_NUMERIC, "de_DE.UTF-8") && !setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
        skip();
    }
    resql_value v = mk_real(1.5);
    expect_json(&v, "1.5");
    roundtrip(&v);
    v = mk_real(-0.0);
    roundtrip(&v);
    setlocale(LC_NUMERIC, "C");
}

/* Significant digits of a number's text: mantissa digits without leading
 * or trailing zeros ("0.0300" -> 1, "1000.0" -> 1, "1.25e+10" -> 3). */
static size_t significant_digits(const char *text)
{
    char digits[64];
    size_t n = 0;
    for (const char *t = text; *t && *t != 'e' && n < sizeof digits; t++)
        if (*t >= '0' && *t <= '9') digits[n++] = *t;
    size_t first = 0;
    while (first < n && digits[first] == '0') first++;
    while (n > first && digits[n - 1] == '0') n--;
    return n > first ? n - first : 1;
}

/* The shortest text by brute force: the first of %.1g .. %.17g that reads
 * back to x. */
static size_t shortest_digits(double x)
{
    char tmp[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*g", p, x);
        if (strtod(tmp, NULL) == x) break;
    }
    return significant_digits(tmp);
}

/* REALs of every shape an application stores (short decimals, products,
 * quotients, large and small): each encoding reads back exactly, has '.' or
 * an exponent, and has no more significant digits than the shortest text. */
static void test_reals_are_shortest_and_exact(void **state)
{
    (void)state;
    resql_buf out;
    resql__buf_init(&out);
    for (int i = 1; i < 30000; i++) {
        double samples[] = {i * 0.37, i / 1000.0, i / 7.0, i * 1.01, -i / 3.0, i * 1e10, i * 1e-6, (double)i,
                            i * 123456.789};
        for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
            double x = samples[k];
            resql_value v = {SQLITE_FLOAT, 0, x, NULL, 0};
            resql__buf_reset(&out);
            resql__json_value(&out, &v);
            const char *text = resql__buf_cstr(&out);
            if (strtod(text, NULL) != x) fail_msg("%.17g encoded as %s", x, text);
            if (!strpbrk(text, ".e")) fail_msg("%s has no '.' or exponent", text);
            size_t got = significant_digits(text), want = shortest_digits(x);
            if (got > want) fail_msg("%.17g encoded as %s: %zu digits, shortest has %zu", x, text, got, want);
        }
    }
    resql__buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reals_are_shortest_and_exact),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_reals_roundtrip),
        cmocka_unit_test(test_reals_random_bits),
        cmocka_unit_test(test_reals_text),
        cmocka_unit_test(test_reals_decode),
        cmocka_unit_test(test_text_roundtrip),
        cmocka_unit_test(test_text_exact),
        cmocka_unit_test(test_text_decode_escapes),
        cmocka_unit_test(test_empty_vs_null),
        cmocka_unit_test(test_blobs),
        cmocka_unit_test(test_value_same),
        cmocka_unit_test(test_decode_errors),
        cmocka_unit_test(test_check_valid),
        cmocka_unit_test(test_check_invalid),
        cmocka_unit_test(test_check_depth),
        cmocka_unit_test(test_json_string_names),
        cmocka_unit_test(test_utf8_valid),
        cmocka_unit_test(test_reals_comma_locale),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
