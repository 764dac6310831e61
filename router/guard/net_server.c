// The HTTP/1.1 server: client connections (Conn) that read requests by RFC 9112 with hard
// bounds, hand whole ones to the guard as exchanges and write its answers, kept alive or
// closed; and the listener's accepting.
#include "net_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

// --- exchanges -----------------------------------------------------------------------------

static NetExchange *exchange_new(Conn *c) {
    NetExchange *x = net_must(calloc(1, sizeof *x));
    x->conn = c;
    net_list_init(&x->orphan);
    return x;
}

void net_exchange_free(NetExchange *x) {
    net_list_remove(&x->orphan);
    buf_free(&x->head);
    buf_free(&x->parts);
    buf_free(&x->body);
    free(x);
}

static void exchange_reset(NetExchange *x, const Conn *c) {
    buf_clear(&x->head);
    buf_clear(&x->parts);
    buf_clear(&x->body);
    x->pending = x->streaming = x->chunked_out = x->head_only = false;
    x->keep_alive = x->expect_continue = x->upgrade = false;
    x->call = NULL;
    memcpy(x->peer, c->peer, sizeof x->peer);
    x->request = (NetRequest){.headers = x->headers, .query = "", .body = "", .peer = x->peer};
}

const NetRequest *net_request(const NetExchange *x) { return &x->request; }

// The request line: 0, or the status to refuse it with.
static int parse_request_line(NetExchange *x, char *line, size_t len) {
    size_t i = 0;
    while (i < len && net_is_tchar((unsigned char)line[i])) i++;
    if (i == 0 || i == len || line[i] != ' ') return 400;
    line[i++] = 0;
    size_t target = i;
    while (i < len && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7F) i++;
    if (i == target || i == len || line[i] != ' ') return 400;
    line[i++] = 0;
    const char *v = line + i;
    bool shaped = len - i == 8 && memcmp(v, "HTTP/", 5) == 0 && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
                  v[7] >= '0' && v[7] <= '9';
    if (!shaped) return 400;
    if (v[5] != '1' || v[7] > '1') return 505;
    x->minor = v[7] - '0';
    x->request.method = line;
    x->request.target = line + target;
    bool asterisk = strcmp(line + target, "*") == 0 && strcmp(line, "OPTIONS") == 0;
    return line[target] == '/' || asterisk ? 0 : 400;
}

static void split_target(NetExchange *x) {
    const char *target = x->request.target;
    const char *q = strchr(target, '?');
    size_t path_len = q ? (size_t)(q - target) : strlen(target);
    buf_append(&x->parts, target, path_len);
    buf_appendc(&x->parts, 0);
    size_t query_at = x->parts.len;
    buf_appends(&x->parts, q ? q + 1 : "");
    x->request.path = x->parts.data;
    x->request.query = x->parts.data + query_at;
}

static int parse_request(NetExchange *x) {
    char *line;
    size_t line_len, n;
    HeadCheck check = net_split_head(x->head.data, x->head.len, &line, &line_len, x->headers, MAX_HEADERS, &n);
    int status = parse_request_line(x, line, line_len);
    if (status) return status;
    if (check != HEAD_OK) return check == HEAD_TOO_MANY ? 431 : 400;
    x->request.nheaders = n;
    x->head_only = strcmp(x->request.method, "HEAD") == 0;
    split_target(x);
    return 0;
}

// The request's framing and connection handling (RFC 9112 sections 6 and 9): 0, or the
// status to refuse it with.
static int conn_framing(Conn *c, NetExchange *x) {
    const char *length = NULL;
    int hosts = 0, codings = 0;
    bool unknown_coding = false, close = false, keep = false, upgrade = false, expect = false;
    for (size_t i = 0; i < x->request.nheaders; i++) {
        const char *name = x->headers[i].name, *value = x->headers[i].value;
        if (net_name_is(name, "content-length")) {
            if (length && strcmp(length, value) != 0) return 400;
            length = value;
        } else if (net_name_is(name, "transfer-encoding")) {
            codings++;
            unknown_coding |= strcasecmp(value, "chunked") != 0;
        } else if (net_name_is(name, "connection")) {
            close |= net_has_token(value, "close");
            keep |= net_has_token(value, "keep-alive");
            upgrade |= net_has_token(value, "upgrade");
        } else if (net_name_is(name, "host")) {
            hosts++;
        } else if (net_name_is(name, "expect")) {
            expect = strcasecmp(value, "100-continue") == 0;
        }
    }
    if (hosts > 1 || (x->minor == 1 && hosts == 0)) return 400;
    if (codings && (length || x->minor == 0)) return 400;
    if (unknown_coding) return 501;
    if (codings > 1) return 400;
    c->chunked = codings == 1;
    c->body_left = 0;
    if (length && !net_parse_length(length, &c->body_left)) return 400;
    if (c->body_left > net.limits.max_body_bytes) return 413;
    c->chunks = (Chunked){.max_total = net.limits.max_body_bytes, .max_trailer = net.limits.max_header_bytes};
    x->keep_alive = x->minor == 1 ? !close : keep && !close;
    x->expect_continue = expect && x->minor == 1;
    const char *up = net_header(x->headers, x->request.nheaders, "upgrade");
    x->upgrade = upgrade && up && net_has_token(up, "websocket");
    return 0;
}

// --- client connections: writing ---------------------------------------------------------------

// Sends what c->out holds then `body`: one writev when nothing else was waiting.
static void conn_send_body(Conn *c, bool direct, const char *body, size_t len) {
    Out *o = &c->out;
    if (!direct || !len) {
        if (len) buf_append(&o->buf, body, len);
        net_conn_flush(c);
        return;
    }
    struct iovec iov[2] = {{o->buf.data, o->buf.len}, {(void *)body, len}};
    ssize_t n;
    do n = writev(c->fd, iov, 2);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        net_conn_close(c);
        return;
    }
    size_t sent = n < 0 ? 0 : (size_t)n, head = o->buf.len;
    if (sent < head) {
        o->off = sent;
        buf_append(&o->buf, body, len);
        return;
    }
    net_out_reset(o);
    if (sent - head < len) buf_append(&o->buf, body + (sent - head), len - (sent - head));
}

static void conn_write_answer(Conn *c, int status, const NetHeader *headers, size_t n, const char *body, size_t len,
                              bool head_only, bool keep, int minor, const char *extra_line) {
    bool direct = net_out_pending(&c->out) == 0;
    if (direct) net_out_reset(&c->out);  // so that c->out holds nothing but this head
    Buf *b = &c->out.buf;
    net_append_status(b, status);
    for (size_t i = 0; i < n; i++) {
        if (net_answer_header_allowed(&headers[i])) net_append_header(b, headers[i].name, headers[i].value);
    }
    if (extra_line) {
        buf_appends(b, extra_line);
        buf_append(b, "\r\n", 2);
    }
    bool bodiless = status < 200 || status == 204 || status == 304;
    if (!bodiless) {
        char line[48];
        buf_append(b, line, (size_t)snprintf(line, sizeof line, "Content-Length: %zu\r\n", len));
    }
    if (!keep) buf_appends(b, "Connection: close\r\n");
    else if (minor == 0) buf_appends(b, "Connection: keep-alive\r\n");
    buf_append(b, "\r\n", 2);
    conn_send_body(c, direct, body, head_only || bodiless ? 0 : len);
}

// Answers with net's own JSON error and closes the connection.
void net_conn_fail(Conn *c, int status, const char *code, const char *message, const char *extra_line) {
    Buf *body = &net.scratch;
    buf_clear(body);
    net_append_error_json(body, message, code);
    NetHeader type = {"Content-Type", "application/json; charset=utf-8"};
    conn_write_answer(c, status, &type, 1, body->data, body->len, false, false, 1, extra_line);
    net_conn_finish(c);
}

static void conn_refuse(Conn *c, int status) {
    char message[160];
    switch (status) {
    case 408:
        net_conn_fail(c, 408, "REQUEST_TIMEOUT", "The request did not arrive in time.", NULL);
        break;
    case 413:
        snprintf(message, sizeof message, "The request body is over %zu bytes.", net.limits.max_body_bytes);
        net_conn_fail(c, 413, "PAYLOAD_TOO_LARGE", message, NULL);
        break;
    case 431: {
        size_t max = net.limits.max_header_bytes;
        if (max % 1024 == 0) snprintf(message, sizeof message, "The request headers are over %zu KiB.", max / 1024);
        else snprintf(message, sizeof message, "The request headers are over %zu bytes.", max);
        net_conn_fail(c, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", message, NULL);
        break;
    }
    case 501:
        net_conn_fail(c, 501, "NOT_IMPLEMENTED", "Only the chunked transfer coding is supported.", NULL);
        break;
    case 505:
        net_conn_fail(c, 505, "HTTP_VERSION_NOT_SUPPORTED", "Only HTTP/1.0 and HTTP/1.1 are served.", NULL);
        break;
    default:
        net_conn_fail(c, 400, "BAD_REQUEST", "The request is not valid HTTP.", NULL);
        break;
    }
}

static void conn_make_ready(Conn *c) {
    if (c->ready || c->dead) return;
    c->ready = true;
    c->next_ready = net.ready;
    net.ready = c;
}

static void conn_shut(Conn *c) {
    shutdown(c->fd, SHUT_WR);
    c->shut = true;
    if (c->eof) net_conn_close(c);
    else net_timer_after(&c->timer, LINGER_MS);
}

void net_conn_flush(Conn *c) {
    if (c->dead) return;
    int r = net_out_flush(c->fd, &c->out);
    if (r < 0) {
        net_conn_close(c);
    } else if (r > 0 && c->state == CONN_CLOSING && !c->shut) {
        conn_shut(c);
    } else if (r > 0 && c->state == CONN_IDLE && (net_in_pending(&c->in) || c->readable)) {
        conn_make_ready(c);  // a pipelined request waited for this answer to be sent
    }
}

// Closes a client that lets its output pile up (a stream or a WebSocket it does not read).
void net_conn_check_backlog(Conn *c) {
    if (c->dead || net_out_pending(&c->out) <= MAX_OUTPUT) return;
    net_say("a client at %s reads too slowly: closing its connection", c->peer);
    net_conn_close(c);
}

// --- client connections: the request's life -----------------------------------------------------

static uint64_t head_deadline(const Conn *c) {
    int ms = net.limits.header_timeout_ms < net.limits.request_timeout_ms ? net.limits.header_timeout_ms
                                                                          : net.limits.request_timeout_ms;
    return c->started + (uint64_t)(ms > 0 ? ms : 0);
}

static void conn_timer_fired(void *context) {
    Conn *c = context;
    switch (c->state) {
    case CONN_IDLE:
        if (c->fresh) conn_refuse(c, 408);
        else net_conn_close(c);  // an idle kept-alive connection: just closed
        break;
    case CONN_HEAD:
    case CONN_BODY:
        conn_refuse(c, 408);
        break;
    default:
        net_conn_close(c);
        break;
    }
}

static void conn_new(int fd, const struct sockaddr_in *peer) {
    Conn *c = net_must(calloc(1, sizeof *c));
    c->kind = KIND_CONN;
    c->fd = fd;
    c->state = CONN_IDLE;
    c->fresh = true;
    inet_ntop(AF_INET, &peer->sin_addr, c->peer, sizeof c->peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    net_timer_init(&c->timer, conn_timer_fired, c);
    net_list_add(&net.conns, &c->link);
    c->started = net_now_ms();
    net_timer_start(&c->timer, head_deadline(c));
    if (!net_watch(fd, c)) net_conn_close(c);
}

static void conn_dispatch(Conn *c) {
    NetExchange *x = c->x;
    x->request.body = x->body.data ? x->body.data : "";
    x->request.body_len = x->body.len;
    c->state = CONN_HANDLER;
    x->pending = true;
    net_timer_stop(&c->timer);
    net.handlers.request(x, &x->request);
}

static void conn_take_head(Conn *c, size_t len) {
    if (!c->x) c->x = exchange_new(c);
    NetExchange *x = c->x;
    exchange_reset(x, c);
    buf_append(&x->head, net_in_data(&c->in), len);
    net_in_consume(&c->in, len);
    c->scan = 0;
    int refusal = parse_request(x);
    if (!refusal) refusal = conn_framing(c, x);
    if (refusal) {
        conn_refuse(c, refusal);
        return;
    }
    if (x->upgrade) {
        net_ws_upgrade(c, x);
        return;
    }
    if (!c->chunked && !c->body_left) {
        conn_dispatch(c);
        return;
    }
    if (x->expect_continue && !net_in_pending(&c->in)) {
        buf_appends(&c->out.buf, "HTTP/1.1 100 Continue\r\n\r\n");
        net_conn_flush(c);
        if (c->dead) return;
    }
    c->state = CONN_BODY;
    int ms = net.limits.request_timeout_ms;
    net_timer_start(&c->timer, c->started + (uint64_t)(ms > 0 ? ms : 0));
}

// Whether the state changed: the head was taken (or refused); false while it is partial.
static bool conn_read_head(Conn *c) {
    In *in = &c->in;
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    while (c->scan == 0 && net_in_pending(in) >= 2 && net_in_data(in)[0] == '\r' && net_in_data(in)[1] == '\n') net_in_consume(in, 2);
    size_t len = net_in_pending(in);
    long end = net_head_end(net_in_data(in), len, &c->scan);
    size_t max = net.limits.max_header_bytes;
    if (end < 0) {
        conn_refuse(c, 400);
    } else if (end == 0) {
        if (len <= max) return false;
        conn_refuse(c, 431);
    } else if ((size_t)end > max) {
        conn_refuse(c, 431);
    } else {
        conn_take_head(c, (size_t)end);
    }
    return true;
}

static bool conn_read_body(Conn *c) {
    NetExchange *x = c->x;
    In *in = &c->in;
    if (!c->chunked) {
        size_t take = net_min_size(net_in_pending(in), c->body_left);
        buf_append(&x->body, net_in_data(in), take);
        net_in_consume(in, take);
        c->body_left -= take;
        if (c->body_left) return false;
        conn_dispatch(c);
        return true;
    }
    for (;;) {
        size_t used, at = 0, n = 0;
        ChunkStep step = net_chunk_step(&c->chunks, net_in_data(in), net_in_pending(in), &used, &at, &n);
        if (step == CHUNK_GOT_DATA) buf_append(&x->body, net_in_data(in) + at, n);
        net_in_consume(in, used);
        switch (step) {
        case CHUNK_GOT_DATA:
            continue;
        case CHUNK_MORE:
            return false;
        case CHUNK_END:
            conn_dispatch(c);
            return true;
        case CHUNK_TOO_BIG:
            conn_refuse(c, 413);
            return true;
        case CHUNK_BAD:
            conn_refuse(c, 400);
            return true;
        }
    }
}

// The first bytes of the next request: its head is timed from now.
static bool conn_start_request(Conn *c) {
    if (!net_in_pending(&c->in) || net_out_pending(&c->out)) return false;
    c->state = CONN_HEAD;
    c->scan = 0;
    if (!c->fresh) {
        c->started = net_now_ms();
        net_timer_start(&c->timer, head_deadline(c));
    }
    return true;
}

static void conn_process(Conn *c) {
    bool progress = true;
    while (progress && !c->dead) {
        switch (c->state) {
        case CONN_IDLE:
            progress = conn_start_request(c);
            break;
        case CONN_HEAD:
            progress = conn_read_head(c);
            break;
        case CONN_BODY:
            progress = conn_read_body(c);
            break;
        case CONN_WS:
            progress = net_ws_read_frames(c);
            break;
        default:
            progress = false;  // the guard holds the request; a closing connection discards
            break;
        }
    }
}

// How much more input the connection may hold in its state.
static size_t conn_read_budget(const Conn *c) {
    size_t limit = c->state == CONN_WS ? net.limits.max_ws_message + 14 + READ_SIZE
                                       : net.limits.max_header_bytes + PENDING_INPUT;
    size_t have = net_in_pending(&c->in);
    return c->state == CONN_CLOSING ? READ_SIZE : have >= limit ? 0 : net_min_size(limit - have, READ_SIZE);
}

// Reads what the socket holds and the state allows; whether anything came.
static bool conn_fill(Conn *c) {
    bool got = false;
    while (c->readable && !c->eof && !c->dead) {
        size_t want = conn_read_budget(c);
        if (!want) break;
        ssize_t n = net_in_read(c->fd, &c->in, want);
        if (n > 0) {
            got = true;
            // A short read emptied the socket; a later byte raises a new edge.
            if ((size_t)n < want && !c->hangup) c->readable = false;
            if (c->state != CONN_CLOSING) continue;
            c->discarded += (size_t)n;
            net_in_consume(&c->in, net_in_pending(&c->in));
            if (c->discarded > LINGER_DISCARD) net_conn_close(c);
        } else if (n == 0) {
            c->eof = true;
            c->readable = false;
        } else if (n == READ_AGAIN) {
            c->readable = false;
        } else {
            net_conn_close(c);
        }
    }
    return got;
}

static void conn_on_eof(Conn *c) {
    switch (c->state) {
    case CONN_CLOSING:
        if (c->shut) net_conn_close(c);  // else conn_shut closes it once the answer is out
        break;
    case CONN_IDLE:
        if (net_out_pending(&c->out)) net_conn_finish(c);
        else net_conn_close(c);
        break;
    default:
        net_conn_close(c);  // a request cut short, a client gone from its answer, a WebSocket dropped
        break;
    }
}

void net_conn_pump(Conn *c) {
    for (int round = 0; round < PUMP_ROUNDS; round++) {
        bool got = conn_fill(c);
        conn_process(c);
        if (c->dead) return;
        if (c->eof) {
            conn_on_eof(c);
            return;
        }
        if (!got) return;
    }
    conn_make_ready(c);  // a client that keeps sending goes on at the next turn
}

void net_conn_event(Conn *c, uint32_t events) {
    if (c->dead) return;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->hangup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
    if (events & EPOLLOUT) net_conn_flush(c);
    if (!c->dead && c->readable) net_conn_pump(c);
    // Like Node's server: a client that shuts its side has given up on its answer.
    if (!c->dead && c->hangup && c->state == CONN_HANDLER) net_conn_close(c);
}

// The connection will take no more requests: what is written goes out, then it closes.
void net_conn_finish(Conn *c) {
    if (c->dead || c->state == CONN_CLOSING) return;
    if (c->ws) {
        NetWs *ws = c->ws;
        c->ws = NULL;
        ws->conn = NULL;
        ws->finishing = true;
        net_timer_after(&ws->timer, 0);
    }
    c->state = CONN_CLOSING;
    net_in_consume(&c->in, net_in_pending(&c->in));
    net_timer_after(&c->timer, net.limits.keepalive_timeout_ms);  // a bound on sending what is left
    net_conn_flush(c);
}

void net_conn_close(Conn *c) {
    if (c->dead) return;
    c->dead = true;
    close(c->fd);
    net_timer_stop(&c->timer);
    if (c->ws) {
        NetWs *ws = c->ws;
        c->ws = NULL;
        ws->conn = NULL;
        ws->finishing = true;
        net_timer_after(&ws->timer, 0);
    }
    NetExchange *x = c->x;
    if (x && x->pending) {
        // The guard still holds the exchange: it stays valid until net_respond frees it.
        c->x = NULL;
        x->conn = NULL;
        net_list_add(&net.orphans, &x->orphan);
        if (x->streaming) net_stream_abort(x);
    }
    net_list_remove(&c->link);
    net_list_add(&net.dead_conns, &c->link);
}

// Gives back what an exchange's buffers grew to beyond what a small request needs.
static void exchange_trim(NetExchange *x) {
    Buf *bufs[] = {&x->head, &x->parts, &x->body};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (bufs[i]->cap > IDLE_BUFFER) buf_free(bufs[i]);
    }
}

void net_conn_answered(Conn *c, bool keep) {
    if (c->dead) return;
    if (c->x) exchange_trim(c->x);
    if (!keep) {
        net_conn_finish(c);
        return;
    }
    c->state = CONN_IDLE;
    c->fresh = false;
    net_timer_after(&c->timer, net.limits.keepalive_timeout_ms);
    if (net_in_pending(&c->in) || c->readable) conn_make_ready(c);
}

void net_respond(NetExchange *x, int status, const NetHeader *headers, size_t n, const char *body, size_t len) {
    if (x->call) {  // answered before its forward came back: that call goes on alone
        x->call->x = NULL;
        x->call = NULL;
    }
    Conn *c = x->conn;
    if (!c) {
        net_exchange_free(x);
        return;
    }
    x->pending = false;
    bool keep = x->keep_alive && !net.stopping;
    conn_write_answer(c, status, headers, n, body, len, x->head_only, keep, x->minor, NULL);
    net_conn_answered(c, keep);
}

// --- accepting -------------------------------------------------------------------------------

// Out of descriptors: accept one pending connection with the reserve descriptor and close
// it, so that the listener does not stay readable with nobody able to take it.
static void shed_connection(void) {
    uint64_t now = net_now_ms();
    if (now - net.last_accept_warning > 1000) {
        net_say("accept: %s (connections are refused)", strerror(errno));
        net.last_accept_warning = now;
    }
    if (net.reserve_fd >= 0) close(net.reserve_fd);
    int fd = accept(net.listener, NULL, NULL);
    if (fd >= 0) close(fd);
    net.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

void net_accept_all(void) {
    while (net.listener >= 0) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        int fd = accept4(net.listener, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            conn_new(fd, &peer);
        } else if (errno == EMFILE || errno == ENFILE) {
            shed_connection();
            if (net.reserve_fd < 0) return;
        } else if (errno != EINTR && errno != ECONNABORTED) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) net_say("accept: %s", strerror(errno));
            return;
        }
    }
}
