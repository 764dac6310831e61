// The guard's network layer (see net.h): one thread, one edge-triggered epoll loop,
// non-blocking sockets. Client connections (Conn) read HTTP/1.1 requests by RFC 9112 with
// hard bounds and hand whole ones to the guard; origins keep kept-alive connections
// (UpConn) to the servers the guard calls; a client WebSocket (NetWs) is paired with one to
// the engine (UpWs).
//
// Two rules keep the guard's callbacks safe. Net never calls a handler or a NetAnswer from
// inside a net_* call: what must be reported from there (a call that failed at once, a
// WebSocket that is gone) is reported from a timer due now. And nothing is freed while a
// callback up the stack could still hold it: a closed socket is marked dead and freed at
// the end of the loop's turn.
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "utf8.h"
#include "ws_frame.h"

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

static const char UNREACHABLE[] = "The federation engine is unreachable";
static const char SHUTTING_DOWN[] = "the guard is shutting down";

typedef struct Conn Conn;
typedef struct UpConn UpConn;
typedef struct UpCall UpCall;
typedef struct UpWs UpWs;

static void *must(void *p) {
    if (!p) {
        fputs("[guard] out of memory\n", stderr);
        abort();
    }
    return p;
}

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *format, ...) {
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    fprintf(stderr, "[guard] %s\n", line);
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

// --- intrusive lists ----------------------------------------------------------------------

typedef struct Link {
    struct Link *prev, *next;
} Link;

#define CONTAINER(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static void list_init(Link *l) { l->prev = l->next = l; }
static bool list_empty(const Link *head) { return head->next == head; }

static void list_add(Link *head, Link *item) {
    item->next = head;
    item->prev = head->prev;
    head->prev->next = item;
    head->prev = item;
}

static void list_remove(Link *item) {
    item->prev->next = item->next;
    item->next->prev = item->prev;
    list_init(item);
}

// --- timers: a binary heap ordered by deadline, then by arming order --------------------------

typedef struct Timer {
    uint64_t at;
    uint64_t seq;
    size_t slot;  // its index in the heap, or NOT_ARMED
    void (*fire)(void *context);
    void *context;
} Timer;

struct NetTimer {
    Timer timer;
    void (*fire)(void *context);
    void *context;
};

static struct {
    Timer **items;
    size_t len, cap;
    uint64_t seq;
} heap;

uint64_t net_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void timer_init(Timer *t, void (*fire)(void *), void *context) {
    t->slot = NOT_ARMED;
    t->fire = fire;
    t->context = context;
}

static bool timer_before(const Timer *a, const Timer *b) { return a->at != b->at ? a->at < b->at : a->seq < b->seq; }

static void heap_place(size_t i, Timer *t) {
    heap.items[i] = t;
    t->slot = i;
}

static void heap_up(size_t i) {
    Timer *t = heap.items[i];
    while (i) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(t, heap.items[parent])) break;
        heap_place(i, heap.items[parent]);
        i = parent;
    }
    heap_place(i, t);
}

static void heap_down(size_t i) {
    Timer *t = heap.items[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= heap.len) break;
        if (child + 1 < heap.len && timer_before(heap.items[child + 1], heap.items[child])) child++;
        if (!timer_before(heap.items[child], t)) break;
        heap_place(i, heap.items[child]);
        i = child;
    }
    heap_place(i, t);
}

static void timer_stop(Timer *t) {
    if (t->slot == NOT_ARMED) return;
    size_t i = t->slot;
    t->slot = NOT_ARMED;
    Timer *last = heap.items[--heap.len];
    if (i == heap.len) return;
    heap_place(i, last);
    heap_up(i);
    heap_down(last->slot);
}

static void timer_start(Timer *t, uint64_t at) {
    timer_stop(t);
    if (heap.len == heap.cap) {
        heap.cap = heap.cap ? heap.cap * 2 : 64;
        heap.items = must(realloc(heap.items, heap.cap * sizeof *heap.items));
    }
    t->at = at;
    t->seq = heap.seq++;
    heap.items[heap.len] = t;
    t->slot = heap.len++;
    heap_up(t->slot);
}

static void timer_after(Timer *t, int ms) { timer_start(t, net_now_ms() + (uint64_t)(ms > 0 ? ms : 0)); }

// Fires the timers due now that were armed before this turn: one re-arming itself at 0 ms
// waits for the next turn instead of starving the sockets.
static bool run_timers(void) {
    uint64_t now = net_now_ms();
    uint64_t limit = heap.seq;
    bool fired = false;
    while (heap.len && heap.items[0]->at <= now && heap.items[0]->seq < limit) {
        Timer *t = heap.items[0];
        timer_stop(t);
        t->fire(t->context);
        fired = true;
    }
    return fired;
}

static int next_timeout(void) {
    if (!heap.len) return -1;
    uint64_t now = net_now_ms();
    uint64_t at = heap.items[0]->at;
    if (at <= now) return 0;
    return at - now > INT_MAX ? INT_MAX : (int)(at - now);
}

static void user_timer_fired(void *context) {
    NetTimer *t = context;
    void (*fire)(void *) = t->fire;
    void *user = t->context;
    free(t);
    fire(user);
}

NetTimer *net_timer(int ms, void (*fire)(void *context), void *context) {
    NetTimer *t = must(calloc(1, sizeof *t));
    t->fire = fire;
    t->context = context;
    timer_init(&t->timer, user_timer_fired, t);
    timer_after(&t->timer, ms);
    return t;
}

void net_timer_cancel(NetTimer *timer) {
    if (!timer) return;
    timer_stop(&timer->timer);
    free(timer);
}

// --- bytes and header fields ---------------------------------------------------------------

static bool is_tchar(unsigned char c) {
    if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9')) return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
        return true;
    default:
        return false;
    }
}

static bool is_field_char(unsigned char c) { return c == '\t' || (c >= 0x20 && c != 0x7F); }

static bool is_token(const char *s) {
    if (!*s) return false;
    for (; *s; s++) {
        if (!is_tchar((unsigned char)*s)) return false;
    }
    return true;
}

static bool is_field_value(const char *s) {
    for (; *s; s++) {
        if (!is_field_char((unsigned char)*s)) return false;
    }
    return true;
}

static bool name_is(const char *name, const char *wanted) { return strcasecmp(name, wanted) == 0; }

// Whether the comma-separated list `value` holds `token` (case-insensitive).
static bool has_token(const char *value, const char *token) {
    size_t n = strlen(token);
    const char *p = value;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',') p++;
        const char *start = p;
        while (*p && *p != ',') p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t')) end--;
        if ((size_t)(end - start) == n && strncasecmp(start, token, n) == 0) return true;
    }
    return false;
}

const char *net_header(const NetHeader *headers, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++) {
        if (name_is(headers[i].name, name)) return headers[i].value;
    }
    return NULL;
}

static bool header_has_token(const NetHeader *headers, size_t n, const char *name, const char *token) {
    for (size_t i = 0; i < n; i++) {
        if (name_is(headers[i].name, name) && has_token(headers[i].value, token)) return true;
    }
    return false;
}

// Digits only (RFC 9110 section 8.6); values too large for size_t saturate.
static bool parse_length(const char *s, size_t *out) {
    if (!*s) return false;
    size_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        size_t digit = (size_t)(*s - '0');
        v = v > (SIZE_MAX - digit) / 10 ? SIZE_MAX : v * 10 + digit;
    }
    *out = v;
    return true;
}

// Headers that describe one hop of a connection, never passed on.
static bool hop_by_hop(const char *name) {
    static const char *const names[] = {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (name_is(name, names[i])) return true;
    }
    return false;
}

// Whether a header given for an answer net writes may go in it: net writes the framing
// and the date itself, and a value with a line break would split the message.
static bool answer_header_allowed(const NetHeader *h) {
    return !hop_by_hop(h->name) && !name_is(h->name, "content-length") && !name_is(h->name, "date") &&
           is_token(h->name) && is_field_value(h->value);
}

// A request target net may write into a request line: origin-form, no space or control.
static bool valid_target(const char *target) {
    if (*target != '/') return false;
    for (; *target; target++) {
        if ((unsigned char)*target <= 0x20 || (unsigned char)*target == 0x7F) return false;
    }
    return true;
}

static bool request_header_allowed(const NetHeader *h) {
    return !hop_by_hop(h->name) && !name_is(h->name, "content-length") && !name_is(h->name, "host") &&
           is_token(h->name) && is_field_value(h->value);
}

// --- heads: the request or status line and the header fields --------------------------------

// Looks for the empty line that ends a head, from *scan on: the head's length when found,
// 0 when more bytes are needed, -1 at a line ending in a bare LF.
static long head_end(const char *p, size_t len, size_t *scan) {
    size_t i = *scan;
    const char *nl;
    while (i < len && (nl = memchr(p + i, '\n', len - i))) {
        size_t at = (size_t)(nl - p);
        if (at == 0 || p[at - 1] != '\r') return -1;
        if (at >= 2 && p[at - 2] == '\n') return (long)(at + 1);
        i = at + 1;
    }
    *scan = len;
    return 0;
}

// One "name: value" line (without its CRLF), split in place. Folded lines (obs-fold),
// whitespace before the colon and control characters are refused.
static bool parse_field(char *line, size_t len, NetHeader *h) {
    size_t colon = 0;
    while (colon < len && is_tchar((unsigned char)line[colon])) colon++;
    if (colon == 0 || colon == len || line[colon] != ':') return false;
    size_t start = colon + 1, end = len;
    while (start < end && (line[start] == ' ' || line[start] == '\t')) start++;
    while (end > start && (line[end - 1] == ' ' || line[end - 1] == '\t')) end--;
    for (size_t i = start; i < end; i++) {
        if (!is_field_char((unsigned char)line[i])) return false;
    }
    line[colon] = 0;
    line[end] = 0;
    h->name = line;
    h->value = line + start;
    return true;
}

typedef enum { HEAD_OK, HEAD_BAD, HEAD_TOO_MANY } HeadCheck;

// Splits a whole head (ending with its empty line; head_end has checked every LF has its
// CR) in place: the first line, NUL-terminated, and up to `max` header fields.
static HeadCheck split_head(char *head, size_t len, char **first, size_t *first_len, NetHeader *headers, size_t max,
                            size_t *n) {
    char *end = head + len - 2;
    char *nl = memchr(head, '\n', (size_t)(end - head));
    *first = head;
    *first_len = 0;
    if (!nl) return HEAD_BAD;
    *first_len = (size_t)(nl - 1 - head);
    nl[-1] = 0;
    *n = 0;
    for (char *line = nl + 1; line < end; line = nl + 1) {
        nl = memchr(line, '\n', (size_t)(end - line));
        if (!nl) return HEAD_BAD;
        if (*n == max) return HEAD_TOO_MANY;
        if (!parse_field(line, (size_t)(nl - 1 - line), &headers[*n])) return HEAD_BAD;
        (*n)++;
    }
    return HEAD_OK;
}

// --- chunked bodies (RFC 9112 section 7.1) ---------------------------------------------------

typedef struct Chunked {
    enum { CHUNK_SIZE_LINE, CHUNK_DATA, CHUNK_DATA_END, CHUNK_TRAILER } state;
    size_t left;         // of the current chunk
    size_t total;        // declared so far
    size_t max_total;
    size_t trailer;      // trailer bytes so far (skipped)
    size_t max_trailer;
} Chunked;

typedef enum { CHUNK_MORE, CHUNK_GOT_DATA, CHUNK_END, CHUNK_BAD, CHUNK_TOO_BIG } ChunkStep;

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') return (c | 0x20) - 'a' + 10;
    return -1;
}

// A chunk-size line (without its CRLF): hex digits, then optional extensions (ignored).
static bool parse_chunk_size(const char *line, size_t len, size_t *size) {
    size_t i = 0, v = 0;
    for (int d; i < len && (d = hex_value(line[i])) >= 0; i++) v = v > (SIZE_MAX >> 4) ? SIZE_MAX : v << 4 | (size_t)d;
    if (i == 0) return false;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    if (i < len && line[i] != ';') return false;
    for (; i < len; i++) {
        if (!is_field_char((unsigned char)line[i])) return false;
    }
    *size = v;
    return true;
}

// Reads from p[0..len): stops at the next piece of payload (p[*data_at..+*data_len]), at
// the end of the body, or when more bytes are needed; *used says how much was consumed.
static ChunkStep chunk_step(Chunked *ch, const char *p, size_t len, size_t *used, size_t *data_at, size_t *data_len) {
    size_t i = 0;
    for (;;) {
        *used = i;
        if (ch->state == CHUNK_DATA) {
            if (i == len) return CHUNK_MORE;
            size_t n = min_size(len - i, ch->left);
            *data_at = i;
            *data_len = n;
            *used = i + n;
            ch->left -= n;
            if (!ch->left) ch->state = CHUNK_DATA_END;
            return CHUNK_GOT_DATA;
        }
        if (ch->state == CHUNK_DATA_END) {
            if (len - i < 2) return CHUNK_MORE;
            if (p[i] != '\r' || p[i + 1] != '\n') return CHUNK_BAD;
            i += 2;
            ch->state = CHUNK_SIZE_LINE;
            continue;
        }
        const char *nl = memchr(p + i, '\n', len - i);
        size_t line_len = nl ? (size_t)(nl - (p + i)) : len - i;
        size_t trailer_room = ch->max_trailer > ch->trailer ? ch->max_trailer - ch->trailer : 0;
        size_t bound = ch->state == CHUNK_SIZE_LINE ? MAX_CHUNK_LINE : trailer_room;
        if (line_len > bound) return CHUNK_BAD;
        if (!nl) return CHUNK_MORE;
        if (line_len == 0 || p[i + line_len - 1] != '\r') return CHUNK_BAD;
        const char *line = p + i;
        i += line_len + 1;
        if (ch->state == CHUNK_TRAILER) {
            if (line_len == 1) {
                *used = i;
                return CHUNK_END;
            }
            ch->trailer += line_len + 1;
            continue;
        }
        size_t size;
        if (!parse_chunk_size(line, line_len - 1, &size)) return CHUNK_BAD;
        if (size > ch->max_total - ch->total) return CHUNK_TOO_BIG;
        ch->total += size;
        ch->left = size;
        ch->state = size ? CHUNK_DATA : CHUNK_TRAILER;
    }
}

// --- socket buffers ------------------------------------------------------------------------

typedef struct In {
    Buf buf;
    size_t off;  // bytes before it are consumed
} In;

typedef struct Out {
    Buf buf;
    size_t off;  // bytes before it are sent
} Out;

// Input buffers are lent to a socket while it holds unread bytes and given back when it
// has none, so that an idle connection or WebSocket holds no buffer and a busy one
// takes no malloc per read.
static struct {
    Buf items[SPARE_INPUTS];
    size_t len;
} spares;

static size_t in_pending(const In *in) { return in->buf.len - in->off; }
// Never NULL, even without a buffer: parsers may look at zero bytes of it.
static char *in_data(const In *in) {
    static char nothing[1];
    return in->buf.data ? in->buf.data + in->off : nothing;
}

static void in_release(In *in) {
    in->off = 0;
    in->buf.len = 0;
    if (!in->buf.data) return;
    if (spares.len < SPARE_INPUTS && in->buf.cap == INPUT_BUFFER) spares.items[spares.len++] = in->buf;
    else buf_free(&in->buf);
    in->buf = (Buf)BUF_INIT;
}

static void in_consume(In *in, size_t n) {
    in->off += n;
    if (in->off >= in->buf.len) in_release(in);
}

enum { READ_AGAIN = -1, READ_FAILED = -2 };

// One recv of at most `want` bytes: how many came, 0 at EOF, READ_AGAIN or READ_FAILED.
static ssize_t in_read(int fd, In *in, size_t want) {
    if (in->off && in->buf.cap - in->buf.len - 1 < want) {
        memmove(in->buf.data, in->buf.data + in->off, in_pending(in));
        in->buf.len -= in->off;
        in->off = 0;
    }
    if (!in->buf.data && spares.len) in->buf = spares.items[--spares.len];
    buf_reserve(&in->buf, want);
    for (;;) {
        ssize_t n = recv(fd, in->buf.data + in->buf.len, want, 0);
        if (n >= 0) {
            in->buf.len += (size_t)n;
            in->buf.data[in->buf.len] = 0;
            return n;
        }
        if (errno == EINTR) continue;
        return errno == EAGAIN || errno == EWOULDBLOCK ? READ_AGAIN : READ_FAILED;
    }
}

static size_t out_pending(const Out *o) { return o->buf.len - o->off; }

static void out_reset(Out *o) {
    o->off = 0;
    o->buf.len = 0;
    if (o->buf.cap > IDLE_BUFFER) buf_free(&o->buf);
    else if (o->buf.data) o->buf.data[0] = 0;
}

// Sends what the socket takes: 1 when all is sent, 0 when it is full, -1 when it failed.
static int out_flush(int fd, Out *o) {
    while (o->off < o->buf.len) {
        ssize_t n = send(fd, o->buf.data + o->off, o->buf.len - o->off, MSG_NOSIGNAL);
        if (n >= 0) {
            o->off += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (o->off > COMPACT_OUTPUT) {  // a long stream to a slow reader must not only grow
            memmove(o->buf.data, o->buf.data + o->off, out_pending(o));
            o->buf.len -= o->off;
            o->off = 0;
        }
        return 0;
    }
    out_reset(o);
    return 1;
}

// --- answers' text -----------------------------------------------------------------------------

static const char *status_reason(int status) {
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}

// The Date header's value, formatted once a second.
static const char *http_date(void) {
    static char text[40];
    static time_t formatted;
    time_t now = time(NULL);
    if (now != formatted) {
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        formatted = now;
    }
    return text;
}

static void append_header(Buf *b, const char *name, const char *value) {
    buf_appends(b, name);
    buf_append(b, ": ", 2);
    buf_appends(b, value);
    buf_append(b, "\r\n", 2);
}

static void append_status(Buf *b, int status) {
    if (status < 100 || status > 999) status = 500;
    char digits[5] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' ', 0};
    buf_append(b, "HTTP/1.1 ", 9);
    buf_append(b, digits, 4);
    buf_appends(b, status_reason(status));
    buf_append(b, "\r\n", 2);
    append_header(b, "Date", http_date());
}

static void append_error_json(Buf *b, const char *message, const char *code) {
    buf_appends(b, "{\"errors\":[{\"message\":");
    buf_json_string(b, message, strlen(message));
    buf_appends(b, ",\"extensions\":{\"code\":");
    buf_json_string(b, code, strlen(code));
    buf_appends(b, "}}]}");
}

// --- the loop's state ---------------------------------------------------------------------

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
    size_t scan;    // how much of the pending input head_end has searched
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
    Link link;   // origins
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

static Link origins = {&origins, &origins};
static const int listener_kind = KIND_LISTENER;
static const int signals_kind = KIND_SIGNALS;

static struct {
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
} net;

// --- forward declarations ------------------------------------------------------------------

static void conn_close(Conn *c);
static void conn_finish(Conn *c);
static void conn_flush(Conn *c);
static void conn_process(Conn *c);
static void conn_answered(Conn *c, bool keep);
static void ws_upgrade(Conn *c, NetExchange *x);
static bool ws_read_frames(Conn *c);
static void ws_close_client(NetWs *ws, int code, const char *reason);
static void upws_shutdown(UpWs *u);
static void upconn_close(UpConn *u);
static void origin_dispatch(NetOrigin *o);
static void call_fail_later(UpCall *call, const char *error);
static void stream_abort(NetExchange *x);

static bool watch(int fd, void *source) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = source};
    if (epoll_ctl(net.epoll, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
    say("epoll_ctl: %s", strerror(errno));
    return false;
}

// A non-blocking socket connecting to `addr`, or -1 (errno set) when that failed at once.
static int connect_to(const struct sockaddr_in *addr, bool *connecting) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *connecting = connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0;
    if (!*connecting || errno == EINPROGRESS) return fd;
    int error = errno;
    close(fd);
    errno = error;
    return -1;
}

static int socket_error(int fd) {
    int error = 0;
    socklen_t len = sizeof error;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 ? errno : error;
}

static bool resolve(const char *host, int port, struct sockaddr_in *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (port < 1 || port > 65535) return false;
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1;
}

// --- exchanges -----------------------------------------------------------------------------

static NetExchange *exchange_new(Conn *c) {
    NetExchange *x = must(calloc(1, sizeof *x));
    x->conn = c;
    list_init(&x->orphan);
    return x;
}

static void exchange_free(NetExchange *x) {
    list_remove(&x->orphan);
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
    while (i < len && is_tchar((unsigned char)line[i])) i++;
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
    HeadCheck check = split_head(x->head.data, x->head.len, &line, &line_len, x->headers, MAX_HEADERS, &n);
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
        if (name_is(name, "content-length")) {
            if (length && strcmp(length, value) != 0) return 400;
            length = value;
        } else if (name_is(name, "transfer-encoding")) {
            codings++;
            unknown_coding |= strcasecmp(value, "chunked") != 0;
        } else if (name_is(name, "connection")) {
            close |= has_token(value, "close");
            keep |= has_token(value, "keep-alive");
            upgrade |= has_token(value, "upgrade");
        } else if (name_is(name, "host")) {
            hosts++;
        } else if (name_is(name, "expect")) {
            expect = strcasecmp(value, "100-continue") == 0;
        }
    }
    if (hosts > 1 || (x->minor == 1 && hosts == 0)) return 400;
    if (codings && (length || x->minor == 0)) return 400;
    if (unknown_coding) return 501;
    if (codings > 1) return 400;
    c->chunked = codings == 1;
    c->body_left = 0;
    if (length && !parse_length(length, &c->body_left)) return 400;
    if (c->body_left > net.limits.max_body_bytes) return 413;
    c->chunks = (Chunked){.max_total = net.limits.max_body_bytes, .max_trailer = net.limits.max_header_bytes};
    x->keep_alive = x->minor == 1 ? !close : keep && !close;
    x->expect_continue = expect && x->minor == 1;
    const char *up = net_header(x->headers, x->request.nheaders, "upgrade");
    x->upgrade = upgrade && up && has_token(up, "websocket");
    return 0;
}

// --- client connections: writing ---------------------------------------------------------------

// Sends what c->out holds then `body`: one writev when nothing else was waiting.
static void conn_send_body(Conn *c, bool direct, const char *body, size_t len) {
    Out *o = &c->out;
    if (!direct || !len) {
        if (len) buf_append(&o->buf, body, len);
        conn_flush(c);
        return;
    }
    struct iovec iov[2] = {{o->buf.data, o->buf.len}, {(void *)body, len}};
    ssize_t n;
    do n = writev(c->fd, iov, 2);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
        conn_close(c);
        return;
    }
    size_t sent = n < 0 ? 0 : (size_t)n, head = o->buf.len;
    if (sent < head) {
        o->off = sent;
        buf_append(&o->buf, body, len);
        return;
    }
    out_reset(o);
    if (sent - head < len) buf_append(&o->buf, body + (sent - head), len - (sent - head));
}

static void conn_write_answer(Conn *c, int status, const NetHeader *headers, size_t n, const char *body, size_t len,
                              bool head_only, bool keep, int minor, const char *extra_line) {
    bool direct = out_pending(&c->out) == 0;
    if (direct) out_reset(&c->out);  // so that c->out holds nothing but this head
    Buf *b = &c->out.buf;
    append_status(b, status);
    for (size_t i = 0; i < n; i++) {
        if (answer_header_allowed(&headers[i])) append_header(b, headers[i].name, headers[i].value);
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
static void conn_fail(Conn *c, int status, const char *code, const char *message, const char *extra_line) {
    Buf *body = &net.scratch;
    buf_clear(body);
    append_error_json(body, message, code);
    NetHeader type = {"Content-Type", "application/json; charset=utf-8"};
    conn_write_answer(c, status, &type, 1, body->data, body->len, false, false, 1, extra_line);
    conn_finish(c);
}

static void conn_refuse(Conn *c, int status) {
    char message[160];
    switch (status) {
    case 408:
        conn_fail(c, 408, "REQUEST_TIMEOUT", "The request did not arrive in time.", NULL);
        break;
    case 413:
        snprintf(message, sizeof message, "The request body is over %zu bytes.", net.limits.max_body_bytes);
        conn_fail(c, 413, "PAYLOAD_TOO_LARGE", message, NULL);
        break;
    case 431: {
        size_t max = net.limits.max_header_bytes;
        if (max % 1024 == 0) snprintf(message, sizeof message, "The request headers are over %zu KiB.", max / 1024);
        else snprintf(message, sizeof message, "The request headers are over %zu bytes.", max);
        conn_fail(c, 431, "REQUEST_HEADER_FIELDS_TOO_LARGE", message, NULL);
        break;
    }
    case 501:
        conn_fail(c, 501, "NOT_IMPLEMENTED", "Only the chunked transfer coding is supported.", NULL);
        break;
    case 505:
        conn_fail(c, 505, "HTTP_VERSION_NOT_SUPPORTED", "Only HTTP/1.0 and HTTP/1.1 are served.", NULL);
        break;
    default:
        conn_fail(c, 400, "BAD_REQUEST", "The request is not valid HTTP.", NULL);
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
    if (c->eof) conn_close(c);
    else timer_after(&c->timer, LINGER_MS);
}

static void conn_flush(Conn *c) {
    if (c->dead) return;
    int r = out_flush(c->fd, &c->out);
    if (r < 0) {
        conn_close(c);
    } else if (r > 0 && c->state == CONN_CLOSING && !c->shut) {
        conn_shut(c);
    } else if (r > 0 && c->state == CONN_IDLE && (in_pending(&c->in) || c->readable)) {
        conn_make_ready(c);  // a pipelined request waited for this answer to be sent
    }
}

// Closes a client that lets its output pile up (a stream or a WebSocket it does not read).
static void conn_check_backlog(Conn *c) {
    if (c->dead || out_pending(&c->out) <= MAX_OUTPUT) return;
    say("a client at %s reads too slowly: closing its connection", c->peer);
    conn_close(c);
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
        else conn_close(c);  // an idle kept-alive connection: just closed
        break;
    case CONN_HEAD:
    case CONN_BODY:
        conn_refuse(c, 408);
        break;
    default:
        conn_close(c);
        break;
    }
}

static void conn_new(int fd, const struct sockaddr_in *peer) {
    Conn *c = must(calloc(1, sizeof *c));
    c->kind = KIND_CONN;
    c->fd = fd;
    c->state = CONN_IDLE;
    c->fresh = true;
    inet_ntop(AF_INET, &peer->sin_addr, c->peer, sizeof c->peer);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timer_init(&c->timer, conn_timer_fired, c);
    list_add(&net.conns, &c->link);
    c->started = net_now_ms();
    timer_start(&c->timer, head_deadline(c));
    if (!watch(fd, c)) conn_close(c);
}

static void conn_dispatch(Conn *c) {
    NetExchange *x = c->x;
    x->request.body = x->body.data ? x->body.data : "";
    x->request.body_len = x->body.len;
    c->state = CONN_HANDLER;
    x->pending = true;
    timer_stop(&c->timer);
    net.handlers.request(x, &x->request);
}

static void conn_take_head(Conn *c, size_t len) {
    if (!c->x) c->x = exchange_new(c);
    NetExchange *x = c->x;
    exchange_reset(x, c);
    buf_append(&x->head, in_data(&c->in), len);
    in_consume(&c->in, len);
    c->scan = 0;
    int refusal = parse_request(x);
    if (!refusal) refusal = conn_framing(c, x);
    if (refusal) {
        conn_refuse(c, refusal);
        return;
    }
    if (x->upgrade) {
        ws_upgrade(c, x);
        return;
    }
    if (!c->chunked && !c->body_left) {
        conn_dispatch(c);
        return;
    }
    if (x->expect_continue && !in_pending(&c->in)) {
        buf_appends(&c->out.buf, "HTTP/1.1 100 Continue\r\n\r\n");
        conn_flush(c);
        if (c->dead) return;
    }
    c->state = CONN_BODY;
    int ms = net.limits.request_timeout_ms;
    timer_start(&c->timer, c->started + (uint64_t)(ms > 0 ? ms : 0));
}

// Whether the state changed: the head was taken (or refused); false while it is partial.
static bool conn_read_head(Conn *c) {
    In *in = &c->in;
    // Empty lines before a request line are ignored (RFC 9112 section 2.2).
    while (c->scan == 0 && in_pending(in) >= 2 && in_data(in)[0] == '\r' && in_data(in)[1] == '\n') in_consume(in, 2);
    size_t len = in_pending(in);
    long end = head_end(in_data(in), len, &c->scan);
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
        size_t take = min_size(in_pending(in), c->body_left);
        buf_append(&x->body, in_data(in), take);
        in_consume(in, take);
        c->body_left -= take;
        if (c->body_left) return false;
        conn_dispatch(c);
        return true;
    }
    for (;;) {
        size_t used, at = 0, n = 0;
        ChunkStep step = chunk_step(&c->chunks, in_data(in), in_pending(in), &used, &at, &n);
        if (step == CHUNK_GOT_DATA) buf_append(&x->body, in_data(in) + at, n);
        in_consume(in, used);
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
    if (!in_pending(&c->in) || out_pending(&c->out)) return false;
    c->state = CONN_HEAD;
    c->scan = 0;
    if (!c->fresh) {
        c->started = net_now_ms();
        timer_start(&c->timer, head_deadline(c));
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
            progress = ws_read_frames(c);
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
    size_t have = in_pending(&c->in);
    return c->state == CONN_CLOSING ? READ_SIZE : have >= limit ? 0 : min_size(limit - have, READ_SIZE);
}

// Reads what the socket holds and the state allows; whether anything came.
static bool conn_fill(Conn *c) {
    bool got = false;
    while (c->readable && !c->eof && !c->dead) {
        size_t want = conn_read_budget(c);
        if (!want) break;
        ssize_t n = in_read(c->fd, &c->in, want);
        if (n > 0) {
            got = true;
            // A short read emptied the socket; a later byte raises a new edge.
            if ((size_t)n < want && !c->hangup) c->readable = false;
            if (c->state != CONN_CLOSING) continue;
            c->discarded += (size_t)n;
            in_consume(&c->in, in_pending(&c->in));
            if (c->discarded > LINGER_DISCARD) conn_close(c);
        } else if (n == 0) {
            c->eof = true;
            c->readable = false;
        } else if (n == READ_AGAIN) {
            c->readable = false;
        } else {
            conn_close(c);
        }
    }
    return got;
}

static void conn_on_eof(Conn *c) {
    switch (c->state) {
    case CONN_CLOSING:
        if (c->shut) conn_close(c);  // else conn_shut closes it once the answer is out
        break;
    case CONN_IDLE:
        if (out_pending(&c->out)) conn_finish(c);
        else conn_close(c);
        break;
    default:
        conn_close(c);  // a request cut short, a client gone from its answer, a WebSocket dropped
        break;
    }
}

static void conn_pump(Conn *c) {
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

static void conn_event(Conn *c, uint32_t events) {
    if (c->dead) return;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->hangup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) c->readable = true;
    if (events & EPOLLOUT) conn_flush(c);
    if (!c->dead && c->readable) conn_pump(c);
    // Like Node's server: a client that shuts its side has given up on its answer.
    if (!c->dead && c->hangup && c->state == CONN_HANDLER) conn_close(c);
}

// The connection will take no more requests: what is written goes out, then it closes.
static void conn_finish(Conn *c) {
    if (c->dead || c->state == CONN_CLOSING) return;
    if (c->ws) {
        NetWs *ws = c->ws;
        c->ws = NULL;
        ws->conn = NULL;
        ws->finishing = true;
        timer_after(&ws->timer, 0);
    }
    c->state = CONN_CLOSING;
    in_consume(&c->in, in_pending(&c->in));
    timer_after(&c->timer, net.limits.keepalive_timeout_ms);  // a bound on sending what is left
    conn_flush(c);
}

static void conn_close(Conn *c) {
    if (c->dead) return;
    c->dead = true;
    close(c->fd);
    timer_stop(&c->timer);
    if (c->ws) {
        NetWs *ws = c->ws;
        c->ws = NULL;
        ws->conn = NULL;
        ws->finishing = true;
        timer_after(&ws->timer, 0);
    }
    NetExchange *x = c->x;
    if (x && x->pending) {
        // The guard still holds the exchange: it stays valid until net_respond frees it.
        c->x = NULL;
        x->conn = NULL;
        list_add(&net.orphans, &x->orphan);
        if (x->streaming) stream_abort(x);
    }
    list_remove(&c->link);
    list_add(&net.dead_conns, &c->link);
}

// Gives back what an exchange's buffers grew to beyond what a small request needs.
static void exchange_trim(NetExchange *x) {
    Buf *bufs[] = {&x->head, &x->parts, &x->body};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) {
        if (bufs[i]->cap > IDLE_BUFFER) buf_free(bufs[i]);
    }
}

static void conn_answered(Conn *c, bool keep) {
    if (c->dead) return;
    if (c->x) exchange_trim(c->x);
    if (!keep) {
        conn_finish(c);
        return;
    }
    c->state = CONN_IDLE;
    c->fresh = false;
    timer_after(&c->timer, net.limits.keepalive_timeout_ms);
    if (in_pending(&c->in) || c->readable) conn_make_ready(c);
}

void net_respond(NetExchange *x, int status, const NetHeader *headers, size_t n, const char *body, size_t len) {
    if (x->call) {  // answered before its forward came back: that call goes on alone
        x->call->x = NULL;
        x->call = NULL;
    }
    Conn *c = x->conn;
    if (!c) {
        exchange_free(x);
        return;
    }
    x->pending = false;
    bool keep = x->keep_alive && !net.stopping;
    conn_write_answer(c, status, headers, n, body, len, x->head_only, keep, x->minor, NULL);
    conn_answered(c, keep);
}

// --- accepting -------------------------------------------------------------------------------

// Out of descriptors: accept one pending connection with the reserve descriptor and close
// it, so that the listener does not stay readable with nobody able to take it.
static void shed_connection(void) {
    uint64_t now = net_now_ms();
    if (now - net.last_accept_warning > 1000) {
        say("accept: %s (connections are refused)", strerror(errno));
        net.last_accept_warning = now;
    }
    if (net.reserve_fd >= 0) close(net.reserve_fd);
    int fd = accept(net.listener, NULL, NULL);
    if (fd >= 0) close(fd);
    net.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static void accept_all(void) {
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
            if (errno != EAGAIN && errno != EWOULDBLOCK) say("accept: %s", strerror(errno));
            return;
        }
    }
}

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
        conn_fail(c, 426, "UPGRADE_REQUIRED", "Only WebSocket version 13 is served.", "Sec-WebSocket-Version: 13");
        return false;
    }
    if (!shaped || !valid_key(key)) {
        conn_fail(c, 400, "BAD_REQUEST", "The WebSocket handshake is not valid.", NULL);
        return false;
    }
    return true;
}

static void ws_upgrade(Conn *c, NetExchange *x) {
    const NetRequest *r = &x->request;
    if (!ws_handshake_sound(c, x)) return;
    const char *key = net_header(r->headers, r->nheaders, "sec-websocket-key");
    const char *protocol = net.handlers.upgrade ? net.handlers.upgrade(r) : NULL;
    if (!protocol || (*protocol && !is_token(protocol))) {
        char message[160];
        snprintf(message, sizeof message, "No WebSocket is served at %.100s.", r->path);
        conn_fail(c, 404, "NOT_FOUND", message, NULL);
        return;
    }
    char accept[29];
    ws_accept_key(key, 24, accept);
    Buf *b = &c->out.buf;
    buf_appends(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n");
    append_header(b, "Sec-WebSocket-Accept", accept);
    if (*protocol) append_header(b, "Sec-WebSocket-Protocol", protocol);
    buf_append(b, "\r\n", 2);
    NetWs *ws = must(calloc(1, sizeof *ws));
    ws->conn = c;
    timer_init(&ws->timer, ws_timer_fired, ws);
    c->ws = ws;
    c->state = CONN_WS;
    timer_stop(&c->timer);
    conn_flush(c);
    if (net.handlers.ws_open) net.handlers.ws_open(ws, r);
}

static void ws_write(Conn *c, int opcode, const void *data, size_t len) {
    ws_write_frame(&c->out.buf, opcode, data, len, false);
    conn_flush(c);
    conn_check_backlog(c);
}

// A client's protocol error: our close frame, then the connection ends without waiting.
static void ws_abort(NetWs *ws, int code, const char *reason) {
    Conn *c = ws->conn;
    if (!ws->closing) ws_write_close(&c->out.buf, code, reason, false);
    ws->closing = true;
    conn_finish(c);
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
        conn_finish(c);
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
        conn_finish(c);
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

static bool ws_read_frames(Conn *c) {
    NetWs *ws = c->ws;
    In *in = &c->in;
    if (!in_pending(in)) return false;
    WsFrame f;
    size_t used = 0;
    const char *reason;
    size_t max = net.limits.max_ws_message;
    WsParse r = ws_parse_frame((uint8_t *)in_data(in), in_pending(in), true, max, &f, &used, &reason);
    if (r == WS_PARSE_MORE) return false;
    if (r == WS_PARSE_ERROR) {
        ws_abort(ws, 1002, reason);
    } else if (r == WS_PARSE_TOO_BIG) {
        ws_abort(ws, 1009, "Message too big");
    } else {
        ws_on_frame(ws, &f);
        in_consume(in, used);
    }
    return true;
}

static void ws_close_client(NetWs *ws, int code, const char *reason) {
    Conn *c = ws->conn;
    if (!c || ws->closing) return;
    ws->closing = true;
    ws_write_close(&c->out.buf, sendable_code(code), reason, false);
    conn_flush(c);
    if (!c->dead) timer_after(&ws->timer, WS_CLOSE_WAIT_MS);
    if (ws->up) upws_shutdown(ws->up);
}

static void ws_timer_fired(void *context) {
    NetWs *ws = context;
    if (!ws->finishing) {  // the client never answered our close frame
        conn_close(ws->conn);
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

void net_ws_close(NetWs *ws, int code, const char *reason) { ws_close_client(ws, code, reason); }

void net_ws_set_data(NetWs *ws, void *data) { ws->data = data; }
void *net_ws_data(const NetWs *ws) { return ws->data; }

// --- WebSockets: the engine's side ---------------------------------------------------------------

static void upws_close(UpWs *u) {
    if (u->dead) return;
    u->dead = true;
    close(u->fd);
    timer_stop(&u->timer);
    if (u->ws) u->ws->up = NULL;
    u->ws = NULL;
    list_remove(&u->link);
    list_add(&net.dead_engines, &u->link);
}

// Detaches the engine's socket from the client's and closes it: a close frame when open.
static void upws_shutdown(UpWs *u) {
    if (u->ws) u->ws->up = NULL;
    u->ws = NULL;
    if (u->state == UPWS_CLOSING) return;
    if (u->state != UPWS_OPEN) {
        upws_close(u);
        return;
    }
    u->state = UPWS_CLOSING;
    ws_write_close(&u->out.buf, 1000, NULL, true);
    timer_after(&u->timer, WS_CLOSE_WAIT_MS);
    if (out_flush(u->fd, &u->out) < 0) upws_close(u);
}

// The engine's socket failed: it closes, and so does the client's, with `code`.
static void upws_fail(UpWs *u, int code, const char *reason) {
    NetWs *ws = u->ws;
    upws_close(u);
    if (ws) ws_close_client(ws, code, reason);
}

// The engine broke the protocol: it gets a close frame, the client a 1011.
static void upws_protocol_error(UpWs *u, int code, const char *reason) {
    NetWs *ws = u->ws;
    if (ws) ws->up = NULL;
    u->ws = NULL;
    if (u->state == UPWS_OPEN) {
        ws_write_close(&u->out.buf, code, reason, true);
        out_flush(u->fd, &u->out);
    }
    upws_close(u);
    if (ws) ws_close_client(ws, 1011, UNREACHABLE);
}

static void upws_flush(UpWs *u) {
    if (out_flush(u->fd, &u->out) < 0) {
        upws_fail(u, 1011, u->state == UPWS_OPEN ? "" : UNREACHABLE);
    } else if (out_pending(&u->out) > MAX_OUTPUT) {
        upws_protocol_error(u, 1008, "The guard's messages are not read");
    }
}

static void upws_timer_fired(void *context) {
    UpWs *u = context;
    if (u->state == UPWS_CLOSING) upws_close(u);
    else upws_fail(u, 1011, UNREACHABLE);  // no 101 in time
}

// Checks the engine's 101: 1 when it is sound, 0 when more bytes are needed, -1 otherwise.
static int upws_read_handshake(UpWs *u) {
    In *in = &u->in;
    long end = head_end(in_data(in), in_pending(in), &u->scan);
    if (end < 0 || (end == 0 && in_pending(in) > MAX_ANSWER_HEAD)) return -1;
    if (end == 0) return 0;
    char *line;
    size_t line_len, n;
    NetHeader headers[MAX_ANSWER_HEADERS];
    if (split_head(in_data(in), (size_t)end, &line, &line_len, headers, MAX_ANSWER_HEADERS, &n) != HEAD_OK) return -1;
    if (line_len < 12 || strncmp(line, "HTTP/1.1 101", 12) != 0 || (line_len > 12 && line[12] != ' ')) return -1;
    const char *upgrade = net_header(headers, n, "upgrade");
    const char *accept = net_header(headers, n, "sec-websocket-accept");
    const char *protocol = net_header(headers, n, "sec-websocket-protocol");
    bool sound = upgrade && has_token(upgrade, "websocket") && header_has_token(headers, n, "connection", "upgrade") &&
                 accept && strcmp(accept, u->accept) == 0 &&
                 (u->protocol.len ? protocol && strcmp(protocol, u->protocol.data) == 0 : !protocol);
    in_consume(in, (size_t)end);
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
        upws_close(u);
        return;
    }
    char reason[124] = "";
    if (f->len > 2) memcpy(reason, f->payload + 2, f->len - 2);
    NetWs *ws = u->ws;
    if (ws) ws->up = NULL;
    u->ws = NULL;
    u->state = UPWS_CLOSING;
    ws_write_frame(&u->out.buf, WS_CLOSE, f->payload, f->len, true);
    timer_after(&u->timer, WS_CLOSE_WAIT_MS);  // for the engine to close the connection
    if (out_flush(u->fd, &u->out) < 0) upws_close(u);
    if (ws) ws_close_client(ws, code, reason);
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
    while (!u->dead && in_pending(in)) {
        if (u->state == UPWS_HANDSHAKE) {
            int r = upws_read_handshake(u);
            if (r == 0) return;
            if (r < 0) {
                upws_fail(u, 1011, UNREACHABLE);
                return;
            }
            u->state = UPWS_OPEN;
            timer_stop(&u->timer);
            buf_append(&u->out.buf, u->pending.data, u->pending.len);
            buf_free(&u->pending);
            upws_flush(u);
            continue;
        }
        WsFrame f;
        size_t used = 0;
        const char *reason;
        size_t max = MAX_ENGINE_MESSAGE;
        WsParse r = ws_parse_frame((uint8_t *)in_data(in), in_pending(in), false, max, &f, &used, &reason);
        if (r == WS_PARSE_MORE) return;
        if (r != WS_PARSE_FRAME) {
            upws_protocol_error(u, r == WS_PARSE_TOO_BIG ? 1009 : 1002, reason);
            return;
        }
        upws_on_frame(u, &f);
        in_consume(in, used);
    }
}

static void upws_on_eof(UpWs *u) {
    // Dropped without a close frame: 1006, which the client gets as 1011.
    upws_fail(u, 1011, u->state == UPWS_OPEN ? "" : UNREACHABLE);
}

static void upws_event(UpWs *u, uint32_t events) {
    if (u->dead) return;
    if (u->state == UPWS_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        if (socket_error(u->fd)) {
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
        size_t have = in_pending(&u->in);
        if (have >= limit) break;
        size_t want = min_size(limit - have, READ_SIZE);
        ssize_t n = in_read(u->fd, &u->in, want);
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
    int fd = valid_target(target) ? connect_to(&origin->addr, &connecting) : -1;
    if (fd < 0) {
        ws_close_client(ws, 1011, UNREACHABLE);
        return;
    }
    UpWs *u = must(calloc(1, sizeof *u));
    u->kind = KIND_UPWS;
    u->fd = fd;
    u->state = connecting ? UPWS_CONNECTING : UPWS_HANDSHAKE;
    u->ws = ws;
    ws->up = u;
    timer_init(&u->timer, upws_timer_fired, u);
    list_add(&net.engines, &u->link);
    char key[25];
    ws_new_key(key);
    ws_accept_key(key, 24, u->accept);
    if (subprotocol && is_token(subprotocol)) buf_appends(&u->protocol, subprotocol);
    Buf *b = &u->out.buf;
    buf_printf(b, "GET %s HTTP/1.1\r\n", target);
    append_header(b, "Host", origin->authority);
    buf_appends(b, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n");
    append_header(b, "Sec-WebSocket-Key", key);
    if (u->protocol.len) append_header(b, "Sec-WebSocket-Protocol", u->protocol.data);
    for (size_t i = 0; i < n; i++) {
        if (request_header_allowed(&headers[i]) && strncasecmp(headers[i].name, "sec-websocket-", 14) != 0) {
            append_header(b, headers[i].name, headers[i].value);
        }
    }
    buf_append(b, "\r\n", 2);
    timer_after(&u->timer, WS_HANDSHAKE_MS);
    if (!watch(fd, u)) upws_fail(u, 1011, UNREACHABLE);
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

// --- calls to origins ------------------------------------------------------------------------------

NetOrigin *net_origin(const char *host, int port, int max_sockets) {
    struct sockaddr_in addr;
    if (!resolve(host, port, &addr)) {
        say("%s:%d is not an IPv4 address (or localhost) and port", host, port);
        return NULL;
    }
    NetOrigin *o = must(calloc(1, sizeof *o));
    o->addr = addr;
    snprintf(o->authority, sizeof o->authority, "%s:%d", host, port);
    o->max_sockets = max_sockets > 0 ? max_sockets : 1;
    list_init(&o->idle);
    list_init(&o->queue);
    list_add(&origins, &o->link);
    return o;
}

static void call_timer_fired(void *context);

static UpCall *call_new(NetOrigin *origin, const char *method, const char *target, const NetHeader *headers, size_t n,
                        const char *body, size_t body_len, NetAnswer done, void *context) {
    UpCall *call;
    if (!list_empty(&net.free_calls)) {
        call = CONTAINER(net.free_calls.next, UpCall, queued);
        list_remove(&call->queued);
        net.nfree_calls--;
    } else {
        call = must(calloc(1, sizeof *call));
        list_init(&call->queued);
    }
    call->origin = origin;
    call->done = done;
    call->context = context;
    timer_init(&call->timer, call_timer_fired, call);
    call->head_only = strcmp(method, "HEAD") == 0;
    Buf *b = &call->request;
    buf_appends(b, method);
    buf_appendc(b, ' ');
    buf_appends(b, target);
    buf_appends(b, " HTTP/1.1\r\n");
    append_header(b, "Host", origin->authority);
    buf_appends(b, "Connection: keep-alive\r\n");
    for (size_t i = 0; i < n; i++) {
        if (request_header_allowed(&headers[i])) append_header(b, headers[i].name, headers[i].value);
    }
    if (body) {
        char line[48];
        buf_append(b, line, (size_t)snprintf(line, sizeof line, "Content-Length: %zu\r\n", body_len));
    }
    buf_append(b, "\r\n", 2);
    if (body) buf_append(b, body, body_len);
    if (!is_token(method) || !valid_target(target)) {
        call_fail_later(call, "the request's method or target is not valid");
    }
    return call;
}

static void call_free(UpCall *call) {
    timer_stop(&call->timer);
    list_remove(&call->queued);
    buf_clear(&call->extra);
    buf_clear(&call->request);
    *call = (UpCall){.request = call->request, .extra = call->extra, .queued = call->queued};
    if (net.nfree_calls < FREE_CALLS && call->request.cap <= INPUT_BUFFER && !net.final) {
        list_add(&net.free_calls, &call->queued);
        net.nfree_calls++;
        return;
    }
    buf_free(&call->request);
    buf_free(&call->extra);
    free(call);
}

// Ends `call`: tells the guard, then forgets it.
static void call_end(UpCall *call, const NetResponse *answer, const char *error) {
    timer_stop(&call->timer);
    list_remove(&call->queued);
    if (call->x) call->x->call = NULL;
    call->x = NULL;
    call->done(answer, error, call->context);
    call_free(call);
}

static void call_fail_later(UpCall *call, const char *error) {
    if (error != call->error_text) snprintf(call->error_text, sizeof call->error_text, "%s", error);
    call->error = call->error_text;
    timer_after(&call->timer, 0);
}

static void call_timer_fired(void *context) {
    UpCall *call = context;
    if (!call->error) snprintf(call->error_text, sizeof call->error_text, NET_NO_ANSWER " %d ms", call->timeout_ms);
    UpConn *u = call->conn;
    if (u) {  // its answer may yet come and would be read as the next call's: closed, not kept
        u->call = NULL;
        call->conn = NULL;
        upconn_close(u);
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
    int fd = connect_to(&o->addr, &connecting);
    if (fd < 0) return NULL;
    UpConn *u = must(calloc(1, sizeof *u));
    u->kind = KIND_UPCONN;
    u->fd = fd;
    u->origin = o;
    u->connecting = connecting;
    list_init(&u->idle);
    list_add(&net.upconns, &u->link);
    o->nconns++;
    if (!watch(fd, u)) {
        upconn_close(u);
        errno = EIO;
        return NULL;
    }
    return u;
}

// The connection closes; the caller has dealt with its call, and dispatches the origin's
// queue when a slot it frees may be used.
static void upconn_close(UpConn *u) {
    if (u->dead) return;
    u->dead = true;
    close(u->fd);
    u->origin->nconns--;
    list_remove(&u->idle);
    list_remove(&u->link);
    list_add(&net.dead_upconns, &u->link);
}

static void call_connect_failed(UpCall *call, int error) {
    char text[160];
    snprintf(text, sizeof text, "connect to %.100s: %s", call->origin->authority, strerror(error));
    call_fail_later(call, text);
}

static void origin_dispatch(NetOrigin *o) {
    while (!list_empty(&o->queue)) {
        UpCall *call = CONTAINER(o->queue.next, UpCall, queued);
        UpConn *u = NULL;
        if (!list_empty(&o->idle)) {
            u = CONTAINER(o->idle.prev, UpConn, idle);
            list_remove(&u->idle);
            u->reused = true;
        } else if (o->nconns < o->max_sockets) {
            u = upconn_open(o);
            if (!u) {
                list_remove(&call->queued);
                call_connect_failed(call, errno);
                continue;
            }
            u->reused = false;
        } else {
            return;
        }
        list_remove(&call->queued);
        upconn_send(u, call);
    }
}

static void call_submit(UpCall *call, int timeout_ms) {
    if (call->error) return;  // refused by call_new
    if (net.final) {
        call_fail_later(call, SHUTTING_DOWN);
        return;
    }
    call->timeout_ms = timeout_ms;
    if (timeout_ms > 0) timer_after(&call->timer, timeout_ms);
    list_add(&call->origin->queue, &call->queued);
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
        if (answer_header_allowed(&extra[i])) append_header(&call->extra, extra[i].name, extra[i].value);
    }
    call->x = x;
    x->call = call;
    call_submit(call, timeout_ms);
}

// A relayed stream was cut (its client went away, or its upstream broke off): the
// exchange is freed, the upstream connection closed, and `done` told at the next turn.
static void stream_abort(NetExchange *x) {
    UpCall *call = x->call;
    x->call = NULL;
    call->x = NULL;
    if (x->conn) {
        x->conn->x = NULL;
        x->pending = false;
        conn_close(x->conn);
    }
    exchange_free(x);
    UpConn *u = call->conn;
    if (u) {
        u->call = NULL;
        call->conn = NULL;
        upconn_close(u);
        origin_dispatch(u->origin);
    }
    call_fail_later(call, "streamed");
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
    upconn_close(u);
    if (call && call->x && call->x->streaming) {
        stream_abort(call->x);
    } else if (call && stale && !call->retried) {
        call->retried = true;
        UpConn *fresh = upconn_open(u->origin);
        if (fresh) upconn_send(fresh, call);
        else call_connect_failed(call, errno);
    } else if (call) {
        call_fail_later(call, what);
    }
    origin_dispatch(u->origin);
}

static void upconn_flush(UpConn *u) {
    if (out_flush(u->fd, &u->out) < 0) upconn_broken(u, "the connection failed while sending");
}

static void upconn_release(UpConn *u) {
    if (u->body.cap > IDLE_BUFFER) buf_free(&u->body);
    if (u->head.cap > IDLE_BUFFER) buf_free(&u->head);
    buf_clear(&u->body);
    list_add(&u->origin->idle, &u->idle);
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
    append_status(b, u->status);
    for (size_t i = 0; i < u->nheaders; i++) {
        if (answer_header_allowed(&u->headers[i])) append_header(b, u->headers[i].name, u->headers[i].value);
    }
    buf_append(b, u->call->extra.data, u->call->extra.len);
    const char *length = net_header(u->headers, u->nheaders, "content-length");
    if (x->chunked_out) buf_appends(b, "Transfer-Encoding: chunked\r\n");
    else if (x->head_only && length && is_field_value(length)) append_header(b, "Content-Length", length);
    else if (!body && u->status != 204 && u->status != 304) buf_appends(b, "Content-Length: 0\r\n");
    if (!x->keep_alive) buf_appends(b, "Connection: close\r\n");
    buf_append(b, "\r\n", 2);
    conn_flush(c);
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
    conn_flush(c);
    conn_check_backlog(c);
}

static void stream_end(NetExchange *x) {
    Conn *c = x->conn;
    if (x->chunked_out) buf_append(&c->out.buf, "0\r\n\r\n", 5);
    x->streaming = false;
    x->pending = false;
    conn_flush(c);
    conn_answered(c, x->keep_alive);
}

static void upconn_complete(UpConn *u) {
    UpCall *call = u->call;
    bool reusable = u->keep_alive && !in_pending(&u->in) && !u->hangup;
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
        upconn_close(u);
        origin_dispatch(u->origin);
    }
}

// Takes the answer's head: -1 when it is not valid HTTP, 0 for more bytes, 1 when taken.
static int upconn_read_head(UpConn *u) {
    In *in = &u->in;
    long end = head_end(in_data(in), in_pending(in), &u->scan);
    if (end < 0 || (end == 0 && in_pending(in) > MAX_ANSWER_HEAD) || end > MAX_ANSWER_HEAD) return -1;
    if (end == 0) return 0;
    buf_clear(&u->head);
    buf_append(&u->head, in_data(in), (size_t)end);
    in_consume(in, (size_t)end);
    u->scan = 0;
    char *line;
    size_t line_len;
    HeadCheck check = split_head(u->head.data, u->head.len, &line, &line_len, u->headers, MAX_ANSWER_HEADERS,
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
        u->framing = has_token(coding, "chunked") ? FRAMING_CHUNKED : FRAMING_CLOSE;
    } else if (length) {
        if (!parse_length(length, &u->body_left)) return false;
        u->framing = u->body_left ? FRAMING_LENGTH : FRAMING_NONE;
    } else {
        u->framing = FRAMING_CLOSE;
    }
    bool close = header_has_token(u->headers, u->nheaders, "connection", "close");
    bool keep = header_has_token(u->headers, u->nheaders, "connection", "keep-alive");
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
        timer_stop(&u->call->timer);
        x->streaming = true;
        if (!x->conn) stream_abort(x);
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
            say("the answer from %s is not valid HTTP", u->origin->authority);
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
    ChunkStep step = chunk_step(&u->chunks, in_data(in), in_pending(in), &used, &at, &n);
    bool kept = step != CHUNK_GOT_DATA || upconn_body_data(u, in_data(in) + at, n);
    if (u->dead || !u->call) return false;
    in_consume(in, used);
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
    size_t take = u->framing == FRAMING_LENGTH ? min_size(in_pending(in), u->body_left) : in_pending(in);
    if (!take) return false;
    bool kept = upconn_body_data(u, in_data(in), take);
    if (u->dead || !u->call) return false;
    in_consume(in, take);
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
        upconn_close(u);
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
    int error = socket_error(u->fd);
    if (!error) {
        u->connecting = false;
        return true;
    }
    UpCall *call = u->call;
    u->call = NULL;
    if (call) call->conn = NULL;
    upconn_close(u);
    if (call) call_connect_failed(call, error);
    origin_dispatch(u->origin);
    return false;
}

static void upconn_pump(UpConn *u) {
    while (!u->dead && u->readable) {
        size_t limit = (u->head_done ? 0 : MAX_ANSWER_HEAD) + 4 * READ_SIZE;
        size_t have = in_pending(&u->in);
        if (have >= limit) break;
        size_t want = min_size(limit - have, READ_SIZE);
        ssize_t n = in_read(u->fd, &u->in, want);
        if (n > 0) {
            if ((size_t)n < want && !u->hangup) u->readable = false;
            if (!u->call) {  // nothing was asked: a server that talks out of turn is not reused
                upconn_close(u);
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

static void upconn_event(UpConn *u, uint32_t events) {
    if (u->dead) return;
    if (u->connecting && !(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (u->connecting && !upconn_connected(u)) return;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->hangup = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->readable = true;
    if (events & EPOLLOUT) upconn_flush(u);
    upconn_pump(u);
}

// --- the loop -----------------------------------------------------------------------------------

// Pumps the connections that were ready when it began; those readied meanwhile wait for
// the next turn, so that no client holds the loop.
static void drain_ready(void) {
    Conn *batch = net.ready;
    net.ready = NULL;
    while (batch) {
        Conn *c = batch;
        batch = c->next_ready;
        c->ready = false;
        if (!c->dead) conn_pump(c);
    }
}

static void reap(void) {
    for (Link *l = net.dead_conns.next, *next; l != &net.dead_conns; l = next) {
        next = l->next;
        Conn *c = CONTAINER(l, Conn, link);
        if (c->ready) continue;  // still on net.ready: freed once drained
        list_remove(&c->link);
        if (c->x) exchange_free(c->x);
        buf_free(&c->in.buf);
        buf_free(&c->out.buf);
        free(c);
    }
    while (!list_empty(&net.dead_upconns)) {
        UpConn *u = CONTAINER(net.dead_upconns.next, UpConn, link);
        list_remove(&u->link);
        buf_free(&u->in.buf);
        buf_free(&u->out.buf);
        buf_free(&u->head);
        buf_free(&u->body);
        free(u);
    }
    while (!list_empty(&net.dead_engines)) {
        UpWs *u = CONTAINER(net.dead_engines.next, UpWs, link);
        list_remove(&u->link);
        buf_free(&u->in.buf);
        buf_free(&u->out.buf);
        buf_free(&u->pending);
        buf_free(&u->message);
        buf_free(&u->protocol);
        free(u);
    }
}

static void begin_stop(void) {
    net.stopping = true;
    net.stop_at = net_now_ms() + SHUTDOWN_GRACE_MS;
    close(net.listener);
    net.listener = -1;
    for (Link *l = net.conns.next, *next; l != &net.conns; l = next) {
        next = l->next;
        Conn *c = CONTAINER(l, Conn, link);
        if (c->state == CONN_IDLE && !out_pending(&c->out)) conn_close(c);
        else if (c->ws) ws_close_client(c->ws, 1001, "The gateway is shutting down");
    }
}

static void on_signal(void) {
    struct signalfd_siginfo info;
    while (read(net.signals, &info, sizeof info) == (ssize_t)sizeof info) {
        if (!net.stopping) begin_stop();
    }
}

static void dispatch(void *source, uint32_t events) {
    switch (*(const int *)source) {
    case KIND_LISTENER:
        accept_all();
        break;
    case KIND_SIGNALS:
        on_signal();
        break;
    case KIND_CONN:
        conn_event(source, events);
        break;
    case KIND_UPCONN:
        upconn_event(source, events);
        break;
    default:
        upws_event(source, events);
        break;
    }
}

static void run_loop(void) {
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        uint64_t now = net_now_ms();
        if (net.stopping && (list_empty(&net.conns) || now >= net.stop_at)) return;
        int timeout = net.ready ? 0 : next_timeout();
        if (net.stopping && (timeout < 0 || (uint64_t)timeout > net.stop_at - now)) timeout = (int)(net.stop_at - now);
        int n = epoll_wait(net.epoll, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            say("epoll_wait: %s", strerror(errno));
            return;
        }
        for (int i = 0; i < n; i++) dispatch(events[i].data.ptr, events[i].events);
        drain_ready();
        run_timers();
        drain_ready();
        reap();
    }
}

// Closes every socket: calls in flight fail and WebSockets end, at the next turn.
static void close_sockets(void) {
    while (!list_empty(&net.conns)) conn_close(CONTAINER(net.conns.next, Conn, link));
    while (!list_empty(&net.engines)) upws_close(CONTAINER(net.engines.next, UpWs, link));
    while (!list_empty(&net.upconns)) {
        UpConn *u = CONTAINER(net.upconns.next, UpConn, link);
        UpCall *call = u->call;
        u->call = NULL;
        upconn_close(u);
        if (!call) continue;
        call->conn = NULL;
        call_fail_later(call, SHUTTING_DOWN);
    }
    for (Link *l = origins.next; l != &origins; l = l->next) {
        NetOrigin *o = CONTAINER(l, NetOrigin, link);
        while (!list_empty(&o->queue)) {
            UpCall *call = CONTAINER(o->queue.next, UpCall, queued);
            list_remove(&call->queued);
            call_fail_later(call, SHUTTING_DOWN);
        }
    }
}

// Frees what is left once nothing can run: exchanges the guard never answered, timers
// that never fired, spare buffers and calls, and the origins.
static void free_leftovers(void) {
    while (!list_empty(&net.orphans)) exchange_free(CONTAINER(net.orphans.next, NetExchange, orphan));
    while (heap.len) {
        Timer *t = heap.items[0];
        timer_stop(t);
        if (t->fire == user_timer_fired) free(t->context);
    }
    while (!list_empty(&net.free_calls)) {
        UpCall *call = CONTAINER(net.free_calls.next, UpCall, queued);
        list_remove(&call->queued);
        buf_free(&call->request);
        buf_free(&call->extra);
        free(call);
    }
    while (!list_empty(&origins)) {
        NetOrigin *o = CONTAINER(origins.next, NetOrigin, link);
        list_remove(&o->link);
        free(o);
    }
    while (spares.len) buf_free(&spares.items[--spares.len]);
    free(heap.items);
    heap.items = NULL;
    heap.len = heap.cap = 0;
    buf_free(&net.scratch);
}

// After the loop: every socket closes, the guard hears of every call that fails and every
// WebSocket that ends, then what is left is freed.
static void close_everything(void) {
    net.final = true;
    close_sockets();
    do {
        drain_ready();
        reap();
    } while (run_timers());
    drain_ready();
    reap();
    free_leftovers();
}

static void net_reset(const NetLimits *limits, const NetHandlers *handlers) {
    net.limits = *limits;
    net.handlers = *handlers;
    net.epoll = net.listener = net.signals = net.reserve_fd = -1;
    net.stopping = net.final = false;
    net.ready = NULL;
    net.nfree_calls = 0;
    Link *lists[] = {&net.conns, &net.dead_conns, &net.upconns, &net.dead_upconns, &net.engines,
                     &net.dead_engines, &net.orphans, &net.free_calls};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) list_init(lists[i]);
}

static int open_listener(const char *host, int port) {
    struct sockaddr_in addr;
    if (!resolve(host, port, &addr)) {
        say("cannot listen on %s:%d: not an IPv4 address and port", host, port);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
        say("cannot listen on %s:%d: %s", host, port, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

// The signals that stop the loop arrive on a descriptor instead of interrupting it.
static int open_signals(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, &net.old_mask);
    int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0) say("signalfd: %s", strerror(errno));
    return fd;
}

int net_serve(const char *host, int port, const NetLimits *limits, const NetHandlers *handlers) {
    net_reset(limits, handlers);
    signal(SIGPIPE, SIG_IGN);
    net.listener = open_listener(host, port);
    net.epoll = epoll_create1(EPOLL_CLOEXEC);
    net.signals = open_signals();
    net.reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct epoll_event listen_event = {.events = EPOLLIN | EPOLLET, .data.ptr = (void *)&listener_kind};
    struct epoll_event signal_event = {.events = EPOLLIN, .data.ptr = (void *)&signals_kind};
    bool ready = net.listener >= 0 && net.epoll >= 0 && net.signals >= 0 &&
                 epoll_ctl(net.epoll, EPOLL_CTL_ADD, net.listener, &listen_event) == 0 &&
                 epoll_ctl(net.epoll, EPOLL_CTL_ADD, net.signals, &signal_event) == 0;
    if (ready) run_loop();
    else if (net.listener >= 0) say("cannot start the loop: %s", strerror(errno));
    close_everything();
    int fds[] = {net.listener, net.signals, net.epoll, net.reserve_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
    sigprocmask(SIG_SETMASK, &net.old_mask, NULL);
    return ready ? 0 : 1;
}
