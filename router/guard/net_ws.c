// WebSockets: a client's (NetWs, on its upgraded connection) and the one net opens to the
// engine on its behalf (UpWs), with every message relayed from one to the other.
#include "net_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "utf8.h"
#include "ws_frame.h"

static const char UNREACHABLE[] = "The federation engine is unreachable";

static void upws_shutdown(UpWs *u);

// --- WebSockets: the client's side ---------------------------------------------------------------

static bool close_code_valid(int code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

// Codes that mean "no code" or "dropped" cannot be sent in a close frame.
static int sendable_code(int code) { return close_code_valid(code) ? code : 1011; }

// A Sec-WebSocket-Key: 16 bytes in base64, so 22 characters and "==".
static bool valid_key(const char *key) {
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0) return false;
    for (int i = 0; i < 22; i++) {
        char c = key[i];
        bool base64 = ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
        if (!base64) return false;
    }
    return true;
}

static void ws_timer_fired(void *context);

// The client's opening handshake (RFC 6455 section 4.2.1): false when it was refused.
static bool ws_handshake_sound(Conn *c, const NetExchange *x) {
    const NetRequest *r = &x->request;
    const char *version = net_header(r->headers, r->nheaders, "sec-websocket-version");
    const char *key = net_header(r->headers, r->nheaders, "sec-websocket-key");
    bool shaped = strcmp(r->method, "GET") == 0 && x->minor == 1 && !c->chunked && !c->body_left;
    if (shaped && (!version || strcmp(version, "13") != 0)) {
        net_conn_fail(c, 426, "UPGRADE_REQUIRED", "Only WebSocket version 13 is served.", "Sec-WebSocket-Version: 13");
        return false;
    }
    if (!shaped || !valid_key(key)) {
        net_conn_fail(c, 400, "BAD_REQUEST", "The WebSocket handshake is not valid.", NULL);
        return false;
    }
    return true;
}

void net_ws_upgrade(Conn *c, NetExchange *x) {
    const NetRequest *r = &x->request;
    if (!ws_handshake_sound(c, x)) return;
    const char *key = net_header(r->headers, r->nheaders, "sec-websocket-key");
    const char *protocol = net.handlers.upgrade ? net.handlers.upgrade(r) : NULL;
    if (!protocol || (*protocol && !net_is_token(protocol))) {
        char message[160];
        snprintf(message, sizeof message, "No WebSocket is served at %.100s.", r->path);
        net_conn_fail(c, 404, "NOT_FOUND", message, NULL);
        return;
    }
    char accept[29];
    ws_accept_key(key, 24, accept);
    Buf *b = &c->out.buf;
    buf_appends(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    net_append_header(b, "Sec-WebSocket-Accept", accept);
    if (*protocol) net_append_header(b, "Sec-WebSocket-Protocol", protocol);
    buf_append(b, "\r\n", 2);
    NetWs *ws = net_must(calloc(1, sizeof *ws));
    ws->conn = c;
    net_timer_init(&ws->timer, ws_timer_fired, ws);
    c->ws = ws;
    c->state = CONN_WS;
    net_timer_stop(&c->timer);
    net_conn_flush(c);
    if (net.handlers.ws_open) net.handlers.ws_open(ws, r);
}

static void ws_write(Conn *c, int opcode, const void *data, size_t len) {
    ws_write_frame(&c->out.buf, opcode, data, len, false);
    net_conn_flush(c);
    net_conn_check_backlog(c);
}

// A client's protocol error: our close frame, then the connection ends without waiting.
static void ws_abort(NetWs *ws, int code, const char *reason) {
    Conn *c = ws->conn;
    if (!ws->closing) ws_write_close(&c->out.buf, code, reason, false);
    ws->closing = true;
    net_conn_finish(c);
}

static void ws_deliver(NetWs *ws, const char *data, size_t len, bool binary) {
    if (!binary && !utf8_valid((const uint8_t *)data, len)) {
        ws_abort(ws, 1007, "Invalid UTF-8 in a text message");
        return;
    }
    if (net.handlers.ws_message) net.handlers.ws_message(ws, data, len, binary);
}

static void ws_on_close_frame(NetWs *ws, const WsFrame *f) {
    Conn *c = ws->conn;
    if (ws->closing) {  // the client's answer to our close frame
        net_conn_finish(c);
        return;
    }
    int code = f->len >= 2 ? f->payload[0] << 8 | f->payload[1] : 0;
    if (f->len == 1 || (f->len >= 2 && !close_code_valid(code))) {
        ws_abort(ws, 1002, "Invalid close frame");
    } else if (f->len > 2 && !utf8_valid(f->payload + 2, f->len - 2)) {
        ws_abort(ws, 1007, "Invalid UTF-8 in the close reason");
    } else {
        ws->closing = true;
        ws_write_frame(&c->out.buf, WS_CLOSE, f->payload, f->len, false);  // echoed, as `ws` does
        net_conn_finish(c);
    }
}

static void ws_on_frame(NetWs *ws, const WsFrame *f) {
    size_t max = net.limits.max_ws_message;
    if (f->opcode == WS_CLOSE) {
        ws_on_close_frame(ws, f);
    } else if (ws->closing || f->opcode == WS_PONG) {
        return;  // after our close frame nothing more is relayed
    } else if (f->opcode == WS_PING) {
        ws_write(ws->conn, WS_PONG, f->payload, f->len);
    } else if (f->opcode == WS_CONTINUATION) {
        if (!ws->opcode) {
            ws_abort(ws, 1002, "A continuation frame without a message");
        } else if (f->len > max - ws->message.len) {
            ws_abort(ws, 1009, "Message too big");
        } else {
            buf_append(&ws->message, f->payload, f->len);
            if (!f->fin) return;
            bool binary = ws->opcode == WS_BINARY;
            ws->opcode = 0;
            ws_deliver(ws, ws->message.data ? ws->message.data : "", ws->message.len, binary);
            if (ws->message.cap > IDLE_BUFFER) buf_free(&ws->message);
            buf_clear(&ws->message);
        }
    } else if (ws->opcode) {
        ws_abort(ws, 1002, "A new message inside a fragmented one");
    } else if (f->fin) {
        ws_deliver(ws, (const char *)f->payload, f->len, f->opcode == WS_BINARY);
    } else {
        buf_clear(&ws->message);
        buf_append(&ws->message, f->payload, f->len);
        ws->opcode = f->opcode;
    }
}

bool net_ws_read_frames(Conn *c) {
    NetWs *ws = c->ws;
    In *in = &c->in;
    if (!net_in_pending(in)) return false;
    WsFrame f;
    size_t used = 0;
    const char *reason;
    size_t max = net.limits.max_ws_message;
    WsParse r = ws_parse_frame((uint8_t *)net_in_data(in), net_in_pending(in), true, max, &f, &used, &reason);
    if (r == WS_PARSE_MORE) return false;
    if (r == WS_PARSE_ERROR) {
        ws_abort(ws, 1002, reason);
    } else if (r == WS_PARSE_TOO_BIG) {
        ws_abort(ws, 1009, "Message too big");
    } else {
        ws_on_frame(ws, &f);
        net_in_consume(in, used);
    }
    return true;
}

void net_ws_close_client(NetWs *ws, int code, const char *reason) {
    Conn *c = ws->conn;
    if (!c || ws->closing) return;
    ws->closing = true;
    ws_write_close(&c->out.buf, sendable_code(code), reason, false);
    net_conn_flush(c);
    if (!c->dead) net_timer_after(&ws->timer, WS_CLOSE_WAIT_MS);
    if (ws->up) upws_shutdown(ws->up);
}

static void ws_timer_fired(void *context) {
    NetWs *ws = context;
    if (!ws->finishing) {  // the client never answered our close frame
        net_conn_close(ws->conn);
        return;
    }
    if (ws->up) upws_shutdown(ws->up);
    if (net.handlers.ws_closed) net.handlers.ws_closed(ws);
    buf_free(&ws->message);
    free(ws);
}

void net_ws_send(NetWs *ws, const char *data, size_t len, bool binary) {
    if (ws->conn && !ws->closing) ws_write(ws->conn, binary ? WS_BINARY : WS_TEXT, data, len);
}

void net_ws_close(NetWs *ws, int code, const char *reason) { net_ws_close_client(ws, code, reason); }

void net_ws_set_data(NetWs *ws, void *data) { ws->data = data; }
void *net_ws_data(const NetWs *ws) { return ws->data; }

// --- WebSockets: the engine's side ---------------------------------------------------------------

void net_upws_close(UpWs *u) {
    if (u->dead) return;
    u->dead = true;
    close(u->fd);
    net_timer_stop(&u->timer);
    if (u->ws) u->ws->up = NULL;
    u->ws = NULL;
    net_list_remove(&u->link);
    net_list_add(&net.dead_engines, &u->link);
}

// Detaches the engine's socket from the client's and closes it: a close frame when open.
static void upws_shutdown(UpWs *u) {
    if (u->ws) u->ws->up = NULL;
    u->ws = NULL;
    if (u->state == UPWS_CLOSING) return;
    if (u->state != UPWS_OPEN) {
        net_upws_close(u);
        return;
    }
    u->state = UPWS_CLOSING;
    ws_write_close(&u->out.buf, 1000, NULL, true);
    net_timer_after(&u->timer, WS_CLOSE_WAIT_MS);
    if (net_out_flush(u->fd, &u->out) < 0) net_upws_close(u);
}

// The engine's socket failed: it closes, and so does the client's, with `code`.
static void upws_fail(UpWs *u, int code, const char *reason) {
    NetWs *ws = u->ws;
    net_upws_close(u);
    if (ws) net_ws_close_client(ws, code, reason);
}

// The engine broke the protocol: it gets a close frame, the client a 1011.
static void upws_protocol_error(UpWs *u, int code, const char *reason) {
    NetWs *ws = u->ws;
    if (ws) ws->up = NULL;
    u->ws = NULL;
    if (u->state == UPWS_OPEN) {
        ws_write_close(&u->out.buf, code, reason, true);
        net_out_flush(u->fd, &u->out);
    }
    net_upws_close(u);
    if (ws) net_ws_close_client(ws, 1011, UNREACHABLE);
}

static void upws_flush(UpWs *u) {
    if (net_out_flush(u->fd, &u->out) < 0) {
        upws_fail(u, 1011, u->state == UPWS_OPEN ? "" : UNREACHABLE);
    } else if (net_out_pending(&u->out) > MAX_OUTPUT) {
        upws_protocol_error(u, 1008, "The guard's messages are not read");
    }
}

static void upws_timer_fired(void *context) {
    UpWs *u = context;
    if (u->state == UPWS_CLOSING) net_upws_close(u);
    else upws_fail(u, 1011, UNREACHABLE);  // no 101 in time
}

// Checks the engine's 101: 1 when it is sound, 0 when more bytes are needed, -1 otherwise.
static int upws_read_handshake(UpWs *u) {
    In *in = &u->in;
    long end = net_head_end(net_in_data(in), net_in_pending(in), &u->scan);
    if (end < 0 || (end == 0 && net_in_pending(in) > MAX_ANSWER_HEAD)) return -1;
    if (end == 0) return 0;
    char *line;
    size_t line_len, n;
    NetHeader headers[MAX_ANSWER_HEADERS];
    if (net_split_head(net_in_data(in), (size_t)end, &line, &line_len, headers, MAX_ANSWER_HEADERS, &n) != HEAD_OK) return -1;
    if (line_len < 12 || strncmp(line, "HTTP/1.1 101", 12) != 0 || (line_len > 12 && line[12] != ' ')) return -1;
    const char *upgrade = net_header(headers, n, "upgrade");
    const char *accept = net_header(headers, n, "sec-websocket-accept");
    const char *protocol = net_header(headers, n, "sec-websocket-protocol");
    bool sound = upgrade && net_has_token(upgrade, "websocket") && net_header_has_token(headers, n, "connection", "upgrade") &&
                 accept && strcmp(accept, u->accept) == 0 &&
                 (u->protocol.len ? protocol && strcmp(protocol, u->protocol.data) == 0 : !protocol);
    net_in_consume(in, (size_t)end);
    return sound ? 1 : -1;
}

static void upws_relay(UpWs *u, const char *data, size_t len, int opcode) {
    if (opcode == WS_TEXT && !utf8_valid((const uint8_t *)data, len)) {
        upws_protocol_error(u, 1007, "Invalid UTF-8");
    } else if (u->ws && u->state == UPWS_OPEN) {
        net_ws_send(u->ws, data, len, opcode == WS_BINARY);
    }
}

static void upws_on_close_frame(UpWs *u, const WsFrame *f) {
    int code = f->len >= 2 ? f->payload[0] << 8 | f->payload[1] : 1005;
    if (f->len == 1 || (f->len >= 2 && !close_code_valid(code))) {
        upws_protocol_error(u, 1002, "Invalid close frame");
        return;
    }
    if (f->len > 2 && !utf8_valid(f->payload + 2, f->len - 2)) {
        upws_protocol_error(u, 1007, "Invalid UTF-8 in the close reason");
        return;
    }
    if (u->state == UPWS_CLOSING) {  // the engine's answer to ours
        net_upws_close(u);
        return;
    }
    char reason[124] = "";
    if (f->len > 2) memcpy(reason, f->payload + 2, f->len - 2);
    NetWs *ws = u->ws;
    if (ws) ws->up = NULL;
    u->ws = NULL;
    u->state = UPWS_CLOSING;
    ws_write_frame(&u->out.buf, WS_CLOSE, f->payload, f->len, true);
    net_timer_after(&u->timer, WS_CLOSE_WAIT_MS);  // for the engine to close the connection
    if (net_out_flush(u->fd, &u->out) < 0) net_upws_close(u);
    if (ws) net_ws_close_client(ws, code, reason);
}

static void upws_on_frame(UpWs *u, const WsFrame *f) {
    if (f->opcode == WS_CLOSE) {
        upws_on_close_frame(u, f);
    } else if (f->opcode == WS_PING) {
        if (u->state != UPWS_OPEN) return;
        ws_write_frame(&u->out.buf, WS_PONG, f->payload, f->len, true);
        upws_flush(u);
    } else if (f->opcode == WS_PONG) {
        return;
    } else if (f->opcode == WS_CONTINUATION) {
        if (!u->opcode) {
            upws_protocol_error(u, 1002, "A continuation frame without a message");
        } else if (f->len > MAX_ENGINE_MESSAGE - u->message.len) {
            upws_protocol_error(u, 1009, "Message too big");
        } else {
            buf_append(&u->message, f->payload, f->len);
            if (!f->fin) return;
            int opcode = u->opcode;
            u->opcode = 0;
            upws_relay(u, u->message.data ? u->message.data : "", u->message.len, opcode);
            if (u->message.cap > IDLE_BUFFER) buf_free(&u->message);
            buf_clear(&u->message);
        }
    } else if (u->opcode) {
        upws_protocol_error(u, 1002, "A new message inside a fragmented one");
    } else if (f->fin) {
        upws_relay(u, (const char *)f->payload, f->len, f->opcode);
    } else {
        buf_clear(&u->message);
        buf_append(&u->message, f->payload, f->len);
        u->opcode = f->opcode;
    }
}

static void upws_process(UpWs *u) {
    In *in = &u->in;
    while (!u->dead && net_in_pending(in)) {
        if (u->state == UPWS_HANDSHAKE) {
            int r = upws_read_handshake(u);
            if (r == 0) return;
            if (r < 0) {
                upws_fail(u, 1011, UNREACHABLE);
                return;
            }
            u->state = UPWS_OPEN;
            net_timer_stop(&u->timer);
            buf_append(&u->out.buf, u->pending.data, u->pending.len);
            buf_free(&u->pending);
            upws_flush(u);
            continue;
        }
        WsFrame f;
        size_t used = 0;
        const char *reason;
        size_t max = MAX_ENGINE_MESSAGE;
        WsParse r = ws_parse_frame((uint8_t *)net_in_data(in), net_in_pending(in), false, max, &f, &used, &reason);
        if (r == WS_PARSE_MORE) return;
        if (r != WS_PARSE_FRAME) {
            upws_protocol_error(u, r == WS_PARSE_TOO_BIG ? 1009 : 1002, reason);
            return;
        }
        upws_on_frame(u, &f);
        net_in_consume(in, used);
    }
}

static void upws_on_eof(UpWs *u) {
    // Dropped without a close frame: 1006, which the client gets as 1011.
    upws_fail(u, 1011, u->state == UPWS_OPEN ? "" : UNREACHABLE);
}

void net_upws_event(UpWs *u, uint32_t events) {
    if (u->dead) return;
    if (u->state == UPWS_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        if (net_socket_error(u->fd)) {
            upws_fail(u, 1011, UNREACHABLE);
            return;
        }
        u->state = UPWS_HANDSHAKE;
    }
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->hangup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->readable = true;
    if (events & EPOLLOUT) upws_flush(u);
    while (!u->dead && u->readable) {
        size_t limit = MAX_ENGINE_MESSAGE + 14 + READ_SIZE;
        size_t have = net_in_pending(&u->in);
        if (have >= limit) break;
        size_t want = net_min_size(limit - have, READ_SIZE);
        ssize_t n = net_in_read(u->fd, &u->in, want);
        if (n > 0) {
            if ((size_t)n < want && !u->hangup) u->readable = false;
            upws_process(u);
        } else if (n == READ_AGAIN) {
            u->readable = false;
        } else {
            upws_on_eof(u);
        }
    }
}

void net_ws_connect(NetWs *ws, NetOrigin *origin, const char *target, const char *subprotocol,
                    const NetHeader *headers, size_t n) {
    if (!ws->conn || ws->closing || ws->up) return;
    bool connecting = false;
    int fd = net_valid_target(target) ? net_connect_to(&origin->addr, &connecting) : -1;
    if (fd < 0) {
        net_ws_close_client(ws, 1011, UNREACHABLE);
        return;
    }
    UpWs *u = net_must(calloc(1, sizeof *u));
    u->kind = KIND_UPWS;
    u->fd = fd;
    u->state = connecting ? UPWS_CONNECTING : UPWS_HANDSHAKE;
    u->ws = ws;
    ws->up = u;
    net_timer_init(&u->timer, upws_timer_fired, u);
    net_list_add(&net.engines, &u->link);
    char key[25];
    ws_new_key(key);
    ws_accept_key(key, 24, u->accept);
    if (subprotocol && net_is_token(subprotocol)) buf_appends(&u->protocol, subprotocol);
    Buf *b = &u->out.buf;
    buf_printf(b, "GET %s HTTP/1.1\r\n", target);
    net_append_header(b, "Host", origin->authority);
    buf_appends(b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
    net_append_header(b, "Sec-WebSocket-Key", key);
    if (u->protocol.len) net_append_header(b, "Sec-WebSocket-Protocol", u->protocol.data);
    for (size_t i = 0; i < n; i++) {
        if (net_request_header_allowed(&headers[i]) && strncasecmp(headers[i].name, "sec-websocket-", 14) != 0) {
            net_append_header(b, headers[i].name, headers[i].value);
        }
    }
    buf_append(b, "\r\n", 2);
    net_timer_after(&u->timer, WS_HANDSHAKE_MS);
    if (!net_watch(fd, u)) upws_fail(u, 1011, UNREACHABLE);
}

void net_ws_forward(NetWs *ws, const char *data, size_t len, bool binary) {
    UpWs *u = ws->up;
    if (!u || ws->closing) return;
    int opcode = binary ? WS_BINARY : WS_TEXT;
    if (u->state != UPWS_OPEN) {
        ws_write_frame(&u->pending, opcode, data, len, true);
        if (u->pending.len > MAX_OUTPUT) upws_fail(u, 1011, UNREACHABLE);
        return;
    }
    ws_write_frame(&u->out.buf, opcode, data, len, true);
    upws_flush(u);
}
