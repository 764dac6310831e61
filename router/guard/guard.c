// Kindred's guard: the gateway's public port, in front of a federation engine (grafbase,
// or Hive Gateway) listening on a private one. It answers every request in the
// GraphQL-over-HTTP shape, checks each document once (verdicts.h: size, parse, limits and
// the spec's schema-free rules; a fragment cycle aborts grafbase), answers introspection
// from the API schema (introspect.h), and passes what is sound to the engine: HTTP over
// kept-alive connections, and graphql-transport-ws WebSockets message by message.
//
//   kindred-guard --listen 127.0.0.1:4000 --introspection api.json --limits limits.json
//       --engine http://127.0.0.1:4100 [--engine-graphql /graphql] [--engine-ws /ws]
//       [--engine-health /health] [--engine-name grafbase] [--engine-timeout 35000]
//       [--graphiql DIST_DIR] [--otlp http://127.0.0.1:4318/v1/traces]
//
// --introspection is what `node router/api_schema.mjs --introspection-of API_SCHEMA` prints;
// --limits is libs/kindred/limits.json (the numbers every subgraph enforces too);
// --engine-timeout is how many milliseconds a request waits for the engine's answer to
// begin before it gets a 504 (an event stream, once begun, runs on).
// GET /graphql in a browser is GraphiQL (graphiql.h); /healthcheck answers while the
// process is up, /readiness once the engine answers its health check.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "answer.h"
#include "graphiql.h"
#include "graphql.h"
#include "introspect.h"
#include "json.h"
#include "net.h"
#include "request.h"
#include "tracing.h"
#include "verdicts.h"

enum {
    ENGINE_SOCKETS = 256,
    READINESS_TIMEOUT_MS = 2000,
    WS_INIT_TIMEOUT_MS = 10000,
    VERDICTS_BUDGET = 8 << 20,  // bytes of remembered verdicts
    MAX_HEADERS = 128,
    MAX_ENGINE_TIMEOUT_MS = 24 * 3600 * 1000,
};

static const char WS_PROTOCOL[] = "graphql-transport-ws";
static const char SIGN_IN_FIRST[] =
    "Sign in first: send `authorization: \"Bearer <access token>\"` in connection_init's payload.";

static const NetHeader CORS[] = {
    {"access-control-allow-origin", "*"},
    {"access-control-allow-headers", "authorization, content-type, traceparent, tracestate"},
    {"access-control-allow-methods", "GET, POST, OPTIONS"},
    {"access-control-max-age", "600"},
};
enum { NCORS = sizeof CORS / sizeof CORS[0] };

// Headers that describe one hop, not the request: never passed on. (The engine's answers
// are read here, so they come uncompressed.)
static const char *const HOP_BY_HOP[] = {
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer",
    "host", "content-length", "accept-encoding", "x-forwarded-for", "traceparent",
};

static struct {
    const char *listen;
    const char *introspection;
    const char *limits;
    const char *engine;
    const char *engine_graphql;
    const char *engine_ws;
    const char *engine_health;
    const char *engine_name;
    const char *engine_timeout;
    const char *graphiql;
    const char *otlp;
} options = {.engine_graphql = "/graphql", .engine_ws = "/graphql", .engine_health = "/health",
             .engine_name = "engine", .graphiql = "graphiql/dist",
             // A little longer than grafbase's own 30 s (router/grafbase.toml), so that its
             // answer, when it has one, comes first.
             .engine_timeout = "35000"};

static struct {
    NetOrigin *engine;
    char engine_host[64];
    int engine_port;
    int engine_timeout_ms;
    Verdicts *verdicts;
    Introspection *schema;
    size_t max_body_bytes;
} guard;

// --- answering ----------------------------------------------------------------------------

static void respond(NetExchange *x, int status, const char *media, const char *body, size_t len,
                    const NetHeader *extra, size_t nextra) {
    NetHeader headers[NCORS + 4];
    size_t n = 0;
    char type[80];
    snprintf(type, sizeof type, "%s; charset=utf-8", media);
    headers[n++] = (NetHeader){"content-type", type};
    for (size_t i = 0; i < NCORS; i++) headers[n++] = CORS[i];
    for (size_t i = 0; i < nextra && n < sizeof headers / sizeof headers[0]; i++) headers[n++] = extra[i];
    net_respond(x, status, headers, n, body, len);
}

// The media type an error is answered in: the spec's own when the client accepts it.
static const char *error_media(const NetRequest *r) {
    return negotiate(net_header(r->headers, r->nheaders, "accept")) == MEDIA_GRAPHQL_RESPONSE
               ? MEDIA_GRAPHQL_RESPONSE
               : MEDIA_JSON;
}

static void respond_error(NetExchange *x, const HttpError *error) {
    Buf body = BUF_INIT;
    error_body(&body, error->message, error->code);
    NetHeader allow = {"allow", error->allow};
    respond(x, error->status, error_media(net_request(x)), body.data, body.len, &allow, error->allow ? 1 : 0);
    buf_free(&body);
}

// {"errors": <errors>} where `errors` is already a JSON array.
static void respond_errors(NetExchange *x, int status, const char *media, const char *errors, size_t len) {
    Buf body = BUF_INIT;
    buf_appends(&body, "{\"errors\":");
    buf_append(&body, errors, len);
    buf_appendc(&body, '}');
    respond(x, status, media, body.data, body.len, NULL, 0);
    buf_free(&body);
}

static void respond_json(NetExchange *x, int status, const char *json) {
    respond(x, status, MEDIA_JSON, json, strlen(json), NULL, 0);
}

// --- GraphiQL -------------------------------------------------------------------------------

static void send_graphiql(NetExchange *x, const NetRequest *r) {
    char problem[4200];
    if (!graphiql_load(options.graphiql, problem, sizeof problem)) {
        fprintf(stderr, "[guard] %s\n", problem);
        HttpError error;
        http_error(&error, 503, "SERVICE_UNAVAILABLE", "%.280s", problem);
        respond_error(x, &error);
        return;
    }
    const StaticFile *file = graphiql_file(r->path);
    if (!file) {
        HttpError error;
        http_error(&error, 404, "NOT_FOUND", "Nothing is served at %.200s: GraphQL is at /graphql.", r->path);
        respond_error(x, &error);
        return;
    }
    const char *encoding = encoding_for(net_header(r->headers, r->nheaders, "accept-encoding"));
    const Buf *body = !encoding ? &file->plain : strcmp(encoding, "br") == 0 ? &file->br : &file->gzip;
    NetHeader headers[4] = {
        {"content-type", file->type},
        {"cache-control", "no-cache"},
        {"vary", "accept-encoding"},
        {"content-encoding", encoding},
    };
    net_respond(x, 200, headers, encoding ? 4 : 3, body->data, body->len);
}

// --- the engine ---------------------------------------------------------------------------

typedef struct Forward {
    NetExchange *exchange;
    Span *span;  // the request's
    Span *call;  // the engine call's
} Forward;

static void end_request_span(Span *span, int status) {
    if (status >= 500) {
        char message[32];
        snprintf(message, sizeof message, "HTTP %d", status);
        span_fail(span, message);
    }
    span_set_int(span, "http.response.status_code", status);
    span_end(span);
}

// The engine gave no answer (`what`, in net's words `error`): the client gets `status`
// with a GraphQL error that says what to do.
static void engine_failed(Forward *f, const char *what, const char *error, int status, const char *code,
                          const char *message) {
    char failure[200];
    snprintf(failure, sizeof failure, "%s: %s", what, error);
    span_fail(f->call, failure);
    Buf body = BUF_INIT;
    error_body(&body, message, code);
    respond(f->exchange, status, MEDIA_JSON, body.data, body.len, NULL, 0);
    buf_free(&body);
    end_request_span(f->span, status);
}

static void engine_answered(const NetResponse *answer, const char *error, void *context) {
    Forward *f = context;
    if (answer) {
        span_set_int(f->call, "http.response.status_code", answer->status);
        Buf completed = BUF_INIT;
        bool rewritten = complete_answer(answer->body, answer->body_len, &completed);
        const char *type = net_header(answer->headers, answer->nheaders, "content-type");
        NetHeader headers[NCORS + 1] = {{"content-type", type ? type : "application/json"}};
        for (size_t i = 0; i < NCORS; i++) headers[i + 1] = CORS[i];
        net_respond(f->exchange, answer->status, headers, NCORS + 1, rewritten ? completed.data : answer->body,
                    rewritten ? completed.len : answer->body_len);
        buf_free(&completed);
        end_request_span(f->span, answer->status);
    } else if (strcmp(error, "streamed") == 0) {
        end_request_span(f->span, 200);
    } else if (net_timed_out(error)) {
        char message[120];
        int ms = guard.engine_timeout_ms;
        snprintf(message, sizeof message, "The federation engine did not answer within %g second%s; try again shortly.",
                 ms / 1000.0, ms == 1000 ? "" : "s");
        engine_failed(f, "the engine did not answer in time", error, 504, "GATEWAY_TIMEOUT", message);
    } else {
        engine_failed(f, "the engine is unreachable", error, 503, "SERVICE_UNAVAILABLE",
                      "The gateway cannot reach its federation engine; try again shortly.");
    }
    span_end(f->call);
    free(f);
}

// The client's headers as the engine gets them: hop-by-hop ones dropped, the client's
// address added to X-Forwarded-For. `storage` holds the joined X-Forwarded-For.
static size_t upstream_headers(const NetRequest *r, NetHeader *out, size_t max, char *storage, size_t size) {
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders && n + 2 < max; i++) {
        const char *name = r->headers[i].name;
        bool skip = strncasecmp(name, "sec-websocket", 13) == 0;
        for (size_t j = 0; !skip && j < sizeof HOP_BY_HOP / sizeof HOP_BY_HOP[0]; j++) {
            skip = strcasecmp(name, HOP_BY_HOP[j]) == 0;
        }
        if (!skip) out[n++] = r->headers[i];
    }
    const char *prior = net_header(r->headers, r->nheaders, "x-forwarded-for");
    if (prior) snprintf(storage, size, "%s, %s", prior, r->peer);
    else snprintf(storage, size, "%s", r->peer);
    out[n++] = (NetHeader){"x-forwarded-for", storage};
    return n;
}

static void forward(NetExchange *x, const NetRequest *r, const char *body, size_t len, Span *span) {
    Forward *f = calloc(1, sizeof *f);
    if (!f) abort();
    f->exchange = x;
    f->span = span;
    char name[160];
    snprintf(name, sizeof name, "%s %s %s", options.engine_name, r->method, options.engine_graphql);
    f->call = span_child(span, name, SPAN_CLIENT);
    span_set_string(f->call, "server.address", guard.engine_host);
    span_set_int(f->call, "server.port", guard.engine_port);

    NetHeader headers[MAX_HEADERS];
    char forwarded_for[1024];
    size_t n = upstream_headers(r, headers, MAX_HEADERS, forwarded_for, sizeof forwarded_for);
    char traceparent[56];
    span_traceparent(f->call, traceparent);
    headers[n++] = (NetHeader){"traceparent", traceparent};

    Buf target = BUF_INIT;
    buf_appends(&target, options.engine_graphql);
    if (strcmp(r->method, "GET") == 0 && r->query[0]) buf_printf(&target, "?%s", r->query);
    net_forward(x, guard.engine, r->method, target.data, headers, n, body, len, CORS, NCORS, guard.engine_timeout_ms,
                engine_answered, f);
    buf_free(&target);
}

// --- GraphQL requests ---------------------------------------------------------------------

static void name_span(Span *span, const GqlOperation *op) {
    static const char *const types[] = {"query", "mutation", "subscription"};
    char name[200];
    if (op->name) snprintf(name, sizeof name, "%s %s", types[op->type], op->name);
    else snprintf(name, sizeof name, "%s", types[op->type]);
    span_rename(span, name);
    span_set_string(span, "graphql.operation.type", types[op->type]);
    span_set_string(span, "graphql.operation.name", op->name);
}

// Answers a document the checks refused, per the spec: 200 for application/json clients,
// 400 for graphql-response+json (or the verdict's own status).
static void refuse_document(NetExchange *x, Span *span, const char *media, int status, const char *code,
                            const char *errors, size_t len) {
    span_set_string(span, "graphql.error.code", code);
    if (!status) status = media == MEDIA_GRAPHQL_RESPONSE ? 400 : 200;
    respond_errors(x, status, media == MEDIA_STREAM ? MEDIA_JSON : media, errors, len);
    end_request_span(span, status);
}

static void refuse_request(NetExchange *x, Span *span, const HttpError *error) {
    respond_error(x, error);
    end_request_span(span, error->status);
}

static void answer_introspection(NetExchange *x, Span *span, const char *media, const GqlDocument *doc,
                                 const GqlOperation *op, const Json *variables) {
    Buf out = BUF_INIT;
    int refused = introspection_execute(guard.schema, doc, op, variables, &out);
    int status = refused && media == MEDIA_GRAPHQL_RESPONSE ? 400 : 200;
    respond(x, status, media == MEDIA_STREAM ? MEDIA_JSON : media, out.data, out.len, NULL, 0);
    buf_free(&out);
    end_request_span(span, status);
}

static void graphql_request(NetExchange *x, const NetRequest *r) {
    const char *accept = net_header(r->headers, r->nheaders, "accept");
    bool get = strcmp(r->method, "GET") == 0;
    Arena *arena = arena_new();
    if (get && accept && strstr(accept, "text/html") && !query_parameter(arena, r->query, "query", &(size_t){0})) {
        arena_free(arena);
        send_graphiql(x, r);
        return;
    }
    if (strcmp(r->method, "OPTIONS") == 0) {
        arena_free(arena);
        net_respond(x, 204, CORS, NCORS, NULL, 0);
        return;
    }
    HttpError error;
    if (!get && strcmp(r->method, "POST") != 0) {
        arena_free(arena);
        http_error(&error, 405, "METHOD_NOT_ALLOWED",
                   "%.40s is not used here: send GraphQL requests with POST (or GET for queries).", r->method);
        error.allow = "GET, POST";
        respond_error(x, &error);
        return;
    }
    // The guard's span of this request, in the caller's trace if it sent one.
    char span_name[64];
    snprintf(span_name, sizeof span_name, "%s /graphql", r->method);
    Span *span = span_start(span_name, net_header(r->headers, r->nheaders, "traceparent"), SPAN_SERVER);
    span_set_string(span, "http.request.method", r->method);
    span_set_string(span, "url.path", r->path);

    const char *media = negotiate(accept);
    GraphqlParams params;
    if (!media) {
        http_error(&error, 406, "NOT_ACCEPTABLE", "Nothing here matches `Accept: %.120s`: accept %s or %s.", accept,
                   MEDIA_GRAPHQL_RESPONSE, MEDIA_JSON);
        refuse_request(x, span, &error);
    } else if (get ? !params_of_get(arena, r->query, guard.max_body_bytes, &params, &error)
                   : !params_of_post(arena, net_header(r->headers, r->nheaders, "content-type"), r->body,
                                     r->body_len, &params, &error)) {
        refuse_request(x, span, &error);
    } else {
        const Verdict *verdict = verdicts_judge(guard.verdicts, params.query, params.query_len);
        GqlError problem;
        const GqlOperation *op = verdict->document ? gql_operation(verdict->document, params.operation_name, &problem) : NULL;
        if (op) name_span(span, op);
        if (!verdict->document) {
            refuse_document(x, span, media, verdict->status, verdict->code, verdict->errors, verdict->errors_len);
        } else if (!op) {
            Buf errors = BUF_INIT;
            gql_errors_json(&errors, &problem, 1);
            refuse_document(x, span, media, 0, problem.code, errors.data, errors.len);
            buf_free(&errors);
        } else if (op->type == GQL_SUBSCRIPTION && media != MEDIA_STREAM) {
            http_error(&error, 400, "BAD_REQUEST",
                       "Subscriptions are served over WebSocket (graphql-transport-ws on /graphql) or with "
                       "`Accept: text/event-stream`.");
            refuse_request(x, span, &error);
        } else if (get && op->type != GQL_QUERY) {
            http_error(&error, 405, "METHOD_NOT_ALLOWED", "A %s cannot be sent with GET: use POST.",
                       op->type == GQL_MUTATION ? "mutation" : "subscription");
            error.allow = "POST";
            refuse_request(x, span, &error);
        } else if (gql_introspection_only(op)) {
            answer_introspection(x, span, media, verdict->document, op, params.variables);
        } else if (params.has_null) {
            Buf body = BUF_INIT;
            normalised_body(&body, params.payload);
            forward(x, r, body.data, body.len, span);
            buf_free(&body);
        } else {
            forward(x, r, get ? NULL : r->body, get ? 0 : r->body_len, span);
        }
    }
    arena_free(arena);
}

// --- readiness ------------------------------------------------------------------------------

static void engine_health(const NetResponse *answer, const char *error, void *context) {
    (void)error;
    bool ready = answer && answer->status == 200;
    respond_json(context, ready ? 200 : 503, ready ? "{\"status\":\"ready\"}" : "{\"status\":\"starting\"}");
}

static void on_request(NetExchange *x, const NetRequest *r) {
    bool read_only = strcmp(r->method, "GET") == 0 || strcmp(r->method, "HEAD") == 0;
    if (strcmp(r->path, "/graphql") == 0) {
        graphql_request(x, r);
    } else if (strncmp(r->path, "/graphiql/", 10) == 0 && read_only) {
        send_graphiql(x, r);
    } else if (strcmp(r->path, "/healthcheck") == 0) {
        respond_json(x, 200, "{\"status\":\"ok\"}");
    } else if (strcmp(r->path, "/readiness") == 0) {
        net_call(guard.engine, "GET", options.engine_health, NULL, 0, NULL, 0, READINESS_TIMEOUT_MS, engine_health, x);
    } else {
        HttpError error;
        http_error(&error, 404, "NOT_FOUND", "Nothing is served at %.200s: GraphQL is at /graphql.", r->path);
        respond_error(x, &error);
    }
}

// --- WebSockets -----------------------------------------------------------------------------
// graphql-transport-ws: the client's connection_init opens the engine's socket (its token
// also rides in that socket's handshake); every `subscribe` is checked like an HTTP request
// before it is passed on; everything else is relayed as it is.

typedef struct Relay {
    NetTimer *init_timer;
    bool upstream;   // connection_init came, and the engine's socket was opened
    bool signed_in;  // connection_init carried a bearer token
    NetHeader headers[MAX_HEADERS];  // the upgrade request's, as the engine gets them
    size_t nheaders;
    Arena *arena;    // holds the headers
} Relay;

static bool offers_protocol(const NetRequest *r) {
    const char *offered = net_header(r->headers, r->nheaders, "sec-websocket-protocol");
    size_t n = strlen(WS_PROTOCOL);
    for (const char *p = offered; p && *p;) {
        while (*p == ' ' || *p == ',' || *p == '\t') p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ' && *end != '\t') end++;
        if ((size_t)(end - p) == n && strncmp(p, WS_PROTOCOL, n) == 0) return true;
        p = end;
    }
    return false;
}

static const char *on_upgrade(const NetRequest *r) {
    if (strcmp(r->path, "/graphql") != 0) return NULL;
    return offers_protocol(r) ? WS_PROTOCOL : "";
}

static void init_timeout(void *context) {
    Relay *relay = net_ws_data(context);
    relay->init_timer = NULL;
    net_ws_close(context, 4408, "Connection initialisation timeout");
}

static void on_ws_open(NetWs *ws, const NetRequest *r) {
    Relay *relay = calloc(1, sizeof *relay);
    if (!relay) abort();
    net_ws_set_data(ws, relay);
    if (!offers_protocol(r)) {
        net_ws_close(ws, 4406, "Subprotocol not acceptable");
        return;
    }
    relay->arena = arena_new();
    char forwarded_for[1024];
    NetHeader headers[MAX_HEADERS];
    size_t n = upstream_headers(r, headers, MAX_HEADERS - 1, forwarded_for, sizeof forwarded_for);
    for (size_t i = 0; i < n; i++) {
        relay->headers[i].name = arena_strndup(relay->arena, headers[i].name, strlen(headers[i].name));
        relay->headers[i].value = arena_strndup(relay->arena, headers[i].value, strlen(headers[i].value));
    }
    relay->nheaders = n;
    relay->init_timer = net_timer(WS_INIT_TIMEOUT_MS, init_timeout, ws);
}

// Whether `value` is "Bearer <token>" (any case, any spacing).
static bool bearer(const Json *value) {
    if (!value || value->type != JSON_STRING || value->len < 7 || strncasecmp(value->text, "bearer", 6) != 0) return false;
    const char *p = value->text + 6;
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '\f' && *p != '\v') return false;
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' || *p == '\v') p++;
    return *p && *p != ' ';
}

static void open_upstream(NetWs *ws, Relay *relay, const Json *init) {
    const Json *payload = json_get(init, "payload");
    const Json *authorization = json_get(payload, "authorization");
    if (!authorization) authorization = json_get(payload, "Authorization");
    // Every Kindred subscription is a member's: without a token there is nothing for a
    // subgraph to verify, so subscribing is refused here with the subgraphs' code.
    relay->signed_in = bearer(authorization);
    if (relay->signed_in) {
        relay->headers[relay->nheaders++] =
            (NetHeader){"authorization", arena_strndup(relay->arena, authorization->text, authorization->len)};
    }
    relay->upstream = true;
    net_ws_connect(ws, guard.engine, options.engine_ws, WS_PROTOCOL, relay->headers, relay->nheaders);
}

// The errors a `subscribe` message is refused with (a JSON array), or false when it may go on.
static bool refuse_subscribe(const Relay *relay, const Json *message, Buf *errors) {
    if (!relay->signed_in) {
        buf_appendc(errors, '[');
        error_object(errors, SIGN_IN_FIRST, "UNAUTHENTICATED");
        buf_appendc(errors, ']');
        return true;
    }
    const Json *payload = json_get(message, "payload");
    const Json *query = json_get(payload, "query");
    if (!query || query->type != JSON_STRING) {
        buf_appendc(errors, '[');
        error_object(errors, "`payload.query` must be a string holding a GraphQL document.", "BAD_REQUEST");
        buf_appendc(errors, ']');
        return true;
    }
    const Verdict *verdict = verdicts_judge(guard.verdicts, query->text, query->len);
    if (!verdict->document) {
        buf_append(errors, verdict->errors, verdict->errors_len);
        return true;
    }
    const Json *name = json_get(payload, "operationName");
    GqlError problem;
    if (!gql_operation(verdict->document, name && name->type == JSON_STRING ? name->text : NULL, &problem)) {
        gql_errors_json(errors, &problem, 1);
        return true;
    }
    return false;
}

static void on_ws_message(NetWs *ws, const char *data, size_t len, bool binary) {
    Relay *relay = net_ws_data(ws);
    Arena *arena = arena_new();
    JsonError json_error;
    const Json *message = json_parse(arena, data, len, 64, &json_error);
    const Json *type = json_get(message, "type");
    bool is = type && type->type == JSON_STRING;
    if (!message) {
        net_ws_close(ws, 4400, "Invalid message received");
    } else if (!relay->upstream && !(is && strcmp(type->text, "connection_init") == 0)) {
        net_ws_close(ws, 4401, "Unauthorized");
    } else if (!relay->upstream) {
        if (relay->init_timer) net_timer_cancel(relay->init_timer);
        relay->init_timer = NULL;
        open_upstream(ws, relay, message);
        net_ws_forward(ws, data, len, binary);
    } else {
        Buf refused = BUF_INIT;
        if (is && strcmp(type->text, "subscribe") == 0 && refuse_subscribe(relay, message, &refused)) {
            Buf reply = BUF_INIT;
            buf_appendc(&reply, '{');
            const Json *id = json_get(message, "id");
            if (id) {
                buf_appends(&reply, "\"id\":");
                json_write(&reply, id);
                buf_appendc(&reply, ',');
            }
            buf_appends(&reply, "\"type\":\"error\",\"payload\":");
            buf_append(&reply, refused.data, refused.len);
            buf_appendc(&reply, '}');
            net_ws_send(ws, reply.data, reply.len, false);
            buf_free(&reply);
        } else {
            net_ws_forward(ws, data, len, binary);
        }
        buf_free(&refused);
    }
    arena_free(arena);
}

static void on_ws_closed(NetWs *ws) {
    Relay *relay = net_ws_data(ws);
    if (!relay) return;
    if (relay->init_timer) net_timer_cancel(relay->init_timer);
    arena_free(relay->arena);
    free(relay);
}

// --- start ----------------------------------------------------------------------------------

static void usage(const char *problem) {
    fprintf(stderr,
            "%s\nusage: kindred-guard --listen HOST:PORT --introspection FILE --limits FILE --engine URL\n"
            "       [--engine-graphql PATH] [--engine-ws PATH] [--engine-health PATH] [--engine-name NAME]\n"
            "       [--engine-timeout MS] [--graphiql DIR] [--otlp URL]\n"
            "(see the comment at the top of router/guard/guard.c)\n",
            problem);
    exit(2);
}

// Digits only, from 1 to `max`: the number, or 0.
static int milliseconds(const char *text, int max) {
    long value = 0;
    for (const char *p = text; *p; p++) {
        if (*p < '0' || *p > '9' || value > max) return 0;
        value = value * 10 + (*p - '0');
    }
    return value <= max ? (int)value : 0;
}

static void parse_options(int argc, char **argv) {
    struct {
        const char *flag;
        const char **value;
    } flags[] = {
        {"--listen", &options.listen},           {"--introspection", &options.introspection},
        {"--limits", &options.limits},           {"--engine", &options.engine},
        {"--engine-graphql", &options.engine_graphql}, {"--engine-ws", &options.engine_ws},
        {"--engine-health", &options.engine_health},   {"--engine-name", &options.engine_name},
        {"--engine-timeout", &options.engine_timeout}, {"--graphiql", &options.graphiql},
        {"--otlp", &options.otlp},
    };
    for (int i = 1; i < argc; i += 2) {
        size_t j = 0;
        while (j < sizeof flags / sizeof flags[0] && strcmp(flags[j].flag, argv[i]) != 0) j++;
        if (j == sizeof flags / sizeof flags[0]) usage("unknown option");
        if (i + 1 >= argc) usage("an option has no value");
        *flags[j].value = argv[i + 1];
    }
    if (!options.listen || !options.introspection || !options.limits || !options.engine) {
        usage("--listen, --introspection, --limits and --engine are required");
    }
    guard.engine_timeout_ms = milliseconds(options.engine_timeout, MAX_ENGINE_TIMEOUT_MS);
    if (!guard.engine_timeout_ms) usage("--engine-timeout must be a whole number of milliseconds from 1 to 86400000");
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    Buf text = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&text, chunk, n);
    fclose(f);
    *len = text.len;
    return text.data ? text.data : calloc(1, 1);
}

static Json *load_json(Arena *arena, const char *path, const char *what) {
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "[guard] cannot read %s (%s)\n", path, what);
        exit(2);
    }
    JsonError error;
    Json *value = json_parse(arena, text, len, 512, &error);
    free(text);
    if (!value) {
        fprintf(stderr, "[guard] %s (%s) is not JSON: %s at byte %zu\n", path, what, error.message, error.offset);
        exit(2);
    }
    return value;
}

static size_t limit(const Json *limits, const char *name) {
    const Json *value = json_get(limits, name);
    if (!value || value->type != JSON_NUMBER || atol(value->text) <= 0) {
        fprintf(stderr, "[guard] the limits file has no positive number `%s`\n", name);
        exit(2);
    }
    return (size_t)atol(value->text);
}

int main(int argc, char **argv) {
    parse_options(argc, argv);
    Arena *arena = arena_new();  // what lives as long as the process
    const Json *limits = load_json(arena, options.limits, "the limits");
    GqlLimits gql_limits = {
        .max_tokens = limit(limits, "maxTokens"),
        .max_depth = limit(limits, "maxDepth"),
        .max_aliases = limit(limits, "maxAliases"),
        .max_directives = limit(limits, "maxDirectivesPerLocation"),
        .max_introspection_depth = limit(limits, "maxIntrospectionDepth"),
        .max_introspection_lists = limit(limits, "maxIntrospectionLists"),
    };
    guard.max_body_bytes = limit(limits, "maxBodyBytes");
    guard.verdicts = verdicts_new(&gql_limits, limit(limits, "maxQueryBytes"), VERDICTS_BUDGET);

    const char *problem = NULL;
    guard.schema = introspection_load(arena, load_json(arena, options.introspection, "the API schema's introspection"), &problem);
    if (!guard.schema) {
        fprintf(stderr, "[guard] %s: %s (print it with `node router/api_schema.mjs --introspection-of API_SCHEMA`)\n",
                options.introspection, problem);
        return 2;
    }
    if (sscanf(options.engine, "http://%63[^:/]:%d", guard.engine_host, &guard.engine_port) != 2) {
        usage("--engine must be http://HOST:PORT");
    }
    guard.engine = net_origin(guard.engine_host, guard.engine_port, ENGINE_SOCKETS);
    if (!tracing_start(options.otlp)) return 2;

    char host[64];
    int port;
    if (sscanf(options.listen, "%63[^:]:%d", host, &port) != 2) usage("--listen must be HOST:PORT");
    NetLimits net_limits = {
        .max_header_bytes = 16 * 1024,
        .max_body_bytes = guard.max_body_bytes,
        .max_ws_message = guard.max_body_bytes,
        .header_timeout_ms = 20000,
        .request_timeout_ms = 60000,
        .keepalive_timeout_ms = 65000,
    };
    NetHandlers handlers = {
        .request = on_request,
        .upgrade = on_upgrade,
        .ws_open = on_ws_open,
        .ws_message = on_ws_message,
        .ws_closed = on_ws_closed,
    };
    fprintf(stderr, "[guard] GraphQL on http://%s/graphql, engine at %s\n", options.listen, options.engine);
    int status = net_serve(host, port, &net_limits, &handlers);
    verdicts_free(guard.verdicts);
    arena_free(arena);
    return status;
}
