/* Reading SQL text: the kind of a statement, and quoting identifiers. */
#include <ctype.h>
#include <string.h>

#include "internal.h"

/* Skips whitespace and comments. */
static const char *skip_space(const char *p)
{
    for (;;) {
        while (*p && isspace((unsigned char)*p)) p++;
        if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) p = resql__sql_token_end(p);
        else return p;
    }
}

const char *resql__sql_token_end(const char *p)
{
    if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
        const char *end = p[0] == '-' ? strchr(p, '\n') : strstr(p + 2, "*/");
        return end ? end + (p[0] == '-' ? 0 : 2) : p + strlen(p);
    }
    if (*p == '\'' || *p == '"' || *p == '`' || *p == '[') {
        char close = *p == '[' ? ']' : *p;
        for (p++; *p; p++) {
            if (*p == close) {
                if (close != ']' && p[1] == close) { p++; continue; }   /* doubled quote */
                return p + 1;
            }
        }
        return p;
    }
    if (isalnum((unsigned char)*p) || *p == '_' || (unsigned char)*p >= 0x80) {
        while (isalnum((unsigned char)*p) || *p == '_' || *p == '$' || (unsigned char)*p >= 0x80) p++;
        return p;
    }
    return *p ? p + 1 : p;
}

static int word_is(const char *p, const char *word)
{
    size_t n = strlen(word);
    return sqlite3_strnicmp(p, word, (int)n) == 0 && !isalnum((unsigned char)p[n]) && p[n] != '_';
}

static const struct { const char *word, *kind; } first_words[] = {
    {"INSERT", "Insert"},   {"REPLACE", "Insert"},   {"UPDATE", "Update"},
    {"DELETE", "Delete"},   {"SELECT", "Select"},    {"VALUES", "Select"},
    {"CREATE", "Create"},   {"DROP", "Drop"},        {"ALTER", "Alter"},
    {"BEGIN", "Begin"},     {"COMMIT", "Commit"},    {"END", "Commit"},
    {"ROLLBACK", "Rollback"}, {"SAVEPOINT", "Savepoint"}, {"RELEASE", "Release"},
    {"PRAGMA", "Pragma"},   {"ATTACH", "Attach"},    {"DETACH", "Detach"},
    {"VACUUM", "Vacuum"},   {"ANALYZE", "Analyze"},  {"REINDEX", "Reindex"},
    {"EXPLAIN", "Explain"},
};

static const char *kind_of_word(const char *p)
{
    for (size_t i = 0; i < sizeof first_words / sizeof first_words[0]; i++)
        if (word_is(p, first_words[i].word)) return first_words[i].kind;
    return NULL;
}

const char *resql__sql_kind(const char *sql)
{
    if (!sql) return "Other";
    const char *p = skip_space(sql);
    if (!word_is(p, "WITH")) {
        const char *kind = kind_of_word(p);
        return kind ? kind : "Other";
    }
    /* WITH [RECURSIVE] cte AS (...), ...: the statement is the first of
     * SELECT/INSERT/REPLACE/UPDATE/DELETE/VALUES outside any parentheses. */
    int depth = 0;
    for (p = resql__sql_token_end(p); *(p = skip_space(p)); p = resql__sql_token_end(p)) {
        if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (depth == 0) {
            const char *kind = kind_of_word(p);
            if (kind && (word_is(p, "SELECT") || word_is(p, "VALUES") || word_is(p, "INSERT") ||
                         word_is(p, "REPLACE") || word_is(p, "UPDATE") || word_is(p, "DELETE")))
                return kind;
        }
    }
    return "Other";
}

void resql__quote_ident(resql_buf *out, const char *name)
{
    resql__buf_putc(out, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"') resql__buf_putc(out, '"');
        resql__buf_putc(out, *p);
    }
    resql__buf_putc(out, '"');
}

/* Copies the identifier token [p, end) without its quotes into name. */
static void unquote(const char *p, const char *end, char *name, size_t size)
{
    size_t n = 0;
    char close = 0;
    if (*p == '"' || *p == '`' || *p == '[') {
        close = *p == '[' ? ']' : *p;
        p++;
        end--;
    }
    for (; p < end && n + 1 < size; p++) {
        if (close && close != ']' && *p == close && p + 1 < end && p[1] == close) p++;
        name[n++] = *p;
    }
    name[n] = '\0';
}

int resql__sql_create_table_as(const char *sql, char *name, size_t size)
{
    const char *p = skip_space(sql);
    if (!word_is(p, "CREATE")) return 0;
    p = skip_space(resql__sql_token_end(p));
    if (word_is(p, "TEMP") || word_is(p, "TEMPORARY") || !word_is(p, "TABLE")) return 0;
    p = skip_space(resql__sql_token_end(p));
    if (word_is(p, "IF")) {
        for (int i = 0; i < 3; i++) p = skip_space(resql__sql_token_end(p));     /* IF NOT EXISTS */
    }
    const char *end = resql__sql_token_end(p);
    unquote(p, end, name, size);
    p = skip_space(end);
    if (*p == '.') {
        if (sqlite3_stricmp(name, "main") != 0) return 0;
        p = skip_space(p + 1);
        end = resql__sql_token_end(p);
        unquote(p, end, name, size);
        p = skip_space(end);
    }
    return word_is(p, "AS");
}
