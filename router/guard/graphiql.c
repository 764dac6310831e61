#include "graphiql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static StaticFile files[] = {
    {"/graphql", "text/html; charset=utf-8", BUF_INIT, BUF_INIT, BUF_INIT},
    {"/graphiql/graphiql.js", "text/javascript; charset=utf-8", BUF_INIT, BUF_INIT, BUF_INIT},
    {"/graphiql/graphiql.css", "text/css; charset=utf-8", BUF_INIT, BUF_INIT, BUF_INIT},
};
static const char *const names[] = {"index.html", "graphiql.js", "graphiql.css"};
enum { NFILES = sizeof files / sizeof files[0] };
static bool loaded;

static bool read_file(const char *dist, const char *name, const char *suffix, Buf *out, char *error, size_t size) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s%s", dist, name, suffix);
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(error, size,
                 "GraphiQL is not built (%s is missing): run `make install` or `node router/graphiql/build.mjs`.", path);
        return false;
    }
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(out, chunk, n);
    fclose(f);
    return true;
}

bool graphiql_load(const char *dist, char *error, size_t error_size) {
    if (loaded) return true;
    for (int i = 0; i < NFILES; i++) {
        buf_clear(&files[i].plain);
        buf_clear(&files[i].gzip);
        buf_clear(&files[i].br);
        if (!read_file(dist, names[i], "", &files[i].plain, error, error_size) ||
            !read_file(dist, names[i], ".gz", &files[i].gzip, error, error_size) ||
            !read_file(dist, names[i], ".br", &files[i].br, error, error_size)) {
            return false;
        }
    }
    loaded = true;
    return true;
}

const StaticFile *graphiql_file(const char *path) {
    if (!loaded) return NULL;
    for (int i = 0; i < NFILES; i++) {
        if (strcmp(files[i].path, path) == 0) return &files[i];
    }
    return NULL;
}

// The quality the client gives `encoding` in `accept` (0: refused or not named); `*` counts
// for an encoding not named.
static double quality_of(const char *accept, const char *encoding) {
    double named = -1, wildcard = 0;
    const char *p = accept;
    while (*p) {
        while (*p == ' ' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ';' && *p != ' ') p++;
        size_t len = (size_t)(p - start);
        double q = 1;
        while (*p && *p != ',') {
            if (*p == 'q' && p[1] == '=') q = strtod(p + 2, NULL);
            p++;
        }
        if (len == strlen(encoding) && strncasecmp(start, encoding, len) == 0) named = q;
        else if (len == 1 && *start == '*') wildcard = q;
    }
    return named >= 0 ? named : wildcard;
}

const char *encoding_for(const char *accept_encoding) {
    if (!accept_encoding) return NULL;
    if (quality_of(accept_encoding, "br") > 0) return "br";
    if (quality_of(accept_encoding, "gzip") > 0) return "gzip";
    return NULL;
}
