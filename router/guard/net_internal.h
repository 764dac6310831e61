// What the files of the network layer share (net.h is its API): its bounds, the types of its
// sockets, the loop's state, and the functions one file calls in another.
//
// The guard's network layer (see net.h): one thread, one edge-triggered epoll loop,
// non-blocking sockets. Client connections (Conn) read HTTP/1.1 requests by RFC 9112 with
// hard bounds and hand whole ones to the guard; origins keep kept-alive connections
// (UpConn) to the servers the guard calls; a client WebSocket (NetWs) is paired with one to
// the engine (UpWs).
//
// Two rules keep the guard's callbacks safe. Net never calls a handler or a NetAnswer from
// inside a call to one of net.h's functions: what must be reported from there (a call that
// failed at once, a WebSocket that is gone) is reported from a timer due now. And nothing is
// freed while a callback up the stack could still hold it: a closed socket is marked dead
// and freed at the end of the loop's turn.
//
// net_loop.c runs the loop (timers, socket buffers, shutdown); net_http.c reads and writes
// HTTP/1.1; net_server.c serves the clients' connections, net_ws.c their WebSockets, and
// net_client.c makes the calls to origins.
#ifndef KINDRED_GUARD_NET_INTERNAL_H
#define KINDRED_GUARD_NET_INTERNAL_H

#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "net.h"

// How a call's error begins when its answer did not come in time (net_timed_out).
#define NET_NO_ANSWER "no answer within"

enum {
    MAX_HEADERS = 100,           // a request's header fields: more is a 431
    MAX_ANSWER_HEADERS = 128,    // an upstream answer's
    MAX_ANSWER_HEAD = 64 * 1024,
    MAX_CHUNK_LINE = 4096,       // a chunk-size line with its extensions
    READ_SIZE = 16 * 1024 - 1,   // with its NUL, a read fills a 16 KiB buffer
    INPUT_BUFFER = 16 * 1024,
    SPARE_INPUTS = 64,
    PENDING_INPUT = 64 * 1024,   // read ahead of the request in the guard's hands
    IDLE_BUFFER = 4 * 1024,      // what a socket may keep of a buffer between uses
    COMPACT_OUTPUT = 64 * 1024,
    LINGER_DISCARD = 1024 * 1024,
    LINGER_MS = 2000,            // how long a closing connection waits for the client's FIN
    WS_CLOSE_WAIT_MS = 2000,
    WS_HANDSHAKE_MS = 10000,
    SHUTDOWN_GRACE_MS = 2000,
    FREE_CALLS = 64,
    MAX_EVENTS = 256,
    PUMP_ROUNDS = 16,            // reads for one connection before the others get their turn
};
#define MAX_OUTPUT ((size_t)4 << 20)          // a client's unsent output: past it, closed
#define MAX_ANSWER_BODY ((size_t)32 << 20)    // an answer net buffers for the guard
#define MAX_ENGINE_MESSAGE ((size_t)16 << 20)
#define NOT_ARMED SIZE_MAX

static const char SHUTTING_DOWN[] = "the guard is shutting down";

typedef struct Conn Conn;
typedef struct UpConn UpConn;
typedef struct UpCall UpCall;
typedef struct UpWs UpWs;

// --- helpers, intrusive lists, timers (net_loop.c) ----------------------------------------

void *net_must(void *p);
void net_say(const char *format, ...) __attribute__((format(printf, 1, 2)));
size_t net_min_size(size_t a, size_t b);

typedef struct Link {
    struct Link *prev, *next;
} Link;

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

void net_list_init(Link *l);
bool net_list_empty(const Link *head);
void net_list_add(Link *head, Link *item);
void net_list_remove(Link *item);

typedef struct Timer {
    uint64_t at;
    uint64_t seq;
    size_t slot;  // its index in the heap, or NOT_ARMED
    void (*fire)(void *context);
    void *context;
} Timer;

void net_timer_init(Timer *t, void (*fire)(void *), void *context);
void net_timer_stop(Timer *t);
void net_timer_start(Timer *t, uint64_t at);
void net_timer_after(Timer *t, int ms);

// --- HTTP/1.1: header fields, heads, chunked bodies, answers' text (net_http.c) -----------

bool net_is_tchar(unsigned char c);
bool net_is_token(const char *s);
bool net_is_field_value(const char *s);
bool net_name_is(const char *name, const char *wanted);
bool net_has_token(const char *value, const char *token);
bool net_header_has_token(const NetHeader *headers, size_t n, const char *name, const char *token);
bool net_parse_length(const char *s, size_t *out);
bool net_answer_header_allowed(const NetHeader *h);
bool net_valid_target(const char *target);
bool net_request_header_allowed(const NetHeader *h);
long net_head_end(const char *p, size_t len, size_t *scan);

typedef enum { HEAD_OK, HEAD_BAD, HEAD_TOO_MANY } HeadCheck;

HeadCheck net_split_head(char *head, size_t len, char **first, size_t *first_len, NetHeader *headers, size_t max,
                         size_t *n);

typedef struct Chunked {
    enum { CHUNK_SIZE_LINE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER } state;
    size_t left;         // of the current chunk
    size_t total;        // declared so far
    size_t max_total;
    size_t trailer;      // trailer bytes so far (skipped)
    size_t max_trailer;
} Chunked;

typedef enum { CHUNK_MORE, CHUNK_GOT_DATA, CHUNK_END, CHUNK_BAD, CHUNK_TOO_BIG } ChunkStep;

ChunkStep net_chunk_step(Chunked *ch, const char *p, size_t len, size_t *used, size_t *data_at, size_t *data_len);
void net_append_header(Buf *b, const char *name, const char *value);
void net_append_status(Buf *b, int status);
void net_append_error_json(Buf *b, const char *message, const char *code);

// --- socket buffers (net_loop.c) ----------------------------------------------------------

typedef struct In {
    Buf buf;
    size_t off;  // bytes before it are consumed
} In;

typedef struct Out {
    Buf buf;
    size_t off;  // bytes before it are sent
} Out;

enum { READ_AGAIN = -1, READ_FAILED = -2 };

size_t net_in_pending(const In *in);
char *net_in_data(const In *in);
void net_in_consume(In *in, size_t n);
ssize_t net_in_read(int fd, In *in, size_t want);
size_t net_out_pending(const Out *o);
void net_out_reset(Out *o);
int net_out_flush(int fd, Out *o);

// --- the loop's state (net_loop.c) --------------------------------------------------------

enum { KIND_LISTENER, KIND_SIGNALS, KIND_CONN, KIND_UPCONN, KIND_UPWS };

typedef enum { CONN_IDLE, CONN_HEAD, CONN_BODY, CONN_HANDLER, CONN_WS, CONN_CLOSING } ConnState;

struct NetExchange {
    Conn *conn;          // NULL once the client has gone
    bool pending;        // in the guard's hands (or forwarded)
    bool streaming;      // net relays an upstream's answer to the client
    bool chunked_out;    // that relay is chunked
    bool head_only;      // a HEAD request: answers carry no body
    bool keep_alive;
    bool expect_continue;
    bool upgrade;        // Upgrade: websocket with Connection: upgrade
    int minor;           // HTTP/1.minor
    UpCall *call;        // net_forward's call in flight
    Buf head;            // the request's head, split in place into the strings of `request`
    Buf parts;           // the path and the query, NUL-terminated
    Buf body;
    char peer[INET6_ADDRSTRLEN];
    NetHeader headers[MAX_HEADERS];
    NetRequest request;
    Link orphan;         // on net.orphans once its client has gone
};

struct Conn {
    int kind;
    int fd;
    ConnState state;
    bool fresh;     // no request yet: the wait for the first one is timed as a head
    bool readable;  // the socket may hold unread bytes (epoll is edge-triggered)
    bool hangup;    // the client shut its side
    bool eof;
    bool shut;      // our side is shut: waiting for the client's FIN
    bool dead;
    bool ready;     // on net.ready
    In in;
    size_t scan;    // how much of the pending input net_head_end has searched
    Out out;
    uint64_t started;  // when the current request began
    Timer timer;
    NetExchange *x;    // the current request (reused from one request to the next)
    NetWs *ws;
    bool chunked;
    size_t body_left;
    Chunked chunks;
    size_t discarded;
    char peer[INET6_ADDRSTRLEN];
    Link link;         // net.conns, then net.dead_conns
    Conn *next_ready;
};

struct NetOrigin {
    struct sockaddr_in addr;
    char authority[300];  // the Host header
    int max_sockets;
    int nconns;
    Link idle;   // UpConn.idle, most recently used last
    Link queue;  // UpCall.queued
    Link link;   // net_origins
};

struct UpCall {
    NetOrigin *origin;
    Buf request;        // the whole request, kept for a retry
    Buf extra;          // net_forward's extra headers, as header lines
    bool head_only;
    bool retried;
    NetAnswer done;
    void *context;
    NetExchange *x;     // net_forward's exchange, until answered
    UpConn *conn;
    Timer timer;        // its timeout (until a relayed stream begins), or a failure reported at the next turn
    int timeout_ms;
    const char *error;  // that failure, when there is one
    char error_text[160];
    Link queued;        // on origin->queue, or net.free_calls
};

typedef enum { FRAMING_NONE, FRAMING_LENGTH, FRAMING_CHUNKED, FRAMING_CLOSE } Framing;

struct UpConn {
    int kind;
    int fd;
    NetOrigin *origin;
    UpCall *call;
    bool connecting;
    bool readable;
    bool hangup;
    bool dead;
    bool reused;     // the call went out on a kept-alive connection
    bool got_bytes;  // of the call's answer
    bool head_done;
    bool keep_alive;
    bool streaming;
    In in;
    size_t scan;
    Out out;
    int status;
    int minor;
    Framing framing;
    size_t body_left;
    Chunked chunks;
    Buf head;
    NetHeader headers[MAX_ANSWER_HEADERS];
    size_t nheaders;
    Buf body;
    Link link;  // net.upconns, then net.dead_upconns
    Link idle;  // origin->idle
};

struct NetWs {
    Conn *conn;     // NULL once the client's socket is closing or closed
    UpWs *up;
    void *data;
    Buf message;    // fragments so far
    int opcode;     // the fragmented message's, or 0
    bool closing;   // our close frame is sent: nothing more is relayed
    bool finishing; // ws_closed is due
    Timer timer;    // the wait for the client's close frame, then ws_closed
};

typedef enum { UPWS_CONNECTING, UPWS_HANDSHAKE, UPWS_OPEN, UPWS_CLOSING } UpWsState;

struct UpWs {
    int kind;
    int fd;
    UpWsState state;
    NetWs *ws;      // NULL once detached from the client's socket
    bool readable;
    bool hangup;
    bool dead;
    char accept[29];
    Buf protocol;
    In in;
    size_t scan;
    Out out;
    Buf pending;    // frames for the engine before its 101
    Buf message;
    int opcode;
    Timer timer;    // the handshake's deadline, then the wait for the engine's close
    Link link;      // net.engines, then net.dead_engines
};

extern Link net_origins;

struct NetLoop {
    int epoll;
    int listener;
    int signals;
    int reserve_fd;  // given up to accept-and-close a connection when out of descriptors
    sigset_t old_mask;
    NetLimits limits;
    NetHandlers handlers;
    bool stopping;   // a signal came: accept nothing more, keep nothing alive
    bool final;      // the loop is over: calls fail at once
    uint64_t stop_at;
    uint64_t last_accept_warning;
    Link conns, dead_conns, upconns, dead_upconns, engines, dead_engines, orphans, free_calls;
    size_t nfree_calls;
    Conn *ready;     // connections with input to go back to
    Buf scratch;
};

extern struct NetLoop net;

bool net_watch(int fd, void *source);
int net_connect_to(const struct sockaddr_in *addr, bool *connecting);
int net_socket_error(int fd);
bool net_resolve(const char *host, int port, struct sockaddr_in *addr);

// --- client connections (net_server.c) ----------------------------------------------------

void net_exchange_free(NetExchange *x);
void net_conn_fail(Conn *c, int status, const char *code, const char *message, const char *extra_line);
void net_conn_flush(Conn *c);
void net_conn_check_backlog(Conn *c);
void net_conn_pump(Conn *c);
void net_conn_event(Conn *c, uint32_t events);
void net_conn_finish(Conn *c);
void net_conn_close(Conn *c);
void net_conn_answered(Conn *c, bool keep);
void net_accept_all(void);

// --- WebSockets (net_ws.c) ----------------------------------------------------------------

void net_ws_upgrade(Conn *c, NetExchange *x);
bool net_ws_read_frames(Conn *c);
void net_ws_close_client(NetWs *ws, int code, const char *reason);
void net_upws_close(UpWs *u);
void net_upws_event(UpWs *u, uint32_t events);

// --- calls to origins (net_client.c) ------------------------------------------------------

void net_call_fail_later(UpCall *call, const char *error);
void net_upconn_close(UpConn *u);
void net_stream_abort(NetExchange *x);
void net_upconn_event(UpConn *u, uint32_t events);

#endif
