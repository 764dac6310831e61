// GraphQL errors (GqlError, graphql.h) as the lexer, the parser and the checks make them: a
// code, a message (cut at a character boundary when too long for its room) and places; and
// each written as a GraphQL error object.
#include "graphql_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

// --- Errors ------------------------------------------------------------------------------

void gql_error_start(GqlError *error, const char *code, const char *limit, long max) {
    memset(error, 0, sizeof *error);
    error->code = code;
    error->limit = limit;
    error->max = max;
}

// A message longer than the room is cut at a character boundary and ends with "…".
static void error_vformat(GqlError *error, const char *format, va_list args) {
    static const char ellipsis[] = "\xE2\x80\xA6";
    size_t room = sizeof error->message;
    int n = vsnprintf(error->message, room, format, args);
    if (n < 0 || (size_t)n < room) return;
    size_t end = room - sizeof ellipsis;
    while (end > 0 && ((unsigned char)error->message[end] & 0xC0) == 0x80) end--;
    memcpy(error->message + end, ellipsis, sizeof ellipsis);
}

__attribute__((format(printf, 2, 3))) void gql_error_format(GqlError *error, const char *format, ...) {
    va_list args;
    va_start(args, format);
    error_vformat(error, format, args);
    va_end(args);
}

void gql_error_locate(GqlError *error, GqlLoc loc) {
    if (error->nlocations < GQL_MAX_LOCATIONS) error->locations[error->nlocations++] = loc;
}

// --- Errors as JSON ----------------------------------------------------------------------

void gql_error_json(Buf *out, const GqlError *error) {
    buf_appends(out, "{\"message\":");
    buf_json_string(out, error->message, strlen(error->message));
    if (error->nlocations > 0) {
        buf_appends(out, ",\"locations\":[");
        for (int i = 0; i < error->nlocations && i < GQL_MAX_LOCATIONS; i++) {
            buf_printf(out, "%s{\"line\":%u,\"column\":%u}", i ? "," : "", (unsigned)error->locations[i].line,
                       (unsigned)error->locations[i].column);
        }
        buf_appendc(out, ']');
    }
    buf_appends(out, ",\"extensions\":{");
    const char *separator = "";
    if (error->code) {
        buf_appends(out, "\"code\":");
        buf_json_string(out, error->code, strlen(error->code));
        separator = ",";
    }
    if (error->limit) {
        buf_printf(out, "%s\"limit\":", separator);
        buf_json_string(out, error->limit, strlen(error->limit));
        buf_printf(out, ",\"max\":%ld", error->max);
    }
    buf_appends(out, "}}");
}

void gql_errors_json(Buf *out, const GqlError *errors, size_t n) {
    buf_appendc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) buf_appendc(out, ',');
        gql_error_json(out, &errors[i]);
    }
    buf_appendc(out, ']');
}
