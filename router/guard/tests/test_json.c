// Tests for json.c: what strict RFC 8259 accepts and refuses (with the message and byte
// offset), decoding, nesting limits, duplicates, builders, the writer, hostile sizes, and a
// deterministic fuzz loop. Every parse reads a heap copy of exactly the input's length, so
// AddressSanitizer sees any read past its end. `test_json bench` times a typical body.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "json.h"

enum { BODY_LIMIT = 262144 };  // libs/kindred/limits.json: maxBodyBytes

static const char TYPICAL_BODY[] =
    "{\"query\":\"query Me { me { displayName queueEntry { age syncedVersion } } }\",\"variables\":{},"
    "\"operationName\":\"Me\"}";

// Parses a heap copy of exactly `len` bytes, freed before returning: nothing parsed may
// point into the input.
static Json *parse(Arena *arena, const char *text, size_t len, int max_depth, JsonError *error) {
    char *copy = malloc(len ? len : 1);
    if (len) memcpy(copy, text, len);
    Json *value = json_parse(arena, copy, len, max_depth, error);
    memset(copy, '#', len);
    free(copy);
    return value;
}

static Json *parse_text(Arena *arena, const char *text, int max_depth) {
    JsonError error = {0};
    return parse(arena, text, strlen(text), max_depth, &error);
}

// `value` written compactly (into `out`, cleared first).
static const char *written(Buf *out, const Json *value) {
    buf_clear(out);
    json_write(out, value);
    return out->data ? out->data : "";
}

typedef struct Rejected {
    const char *text;
    size_t len;
    const char *message;
    size_t offset;
} Rejected;

#define REJECTED(literal, message, offset) {literal, sizeof(literal) - 1, message, offset}

static const Rejected REJECTED_INPUTS[] = {
    REJECTED("", "empty input", 0),
    REJECTED(" \n\t\r ", "empty input", 0),
    // Numbers.
    REJECTED("-", "unexpected end of input", 1),
    REJECTED("1.", "unexpected end of input", 2),
    REJECTED("1e", "unexpected end of input", 2),
    REJECTED("1e+", "unexpected end of input", 3),
    REJECTED("[-]", "invalid number", 2),
    REJECTED("[1.]", "invalid number", 3),
    REJECTED("[1e]", "invalid number", 3),
    REJECTED("[1E-]", "invalid number", 4),
    REJECTED("1.e5", "invalid number", 2),
    REJECTED("-a", "invalid number", 1),
    REJECTED("2.5ea", "invalid number", 4),
    REJECTED(".5", "unexpected character", 0),
    REJECTED("+1", "unexpected character", 0),
    REJECTED("01", "leading zero in a number", 0),
    REJECTED("-01", "leading zero in a number", 0),
    REJECTED("[00]", "leading zero in a number", 1),
    REJECTED("NaN", "unexpected character", 0),
    REJECTED("Infinity", "unexpected character", 0),
    REJECTED("-Infinity", "invalid number", 1),
    REJECTED("0x10", "trailing characters after the value", 1),
    REJECTED("1 2", "trailing characters after the value", 2),
    // Literals.
    REJECTED("tru", "unexpected end of input", 3),
    REJECTED("nul", "unexpected end of input", 3),
    REJECTED("trUe", "unexpected character", 2),
    REJECTED("truex", "trailing characters after the value", 4),
    REJECTED("[True]", "unexpected character", 1),
    REJECTED("'a'", "unexpected character", 0),
    // Structure.
    REJECTED("[", "unexpected end of input", 1),
    REJECTED("[1", "unexpected end of input", 2),
    REJECTED("[1,", "unexpected end of input", 3),
    REJECTED("{", "unexpected end of input", 1),
    REJECTED("{\"a\"", "unexpected end of input", 4),
    REJECTED("{\"a\":", "unexpected end of input", 5),
    REJECTED("{\"a\":1", "unexpected end of input", 6),
    REJECTED("{\"a\":1,", "unexpected end of input", 7),
    REJECTED("[] x", "trailing characters after the value", 3),
    REJECTED("{} {}", "trailing characters after the value", 3),
    REJECTED("[1]\x00", "trailing characters after the value", 3),
    REJECTED("[1,]", "trailing comma", 3),
    REJECTED("[1 , ]", "trailing comma", 5),
    REJECTED("{\"a\":1,}", "trailing comma", 7),
    REJECTED("[,1]", "unexpected character", 1),
    REJECTED("[1,,2]", "unexpected character", 3),
    REJECTED("[1 2]", "expected ',' or ']' in an array", 3),
    REJECTED("[1:2]", "expected ',' or ']' in an array", 2),
    REJECTED("[1}", "expected ',' or ']' in an array", 2),
    REJECTED("{\"a\":1 \"b\":2}", "expected ',' or '}' in an object", 7),
    REJECTED("{\"a\":1]", "expected ',' or '}' in an object", 6),
    REJECTED("{\"a\" 1}", "expected ':' after a member name", 5),
    REJECTED("{\"a\"=1}", "expected ':' after a member name", 4),
    REJECTED("{1:2}", "expected a string as a member name", 1),
    REJECTED("{'a':1}", "expected a string as a member name", 1),
    REJECTED("{a:1}", "expected a string as a member name", 1),
    REJECTED("{\"a\":1,,\"b\":2}", "expected a string as a member name", 7),
    REJECTED("/* c */ 1", "unexpected character", 0),
    REJECTED("[1]//", "trailing characters after the value", 3),
    REJECTED("[1,/**/2]", "unexpected character", 3),
    REJECTED("\x00", "unexpected character", 0),
    REJECTED("\xEF\xBB\xBF{}", "unexpected character", 0),  // a byte order mark
    REJECTED("\x0C" "1", "unexpected character", 0),        // form feed is not JSON whitespace
    REJECTED("\xC2\xA0" "1", "unexpected character", 0),    // nor is U+00A0
    // Strings and escapes.
    REJECTED("\"abc", "unexpected end of input", 4),
    REJECTED("\"\\", "unexpected end of input", 2),
    REJECTED("\"\\u12", "unexpected end of input", 5),
    REJECTED("\"\\u0000", "unexpected end of input", 7),
    REJECTED("\"\\x\"", "invalid escape in a string", 1),
    REJECTED("\"\\U0041\"", "invalid escape in a string", 1),
    REJECTED("\"\\'\"", "invalid escape in a string", 1),
    REJECTED("\"ab\\u12G4\"", "invalid escape in a string", 3),
    REJECTED("\"\\u12\"", "invalid escape in a string", 1),
    REJECTED("\"\\uD800\\uDCZZ\"", "invalid escape in a string", 7),
    REJECTED("\"\\uD800\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uDBFF\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uDC00\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uDFFF\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800\\u0041\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800\\uD800\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uDC00\\uD800\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800\\uE000\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800x\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800\\n\"", "lone surrogate in a string", 1),
    REJECTED("\"\\uD800", "unexpected end of input", 7),
    REJECTED("\"\\uD800\\", "unexpected end of input", 8),
    REJECTED("\"\\uD800\\uDC0", "unexpected end of input", 12),
    REJECTED("\"a\x01z\"", "control character in a string", 2),
    REJECTED("\"\x1F\"", "control character in a string", 1),
    REJECTED("\"a\tb\"", "control character in a string", 2),
    REJECTED("\"a\nb\"", "control character in a string", 2),
    REJECTED("\"\x00\"", "control character in a string", 1),
    REJECTED("{\"k\x00\":1}", "control character in a string", 3),
    // UTF-8: overlong forms, surrogates, beyond U+10FFFF, stray and truncated bytes.
    REJECTED("\"\xC0\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xC1\xBF\"", "invalid UTF-8", 1),
    REJECTED("\"\xE0\x80\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xE0\x9F\xBF\"", "invalid UTF-8", 1),
    REJECTED("\"\xF0\x80\x80\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xF0\x8F\xBF\xBF\"", "invalid UTF-8", 1),
    REJECTED("\"\xED\xA0\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xED\xBF\xBF\"", "invalid UTF-8", 1),
    REJECTED("\"\xF4\x90\x80\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xF5\x80\x80\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xF8\x88\x80\x80\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xFE\"", "invalid UTF-8", 1),
    REJECTED("\"\xFF\"", "invalid UTF-8", 1),
    REJECTED("\"\x80\"", "invalid UTF-8", 1),
    REJECTED("\"\xBF\"", "invalid UTF-8", 1),
    REJECTED("\"ab\xC3\"", "invalid UTF-8", 3),
    REJECTED("\"\xC3", "invalid UTF-8", 1),
    REJECTED("\"\xE2\x82\"", "invalid UTF-8", 1),
    REJECTED("\"\xE2\x28\xA1\"", "invalid UTF-8", 1),
    REJECTED("\"\xF0\x9F\x98\"", "invalid UTF-8", 1),
    REJECTED("\"\xF0\x9F\x98", "invalid UTF-8", 1),
    REJECTED("\"\xC3\xA9\xE9\"", "invalid UTF-8", 3),  // Latin-1 after a valid é
    REJECTED("{\"\xFF\":1}", "invalid UTF-8", 2),
};

static void test_rejected(void) {
    Arena *arena = arena_new();
    for (size_t i = 0; i < sizeof REJECTED_INPUTS / sizeof *REJECTED_INPUTS; i++) {
        const Rejected *r = &REJECTED_INPUTS[i];
        JsonError error = {NULL, 12345};
        Json *value = parse(arena, r->text, r->len, 16, &error);
        bool as_expected = !value && error.message && strcmp(error.message, r->message) == 0 && error.offset == r->offset;
        CHECK(as_expected);
        if (!as_expected)
            fprintf(stderr, "  rejected case %zu (%zu bytes): got %s at %zu, expected %s at %zu\n", i, r->len,
                    value ? "a value" : error.message, error.offset, r->message, r->offset);
    }
    JsonError error = {0};
    CHECK(json_parse(arena, NULL, 0, 16, &error) == NULL);
    CHECK(error.message && strcmp(error.message, "empty input") == 0 && error.offset == 0);
    // A caller may not want the error.
    CHECK(parse(arena, "[1,]", 4, 16, NULL) == NULL);
    arena_free(arena);
}

static void test_numbers_and_literals(void) {
    static const char *const numbers[] = {
        "0", "-0", "0.0", "-0.5", "1.5e+10", "-12.34E-5", "1E5", "1e-0", "0e0", "9", "10",
        "123456789012345678901234567890", "1.000000000000000000000001", "-1e+9999",
    };
    Arena *arena = arena_new();
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++) {
        Json *value = parse_text(arena, numbers[i], 4);
        CHECK(value && value->type == JSON_NUMBER);
        if (value) {
            CHECK_STR(value->text, numbers[i]);
            CHECK(value->len == strlen(numbers[i]));
        }
    }
    Json *spaced = parse_text(arena, " \t\r\n42 \n", 4);
    CHECK(spaced && spaced->type == JSON_NUMBER && spaced->len == 2);
    if (spaced) CHECK_STR(spaced->text, "42");
    Json *t = parse_text(arena, "true", 4), *f = parse_text(arena, "false", 4), *n = parse_text(arena, " null ", 4);
    CHECK(t && t->type == JSON_TRUE);
    CHECK(f && f->type == JSON_FALSE);
    CHECK(n && n->type == JSON_NULL);
    arena_free(arena);
}

typedef struct Decoded {
    const char *json;
    const char *text;
    size_t len;
} Decoded;

#define DECODED(json, text) {json, text, sizeof(text) - 1}

static const Decoded DECODED_STRINGS[] = {
    DECODED("\"\"", ""),
    DECODED("\"abc\"", "abc"),
    DECODED("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t"),
    DECODED("\"\\u0041\\u00e9\\u00E9\"", "A\xC3\xA9\xC3\xA9"),
    DECODED("\"\\u0000\"", "\x00"),
    DECODED("\"a\\u0000b\"", "a\x00" "b"),
    DECODED("\"\\u007f\\u0080\\u07ff\\u0800\\uffff\"", "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF"),
    DECODED("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80"),
    DECODED("\"\\ud83d\\ude00\"", "\xF0\x9F\x98\x80"),
    DECODED("\"\\uD800\\uDC00\"", "\xF0\x90\x80\x80"),
    DECODED("\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF"),
    DECODED("\"\\uD7FF\\uE000\"", "\xED\x9F\xBF\xEE\x80\x80"),
    DECODED("\"\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"",
            "\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF"),
    DECODED("\"caf\xC3\xA9 \\u2764 \\n end\"", "caf\xC3\xA9 \xE2\x9D\xA4 \n end"),
    DECODED("\"\x7F / \\/\"", "\x7F / /"),
    DECODED("\"query {\\n  me\\n}\"", "query {\n  me\n}"),
};

static void test_strings(void) {
    Arena *arena = arena_new();
    for (size_t i = 0; i < sizeof DECODED_STRINGS / sizeof *DECODED_STRINGS; i++) {
        const Decoded *d = &DECODED_STRINGS[i];
        Json *value = parse_text(arena, d->json, 4);
        bool as_expected = value && value->type == JSON_STRING && value->len == d->len &&
                           memcmp(value->text, d->text, d->len) == 0 && value->text[d->len] == 0;
        CHECK(as_expected);
        if (!as_expected) fprintf(stderr, "  decoded case %zu: %s\n", i, d->json);
    }
    arena_free(arena);
}

static void test_objects_and_arrays(void) {
    Arena *arena = arena_new();
    Buf out = BUF_INIT;

    Json *body = parse(arena, TYPICAL_BODY, sizeof TYPICAL_BODY - 1, 8, &(JsonError){0});
    CHECK(body && body->type == JSON_OBJECT && body->count == 3);
    if (body && body->count == 3) {
        CHECK_STR(body->keys[0], "query");
        CHECK_STR(body->keys[1], "variables");
        CHECK_STR(body->keys[2], "operationName");
        CHECK(body->key_lens[0] == 5 && body->key_lens[2] == 13);
    }
    Json *query = json_get(body, "query");
    CHECK(query && query->type == JSON_STRING);
    if (query) CHECK_STR(query->text, "query Me { me { displayName queueEntry { age syncedVersion } } }");
    Json *variables = json_get(body, "variables");
    CHECK(variables && variables->type == JSON_OBJECT && variables->count == 0);
    Json *name = json_get(body, "operationName");
    CHECK(name && name->type == JSON_STRING && name->len == 2);
    CHECK(json_get(body, "extensions") == NULL);
    CHECK(json_get(body, "Query") == NULL);
    CHECK(json_get(body, "quer") == NULL);
    CHECK_STR(written(&out, body), TYPICAL_BODY);

    Json *mixed = parse_text(arena, "[1,\"a\",true,false,null,[],{}]", 4);
    static const JsonType types[] = {JSON_NUMBER, JSON_STRING, JSON_TRUE, JSON_FALSE, JSON_NULL, JSON_ARRAY, JSON_OBJECT};
    CHECK(mixed && mixed->type == JSON_ARRAY && mixed->count == 7);
    for (size_t i = 0; mixed && i < mixed->count && i < 7; i++) CHECK(mixed->items[i]->type == types[i]);
    CHECK(json_get(mixed, "a") == NULL);  // not an object
    CHECK(json_get(NULL, "a") == NULL);
    CHECK(json_get(body, NULL) == NULL);

    Json *spaced = parse_text(arena, " \t\n\r{ \"a\" : [ 1 , 2 ] , \"b\" : { } , \"c\":\"\" } \n", 4);
    CHECK_STR(written(&out, spaced), "{\"a\":[1,2],\"b\":{},\"c\":\"\"}");

    // Duplicates stay, in order; look-up finds the last, as JSON.parse keeps the last.
    Json *dup = parse_text(arena, "{\"a\":1,\"b\":2,\"a\":3}", 4);
    CHECK(dup && dup->count == 3);
    Json *a = json_get(dup, "a");
    CHECK(a && a->type == JSON_NUMBER);
    if (a) CHECK_STR(a->text, "3");
    CHECK_STR(written(&out, dup), "{\"a\":1,\"b\":2,\"a\":3}");

    // Keys are decoded; a key holding NUL is kept whole but a C string cannot name it.
    Json *keys = parse_text(arena, "{\"\\u0061b\":1,\"x\\u0000y\":2,\"\":3}", 4);
    CHECK(keys && keys->count == 3);
    CHECK(json_get(keys, "ab") != NULL);
    CHECK(json_get(keys, "x") == NULL);
    if (keys && keys->count == 3) CHECK(keys->key_lens[1] == 3 && memcmp(keys->keys[1], "x\0y", 4) == 0);
    Json *empty_key = json_get(keys, "");
    CHECK(empty_key && empty_key->type == JSON_NUMBER);
    CHECK_STR(written(&out, keys), "{\"ab\":1,\"x\\u0000y\":2,\"\":3}");

    buf_free(&out);
    arena_free(arena);
}

static void test_depth(void) {
    Arena *arena = arena_new();
    JsonError error;
    static const struct {
        const char *text;
        int max_depth;
        long offset;  // -1 when accepted
    } cases[] = {
        {"[[[]]]", 3, -1},
        {"[[[[]]]]", 3, 3},
        {"{\"a\":[{}]}", 3, -1},
        {"{\"a\":[{\"b\":[]}]}", 3, 11},
        {"{\"a\":1}", 1, -1},  // the top-level object is depth 1
        {"{\"a\":{}}", 1, 5},
        {"[1,2,\"x\"]", 1, -1},
        {"[[]]", 1, 1},
        {"1", 0, -1},
        {"\"s\"", 0, -1},
        {"[]", 0, 0},
        {"{}", 0, 0},
        {"true", -1, -1},
        {"[]", -1, 0},
        {"[[],[],{\"a\":[]}]", 3, -1},
        {"[[],[],{\"a\":[]}]", 2, 12},
        {"[[],[],{\"a\":[]}]", 1, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        error = (JsonError){0};
        Json *value = parse(arena, cases[i].text, strlen(cases[i].text), cases[i].max_depth, &error);
        bool as_expected = cases[i].offset < 0 ? value != NULL
                                               : !value && error.message && strcmp(error.message, "nesting too deep") == 0 &&
                                                     error.offset == (size_t)cases[i].offset;
        CHECK(as_expected);
        if (!as_expected) fprintf(stderr, "  depth case %zu: %s\n", i, cases[i].text);
    }

    // Exactly at the limit and one over, alternating arrays and objects.
    enum { LIMIT = 64 };
    Buf doc = BUF_INIT;
    for (int level = 0; level < LIMIT + 1; level++) buf_appends(&doc, level % 2 ? "{\"k\":" : "[");
    buf_appends(&doc, "0");
    for (int level = LIMIT; level >= 0; level--) buf_appends(&doc, level % 2 ? "}" : "]");
    CHECK(parse(arena, doc.data, doc.len, LIMIT + 1, &error) != NULL);
    error = (JsonError){0};
    CHECK(parse(arena, doc.data, doc.len, LIMIT, &error) == NULL);
    CHECK(error.message && strcmp(error.message, "nesting too deep") == 0);

    // Hostile: far deeper than the limit costs nothing (no recursion past it).
    buf_clear(&doc);
    for (int i = 0; i < 200000; i++) buf_appendc(&doc, '[');
    error = (JsonError){0};
    CHECK(parse(arena, doc.data, doc.len, LIMIT, &error) == NULL);
    CHECK(error.message && strcmp(error.message, "nesting too deep") == 0 && error.offset == LIMIT);
    buf_free(&doc);
    arena_free(arena);
}

// Grows collections past several doublings, then builds on parsed ones (whose capacity
// json_push and json_set must infer the same way the parser grew them).
static void test_growth(void) {
    Arena *arena = arena_new();
    Buf doc = BUF_INIT, out = BUF_INIT;
    enum { N = 1000 };

    buf_appendc(&doc, '[');
    for (int i = 0; i < N; i++) buf_printf(&doc, "%s%d", i ? "," : "", i);
    buf_appendc(&doc, ']');
    Json *array = parse(arena, doc.data, doc.len, 4, &(JsonError){0});
    CHECK(array && array->count == N);
    int wrong = 0;
    for (int i = 0; array && i < N; i++) {
        char expected[16];
        snprintf(expected, sizeof expected, "%d", i);
        wrong += strcmp(array->items[i]->text, expected) != 0;
    }
    CHECK(wrong == 0);
    CHECK_STR(written(&out, array), doc.data);

    buf_clear(&doc);
    buf_appendc(&doc, '{');
    for (int i = 0; i < N; i++) buf_printf(&doc, "%s\"k%d\":%d", i ? "," : "", i, i);
    buf_appendc(&doc, '}');
    Json *object = parse(arena, doc.data, doc.len, 4, &(JsonError){0});
    CHECK(object && object->count == N);
    wrong = 0;
    for (int i = 0; object && i < N; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        Json *member = json_get(object, key);
        wrong += !member || atoi(member->text) != i || strcmp(object->keys[i], key) != 0;
    }
    CHECK(wrong == 0);
    CHECK_STR(written(&out, object), doc.data);

    // Counts 3, 4 (full), 5, 8 (full), 9: across the implied capacities 4 and 8.
    Json *three = parse_text(arena, "[0,1,2]", 2);
    for (int i = 3; i < 9; i++) {
        char digit[2] = {(char)('0' + i), 0};
        Json *number = json_new(arena, JSON_NUMBER);
        number->text = arena_strndup(arena, digit, 1);
        json_push(arena, three, number);
    }
    CHECK_STR(written(&out, three), "[0,1,2,3,4,5,6,7,8]");

    Json *members = parse_text(arena, "{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 2);
    json_set(arena, members, "e", json_new(arena, JSON_TRUE));
    json_set(arena, members, "b", json_new(arena, JSON_NULL));
    json_set(arena, members, "f", json_new(arena, JSON_FALSE));
    CHECK_STR(written(&out, members), "{\"a\":1,\"b\":null,\"c\":3,\"d\":4,\"e\":true,\"f\":false}");
    CHECK(json_get(members, "e") && json_get(members, "e")->type == JSON_TRUE);

    buf_free(&doc);
    buf_free(&out);
    arena_free(arena);
}

static void test_builders(void) {
    Arena *arena = arena_new();
    Buf out = BUF_INIT;

    Json *answer = json_new(arena, JSON_OBJECT);
    json_set(arena, answer, "data", json_new(arena, JSON_NULL));
    Json *errors = json_new(arena, JSON_ARRAY);
    Json *error = json_new(arena, JSON_OBJECT);
    json_set(arena, error, "message", json_new_string(arena, "Bad \"x\"\n", 8));
    Json *extensions = json_new(arena, JSON_OBJECT);
    json_set(arena, extensions, "code", json_new_string(arena, "BAD_REQUEST", 11));
    json_set(arena, error, "extensions", extensions);
    json_push(arena, errors, error);
    json_set(arena, answer, "errors", errors);
    json_set(arena, answer, "data", json_new(arena, JSON_TRUE));  // replaces, keeps its place
    CHECK(answer->count == 2);
    CHECK_STR(written(&out, answer),
              "{\"data\":true,\"errors\":[{\"message\":\"Bad \\\"x\\\"\\n\",\"extensions\":{\"code\":\"BAD_REQUEST\"}}]}");

    // Fresh values write as valid JSON.
    CHECK_STR(written(&out, json_new(arena, JSON_NUMBER)), "0");
    CHECK_STR(written(&out, json_new(arena, JSON_STRING)), "\"\"");
    CHECK_STR(written(&out, json_new(arena, JSON_ARRAY)), "[]");
    CHECK_STR(written(&out, json_new(arena, JSON_OBJECT)), "{}");
    CHECK_STR(written(&out, json_new(arena, JSON_FALSE)), "false");
    CHECK_STR(written(&out, NULL), "null");
    CHECK_STR(written(&out, json_new_string(arena, NULL, 0)), "\"\"");
    CHECK_STR(written(&out, json_new_string(arena, "a\0b\x01", 4)), "\"a\\u0000b\\u0001\"");

    // Text and keys are copied: changing the caller's bytes afterwards changes nothing.
    char text[] = "hello";
    char key[] = "greeting";
    Json *holder = json_new(arena, JSON_OBJECT);
    json_set(arena, holder, key, json_new_string(arena, text, 5));
    text[0] = 'j';
    key[0] = 'X';
    CHECK_STR(written(&out, holder), "{\"greeting\":\"hello\"}");
    CHECK(json_get(holder, "greeting") != NULL);

    // A NULL member or item writes as null.
    Json *list = json_new(arena, JSON_ARRAY);
    json_push(arena, list, NULL);
    json_set(arena, holder, "nothing", NULL);
    CHECK_STR(written(&out, list), "[null]");
    CHECK_STR(written(&out, holder), "{\"greeting\":\"hello\",\"nothing\":null}");

    // Misuse is ignored rather than corrupting anything.
    json_push(arena, holder, json_new(arena, JSON_NULL));
    json_push(arena, NULL, json_new(arena, JSON_NULL));
    json_set(arena, list, "k", json_new(arena, JSON_NULL));
    json_set(arena, NULL, "k", json_new(arena, JSON_NULL));
    json_set(arena, holder, NULL, json_new(arena, JSON_NULL));
    CHECK(holder->count == 2 && list->count == 1);
    CHECK_STR(written(&out, list), "[null]");

    // json_set replaces the last of repeated members.
    Json *dup = parse_text(arena, "{\"a\":1,\"a\":2}", 2);
    json_set(arena, dup, "a", json_new_string(arena, "z", 1));
    CHECK_STR(written(&out, dup), "{\"a\":1,\"a\":\"z\"}");

    buf_free(&out);
    arena_free(arena);
}

static void test_writer(void) {
    Arena *arena = arena_new();
    Buf out = BUF_INIT;
    Json *value = parse_text(arena,
                             "{\"a\" : [1, -2.5e3, 1E+2, \"x\\u00e9\\n\\/\\u0001\\u001F\", true, false, null, {}],"
                             " \"b\":{\"c\":[]}, \"\\ud83d\\ude00\":\"\\t\"}",
                             8);
    CHECK_STR(written(&out, value),
              "{\"a\":[1,-2.5e3,1E+2,\"x\xC3\xA9\\n/\\u0001\\u001f\",true,false,null,{}],\"b\":{\"c\":[]},"
              "\"\xF0\x9F\x98\x80\":\"\\t\"}");
    // The writer appends.
    buf_clear(&out);
    buf_appends(&out, "data=");
    json_write(&out, json_new(arena, JSON_TRUE));
    CHECK_STR(out.data, "data=true");
    buf_free(&out);
    arena_free(arena);
}

// Every proper prefix of a document is refused as cut short (escapes keep it ASCII, so no
// prefix ends inside a UTF-8 sequence).
static void test_truncation(void) {
    static const char doc[] =
        "{\"query\":\"query {\\n  me\\u0021 \\uD83D\\uDE00 }\",\"variables\":{\"n\":-12.5e+3,\"ok\":true,"
        "\"no\":false,\"list\":[null,0,\"\"]},\"operationName\":null}";
    Arena *arena = arena_new();
    int wrong = 0;
    for (size_t len = 0; len < sizeof doc - 1; len++) {
        JsonError error = {0};
        Json *value = parse(arena, doc, len, 8, &error);
        const char *expected = len == 0 ? "empty input" : "unexpected end of input";
        if (value || !error.message || strcmp(error.message, expected) != 0 || error.offset != len) {
            wrong++;
            fprintf(stderr, "  prefix of %zu bytes: %s at %zu\n", len, value ? "accepted" : error.message, error.offset);
        }
    }
    CHECK(wrong == 0);
    CHECK(parse(arena, doc, sizeof doc - 1, 8, &(JsonError){0}) != NULL);
    arena_free(arena);
}

// Bodies at the size limit: linear time, and memory linear in the input.
static void test_hostile_sizes(void) {
    Buf doc = BUF_INIT;
    JsonError error;

    // The largest body the guard takes, as one string.
    buf_appends(&doc, "{\"query\":\"");
    while (doc.len < BODY_LIMIT - 2) buf_appendc(&doc, 'a');
    buf_appends(&doc, "\"}");
    CHECK(doc.len == BODY_LIMIT);
    Arena *arena = arena_new();
    Json *value = parse(arena, doc.data, doc.len, 8, &error);
    Json *query = json_get(value, "query");
    CHECK(query && query->len == BODY_LIMIT - 12);
    CHECK(arena_size(arena) < 2 * BODY_LIMIT);
    arena_free(arena);

    // The most values per byte: memory stays a bounded multiple of the input.
    buf_clear(&doc);
    buf_appendc(&doc, '[');
    while (doc.len < BODY_LIMIT - 2) buf_appends(&doc, "0,");
    buf_appends(&doc, "0]");
    arena = arena_new();
    value = parse(arena, doc.data, doc.len, 8, &error);
    CHECK(value && value->count == (doc.len - 1) / 2);
    CHECK(arena_size(arena) < 48 * doc.len);
    arena_free(arena);

    // Many repeated members.
    buf_clear(&doc);
    buf_appendc(&doc, '{');
    while (doc.len < BODY_LIMIT - 8) buf_appends(&doc, "\"a\":0,");
    buf_appends(&doc, "\"a\":1}");
    arena = arena_new();
    value = parse(arena, doc.data, doc.len, 8, &error);
    Json *last = json_get(value, "a");
    CHECK(last && strcmp(last->text, "1") == 0);
    arena_free(arena);

    // Escapes and surrogate pairs all the way.
    buf_clear(&doc);
    buf_appendc(&doc, '"');
    for (int i = 0; i < 10000; i++) buf_appends(&doc, "\\n\\uD83D\\uDE00\\u00e9");
    buf_appendc(&doc, '"');
    arena = arena_new();
    value = parse(arena, doc.data, doc.len, 8, &error);
    CHECK(value && value->len == 10000 * 7);
    if (value) CHECK(memcmp(value->text, "\n\xF0\x9F\x98\x80\xC3\xA9\n", 8) == 0);
    arena_free(arena);

    // Raw four-byte UTF-8 all the way.
    buf_clear(&doc);
    buf_appendc(&doc, '"');
    for (int i = 0; i < 50000; i++) buf_appends(&doc, "\xF0\x9F\x98\x80");
    buf_appendc(&doc, '"');
    arena = arena_new();
    value = parse(arena, doc.data, doc.len, 8, &error);
    CHECK(value && value->len == 200000);
    arena_free(arena);
    buf_free(&doc);
}

static const char *const FUZZ_SEEDS[] = {
    TYPICAL_BODY,
    "{\"query\":\"mutation($v:Int){like(v:$v)}\",\"variables\":{\"v\":-1.5e+3,\"list\":[1,2,[3,{}]]}}",
    "[\"\\uD83D\\uDE00\\u00e9\\n\\t\\\"\\\\\\/\",true,false,null,0,-0.0,1E9]",
    "{\"a\":{\"b\":{\"c\":{\"d\":[[[[\"deep\"]]]]}}}}",
    "\"caf\xC3\xA9 \xE2\x9D\xA4 \xF0\x9F\x98\x80\"",
    "{\"\":\"\",\"a\":1,\"a\":2}",
};

// Fragments likely to reach the parser's corners when spliced in.
static const char *const FUZZ_TOKENS[] = {
    "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\uD83D", "\\uDE00", "\\u0000", "1e", "-", "0", ".",
    "true", "null", "\xF0\x9F", "\xED\xA0\x80", "\xC0\x80", "\xF4\x90\x80\x80", " ", "\n", "\x00", "\x1F",
};

static size_t mutate(char *doc, size_t len, size_t cap) {
    switch (check_below(6)) {
    case 0:  // flip a byte
        if (len) doc[check_below(len)] = (char)check_random();
        break;
    case 1:  // delete a run
        if (len) {
            size_t at = check_below(len), n = 1 + check_below(len - at < 8 ? len - at : 8);
            memmove(doc + at, doc + at + n, len - at - n);
            len -= n;
        }
        break;
    case 2: {  // splice a token in
        const char *token = FUZZ_TOKENS[check_below(sizeof FUZZ_TOKENS / sizeof *FUZZ_TOKENS)];
        size_t n = token[0] ? strlen(token) : 1, at = check_below(len + 1);
        if (len + n <= cap) {
            memmove(doc + at + n, doc + at, len - at);
            memcpy(doc + at, token, n);
            len += n;
        }
        break;
    }
    case 3: {  // repeat a run
        if (!len) break;
        size_t at = check_below(len), n = 1 + check_below(len - at < 16 ? len - at : 16);
        if (len + n <= cap) {
            memmove(doc + at + n, doc + at, len - at);
            len += n;
        }
        break;
    }
    case 4:  // cut short
        len = check_below(len + 1);
        break;
    default:  // a byte that matters somewhere
        if (len) doc[check_below(len)] = "{}[]\":,\\u0123456789eE+-.tfn \x80\xBF\xC2\xE0\xED\xF0\xF4"[check_below(33)];
        break;
    }
    return len;
}

// Whatever the input, parsing must not crash; an error must say where, within the input;
// and what is accepted must write out as JSON that parses back to the same text.
static void test_fuzz(void) {
    enum { ITERATIONS = 200000, CAP = 512 };
    char doc[CAP];
    Buf first = BUF_INIT, second = BUF_INIT;
    int accepted = 0, rejected = 0, bad_errors = 0, unstable = 0;
    Arena *arena = arena_new();
    for (int iteration = 0; iteration < ITERATIONS; iteration++) {
        size_t len;
        if (iteration % 10 == 9) {
            len = check_below(64);
            for (size_t i = 0; i < len; i++) doc[i] = (char)check_random();
        } else {
            const char *seed = FUZZ_SEEDS[check_below(sizeof FUZZ_SEEDS / sizeof *FUZZ_SEEDS)];
            len = strlen(seed);
            memcpy(doc, seed, len);
            for (size_t rounds = 1 + check_below(4); rounds-- > 0;) len = mutate(doc, len, CAP);
        }
        if (iteration % 256 == 0) {
            arena_free(arena);
            arena = arena_new();
        }
        JsonError error = {0};
        Json *value = parse(arena, doc, len, 6, &error);
        if (!value) {
            rejected++;
            bad_errors += !error.message || error.offset > len;
            continue;
        }
        accepted++;
        buf_clear(&first);
        json_write(&first, value);
        Json *again = parse(arena, first.data, first.len, 6, &error);
        buf_clear(&second);
        if (again) json_write(&second, again);
        unstable += !again || second.len != first.len || memcmp(first.data, second.data, first.len) != 0;
    }
    arena_free(arena);
    buf_free(&first);
    buf_free(&second);
    CHECK(bad_errors == 0);
    CHECK(unstable == 0);
    // The fuzz loop is only worth something if it reaches both outcomes often.
    CHECK(accepted > ITERATIONS / 20);
    CHECK(rejected > ITERATIONS / 5);
    fprintf(stderr, "json fuzz: %d accepted, %d rejected\n", accepted, rejected);
}

static int bench(void) {
    enum { RUNS = 1000000 };
    struct timespec start, end;
    size_t members = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int i = 0; i < RUNS; i++) {
        Arena *arena = arena_new();
        Json *body = json_parse(arena, TYPICAL_BODY, sizeof TYPICAL_BODY - 1, 64, NULL);
        members += body ? body->count : 0;
        arena_free(arena);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double ns = (double)(end.tv_sec - start.tv_sec) * 1e9 + (double)(end.tv_nsec - start.tv_nsec);
    printf("json_parse: %.0f ns per parse of a %zu-byte body (arena included; %zu members)\n", ns / RUNS,
           sizeof TYPICAL_BODY - 1, members);
    return members == 3u * RUNS ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "bench") == 0) return bench();
    test_rejected();
    test_numbers_and_literals();
    test_strings();
    test_objects_and_arrays();
    test_depth();
    test_growth();
    test_builders();
    test_writer();
    test_truncation();
    test_hostile_sizes();
    test_fuzz();
    return check_finish("json");
}
