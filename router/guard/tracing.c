#include "tracing.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "net.h"

enum { MAX_ATTRIBUTES = 12, MAX_QUEUE = 4096, MAX_BATCH = 1000, DELAY_MS = 500, EXPORT_TIMEOUT_MS = 2000 };

typedef struct Attribute {
    char *key;
    char *text;  // NULL for an integer
    long number;
} Attribute;

struct Span {
    char trace_id[33];
    char span_id[17];
    char parent_id[17];  // "" for a root span
    char flags[3];
    int kind;
    char *name;
    char *error;  // NULL when the span did not fail
    uint64_t start_ns, end_ns;
    Attribute attributes[MAX_ATTRIBUTES];
    int nattributes;
};

static struct {
    NetOrigin *origin;  // NULL: spans are kept nowhere
    char path[256];
    Buf pending;        // span JSON objects, comma-separated
    size_t npending;
    bool sending;
    NetTimer *timer;
    unsigned long dropped;
} tracer;

static uint64_t rng_state[2];

static uint64_t next_random(void) {
    if (!rng_state[0] && !rng_state[1]) {
        if (getrandom(rng_state, sizeof rng_state, 0) != sizeof rng_state || (!rng_state[0] && !rng_state[1])) {
            rng_state[0] = (uint64_t)time(NULL) | 1;
        }
    }
    // xorshift128+: ids must be unique and unguessable enough for traces, not secrets.
    uint64_t s1 = rng_state[0];
    const uint64_t s0 = rng_state[1];
    rng_state[0] = s0;
    s1 ^= s1 << 23;
    rng_state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng_state[1] + s0;
}

static void random_hex(char *out, size_t digits) {
    static const char hex[] = "0123456789abcdef";
    uint64_t bits = 0;
    for (size_t i = 0; i < digits; i++) {
        if (i % 16 == 0) {
            do bits = next_random();
            while (bits == 0);
        }
        out[i] = hex[bits & 15];
        bits >>= 4;
    }
    out[digits] = 0;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static char *copy(const char *text) {
    char *c = strdup(text ? text : "");
    if (!c) abort();
    return c;
}

bool tracing_start(const char *otlp_url) {
    if (!otlp_url) return true;
    char host[64];
    int port;
    int consumed = 0;
    if (sscanf(otlp_url, "http://%63[^:/]:%d%n", host, &port, &consumed) != 2 || port <= 0 || port > 65535) {
        fprintf(stderr, "[guard] --otlp %s is not an http://host:port/path URL\n", otlp_url);
        return false;
    }
    snprintf(tracer.path, sizeof tracer.path, "%s", otlp_url[consumed] ? otlp_url + consumed : "/v1/traces");
    tracer.origin = net_origin(host, port, 2);
    return true;
}

static bool hex_run(const char *s, size_t n) {
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
        if (s[i] != '0') nonzero = true;
    }
    return nonzero;
}

// Fills the span's parent from a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>");
// false when `value` is not one.
static bool parse_traceparent(Span *span, const char *value) {
    if (!value) return false;
    while (*value == ' ' || *value == '\t') value++;
    char lower[56];
    size_t n = strlen(value);
    while (n && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
    if (n != 55) return false;
    for (size_t i = 0; i < n; i++) lower[i] = (char)(value[i] >= 'A' && value[i] <= 'F' ? value[i] + 32 : value[i]);
    lower[n] = 0;
    if (lower[2] != '-' || lower[35] != '-' || lower[52] != '-') return false;
    bool version_ok = (lower[0] != 'f' || lower[1] != 'f');
    for (int i = 0; i < 2; i++) {
        if (!((lower[i] >= '0' && lower[i] <= '9') || (lower[i] >= 'a' && lower[i] <= 'f'))) return false;
        if (!((lower[53 + i] >= '0' && lower[53 + i] <= '9') || (lower[53 + i] >= 'a' && lower[53 + i] <= 'f'))) return false;
    }
    if (!version_ok || !hex_run(lower + 3, 32) || !hex_run(lower + 36, 16)) return false;
    memcpy(span->trace_id, lower + 3, 32);
    span->trace_id[32] = 0;
    memcpy(span->parent_id, lower + 36, 16);
    span->parent_id[16] = 0;
    memcpy(span->flags, lower + 53, 2);
    span->flags[2] = 0;
    return true;
}

static Span *new_span(const char *name, int kind) {
    Span *span = calloc(1, sizeof *span);
    if (!span) abort();
    span->name = copy(name);
    span->kind = kind;
    random_hex(span->span_id, 16);
    span->start_ns = now_ns();
    return span;
}

Span *span_start(const char *name, const char *traceparent, int kind) {
    Span *span = new_span(name, kind);
    if (!parse_traceparent(span, traceparent)) {
        random_hex(span->trace_id, 32);
        span->parent_id[0] = 0;
        strcpy(span->flags, "01");
    }
    return span;
}

Span *span_child(const Span *parent, const char *name, int kind) {
    Span *span = new_span(name, kind);
    memcpy(span->trace_id, parent->trace_id, sizeof span->trace_id);
    memcpy(span->parent_id, parent->span_id, sizeof span->parent_id);
    memcpy(span->flags, parent->flags, sizeof span->flags);
    return span;
}

void span_rename(Span *span, const char *name) {
    free(span->name);
    span->name = copy(name);
}

static Attribute *attribute(Span *span, const char *key) {
    for (int i = 0; i < span->nattributes; i++) {
        if (strcmp(span->attributes[i].key, key) == 0) {
            free(span->attributes[i].text);
            span->attributes[i].text = NULL;
            return &span->attributes[i];
        }
    }
    if (span->nattributes == MAX_ATTRIBUTES) return NULL;
    Attribute *a = &span->attributes[span->nattributes++];
    a->key = copy(key);
    return a;
}

void span_set_string(Span *span, const char *key, const char *value) {
    if (!value) return;
    Attribute *a = attribute(span, key);
    if (a) a->text = copy(value);
}

void span_set_int(Span *span, const char *key, long value) {
    Attribute *a = attribute(span, key);
    if (a) a->number = value;
}

void span_fail(Span *span, const char *message) {
    free(span->error);
    span->error = copy(message);
}

void span_traceparent(const Span *span, char out[56]) {
    snprintf(out, 56, "00-%s-%s-%s", span->trace_id, span->span_id, span->flags);
}

// `span` as OTLP JSON.
static void span_json(Buf *out, const Span *span) {
    buf_printf(out, "{\"traceId\":\"%s\",\"spanId\":\"%s\",", span->trace_id, span->span_id);
    if (span->parent_id[0]) buf_printf(out, "\"parentSpanId\":\"%s\",", span->parent_id);
    buf_appends(out, "\"name\":");
    buf_json_string(out, span->name, strlen(span->name));
    buf_printf(out, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\",\"attributes\":[",
               span->kind, (unsigned long long)span->start_ns, (unsigned long long)span->end_ns);
    for (int i = 0; i < span->nattributes; i++) {
        const Attribute *a = &span->attributes[i];
        if (i) buf_appendc(out, ',');
        buf_appends(out, "{\"key\":");
        buf_json_string(out, a->key, strlen(a->key));
        if (a->text) {
            buf_appends(out, ",\"value\":{\"stringValue\":");
            buf_json_string(out, a->text, strlen(a->text));
            buf_appends(out, "}}");
        } else {
            buf_printf(out, ",\"value\":{\"intValue\":\"%ld\"}}", a->number);
        }
    }
    buf_appends(out, "],\"status\":");
    if (span->error) {
        buf_appends(out, "{\"code\":2,\"message\":");
        buf_json_string(out, span->error, strlen(span->error));
        buf_appendc(out, '}');
    } else {
        buf_appends(out, "{\"code\":0}");
    }
    buf_appendc(out, '}');
}

static void flush(void *context);

static void schedule_flush(void) {
    if (!tracer.timer) tracer.timer = net_timer(DELAY_MS, flush, NULL);
}

static void exported(const NetResponse *answer, const char *error, void *context) {
    size_t batch = (size_t)(uintptr_t)context;
    (void)error;
    if (!answer || answer->status != 200) tracer.dropped += batch;
    tracer.sending = false;
    if (tracer.npending) schedule_flush();
}

static void flush(void *context) {
    (void)context;
    tracer.timer = NULL;
    if (tracer.sending || !tracer.npending) return;
    Buf body = BUF_INIT;
    buf_appends(&body,
                "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":"
                "\"kindred-gateway\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"kindred-guard\"},\"spans\":[");
    buf_append(&body, tracer.pending.data, tracer.pending.len);
    buf_appends(&body, "]}]}]}");
    size_t batch = tracer.npending;
    buf_clear(&tracer.pending);
    tracer.npending = 0;
    tracer.sending = true;
    const NetHeader headers[] = {{"content-type", "application/json"}};
    net_call(tracer.origin, "POST", tracer.path, headers, 1, body.data, body.len, EXPORT_TIMEOUT_MS, exported,
             (void *)(uintptr_t)batch);
    buf_free(&body);
}

static void queue(const Span *span) {
    if (!tracer.origin) return;
    if (tracer.npending >= MAX_QUEUE) {
        tracer.dropped++;
        return;
    }
    if (tracer.npending) buf_appendc(&tracer.pending, ',');
    span_json(&tracer.pending, span);
    tracer.npending++;
    if (tracer.npending >= MAX_BATCH && !tracer.sending) {
        if (tracer.timer) net_timer_cancel(tracer.timer);
        tracer.timer = NULL;
        flush(NULL);
    } else {
        schedule_flush();
    }
}

void span_end(Span *span) {
    span->end_ns = now_ns();
    // Sampled only when the caller's flags say so (or it sent none).
    if (strtol(span->flags, NULL, 16) & 1) queue(span);
    for (int i = 0; i < span->nattributes; i++) {
        free(span->attributes[i].key);
        free(span->attributes[i].text);
    }
    free(span->name);
    free(span->error);
    free(span);
}
