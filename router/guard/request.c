#include "request.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"

const char MEDIA_GRAPHQL_RESPONSE[] = "application/graphql-response+json";
const char MEDIA_JSON[] = "application/json";
const char MEDIA_STREAM[] = "stream";

// Nesting a request body may have (variables included); deeper is refused, not parsed.
enum { MAX_BODY_DEPTH = 64 };

void http_error(HttpError *error, int status, const char *code, const char *format, ...) {
    error->status = status;
    error->code = code;
    error->allow = NULL;
    va_list args;
    va_start(args, format);
    vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
}

static const char *skip_space(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    return s;
}

static const char *trim_end(const char *start, const char *end) {
    while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
    return end;
}

static bool token_is(const char *start, const char *end, const char *word) {
    size_t n = strlen(word);
    return (size_t)(end - start) == n && strncasecmp(start, word, n) == 0;
}

// The quality of one media range's parameters ("q=0.5"); 1 when none is given; -1 when it
// is not a number.
static double quality_of(const char *params, const char *end) {
    const char *p = params;
    while (p < end) {
        const char *next = memchr(p, ';', (size_t)(end - p));
        if (!next) next = end;
        const char *start = skip_space(p, next);
        const char *stop = trim_end(start, next);
        if (stop - start >= 2 && tolower((unsigned char)start[0]) == 'q' && start[1] == '=') {
            char number[16];
            size_t n = (size_t)(stop - start - 2);
            if (n == 0 || n >= sizeof number) return -1;
            memcpy(number, start + 2, n);
            number[n] = 0;
            char *rest;
            double q = strtod(number, &rest);
            return *rest ? -1 : q;
        }
        p = next + 1;
    }
    return 1;
}

const char *negotiate(const char *accept) {
    if (!accept || !*accept) return MEDIA_JSON;
    const char *best = NULL;
    double best_quality = 0;
    const char *end = accept + strlen(accept);
    const char *part = accept;
    while (part <= end) {
        const char *comma = memchr(part, ',', (size_t)(end - part));
        if (!comma) comma = end;
        const char *semicolon = memchr(part, ';', (size_t)(comma - part));
        const char *range_end = trim_end(part, semicolon ? semicolon : comma);
        const char *range = skip_space(part, range_end);
        double quality = semicolon ? quality_of(semicolon + 1, comma) : 1;
        const char *media = NULL;
        if (token_is(range, range_end, MEDIA_GRAPHQL_RESPONSE)) media = MEDIA_GRAPHQL_RESPONSE;
        else if (token_is(range, range_end, MEDIA_JSON) || token_is(range, range_end, "*/*") ||
                 token_is(range, range_end, "application/*"))
            media = MEDIA_JSON;
        else if (token_is(range, range_end, "text/event-stream") || token_is(range, range_end, "multipart/mixed"))
            media = MEDIA_STREAM;
        // Equal preference: the spec's own media type wins.
        if (media && quality > 0 &&
            (quality > best_quality || (quality == best_quality && media == MEDIA_GRAPHQL_RESPONSE))) {
            best = media;
            best_quality = quality;
        }
        part = comma + 1;
    }
    return best;
}

static bool bad_request(HttpError *error, const char *code, const char *message) {
    http_error(error, 400, code, "%s", message);
    return false;
}

static bool check_content_type(const char *content_type, HttpError *error) {
    if (!content_type || !*content_type) {
        http_error(error, 415, "UNSUPPORTED_MEDIA_TYPE",
                   "Send the request body as JSON with `Content-Type: application/json`.");
        return false;
    }
    const char *end = content_type + strlen(content_type);
    const char *semicolon = memchr(content_type, ';', (size_t)(end - content_type));
    const char *media_end = trim_end(content_type, semicolon ? semicolon : end);
    const char *media = skip_space(content_type, media_end);
    if (!token_is(media, media_end, MEDIA_JSON)) {
        char shown[120];
        size_t n = (size_t)(media_end - media) < sizeof shown - 1 ? (size_t)(media_end - media) : sizeof shown - 1;
        for (size_t i = 0; i < n; i++) shown[i] = (char)tolower((unsigned char)media[i]);
        shown[n] = 0;
        http_error(error, 415, "UNSUPPORTED_MEDIA_TYPE",
                   "A body of type `%s` is not accepted: send JSON with `Content-Type: application/json`.", shown);
        return false;
    }
    for (const char *p = semicolon; p && p < end;) {
        const char *next = memchr(p + 1, ';', (size_t)(end - p - 1));
        const char *stop = trim_end(p + 1, next ? next : end);
        const char *start = skip_space(p + 1, stop);
        if (stop - start > 8 && strncasecmp(start, "charset=", 8) == 0) {
            const char *charset = start + 8;
            if (!token_is(charset, stop, "utf-8") && !token_is(charset, stop, "utf8") &&
                !token_is(charset, stop, "\"utf-8\"")) {
                http_error(error, 415, "UNSUPPORTED_MEDIA_TYPE",
                           "The body must be UTF-8 (`charset=utf-8`, or no charset).");
                return false;
            }
        }
        p = next;
    }
    return true;
}

static bool is_map(const Json *value) { return !value || value->type == JSON_NULL || value->type == JSON_OBJECT; }

// The request's parameters, as the spec and the Node edge check them.
static bool check_parameters(const Json *query, const Json *variables, const Json *operation_name,
                             const Json *extensions, GraphqlParams *params, HttpError *error) {
    if (!is_map(extensions)) return bad_request(error, "BAD_REQUEST", "`extensions` must be an object when given.");
    if (!query || query->type == JSON_NULL) {
        if (extensions && json_get(extensions, "persistedQuery")) {
            return bad_request(error, "PERSISTED_QUERY_NOT_SUPPORTED",
                               "Persisted queries are not supported: send the document in `query`.");
        }
        return bad_request(error, "BAD_REQUEST",
                           "The request has no `query`: send the GraphQL document as a string in `query`.");
    }
    if (query->type != JSON_STRING) {
        return bad_request(error, "BAD_REQUEST", "`query` must be a string holding a GraphQL document.");
    }
    if (!is_map(variables)) {
        return bad_request(error, "BAD_REQUEST", "`variables` must be an object (a map from names to values) when given.");
    }
    if (operation_name && operation_name->type != JSON_NULL && operation_name->type != JSON_STRING) {
        return bad_request(error, "BAD_REQUEST", "`operationName` must be a string when given.");
    }
    params->query = query->text;
    params->query_len = query->len;
    params->variables = variables && variables->type == JSON_OBJECT ? variables : NULL;
    params->operation_name = operation_name && operation_name->type == JSON_STRING ? operation_name->text : NULL;
    return true;
}

bool params_of_post(Arena *arena, const char *content_type, const char *body, size_t len, GraphqlParams *params,
                    HttpError *error) {
    memset(params, 0, sizeof *params);
    if (!check_content_type(content_type, error)) return false;
    if (len == 0) return bad_request(error, "BAD_REQUEST", "The request body is empty: send `{\"query\": \"...\"}`.");
    if (!utf8_valid((const uint8_t *)body, len)) {
        return bad_request(error, "BAD_REQUEST", "The request body is not valid UTF-8.");
    }
    // A byte order mark is not part of the text (as a TextDecoder reads it).
    if (len >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) body += 3, len -= 3;
    JsonError json_error;
    Json *payload = json_parse(arena, body, len, MAX_BODY_DEPTH, &json_error);
    if (!payload) {
        if (strcmp(json_error.message, "nesting too deep") == 0) {
            http_error(error, 400, "BAD_REQUEST", "The request body nests deeper than %d levels.", MAX_BODY_DEPTH);
            return false;
        }
        return bad_request(error, "BAD_REQUEST", "The request body is not valid JSON: send `{\"query\": \"...\"}`.");
    }
    if (payload->type == JSON_ARRAY) {
        return bad_request(error, "BATCHING_NOT_SUPPORTED",
                           "Batched requests are not accepted (at most 1 operation per request): send each "
                           "operation on its own.");
    }
    if (payload->type != JSON_OBJECT) {
        return bad_request(error, "BAD_REQUEST", "The request body must be a JSON object: `{\"query\": \"...\"}`.");
    }
    if (!check_parameters(json_get(payload, "query"), json_get(payload, "variables"),
                          json_get(payload, "operationName"), json_get(payload, "extensions"), params, error)) {
        return false;
    }
    params->payload = payload;
    for (size_t i = 0; i < payload->count; i++) {
        if (payload->items[i]->type == JSON_NULL) params->has_null = true;
    }
    return true;
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// application/x-www-form-urlencoded decoding: '+' is a space, %XX a byte; a '%' not
// followed by two hex digits stays as it is (as URLSearchParams reads it).
static char *form_decode(Arena *arena, const char *text, size_t len, size_t *out_len) {
    char *out = arena_alloc(arena, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == '+') {
            out[n++] = ' ';
        } else if (text[i] == '%' && i + 2 < len && hex_value(text[i + 1]) >= 0 && hex_value(text[i + 2]) >= 0) {
            out[n++] = (char)(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out[n++] = text[i];
        }
    }
    out[n] = 0;
    *out_len = n;
    return out;
}

const char *query_parameter(Arena *arena, const char *query_string, const char *name, size_t *len) {
    size_t name_len = strlen(name);
    const char *p = query_string;
    while (*p) {
        const char *amp = strchr(p, '&');
        const char *end = amp ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *key_end = eq ? eq : end;
        size_t key_len;
        char *key = form_decode(arena, p, (size_t)(key_end - p), &key_len);
        if (key_len == name_len && memcmp(key, name, name_len) == 0) {
            const char *value = eq ? eq + 1 : end;
            return form_decode(arena, value, (size_t)(end - value), len);
        }
        if (!amp) break;
        p = amp + 1;
    }
    return NULL;
}

// A JSON-valued GET parameter (`variables`, `extensions`): NULL when absent or empty.
static bool json_parameter(Arena *arena, const char *query_string, const char *name, const Json **value,
                           HttpError *error) {
    size_t len;
    const char *raw = query_parameter(arena, query_string, name, &len);
    *value = NULL;
    if (!raw || len == 0) return true;
    JsonError json_error;
    *value = json_parse(arena, raw, len, MAX_BODY_DEPTH, &json_error);
    if (!*value) {
        http_error(error, 400, "BAD_REQUEST", "The `%s` parameter is not valid JSON.", name);
        return false;
    }
    return true;
}

bool params_of_get(Arena *arena, const char *query_string, size_t max_bytes, GraphqlParams *params,
                   HttpError *error) {
    memset(params, 0, sizeof *params);
    if (strlen(query_string) + 1 > max_bytes) {
        http_error(error, 413, "PAYLOAD_TOO_LARGE",
                   "The URL's query string is over %zu bytes: send the request as a POST.", max_bytes);
        return false;
    }
    size_t len;
    const char *text = query_parameter(arena, query_string, "query", &len);
    if (text && !utf8_valid((const uint8_t *)text, len)) {
        return bad_request(error, "BAD_REQUEST", "The `query` parameter is not valid UTF-8.");
    }
    Json *query = text ? json_new_string(arena, text, len) : NULL;
    size_t name_len;
    const char *name = query_parameter(arena, query_string, "operationName", &name_len);
    Json *operation_name = name && name_len ? json_new_string(arena, name, name_len) : NULL;
    const Json *variables;
    const Json *extensions;
    if (!json_parameter(arena, query_string, "variables", &variables, error)) return false;
    if (!json_parameter(arena, query_string, "extensions", &extensions, error)) return false;
    return check_parameters(query, variables, operation_name, extensions, params, error);
}

void normalised_body(Buf *out, const Json *payload) {
    buf_appendc(out, '{');
    bool first = true;
    for (size_t i = 0; i < payload->count; i++) {
        if (payload->items[i]->type == JSON_NULL) continue;
        if (!first) buf_appendc(out, ',');
        first = false;
        buf_json_string(out, payload->keys[i], payload->key_lens[i]);
        buf_appendc(out, ':');
        json_write(out, payload->items[i]);
    }
    buf_appendc(out, '}');
}
