// GraphiQL for browsers: GET /graphql (Accept: text/html, no query) is a small HTML page;
// its script and stylesheet are /graphiql/graphiql.js and /graphiql/graphiql.css. All three
// are built into router/graphiql/dist/ by router/graphiql/build.mjs, as they are and gzip-
// and brotli-compressed; the guard reads them on the first visit and keeps them.
#ifndef KINDRED_GUARD_GRAPHIQL_H
#define KINDRED_GUARD_GRAPHIQL_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct StaticFile {
    const char *path;  // the URL path it is served at
    const char *type;  // its Content-Type
    Buf plain, gzip, br;
} StaticFile;

// Reads the files from `dist` (once; later calls return the first result). False with
// `error` naming the fix when they are not built.
bool graphiql_load(const char *dist, char *error, size_t error_size);

// The file served at `path`, or NULL (also before a successful graphiql_load).
const StaticFile *graphiql_file(const char *path);

// The best encoding the client accepts of "br" and "gzip" (q=0 refuses one), or NULL.
const char *encoding_for(const char *accept_encoding);

#endif
