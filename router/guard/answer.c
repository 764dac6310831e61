#include "answer.h"

#include <string.h>

#include "json.h"

// JSON nesting an engine answer may have for the guard to rewrite it; deeper answers go
// to the client as they are.
enum { MAX_ANSWER_DEPTH = 512 };

// The engines' codes for what the subgraphs call otherwise: one vocabulary for clients.
static const char *const ENGINE_CODES[][2] = {
    {"OPERATION_PARSING_ERROR", "GRAPHQL_PARSE_FAILED"},
    {"OPERATION_VALIDATION_ERROR", "GRAPHQL_VALIDATION_FAILED"},
    {"VARIABLE_ERROR", "BAD_USER_INPUT"},
};

// grafbase answers `{"data": null}` and no error when a non-null field had no value (an
// entity a subgraph did not find, say); GraphQL over HTTP wants an error with null data.
static const char NO_VALUE_MESSAGE[] =
    "A field that cannot be null had no value (an entity a subgraph did not find).";

void error_object(Buf *out, const char *message, const char *code) {
    buf_appends(out, "{\"message\":");
    buf_json_string(out, message, strlen(message));
    buf_appends(out, ",\"extensions\":{\"code\":");
    buf_json_string(out, code, strlen(code));
    buf_appends(out, "}}");
}

void error_body(Buf *out, const char *message, const char *code) {
    buf_appends(out, "{\"errors\":[");
    error_object(out, message, code);
    buf_appends(out, "]}");
}

static bool starts_with_data_object(const char *text, size_t len) {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\n' || text[i] == '\r' || text[i] == '\t')) i++;
    return len - i >= 9 && memcmp(text + i, "{\"data\":{", 9) == 0;
}

static Json *code_string(Arena *arena, const char *code) { return json_new_string(arena, code, strlen(code)); }

static void name_code(Arena *arena, Json *error) {
    if (error->type != JSON_OBJECT) return;
    Json *extensions = json_get(error, "extensions");
    Json *code = json_get(extensions, "code");
    if (code && code->type == JSON_STRING && code->len > 0) {
        for (size_t i = 0; i < sizeof ENGINE_CODES / sizeof ENGINE_CODES[0]; i++) {
            if (strcmp(code->text, ENGINE_CODES[i][0]) == 0) json_set(arena, extensions, "code", code_string(arena, ENGINE_CODES[i][1]));
        }
        return;
    }
    // No code (or a null one): the subgraphs' code for what nobody named.
    if (code && code->type != JSON_NULL && code->type != JSON_FALSE && code->type != JSON_STRING) return;
    if (!extensions || extensions->type != JSON_OBJECT) {
        extensions = json_new(arena, JSON_OBJECT);
        json_set(arena, error, "extensions", extensions);
    }
    json_set(arena, extensions, "code", code_string(arena, "INTERNAL_SERVER_ERROR"));
}

bool complete_answer(const char *text, size_t len, Buf *out) {
    if (starts_with_data_object(text, len) && !memmem(text, len, "\"errors\"", 8)) return false;
    Arena *arena = arena_new();
    JsonError error;
    Json *body = json_parse(arena, text, len, MAX_ANSWER_DEPTH, &error);
    bool rewritten = false;
    if (body && body->type == JSON_OBJECT) {
        Json *errors = json_get(body, "errors");
        Json *data = json_get(body, "data");
        bool has_errors = errors && errors->type == JSON_ARRAY && errors->count > 0;
        if (!has_errors && (!data || data->type == JSON_NULL)) {
            json_set(arena, body, "data", json_new(arena, JSON_NULL));
            Json *list = json_new(arena, JSON_ARRAY);
            Json *no_value = json_new(arena, JSON_OBJECT);
            json_set(arena, no_value, "message", json_new_string(arena, NO_VALUE_MESSAGE, strlen(NO_VALUE_MESSAGE)));
            Json *extensions = json_new(arena, JSON_OBJECT);
            json_set(arena, extensions, "code", code_string(arena, "INTERNAL_SERVER_ERROR"));
            json_set(arena, no_value, "extensions", extensions);
            json_push(arena, list, no_value);
            json_set(arena, body, "errors", list);
            rewritten = true;
        } else if (errors && errors->type == JSON_ARRAY) {
            for (size_t i = 0; i < errors->count; i++) name_code(arena, errors->items[i]);
            rewritten = true;
        }
        if (rewritten) json_write(out, body);
    }
    arena_free(arena);
    return rewritten;
}
