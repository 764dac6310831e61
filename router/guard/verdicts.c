#include "verdicts.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Validation errors reported before giving up on a document.
enum { MAX_ERRORS = 20, BUCKETS = 4096 };

typedef struct Entry {
    struct Entry *next_in_bucket;
    struct Entry *newer, *older;  // the recency list
    uint64_t hash;
    const char *text;  // in `arena`
    size_t len;
    Arena *arena;      // the text, the document and the errors
    size_t bytes;
    Verdict verdict;
} Entry;

struct Verdicts {
    GqlLimits limits;
    size_t max_query_bytes;
    size_t budget;
    size_t bytes;
    size_t count;
    Entry *newest, *oldest;
    Entry *buckets[BUCKETS];
    Entry *too_large;  // the one verdict on every document over max_query_bytes
};

// FNV-1a, 64-bit: documents are short and this runs once per request.
static uint64_t hash_of(const char *text, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)text[i]) * 1099511628211ull;
    return h;
}

static void unlink_recent(Verdicts *v, Entry *e) {
    if (e->newer) e->newer->older = e->older;
    else v->newest = e->older;
    if (e->older) e->older->newer = e->newer;
    else v->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void link_newest(Verdicts *v, Entry *e) {
    e->older = v->newest;
    e->newer = NULL;
    if (v->newest) v->newest->newer = e;
    v->newest = e;
    if (!v->oldest) v->oldest = e;
}

static void forget(Verdicts *v, Entry *e) {
    Entry **slot = &v->buckets[e->hash % BUCKETS];
    while (*slot != e) slot = &(*slot)->next_in_bucket;
    *slot = e->next_in_bucket;
    unlink_recent(v, e);
    v->bytes -= e->bytes;
    v->count--;
    arena_free(e->arena);
}

static void refuse(Entry *e, const char *code, const GqlError *errors, size_t n) {
    Buf json = BUF_INIT;
    gql_errors_json(&json, errors, n);
    e->verdict.code = code;
    e->verdict.errors = arena_strndup(e->arena, json.data, json.len);
    e->verdict.errors_len = json.len;
    buf_free(&json);
}

static Entry *too_large_entry(size_t max_query_bytes) {
    Arena *arena = arena_new();
    Entry *e = arena_alloc(arena, sizeof *e);
    e->arena = arena;
    GqlError error = {.code = "PAYLOAD_TOO_LARGE"};
    snprintf(error.message, sizeof error.message, "The GraphQL document is over %zu bytes: send a smaller one.",
             max_query_bytes);
    refuse(e, error.code, &error, 1);
    e->verdict.status = 413;
    return e;
}

Verdicts *verdicts_new(const GqlLimits *limits, size_t max_query_bytes, size_t budget_bytes) {
    Verdicts *v = calloc(1, sizeof *v);
    if (!v) abort();
    v->limits = *limits;
    v->max_query_bytes = max_query_bytes;
    v->budget = budget_bytes;
    v->too_large = too_large_entry(max_query_bytes);
    return v;
}

static void judge(const Verdicts *v, Entry *e) {
    GqlError errors[MAX_ERRORS];
    GqlDocument *document = gql_parse(e->arena, e->text, e->len, &v->limits, &errors[0]);
    if (!document) {
        refuse(e, errors[0].code, errors, 1);
        return;
    }
    size_t n = gql_check(document, &v->limits, errors, MAX_ERRORS);
    if (n) {
        refuse(e, errors[0].code, errors, n);
        return;
    }
    e->verdict.document = document;
}

const Verdict *verdicts_judge(Verdicts *v, const char *query, size_t len) {
    if (len > v->max_query_bytes) return &v->too_large->verdict;
    uint64_t hash = hash_of(query, len);
    for (Entry *e = v->buckets[hash % BUCKETS]; e; e = e->next_in_bucket) {
        if (e->hash == hash && e->len == len && memcmp(e->text, query, len) == 0) {
            unlink_recent(v, e);
            link_newest(v, e);
            return &e->verdict;
        }
    }
    Arena *arena = arena_new();
    Entry *e = arena_alloc(arena, sizeof *e);
    e->arena = arena;
    e->hash = hash;
    e->len = len;
    e->text = arena_strndup(arena, query, len);
    judge(v, e);
    e->bytes = arena_size(arena);
    e->next_in_bucket = v->buckets[e->hash % BUCKETS];
    v->buckets[e->hash % BUCKETS] = e;
    link_newest(v, e);
    v->bytes += e->bytes;
    v->count++;
    while (v->bytes > v->budget && v->oldest != e) forget(v, v->oldest);
    return &e->verdict;
}

size_t verdicts_count(const Verdicts *v) { return v->count; }

void verdicts_free(Verdicts *v) {
    while (v->oldest) forget(v, v->oldest);
    arena_free(v->too_large->arena);
    free(v);
}
