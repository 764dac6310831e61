// JSON (RFC 8259): parse into values held by one arena, look members up, write back out.
// Parsing is strict (no trailing commas, no comments, no leading zeros, UTF-8 only, no
// lone surrogates in \u escapes) and bounded (nesting depth), so a hostile body costs at
// most its own length.
#ifndef KINDRED_GUARD_JSON_H
#define KINDRED_GUARD_JSON_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct Json Json;
struct Json {
    JsonType type;
    // JSON_STRING: the decoded text (UTF-8, NUL-terminated; may hold NUL bytes: use len).
    // JSON_NUMBER: the number's text as it was written (e.g. "1e3"), NUL-terminated.
    const char *text;
    size_t len;
    // JSON_ARRAY: items[0..count). JSON_OBJECT: keys[i] (decoded, NUL-terminated, key_lens[i]
    // bytes) maps to items[i], in document order; a repeated key keeps every occurrence
    // (json_get finds the last, as JavaScript's JSON.parse does).
    Json **items;
    const char **keys;
    size_t *key_lens;
    size_t count;
};

typedef struct JsonError {
    const char *message;  // static text, e.g. "unexpected character"
    size_t offset;        // byte offset in the input where it was found
} JsonError;

// The value `text` holds (surrounding whitespace allowed), allocated in `arena`; NULL with
// `error` filled when it is not valid JSON or nests deeper than `max_depth` arrays/objects.
Json *json_parse(Arena *arena, const char *text, size_t len, int max_depth, JsonError *error);

// The member `key` of an object (the last one when repeated), or NULL (also when `value`
// is NULL or not an object).
Json *json_get(const Json *value, const char *key);

// New values in `arena` (for answers built by the guard).
Json *json_new(Arena *arena, JsonType type);
Json *json_new_string(Arena *arena, const char *text, size_t len);  // copies text
void json_push(Arena *arena, Json *array, Json *item);               // appends to an array
void json_set(Arena *arena, Json *object, const char *key, Json *value);  // replaces the last member `key`, or appends it

// Compact JSON for `value` (object members in order), appended to `out`.
void json_write(Buf *out, const Json *value);

#endif
