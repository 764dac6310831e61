// The guard's network layer: one thread, one epoll loop. An HTTP/1.1 server (keep-alive,
// bounded headers and bodies, timeouts), an HTTP/1.1 client with a keep-alive pool per
// origin (the engine, the trace receiver), WebSocket connections relayed to the engine,
// and timers. What to answer is decided by the handlers the guard gives net_serve.
//
// Ownership: net owns every NetExchange / NetWs; a handler may keep a pointer to one only
// until it answers (net_respond) or the socket's `closed` handler runs. Everything passed
// into a net_* call is copied before it returns.
#ifndef KINDRED_GUARD_NET_H
#define KINDRED_GUARD_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct NetHeader {
    const char *name;  // as received (compare with strcasecmp); NUL-terminated
    const char *value;  // leading/trailing whitespace removed; NUL-terminated
} NetHeader;

typedef struct NetRequest {
    const char *method;  // "GET", "POST", ... NUL-terminated
    const char *target;  // the request target as sent: "/graphql?query=..."
    const char *path;    // the target up to '?', percent-escapes left as they are
    const char *query;   // after '?' (without it), or "" when none
    NetHeader *headers;
    size_t nheaders;
    const char *body;    // the whole body (Content-Length or chunked, decoded); "" when none
    size_t body_len;
    const char *peer;    // the client's address: "127.0.0.1"
} NetRequest;

// The value of header `name` (case-insensitive; the first one), or NULL.
const char *net_header(const NetHeader *headers, size_t n, const char *name);

typedef struct NetResponse {
    int status;
    NetHeader *headers;
    size_t nheaders;
    const char *body;
    size_t body_len;
} NetResponse;

typedef struct NetExchange NetExchange;  // one client request awaiting its answer
typedef struct NetWs NetWs;              // one client WebSocket
typedef struct NetOrigin NetOrigin;      // a server the guard calls (keep-alive pool)

typedef struct NetLimits {
    size_t max_header_bytes;  // request line + headers: over it, 431
    size_t max_body_bytes;    // a declared or received body over it: 413
    size_t max_ws_message;    // a client WebSocket message over it: close 1009
    int header_timeout_ms;    // for the request line and headers (20 s)
    int request_timeout_ms;   // for the whole request, body included (60 s)
    int keepalive_timeout_ms; // an idle kept-alive connection is closed after it (65 s)
} NetLimits;

typedef struct NetHandlers {
    // A whole request: answer it with net_respond (now or later) or net_forward.
    void (*request)(NetExchange *x, const NetRequest *request);
    // A request to upgrade to WebSocket. Return the subprotocol to accept (a string that
    // stays valid, e.g. "graphql-transport-ws"), "" to accept without one, or NULL to
    // refuse (net answers 404 and closes).
    const char *(*upgrade)(const NetRequest *request);
    // The WebSocket is open (after the 101); `request` is its upgrade request.
    void (*ws_open)(NetWs *ws, const NetRequest *request);
    // A whole message from the client (text is valid UTF-8; fragments joined).
    void (*ws_message)(NetWs *ws, const char *data, size_t len, bool binary);
    // The WebSocket is gone (either side closed it): forget it.
    void (*ws_closed)(NetWs *ws);
} NetHandlers;

// Errors net answers itself (unparseable HTTP: 400, headers too large: 431, body too large:
// 413, timeouts: 408) carry a GraphQL-over-HTTP JSON body:
// {"errors":[{"message":"...","extensions":{"code":"BAD_REQUEST"|"REQUEST_HEADER_FIELDS_TOO_LARGE"|
// "PAYLOAD_TOO_LARGE"|"REQUEST_TIMEOUT"}}]} and close the connection.

// Listens on host:port and runs the loop until SIGINT/SIGTERM (then stops accepting,
// lets answers in flight finish for up to 2 s, and returns 0). Returns 1 when it cannot
// listen (having said why on stderr).
int net_serve(const char *host, int port, const NetLimits *limits, const NetHandlers *handlers);

// --- answers ---------------------------------------------------------------------------

// Answers `x`: status line, `headers`, Content-Length (from len), the body (omitted, but
// still counted in Content-Length, for HEAD). Keeps the connection alive unless the
// request asked to close (or was HTTP/1.0 without keep-alive). Frees `x`.
void net_respond(NetExchange *x, int status, const NetHeader *headers, size_t n, const char *body, size_t len);

// The request `x` answers (valid until x is answered).
const NetRequest *net_request(const NetExchange *x);

// --- calling other servers --------------------------------------------------------------

// An origin at host:port (an IPv4 address or "localhost"), with a keep-alive pool of at
// most `max_sockets` connections.
NetOrigin *net_origin(const char *host, int port, int max_sockets);

// What came back from a call: NULL when the server could not be reached, closed without a
// whole answer, or `timeout_ms` passed (then `error` names what happened: "no answer
// within 300 ms", say, which net_timed_out tells apart).
typedef void (*NetAnswer)(const NetResponse *answer, const char *error, void *context);
// Whether a NetAnswer's `error` says the answer did not come within the call's timeout.
bool net_timed_out(const char *error);

// Sends a request (Content-Length from body_len when body is not NULL; Host and Connection
// added by net) and calls `done` once with the whole answer (Content-Length or chunked),
// or with an error when the whole answer has not come within `timeout_ms` (0: no bound).
// A call that timed out leaves its connection closed: an answer that comes late is never
// read as the next call's.
void net_call(NetOrigin *origin, const char *method, const char *target, const NetHeader *headers, size_t n,
              const char *body, size_t body_len, int timeout_ms, NetAnswer done, void *context);

// Like net_call for the client's request `x`, except that when the answer is not JSON
// (its Content-Type does not contain "json": an event stream, say), net relays it to the
// client as it comes, with `extra` headers added (status, headers and chunks; the
// exchange is then answered and freed) and calls `done` with answer NULL and error
// "streamed". If the client goes away first, `done` is still called, and net_respond on
// `x` then only frees it. `timeout_ms` (0: no bound) bounds the wait for the answer to
// begin: a JSON answer must be whole within it, as for net_call, but a relayed stream,
// once its head has come, runs for as long as the server keeps it open (a subscription
// may last hours). Either way `done` is called once.
void net_forward(NetExchange *x, NetOrigin *origin, const char *method, const char *target,
                 const NetHeader *headers, size_t n, const char *body, size_t body_len,
                 const NetHeader *extra, size_t nextra, int timeout_ms, NetAnswer done, void *context);

// --- WebSockets -------------------------------------------------------------------------

void net_ws_send(NetWs *ws, const char *data, size_t len, bool binary);  // one message to the client
// Sends a close frame with `code` and `reason`, relays nothing more, and closes the socket
// once the client answers (or after 2 s); the ws_closed handler then runs.
void net_ws_close(NetWs *ws, int code, const char *reason);

// Opens a WebSocket to `origin` at `target` with `subprotocol` and `headers` (the handshake's
// own headers are added by net), on behalf of client socket `ws`. From then on every
// message from the engine is sent to the client as it is; the engine closing closes the
// client with the same code and reason (1005, 1006 and 1015, which cannot be sent, become
// 1011), and failing to connect closes it with 1011 "The federation engine is unreachable".
// The client closing closes the engine's socket.
void net_ws_connect(NetWs *ws, NetOrigin *origin, const char *target, const char *subprotocol,
                    const NetHeader *headers, size_t n);

// Sends a message to the engine's socket; messages sent before it is open are queued.
void net_ws_forward(NetWs *ws, const char *data, size_t len, bool binary);

// Lets the guard keep its own state on a socket.
void net_ws_set_data(NetWs *ws, void *data);
void *net_ws_data(const NetWs *ws);

// --- timers -----------------------------------------------------------------------------

typedef struct NetTimer NetTimer;
NetTimer *net_timer(int ms, void (*fire)(void *context), void *context);  // once, after ms
void net_timer_cancel(NetTimer *timer);  // before it fires (freed); not after
uint64_t net_now_ms(void);               // monotonic

#endif
