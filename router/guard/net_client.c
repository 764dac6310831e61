// Calls to other servers (net_call, net_forward): a keep-alive pool of connections (UpConn)
// per origin, each call's answer read whole for the guard or, for net_forward, relayed to
// its client as it comes.
#include "net_internal.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static void origin_dispatch(NetOrigin *o);

// --- calls to origins ------------------------------------------------------------------------------

NetOrigin *net_origin(const char *host, int port, int max_sockets) {
    struct sockaddr_in addr;
    if (!net_resolve(host, port, &addr)) {
        net_say("%s:%d is not an IPv4 address (or localhost) and port", host, port);
        return NULL;
    }
    NetOrigin *o = net_must(calloc(1, sizeof *o));
    o->addr = addr;
    snprintf(o->authority, sizeof o->authority, "%s:%d", host, port);
    o->max_sockets = max_sockets > 0 ? max_sockets : 1;
    net_list_init(&o->idle);
    net_list_init(&o->queue);
    net_list_add(&net_origins, &o->link);
    return o;
}

static void call_timer_fired(void *context);

static UpCall *call_new(NetOrigin *origin, const char *method, const char *target, const NetHeader *headers, size_t n,
                        const char *body, size_t body_len, NetAnswer done, void *context) {
    UpCall *call;
    if (!net_list_empty(&net.free_calls)) {
        call = CONTAINER(net.free_calls.next, UpCall, queued);
        net_list_remove(&call->queued);
        net.nfree_calls--;
    } else {
        call = net_must(calloc(1, sizeof *call));
        net_list_init(&call->queued);
    }
    call->origin = origin;
    call->done = done;
    call->context = context;
    net_timer_init(&call->timer, call_timer_fired, call);
    call->head_only = strcmp(method, "HEAD") == 0;
    Buf *b = &call->request;
    buf_appends(b, method);
    buf_appendc(b, ' ');
    buf_appends(b, target);
    buf_appends(b, " HTTP/1.1\r\n");
    net_append_header(b, "Host", origin->authority);
    buf_appends(b, "Connection: keep-alive\r\n");
    for (size_t i = 0; i < n; i++) {
        if (net_request_header_allowed(&headers[i])) net_append_header(b, headers[i].name, headers[i].value);
    }
    if (body) {
        char line[48];
        buf_append(b, line, (size_t)snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len));
    }
    buf_append(b, "\r\n", 2);
    if (body) buf_append(b, body, body_len);
    if (!net_is_token(method) || !net_valid_target(target)) {
        net_call_fail_later(call, "the request's method or target is not valid");
    }
    return call;
}

static void call_free(UpCall *call) {
    net_timer_stop(&call->timer);
    net_list_remove(&call->queued);
    buf_clear(&call->extra);
    buf_clear(&call->request);
    *call = (UpCall){.request = call->request, .extra = call->extra, .queued = call->queued};
    if (net.nfree_calls < FREE_CALLS && call->request.cap <= INPUT_BUFFER && !net.final) {
        net_list_add(&net.free_calls, &call->queued);
        net.nfree_calls++;
        return;
    }
    buf_free(&call->request);
    buf_free(&call->extra);
    free(call);
}

// Ends `call`: tells the guard, then forgets it.
static void call_end(UpCall *call, const NetResponse *answer, const char *error) {
    net_timer_stop(&call->timer);
    net_list_remove(&call->queued);
    if (call->x) call->x->call = NULL;
    call->x = NULL;
    call->done(answer, error, call->context);
    call_free(call);
}

void net_call_fail_later(UpCall *call, const char *error) {
    if (error != call->error_text) snprintf(call->error_text, sizeof call->error_text, "%s", error);
    call->error = call->error_text;
    net_timer_after(&call->timer, 0);
}

bool net_timed_out(const char *error) {
    return error && strncmp(error, NET_NO_ANSWER, sizeof NET_NO_ANSWER - 1) == 0;
}

static void call_timer_fired(void *context) {
    UpCall *call = context;
    if (!call->error) snprintf(call->error_text, sizeof call->error_text, NET_NO_ANSWER " %d ms", call->timeout_ms);
    UpConn *u = call->conn;
    if (u) {  // its answer may yet come and would be read as the next call's: closed, not kept
        u->call = NULL;
        call->conn = NULL;
        net_upconn_close(u);
        origin_dispatch(u->origin);
    }
    call_end(call, NULL, call->error_text);
}

static void upconn_flush(UpConn *u);

static void upconn_send(UpConn *u, UpCall *call) {
    u->call = call;
    call->conn = u;
    u->got_bytes = u->head_done = u->streaming = false;
    u->scan = 0;
    buf_append(&u->out.buf, call->request.data, call->request.len);
    if (!u->connecting) upconn_flush(u);
}

static UpConn *upconn_open(NetOrigin *o) {
    bool connecting = false;
    int fd = net_connect_to(&o->addr, &connecting);
    if (fd < 0) return NULL;
    UpConn *u = net_must(calloc(1, sizeof *u));
    u->kind = KIND_UPCONN;
    u->fd = fd;
    u->origin = o;
    u->connecting = connecting;
    net_list_init(&u->idle);
    net_list_add(&net.upconns, &u->link);
    o->nconns++;
    if (!net_watch(fd, u)) {
        net_upconn_close(u);
        errno = EIO;
        return NULL;
    }
    return u;
}

// The connection closes; the caller has dealt with its call, and dispatches the origin's
// queue when a slot it frees may be used.
void net_upconn_close(UpConn *u) {
    if (u->dead) return;
    u->dead = true;
    close(u->fd);
    u->origin->nconns--;
    net_list_remove(&u->idle);
    net_list_remove(&u->link);
    net_list_add(&net.dead_upconns, &u->link);
}

static void call_connect_failed(UpCall *call, int error) {
    char text[160];
    snprintf(text, sizeof text, "connect to %.100s: %s", call->origin->authority, strerror(error));
    net_call_fail_later(call, text);
}

static void origin_dispatch(NetOrigin *o) {
    while (!net_list_empty(&o->queue)) {
        UpCall *call = CONTAINER(o->queue.next, UpCall, queued);
        UpConn *u = NULL;
        if (!net_list_empty(&o->idle)) {
            u = CONTAINER(o->idle.prev, UpConn, idle);
            net_list_remove(&u->idle);
            u->reused = true;
        } else if (o->nconns < o->max_sockets) {
            u = upconn_open(o);
            if (!u) {
                net_list_remove(&call->queued);
                call_connect_failed(call, errno);
                continue;
            }
            u->reused = false;
        } else {
            return;
        }
        net_list_remove(&call->queued);
        upconn_send(u, call);
    }
}

static void call_submit(UpCall *call, int timeout_ms) {
    if (call->error) return;  // refused by call_new
    if (net.final) {
        net_call_fail_later(call, SHUTTING_DOWN);
        return;
    }
    call->timeout_ms = timeout_ms;
    if (timeout_ms > 0) net_timer_after(&call->timer, timeout_ms);
    net_list_add(&call->origin->queue, &call->queued);
    origin_dispatch(call->origin);
}

void net_call(NetOrigin *origin, const char *method, const char *target, const NetHeader *headers, size_t n,
              const char *body, size_t body_len, int timeout_ms, NetAnswer done, void *context) {
    UpCall *call = call_new(origin, method, target, headers, n, body, body_len, done, context);
    call_submit(call, timeout_ms);
}

void net_forward(NetExchange *x, NetOrigin *origin, const char *method, const char *target,
                 const NetHeader *headers, size_t n, const char *body, size_t body_len,
                 const NetHeader *extra, size_t nextra, int timeout_ms, NetAnswer done, void *context) {
    UpCall *call = call_new(origin, method, target, headers, n, body, body_len, done, context);
    for (size_t i = 0; i < nextra; i++) {
        if (net_answer_header_allowed(&extra[i])) net_append_header(&call->extra, extra[i].name, extra[i].value);
    }
    call->x = x;
    x->call = call;
    call_submit(call, timeout_ms);
}

// A relayed stream was cut (its client went away, or its upstream broke off): the
// exchange is freed, the upstream connection closed, and `done` told at the next turn.
void net_stream_abort(NetExchange *x) {
    UpCall *call = x->call;
    x->call = NULL;
    call->x = NULL;
    if (x->conn) {
        x->conn->x = NULL;
        x->pending = false;
        net_conn_close(x->conn);
    }
    net_exchange_free(x);
    UpConn *u = call->conn;
    if (u) {
        u->call = NULL;
        call->conn = NULL;
        net_upconn_close(u);
        origin_dispatch(u->origin);
    }
    net_call_fail_later(call, "streamed");
}

// The upstream connection broke while `what`: a request that went out on a reused
// connection the server had closed, with nothing back yet, is sent again on a fresh one.
static void upconn_broken(UpConn *u, const char *what) {
    UpCall *call = u->call;
    bool stale = u->reused && !u->got_bytes;
    if (call) {
        u->call = NULL;
        call->conn = NULL;
    }
    net_upconn_close(u);
    if (call && call->x && call->x->streaming) {
        net_stream_abort(call->x);
    } else if (call && stale && !call->retried) {
        call->retried = true;
        UpConn *fresh = upconn_open(u->origin);
        if (fresh) upconn_send(fresh, call);
        else call_connect_failed(call, errno);
    } else if (call) {
        net_call_fail_later(call, what);
    }
    origin_dispatch(u->origin);
}

static void upconn_flush(UpConn *u) {
    if (net_out_flush(u->fd, &u->out) < 0) upconn_broken(u, "the connection failed while sending");
}

static void upconn_release(UpConn *u) {
    if (u->body.cap > IDLE_BUFFER) buf_free(&u->body);
    if (u->head.cap > IDLE_BUFFER) buf_free(&u->head);
    buf_clear(&u->body);
    net_list_add(&u->origin->idle, &u->idle);
    origin_dispatch(u->origin);
}

static bool is_json(const char *type) { return type && strcasestr(type, "json"); }

static void stream_begin(NetExchange *x, UpConn *u) {
    Conn *c = x->conn;
    bool body = u->framing != FRAMING_NONE;
    // An HTTP/1.0 client cannot take chunks: its body runs until the connection closes.
    x->keep_alive = x->keep_alive && !net.stopping && x->minor == 1;
    x->chunked_out = body && x->minor == 1;
    Buf *b = &c->out.buf;
    net_append_status(b, u->status);
    for (size_t i = 0; i < u->nheaders; i++) {
        if (net_answer_header_allowed(&u->headers[i])) net_append_header(b, u->headers[i].name, u->headers[i].value);
    }
    buf_append(b, u->call->extra.data, u->call->extra.len);
    const char *length = net_header(u->headers, u->nheaders, "content-length");
    if (x->chunked_out) buf_appends(b, "Transfer-Encoding: chunked\r\n");
    else if (x->head_only && length && net_is_field_value(length)) net_append_header(b, "Content-Length", length);
    else if (!body && u->status != 204 && u->status != 304) buf_appends(b, "Content-Length: 0\r\n");
    if (!x->keep_alive) buf_appends(b, "Connection: close\r\n");
    buf_append(b, "\r\n", 2);
    net_conn_flush(c);
}

static void stream_data(NetExchange *x, const char *data, size_t len) {
    Conn *c = x->conn;
    Buf *b = &c->out.buf;
    if (x->chunked_out) {
        char size[24];
        buf_append(b, size, (size_t)snprintf(size, sizeof size, "%zx\r\n", len));
    }
    buf_append(b, data, len);
    if (x->chunked_out) buf_append(b, "\r\n", 2);
    net_conn_flush(c);
    net_conn_check_backlog(c);
}

static void stream_end(NetExchange *x) {
    Conn *c = x->conn;
    if (x->chunked_out) buf_append(&c->out.buf, "0\r\n\r\n", 5);
    x->streaming = false;
    x->pending = false;
    net_conn_flush(c);
    net_conn_answered(c, x->keep_alive);
}

static void upconn_complete(UpConn *u) {
    UpCall *call = u->call;
    bool reusable = u->keep_alive && !net_in_pending(&u->in) && !u->hangup;
    u->call = NULL;
    call->conn = NULL;
    if (u->streaming) {
        NetExchange *x = call->x;
        x->call = NULL;
        call->x = NULL;
        stream_end(x);
        call_end(call, NULL, "streamed");
    } else {
        // The guard reads the answer in place: the connection is not reused before done returns.
        NetResponse answer = {u->status, u->headers, u->nheaders, u->body.data ? u->body.data : "", u->body.len};
        call_end(call, &answer, NULL);
    }
    if (u->dead) return;
    if (reusable) {
        upconn_release(u);
    } else {
        net_upconn_close(u);
        origin_dispatch(u->origin);
    }
}

// Takes the answer's head: -1 when it is not valid HTTP, 0 for more bytes, 1 when taken.
static int upconn_read_head(UpConn *u) {
    In *in = &u->in;
    long end = net_head_end(net_in_data(in), net_in_pending(in), &u->scan);
    if (end < 0 || (end == 0 && net_in_pending(in) > MAX_ANSWER_HEAD) || end > MAX_ANSWER_HEAD) return -1;
    if (end == 0) return 0;
    buf_clear(&u->head);
    buf_append(&u->head, net_in_data(in), (size_t)end);
    net_in_consume(in, (size_t)end);
    u->scan = 0;
    char *line;
    size_t line_len;
    HeadCheck check = net_split_head(u->head.data, u->head.len, &line, &line_len, u->headers, MAX_ANSWER_HEADERS,
                                     &u->nheaders);
    if (check != HEAD_OK) return -1;
    bool shaped = line_len >= 12 && memcmp(line, "HTTP/1.", 7) == 0 && (line[7] == '0' || line[7] == '1') &&
                  line[8] == ' ' && line[9] >= '1' && line[9] <= '9' && line[10] >= '0' && line[10] <= '9' &&
                  line[11] >= '0' && line[11] <= '9' && (line_len == 12 || line[12] == ' ');
    if (!shaped) return -1;
    u->minor = line[7] - '0';
    u->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    return 1;
}

// The answer's framing (RFC 9112 section 6.3); false when it cannot be read.
static bool upconn_begin_body(UpConn *u) {
    const char *coding = net_header(u->headers, u->nheaders, "transfer-encoding");
    const char *length = net_header(u->headers, u->nheaders, "content-length");
    u->body_left = 0;
    if (u->call->head_only || u->status == 204 || u->status == 304) {
        u->framing = FRAMING_NONE;
    } else if (coding) {
        u->framing = net_has_token(coding, "chunked") ? FRAMING_CHUNKED : FRAMING_CLOSE;
    } else if (length) {
        if (!net_parse_length(length, &u->body_left)) return false;
        u->framing = u->body_left ? FRAMING_LENGTH : FRAMING_NONE;
    } else {
        u->framing = FRAMING_CLOSE;
    }
    bool close = net_header_has_token(u->headers, u->nheaders, "connection", "close");
    bool keep = net_header_has_token(u->headers, u->nheaders, "connection", "keep-alive");
    u->keep_alive = u->framing != FRAMING_CLOSE && (u->minor == 1 ? !close : keep && !close);
    NetExchange *x = u->call->x;
    u->streaming = x && !is_json(net_header(u->headers, u->nheaders, "content-type"));
    u->chunks = (Chunked){.max_total = u->streaming ? SIZE_MAX : MAX_ANSWER_BODY, .max_trailer = MAX_ANSWER_HEAD};
    if (!u->streaming && u->framing == FRAMING_LENGTH && u->body_left > MAX_ANSWER_BODY) return false;
    u->head_done = true;
    if (u->streaming) {
        // The timeout bounded the wait for the stream to begin: a subscription then runs for
        // as long as either side keeps it open. (While a call is on a connection its timer
        // holds no failure to report.)
        net_timer_stop(&u->call->timer);
        x->streaming = true;
        if (!x->conn) net_stream_abort(x);
        else stream_begin(x, u);
    }
    return true;
}

// A piece of the answer's body: relayed, or kept for the guard. False when over the bound.
static bool upconn_body_data(UpConn *u, const char *data, size_t len) {
    if (!len) return true;
    if (u->streaming) {
        stream_data(u->call->x, data, len);
        return true;
    }
    if (len > MAX_ANSWER_BODY - u->body.len) return false;
    buf_append(&u->body, data, len);
    return true;
}

// Reads the answer's head, past any 1xx: false when more bytes are needed or it broke.
static bool upconn_take_head(UpConn *u) {
    for (;;) {
        int r = upconn_read_head(u);
        if (r == 0) return false;
        if (r < 0 || u->status == 101) {
            net_say("the answer from %s is not valid HTTP", u->origin->authority);
            upconn_broken(u, "the answer is not valid HTTP");
            return false;
        }
        if (u->status >= 200) break;  // 1xx: the answer follows
    }
    if (upconn_begin_body(u)) return true;
    upconn_broken(u, "the answer's length is not valid or too large");
    return false;
}

// Takes one step of a chunked body: whether there may be more to take now.
static bool upconn_take_chunks(UpConn *u) {
    In *in = &u->in;
    size_t used, at = 0, n = 0;
    ChunkStep step = net_chunk_step(&u->chunks, net_in_data(in), net_in_pending(in), &used, &at, &n);
    bool kept = step != CHUNK_GOT_DATA || upconn_body_data(u, net_in_data(in) + at, n);
    if (u->dead || !u->call) return false;
    net_in_consume(in, used);
    if (!kept || step == CHUNK_BAD || step == CHUNK_TOO_BIG) {
        upconn_broken(u, step == CHUNK_BAD ? "the answer's chunks are not valid" : "the answer is too large");
        return false;
    }
    if (step == CHUNK_END) upconn_complete(u);
    return step == CHUNK_GOT_DATA;
}

// Takes the bytes of a body framed by its length or by the connection's end.
static bool upconn_take_bytes(UpConn *u) {
    In *in = &u->in;
    size_t take = u->framing == FRAMING_LENGTH ? net_min_size(net_in_pending(in), u->body_left) : net_in_pending(in);
    if (!take) return false;
    bool kept = upconn_body_data(u, net_in_data(in), take);
    if (u->dead || !u->call) return false;
    net_in_consume(in, take);
    if (!kept) {
        upconn_broken(u, "the answer is too large");
        return false;
    }
    if (u->framing == FRAMING_LENGTH && !(u->body_left -= take)) {
        upconn_complete(u);
        return false;
    }
    return true;
}

static void upconn_process(UpConn *u) {
    bool more = true;
    while (more && !u->dead && u->call) {
        if (!u->head_done) {
            more = upconn_take_head(u);
        } else if (u->framing == FRAMING_NONE) {
            upconn_complete(u);
            more = false;
        } else {
            more = u->framing == FRAMING_CHUNKED ? upconn_take_chunks(u) : upconn_take_bytes(u);
        }
    }
}

static void upconn_on_eof(UpConn *u) {
    if (!u->call) {  // an idle connection the server closed
        net_upconn_close(u);
        origin_dispatch(u->origin);
    } else if (u->head_done && u->framing == FRAMING_CLOSE) {
        u->keep_alive = false;
        upconn_complete(u);
    } else {
        upconn_broken(u, "the connection closed before the whole answer");
    }
}

// Its connect has finished: false when it failed (and the call with it).
static bool upconn_connected(UpConn *u) {
    int error = net_socket_error(u->fd);
    if (!error) {
        u->connecting = false;
        return true;
    }
    UpCall *call = u->call;
    u->call = NULL;
    if (call) call->conn = NULL;
    net_upconn_close(u);
    if (call) call_connect_failed(call, error);
    origin_dispatch(u->origin);
    return false;
}

static void upconn_pump(UpConn *u) {
    while (!u->dead && u->readable) {
        size_t limit = (u->head_done ? 0 : MAX_ANSWER_HEAD) + 4 * READ_SIZE;
        size_t have = net_in_pending(&u->in);
        if (have >= limit) break;
        size_t want = net_min_size(limit - have, READ_SIZE);
        ssize_t n = net_in_read(u->fd, &u->in, want);
        if (n > 0) {
            if ((size_t)n < want && !u->hangup) u->readable = false;
            if (!u->call) {  // nothing was asked: a server that talks out of turn is not reused
                net_upconn_close(u);
                origin_dispatch(u->origin);
                return;
            }
            u->got_bytes = true;
            upconn_process(u);
        } else if (n == 0) {
            upconn_on_eof(u);
        } else if (n == READ_AGAIN) {
            u->readable = false;
        } else {
            upconn_broken(u, "the connection was reset");
        }
    }
}

void net_upconn_event(UpConn *u, uint32_t events) {
    if (u->dead) return;
    if (u->connecting && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (u->connecting && !upconn_connected(u)) return;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->hangup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->readable = true;
    if (events & EPOLLOUT) upconn_flush(u);
    upconn_pump(u);
}
