// The guard's own spans, in the caller's trace (W3C `traceparent`), sent in batches to an
// OTLP/HTTP receiver with JSON encoding (the dev stack's trace store), as the Node edge's
// router/edge/tracing.mjs does. Exporting never holds a request: spans queue in memory (at
// most 4096; more are dropped) and go out every 500 ms, one export at a time; a receiver
// that is down costs the batch.
#ifndef KINDRED_GUARD_TRACING_H
#define KINDRED_GUARD_TRACING_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

enum { SPAN_SERVER = 2, SPAN_CLIENT = 3 };  // OTLP's SpanKind

typedef struct Span Span;

// Exports to `otlp_url` (http://host:port/path), or keeps nothing when it is NULL (spans are
// still made, so the trace context moves on). False when the URL is not one the guard can
// call (said on stderr).
bool tracing_start(const char *otlp_url);

// A span in the trace `traceparent` names (a new trace when it is NULL or malformed).
Span *span_start(const char *name, const char *traceparent, int kind);
Span *span_child(const Span *parent, const char *name, int kind);
void span_rename(Span *span, const char *name);
void span_set_string(Span *span, const char *key, const char *value);
void span_set_int(Span *span, const char *key, long value);
void span_fail(Span *span, const char *message);
// The `traceparent` header that makes the next hop's spans this one's children.
void span_traceparent(const Span *span, char out[56]);
// Ends `span` (queued for export when sampled) and frees it.
void span_end(Span *span);

#endif
