// GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): which media type to
// answer in, and a request's parameters, or the typed error that says what is wrong.
// The same rules as the Node edge's router/edge/request.mjs.
#ifndef KINDRED_GUARD_REQUEST_H
#define KINDRED_GUARD_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "json.h"

extern const char MEDIA_GRAPHQL_RESPONSE[];  // application/graphql-response+json
extern const char MEDIA_JSON[];              // application/json
extern const char MEDIA_STREAM[];            // a streamed subscription (text/event-stream, multipart/mixed)

// The media type to answer in: MEDIA_GRAPHQL_RESPONSE when asked for, MEDIA_JSON for JSON,
// wildcards or no Accept at all, MEDIA_STREAM for a streamed subscription; NULL when
// nothing acceptable can be produced.
const char *negotiate(const char *accept);

// A request refused before the engine sees it.
typedef struct HttpError {
    int status;
    const char *code;  // static
    char message[300];
    const char *allow;  // an Allow header for 405s, or NULL
} HttpError;

void http_error(HttpError *error, int status, const char *code, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

typedef struct GraphqlParams {
    const char *query;  // NUL-terminated (may hold NUL bytes: query_len)
    size_t query_len;
    const char *operation_name;  // NULL when absent (or empty, for GET)
    const Json *variables;       // an object, or NULL
    const Json *payload;         // POST: the whole body; NULL for GET
    bool has_null;               // POST: a top-level member is null (see normalised_body)
} GraphqlParams;

// The parameters of a POST, from its Content-Type and body; false with `error` filled
// (400 BAD_REQUEST and its kin, 415 UNSUPPORTED_MEDIA_TYPE) when they are not usable.
bool params_of_post(Arena *arena, const char *content_type, const char *body, size_t len, GraphqlParams *params,
                    HttpError *error);

// The parameters of a GET, from its URL's query string (after '?'); `max_bytes` bounds it
// (413 over it: send a POST).
bool params_of_get(Arena *arena, const char *query_string, size_t max_bytes, GraphqlParams *params,
                   HttpError *error);

// The POST body without its top-level members that are null (`null` means absent, but not
// every engine takes it so).
void normalised_body(Buf *out, const Json *payload);

// `value` of a query string parameter `name` (the first), percent- and plus-decoded into
// `arena`; NULL when absent.
const char *query_parameter(Arena *arena, const char *query_string, const char *name, size_t *len);

#endif
