// The network layer's loop (net_serve): one thread, one edge-triggered epoll loop, with its
// timers, the sockets' buffers, and the shutdown that ends it; the helpers every part of
// net uses (lists, sockets, memory) are here too.
#include "net_internal.h"

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
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

void *net_must(void *p) {
    if (!p) {
        fputs("[guard] out of memory\n", stderr);
        abort();
    }
    return p;
}

void net_say(const char *format, ...) {
    char line[512];
    va_list args;
    va_start(args, format);
    vsnprintf(line, sizeof line, format, args);
    va_end(args);
    fprintf(stderr, "[guard] %s\n", line);
}

size_t net_min_size(size_t a, size_t b) { return a < b ? a : b; }

// --- intrusive lists ----------------------------------------------------------------------

void net_list_init(Link *l) { l->prev = l->next = l; }
bool net_list_empty(const Link *head) { return head->next == head; }

void net_list_add(Link *head, Link *item) {
    item->next = head;
    item->prev = head->prev;
    head->prev->next = item;
    head->prev = item;
}

void net_list_remove(Link *item) {
    item->prev->next = item->next;
    item->next->prev = item->prev;
    net_list_init(item);
}

// --- timers: a binary heap ordered by deadline, then by arming order --------------------------

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

void net_timer_init(Timer *t, void (*fire)(void *), void *context) {
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

void net_timer_stop(Timer *t) {
    if (t->slot == NOT_ARMED) return;
    size_t i = t->slot;
    t->slot = NOT_ARMED;
    Timer *last = heap.items[--heap.len];
    if (i == heap.len) return;
    heap_place(i, last);
    heap_up(i);
    heap_down(last->slot);
}

void net_timer_start(Timer *t, uint64_t at) {
    net_timer_stop(t);
    if (heap.len == heap.cap) {
        heap.cap = heap.cap ? heap.cap * 2 : 64;
        heap.items = net_must(realloc(heap.items, heap.cap * sizeof *heap.items));
    }
    t->at = at;
    t->seq = heap.seq++;
    heap.items[heap.len] = t;
    t->slot = heap.len++;
    heap_up(t->slot);
}

void net_timer_after(Timer *t, int ms) { net_timer_start(t, net_now_ms() + (uint64_t)(ms > 0 ? ms : 0)); }

// Fires the timers due now that were armed before this turn: one re-arming itself at 0 ms
// waits for the next turn instead of starving the sockets.
static bool run_timers(void) {
    uint64_t now = net_now_ms();
    uint64_t limit = heap.seq;
    bool fired = false;
    while (heap.len && heap.items[0]->at <= now && heap.items[0]->seq < limit) {
        Timer *t = heap.items[0];
        net_timer_stop(t);
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
    NetTimer *t = net_must(calloc(1, sizeof *t));
    t->fire = fire;
    t->context = context;
    net_timer_init(&t->timer, user_timer_fired, t);
    net_timer_after(&t->timer, ms);
    return t;
}

void net_timer_cancel(NetTimer *timer) {
    if (!timer) return;
    net_timer_stop(&timer->timer);
    free(timer);
}

// --- socket buffers ------------------------------------------------------------------------

// Input buffers are lent to a socket while it holds unread bytes and given back when it
// has none, so that an idle connection or WebSocket holds no buffer and a busy one
// takes no malloc per read.
static struct {
    Buf items[SPARE_INPUTS];
    size_t len;
} spares;

size_t net_in_pending(const In *in) { return in->buf.len - in->off; }
// Never NULL, even without a buffer: parsers may look at zero bytes of it.
char *net_in_data(const In *in) {
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

void net_in_consume(In *in, size_t n) {
    in->off += n;
    if (in->off >= in->buf.len) in_release(in);
}

// One recv of at most `want` bytes: how many came, 0 at EOF, READ_AGAIN or READ_FAILED.
ssize_t net_in_read(int fd, In *in, size_t want) {
    if (in->off && in->buf.cap - in->buf.len - 1 < want) {
        memmove(in->buf.data, in->buf.data + in->off, net_in_pending(in));
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

size_t net_out_pending(const Out *o) { return o->buf.len - o->off; }

void net_out_reset(Out *o) {
    o->off = 0;
    o->buf.len = 0;
    if (o->buf.cap > IDLE_BUFFER) buf_free(&o->buf);
    else if (o->buf.data) o->buf.data[0] = 0;
}

// Sends what the socket takes: 1 when all is sent, 0 when it is full, -1 when it failed.
int net_out_flush(int fd, Out *o) {
    while (o->off < o->buf.len) {
        ssize_t n = send(fd, o->buf.data + o->off, o->buf.len - o->off, MSG_NOSIGNAL);
        if (n >= 0) {
            o->off += (size_t)n;
            continue;
        }
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        if (o->off > COMPACT_OUTPUT) {  // a long stream to a slow reader must not only grow
            memmove(o->buf.data, o->buf.data + o->off, net_out_pending(o));
            o->buf.len -= o->off;
            o->off = 0;
        }
        return 0;
    }
    net_out_reset(o);
    return 1;
}

// --- the loop's state ---------------------------------------------------------------------

Link net_origins = {&net_origins, &net_origins};
static const int listener_kind = KIND_LISTENER;
static const int signals_kind = KIND_SIGNALS;

struct NetLoop net;

bool net_watch(int fd, void *source) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = source};
    if (epoll_ctl(net.epoll, EPOLL_CTL_ADD, fd, &ev) == 0) return true;
    net_say("epoll_ctl: %s", strerror(errno));
    return false;
}

// A non-blocking socket connecting to `addr`, or -1 (errno set) when that failed at once.
int net_connect_to(const struct sockaddr_in *addr, bool *connecting) {
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

int net_socket_error(int fd) {
    int error = 0;
    socklen_t len = sizeof error;
    return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0 ? errno : error;
}

bool net_resolve(const char *host, int port, struct sockaddr_in *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (port < 1 || port > 65535) return false;
    if (strcmp(host, "localhost") == 0) host = "127.0.0.1";
    return inet_pton(AF_INET, host, &addr->sin_addr) == 1;
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
        if (!c->dead) net_conn_pump(c);
    }
}

static void reap(void) {
    for (Link *l = net.dead_conns.next, *next; l != &net.dead_conns; l = next) {
        next = l->next;
        Conn *c = CONTAINER(l, Conn, link);
        if (c->ready) continue;  // still on net.ready: freed once drained
        net_list_remove(&c->link);
        if (c->x) net_exchange_free(c->x);
        buf_free(&c->in.buf);
        buf_free(&c->out.buf);
        free(c);
    }
    while (!net_list_empty(&net.dead_upconns)) {
        UpConn *u = CONTAINER(net.dead_upconns.next, UpConn, link);
        net_list_remove(&u->link);
        buf_free(&u->in.buf);
        buf_free(&u->out.buf);
        buf_free(&u->head);
        buf_free(&u->body);
        free(u);
    }
    while (!net_list_empty(&net.dead_engines)) {
        UpWs *u = CONTAINER(net.dead_engines.next, UpWs, link);
        net_list_remove(&u->link);
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
        if (c->state == CONN_IDLE && !net_out_pending(&c->out)) net_conn_close(c);
        else if (c->ws) net_ws_close_client(c->ws, 1001, "The gateway is shutting down");
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
        net_accept_all();
        break;
    case KIND_SIGNALS:
        on_signal();
        break;
    case KIND_CONN:
        net_conn_event(source, events);
        break;
    case KIND_UPCONN:
        net_upconn_event(source, events);
        break;
    default:
        net_upws_event(source, events);
        break;
    }
}

static void run_loop(void) {
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        uint64_t now = net_now_ms();
        if (net.stopping && (net_list_empty(&net.conns) || now >= net.stop_at)) return;
        int timeout = net.ready ? 0 : next_timeout();
        if (net.stopping && (timeout < 0 || (uint64_t)timeout > net.stop_at - now)) timeout = (int)(net.stop_at - now);
        int n = epoll_wait(net.epoll, events, MAX_EVENTS, timeout);
        if (n < 0 && errno != EINTR) {
            net_say("epoll_wait: %s", strerror(errno));
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
    while (!net_list_empty(&net.conns)) net_conn_close(CONTAINER(net.conns.next, Conn, link));
    while (!net_list_empty(&net.engines)) net_upws_close(CONTAINER(net.engines.next, UpWs, link));
    while (!net_list_empty(&net.upconns)) {
        UpConn *u = CONTAINER(net.upconns.next, UpConn, link);
        UpCall *call = u->call;
        u->call = NULL;
        net_upconn_close(u);
        if (!call) continue;
        call->conn = NULL;
        net_call_fail_later(call, SHUTTING_DOWN);
    }
    for (Link *l = net_origins.next; l != &net_origins; l = l->next) {
        NetOrigin *o = CONTAINER(l, NetOrigin, link);
        while (!net_list_empty(&o->queue)) {
            UpCall *call = CONTAINER(o->queue.next, UpCall, queued);
            net_list_remove(&call->queued);
            net_call_fail_later(call, SHUTTING_DOWN);
        }
    }
}

// Frees what is left once nothing can run: exchanges the guard never answered, timers
// that never fired, spare buffers and calls, and the origins.
static void free_leftovers(void) {
    while (!net_list_empty(&net.orphans)) net_exchange_free(CONTAINER(net.orphans.next, NetExchange, orphan));
    while (heap.len) {
        Timer *t = heap.items[0];
        net_timer_stop(t);
        if (t->fire == user_timer_fired) free(t->context);
    }
    while (!net_list_empty(&net.free_calls)) {
        UpCall *call = CONTAINER(net.free_calls.next, UpCall, queued);
        net_list_remove(&call->queued);
        buf_free(&call->request);
        buf_free(&call->extra);
        free(call);
    }
    while (!net_list_empty(&net_origins)) {
        NetOrigin *o = CONTAINER(net_origins.next, NetOrigin, link);
        net_list_remove(&o->link);
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
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) net_list_init(lists[i]);
}

static int open_listener(const char *host, int port) {
    struct sockaddr_in addr;
    if (!net_resolve(host, port, &addr)) {
        net_say("cannot listen on %s:%d: not an IPv4 address and port", host, port);
        return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0) {
        net_say("cannot listen on %s:%d: %s", host, port, strerror(errno));
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
    if (fd < 0) net_say("signalfd: %s", strerror(errno));
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
    else if (net.listener >= 0) net_say("cannot start the loop: %s", strerror(errno));
    close_everything();
    int fds[] = {net.listener, net.signals, net.epoll, net.reserve_fd};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
    sigprocmask(SIG_SETMASK, &net.old_mask, NULL);
    return ready ? 0 : 1;
}
