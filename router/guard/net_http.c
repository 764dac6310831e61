// HTTP/1.1 as net reads and writes it (RFC 9112): header fields and what may be sent in them,
// heads (the request or status line and the header fields), chunked bodies, and the text of
// answers (status lines, the Date header, net's own JSON errors).
#include "net_internal.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

// --- bytes and header fields ---------------------------------------------------------------

bool net_is_tchar(unsigned char c) {
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

bool net_is_token(const char *s) {
    if (!*s) return false;
    for (; *s; s++) {
        if (!net_is_tchar((unsigned char)*s)) return false;
    }
    return true;
}

bool net_is_field_value(const char *s) {
    for (; *s; s++) {
        if (!is_field_char((unsigned char)*s)) return false;
    }
    return true;
}

bool net_name_is(const char *name, const char *wanted) { return strcasecmp(name, wanted) == 0; }

// Whether the comma-separated list `value` holds `token` (case-insensitive).
bool net_has_token(const char *value, const char *token) {
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
        if (net_name_is(headers[i].name, name)) return headers[i].value;
    }
    return NULL;
}

bool net_header_has_token(const NetHeader *headers, size_t n, const char *name, const char *token) {
    for (size_t i = 0; i < n; i++) {
        if (net_name_is(headers[i].name, name) && net_has_token(headers[i].value, token)) return true;
    }
    return false;
}

// Digits only (RFC 9110 section 8.6); values too large for size_t saturate.
bool net_parse_length(const char *s, size_t *out) {
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
        if (net_name_is(name, names[i])) return true;
    }
    return false;
}

// Whether a header given for an answer net writes may go in it: net writes the framing
// and the date itself, and a value with a line break would split the message.
bool net_answer_header_allowed(const NetHeader *h) {
    return !hop_by_hop(h->name) && !net_name_is(h->name, "content-length") && !net_name_is(h->name, "date") &&
           net_is_token(h->name) && net_is_field_value(h->value);
}

// A request target net may write into a request line: origin-form, no space or control.
bool net_valid_target(const char *target) {
    if (*target != '/') return false;
    for (; *target; target++) {
        if ((unsigned char)*target <= 0x20 || (unsigned char)*target == 0x7F) return false;
    }
    return true;
}

bool net_request_header_allowed(const NetHeader *h) {
    return !hop_by_hop(h->name) && !net_name_is(h->name, "content-length") && !net_name_is(h->name, "host") &&
           net_is_token(h->name) && net_is_field_value(h->value);
}

// --- heads: the request or status line and the header fields --------------------------------

// Looks for the empty line that ends a head, from *scan on: the head's length when found,
// 0 when more bytes are needed, -1 at a line ending in a bare LF.
long net_head_end(const char *p, size_t len, size_t *scan) {
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
    while (colon < len && net_is_tchar((unsigned char)line[colon])) colon++;
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

// Splits a whole head (ending with its empty line; net_head_end has checked every LF has
// its CR) in place: the first line, NUL-terminated, and up to `max` header fields.
HeadCheck net_split_head(char *head, size_t len, char **first, size_t *first_len, NetHeader *headers, size_t max,
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
ChunkStep net_chunk_step(Chunked *ch, const char *p, size_t len, size_t *used, size_t *data_at, size_t *data_len) {
    size_t i = 0;
    for (;;) {
        *used = i;
        if (ch->state == CHUNK_DATA) {
            if (i == len) return CHUNK_MORE;
            size_t n = net_min_size(len - i, ch->left);
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

void net_append_header(Buf *b, const char *name, const char *value) {
    buf_appends(b, name);
    buf_append(b, ": ", 2);
    buf_appends(b, value);
    buf_append(b, "\r\n", 2);
}

void net_append_status(Buf *b, int status) {
    if (status < 100 || status > 999) status = 500;
    char digits[5] = {(char)('0' + status / 100), (char)('0' + status / 10 % 10), (char)('0' + status % 10), ' ', 0};
    buf_append(b, "HTTP/1.1 ", 9);
    buf_append(b, digits, 4);
    buf_appends(b, status_reason(status));
    buf_append(b, "\r\n", 2);
    net_append_header(b, "Date", http_date());
}

void net_append_error_json(Buf *b, const char *message, const char *code) {
    buf_appends(b, "{\"errors\":[{\"message\":");
    buf_json_string(b, message, strlen(message));
    buf_appends(b, ",\"extensions\":{\"code\":");
    buf_json_string(b, code, strlen(code));
    buf_appends(b, "}}]}");
}
