// A server on net_*.c alone, for tests/integration/guard/test_net_layer.py: it listens on
// 127.0.0.1:PORT in front of an upstream at localhost:UPSTREAM, with small limits so that
// the tests are quick. Routes: /echo describes the request in JSON; /later does the same
// after a 100 ms timer; /forward/<rest> relays to the upstream's /<rest> with net_forward
// (no timeout), /forward-within/<ms>/<rest> with net_forward and a timeout of <ms>,
// /call/<rest> with net_call (1 s); an upstream that does not answer in time gives a 504,
// one that fails a 503. /stats counts WebSockets; a WebSocket on /ws is relayed to the
// upstream's /ws ("close-me" closes it with 4400). Everything else is a 404.
//
// With --fuzz, a client thread in the same process sends ITERATIONS requests mutated from
// valid seeds by a deterministic xorshift PRNG (one connection each, so that every parser
// state meets a mutation), checks every so often that /echo still answers, then stops the
// server with SIGTERM; the exit status says whether every connection was answered or
// closed in time.
//
// usage: net_harness PORT UPSTREAM
//        net_harness --fuzz PORT UPSTREAM ITERATIONS
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <threads.h>
#include <unistd.h>

#include "buf.h"
#include "net.h"

enum { CALL_TIMEOUT_MS = 1000, MAX_RELAYED_HEADERS = 128 };

static const char WS_PROTOCOL[] = "graphql-transport-ws";
static const NetHeader JSON_TYPE = {"Content-Type", "application/json"};

static NetOrigin *upstream;
static long sockets_opened, sockets_closed;

static void answer_json(NetExchange *x, int status, const Buf *json) {
    net_respond(x, status, &JSON_TYPE, 1, json->data, json->len);
}

static void json_field(Buf *b, const char *name, const char *value, size_t len) {
    buf_json_string(b, name, strlen(name));
    buf_appendc(b, ':');
    buf_json_string(b, value, len);
}

static void echo(NetExchange *x) {
    const NetRequest *r = net_request(x);
    Buf b = BUF_INIT;
    buf_appendc(&b, '{');
    json_field(&b, "method", r->method, strlen(r->method));
    buf_appendc(&b, ',');
    json_field(&b, "target", r->target, strlen(r->target));
    buf_appendc(&b, ',');
    json_field(&b, "path", r->path, strlen(r->path));
    buf_appendc(&b, ',');
    json_field(&b, "query", r->query, strlen(r->query));
    buf_appendc(&b, ',');
    json_field(&b, "peer", r->peer, strlen(r->peer));
    buf_appends(&b, ",\"headers\":[");
    for (size_t i = 0; i < r->nheaders; i++) {
        if (i) buf_appendc(&b, ',');
        buf_appendc(&b, '[');
        buf_json_string(&b, r->headers[i].name, strlen(r->headers[i].name));
        buf_appendc(&b, ',');
        buf_json_string(&b, r->headers[i].value, strlen(r->headers[i].value));
        buf_appendc(&b, ']');
    }
    buf_appends(&b, "],");
    json_field(&b, "body", r->body, r->body_len);
    buf_printf(&b, ",\"bodyLength\":%zu}", r->body_len);
    answer_json(x, 200, &b);
    buf_free(&b);
}

static void later_fired(void *context) { echo(context); }

static void not_found(NetExchange *x, const char *path) {
    Buf b = BUF_INIT;
    buf_appends(&b, "{\"errors\":[{\"message\":");
    Buf message = BUF_INIT;
    buf_printf(&message, "Nothing is served at %s.", path);
    buf_json_string(&b, message.data, message.len);
    buf_appends(&b, ",\"extensions\":{\"code\":\"NOT_FOUND\"}}]}");
    answer_json(x, 404, &b);
    buf_free(&message);
    buf_free(&b);
}

static bool hop_by_hop(const char *name) {
    static const char *const names[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
                                        "trailer", "upgrade", "host", "content-length"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(name, names[i]) == 0) return true;
    }
    return false;
}

// The request's headers as the upstream gets them (WebSocket handshake ones dropped too).
static size_t relayed_headers(const NetRequest *r, NetHeader *out) {
    size_t n = 0;
    for (size_t i = 0; i < r->nheaders && n < MAX_RELAYED_HEADERS; i++) {
        const char *name = r->headers[i].name;
        if (!hop_by_hop(name) && strncasecmp(name, "sec-websocket-", 14) != 0) out[n++] = r->headers[i];
    }
    return n;
}

// The upstream's answer, relayed with its status, Content-Type and body; when none came, a
// 504 if it did not come in time, else a 503.
static void relayed(const NetResponse *answer, const char *error, void *context) {
    NetExchange *x = context;
    if (!answer && strcmp(error, "streamed") == 0) return;
    if (!answer) {
        bool late = net_timed_out(error);
        Buf b = BUF_INIT;
        Buf message = BUF_INIT;
        buf_printf(&message, "upstream: %s", error);
        buf_appends(&b, "{\"errors\":[{\"message\":");
        buf_json_string(&b, message.data, message.len);
        buf_printf(&b, ",\"extensions\":{\"code\":\"%s\"}}]}", late ? "GATEWAY_TIMEOUT" : "SERVICE_UNAVAILABLE");
        answer_json(x, late ? 504 : 503, &b);
        buf_free(&message);
        buf_free(&b);
        return;
    }
    const char *type = net_header(answer->headers, answer->nheaders, "content-type");
    NetHeader headers[] = {{"Content-Type", type ? type : "application/octet-stream"}, {"X-Answer", "buffered"}};
    net_respond(x, answer->status, headers, 2, answer->body, answer->body_len);
}

// Relays to the upstream's /<rest> with net_forward or net_call, bounded by `timeout_ms`
// (0: not at all).
static void relay(NetExchange *x, const NetRequest *r, const char *rest, bool forward, int timeout_ms) {
    Buf target = BUF_INIT;
    buf_printf(&target, "/%s", rest);
    if (*r->query) buf_printf(&target, "?%s", r->query);
    NetHeader headers[MAX_RELAYED_HEADERS];
    size_t n = relayed_headers(r, headers);
    bool has_body = r->body_len || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0);
    const char *body = has_body ? r->body : NULL;
    if (forward) {
        static const NetHeader extra[] = {{"X-Answer", "streamed"}};
        net_forward(x, upstream, r->method, target.data, headers, n, body, r->body_len, extra, 1, timeout_ms, relayed,
                    x);
    } else {
        net_call(upstream, r->method, target.data, headers, n, body, r->body_len, timeout_ms, relayed, x);
    }
    buf_free(&target);
}

static void stats(NetExchange *x) {
    Buf b = BUF_INIT;
    buf_printf(&b, "{\"wsOpened\":%ld,\"wsClosed\":%ld}", sockets_opened, sockets_closed);
    answer_json(x, 200, &b);
    buf_free(&b);
}

// /forward-within/<ms>/<rest>: false when the path is not one.
static bool forward_within(const char *path, int *ms, const char **rest) {
    static const char prefix[] = "/forward-within/";
    if (strncmp(path, prefix, sizeof prefix - 1) != 0) return false;
    char *end;
    long value = strtol(path + sizeof prefix - 1, &end, 10);
    if (end == path + sizeof prefix - 1 || *end != '/' || value < 1 || value > 600000) return false;
    *ms = (int)value;
    *rest = end + 1;
    return true;
}

static void on_request(NetExchange *x, const NetRequest *r) {
    int ms;
    const char *rest;
    if (strcmp(r->path, "/echo") == 0) echo(x);
    else if (strcmp(r->path, "/later") == 0) net_timer(100, later_fired, x);
    else if (strncmp(r->path, "/forward/", 9) == 0) relay(x, r, r->path + 9, true, 0);
    else if (forward_within(r->path, &ms, &rest)) relay(x, r, rest, true, ms);
    else if (strncmp(r->path, "/call/", 6) == 0) relay(x, r, r->path + 6, false, CALL_TIMEOUT_MS);
    else if (strcmp(r->path, "/stats") == 0) stats(x);
    else not_found(x, r->path);
}

static bool offers_protocol(const NetRequest *r) {
    const char *offered = net_header(r->headers, r->nheaders, "sec-websocket-protocol");
    size_t n = strlen(WS_PROTOCOL);
    for (const char *p = offered; p && *p;) {
        while (*p == ' ' || *p == ',') p++;
        const char *end = p;
        while (*end && *end != ',' && *end != ' ') end++;
        if ((size_t)(end - p) == n && strncmp(p, WS_PROTOCOL, n) == 0) return true;
        p = end;
    }
    return false;
}

static const char *on_upgrade(const NetRequest *r) {
    if (strcmp(r->path, "/ws") != 0) return NULL;
    return offers_protocol(r) ? WS_PROTOCOL : "";
}

static void on_ws_open(NetWs *ws, const NetRequest *r) {
    // Freed by ws_closed: one that runs twice is a double free, one that never runs a leak,
    // and ASan reports both.
    void *state = malloc(1);
    if (!state) abort();
    net_ws_set_data(ws, state);
    sockets_opened++;
    NetHeader headers[MAX_RELAYED_HEADERS];
    size_t n = relayed_headers(r, headers);
    net_ws_connect(ws, upstream, "/ws", offers_protocol(r) ? WS_PROTOCOL : "", headers, n);
}

static void on_ws_message(NetWs *ws, const char *data, size_t len, bool binary) {
    if (!binary && len == 8 && memcmp(data, "close-me", 8) == 0) net_ws_close(ws, 4400, "asked");
    else net_ws_forward(ws, data, len, binary);
}

static void on_ws_closed(NetWs *ws) {
    free(net_ws_data(ws));
    sockets_closed++;
}

// --- fuzzing --------------------------------------------------------------------------------

typedef struct Seed {
    const char *data;
    size_t len;
} Seed;

#define SEED(text) {text, sizeof text - 1}

// Client frames are masked with the key 0 so that their payloads read plainly here.
static const Seed SEEDS[] = {
    SEED("GET /echo?a=1 HTTP/1.1\r\nHost: fuzz\r\nAccept: */*\r\nX-A: b\r\n\r\n"),
    SEED("POST /echo HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world"),
    SEED("POST /echo HTTP/1.1\r\nHost: fuzz\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n"
         "0\r\nTrailer: t\r\n\r\n"),
    SEED("PUT /echo HTTP/1.1\r\nHost: fuzz\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\nbody"),
    SEED("GET /echo HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /echo HTTP/1.0\r\n\r\n"),
    SEED("GET /later HTTP/1.1\r\nHost: fuzz\r\n\r\nHEAD /echo HTTP/1.1\r\nHost: fuzz\r\n\r\n"
         "OPTIONS * HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n"),
    SEED("POST /forward/x?y HTTP/1.1\r\nHost: fuzz\r\nContent-Length: 2\r\n\r\n{}"
         "GET /call/x HTTP/1.1\r\nHost: fuzz\r\n\r\n"),
    SEED("GET /ws HTTP/1.1\r\nHost: fuzz\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
         "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n"
         // (A hex escape takes every hex digit after it: payloads start a new literal.)
         "\x81\x82\x00\x00\x00\x00" "hi"          // text
         "\x89\x80\x00\x00\x00\x00"               // ping
         "\x02\x81\x00\x00\x00\x00" "a"           // binary, first fragment
         "\x80\x81\x00\x00\x00\x00" "b"           // its last fragment
         "\x81\x88\x00\x00\x00\x00" "close-me"    // the harness closes with 4400
         "\x88\x82\x00\x00\x00\x00\x03\xe8"),    // close 1000
};

static const char INTERESTING[] = "\r\n :;,0f9\t\x7f\xff-/?*\x80\x81\x88";

static uint64_t fuzz_state = 0x9E3779B97F4A7C15u;

static uint64_t xorshift(void) {
    uint64_t x = fuzz_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return fuzz_state = x;
}

// Up to four edits of a seed: a random byte, an interesting one, an insertion, a deletion.
static size_t mutate(const Seed *seed, char *out, size_t cap) {
    size_t len = seed->len;
    memcpy(out, seed->data, len);
    int edits = (int)(xorshift() % 5);
    for (int i = 0; i < edits && len; i++) {
        size_t at = xorshift() % len;
        char interesting = INTERESTING[xorshift() % (sizeof INTERESTING - 1)];
        switch (xorshift() % 4) {
        case 0:
            out[at] = (char)xorshift();
            break;
        case 1:
            out[at] = interesting;
            break;
        case 2:
            if (len == cap) break;
            memmove(out + at + 1, out + at, len - at);
            out[at] = interesting;
            len++;
            break;
        default:
            memmove(out + at, out + at + 1, len - at - 1);
            len--;
            break;
        }
    }
    return len;
}

typedef struct Fuzz {
    int port;
    long iterations;
    long hung;      // connections neither answered nor closed within 2 s
    long unhealthy; // liveness checks without a 200
} Fuzz;

static int fuzz_connect(int port) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    for (int attempt = 0; attempt < 500; attempt++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) return fd;
        if (fd >= 0) close(fd);
        thrd_sleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
    }
    return -1;
}

// Sends `data`, ends the sending side, and reads until the server closes: the bytes read
// (up to `cap`), or -1 when the server neither closed nor answered within 2 s.
static long fuzz_exchange(int port, const char *data, size_t len, char *answer, size_t cap) {
    int fd = fuzz_connect(port);
    if (fd < 0) return -1;
    struct timeval timeout = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    send(fd, data, len, MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
    long got = 0;
    for (;;) {
        char sink[4096];
        char *into = (size_t)got < cap ? answer + got : sink;
        size_t room = (size_t)got < cap ? cap - (size_t)got : sizeof sink;
        ssize_t n = recv(fd, into, room, 0);
        if (n > 0 && into == answer + got) got += n;
        if (n > 0) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) got = -1;
        break;
    }
    close(fd);
    return got;
}

static int fuzz_client(void *context) {
    Fuzz *f = context;
    static char input[4096], answer[256];
    static const char probe[] = "GET /echo HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n\r\n";
    for (long i = 0; i < f->iterations; i++) {
        const Seed *seed = &SEEDS[xorshift() % (sizeof SEEDS / sizeof SEEDS[0])];
        size_t len = mutate(seed, input, sizeof input);
        if (fuzz_exchange(f->port, input, len, answer, sizeof answer) < 0) f->hung++;
        if (i % 1000 == 999) {
            long got = fuzz_exchange(f->port, probe, sizeof probe - 1, answer, sizeof answer);
            if (got < 12 || memcmp(answer, "HTTP/1.1 200", 12) != 0) f->unhealthy++;
        }
    }
    kill(getpid(), SIGTERM);
    return 0;
}

static int fuzz(int port, const NetLimits *limits, const NetHandlers *handlers, long iterations) {
    // Blocked before the client thread starts, so that only net's signalfd takes SIGTERM.
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    Fuzz f = {.port = port, .iterations = iterations};
    thrd_t client;
    if (thrd_create(&client, fuzz_client, &f) != thrd_success) return 2;
    int status = net_serve("127.0.0.1", port, limits, handlers);
    thrd_join(client, NULL);
    fprintf(stderr, "[guard] fuzz: %ld connections, %ld hung, %ld failed liveness checks\n", iterations, f.hung,
            f.unhealthy);
    return status || f.hung || f.unhealthy ? 1 : 0;
}

int main(int argc, char **argv) {
    bool fuzzing = argc == 5 && strcmp(argv[1], "--fuzz") == 0;
    if (argc != 3 && !fuzzing) {
        fprintf(stderr, "usage: %s PORT UPSTREAM_PORT\n       %s --fuzz PORT UPSTREAM_PORT ITERATIONS\n", argv[0],
                argv[0]);
        return 2;
    }
    char **ports = fuzzing ? argv + 2 : argv + 1;
    upstream = net_origin("localhost", atoi(ports[1]), 8);  // resolved by net, without DNS
    if (!upstream) return 2;
    NetLimits limits = {
        .max_header_bytes = 16384,
        .max_body_bytes = 262144,
        .max_ws_message = 262144,
        .header_timeout_ms = 2000,
        .request_timeout_ms = 4000,
        .keepalive_timeout_ms = 3000,
    };
    NetHandlers handlers = {
        .request = on_request,
        .upgrade = on_upgrade,
        .ws_open = on_ws_open,
        .ws_message = on_ws_message,
        .ws_closed = on_ws_closed,
    };
    if (fuzzing) return fuzz(atoi(ports[0]), &limits, &handlers, atol(argv[4]));
    return net_serve("127.0.0.1", atoi(ports[0]), &limits, &handlers);
}
