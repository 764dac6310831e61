// The lexer of GraphQL executable documents, which graphql_parser.c drives: tokens read as
// graphql-js 16 reads them, with its syntax error texts and places.
#include "graphql_internal.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "utf8.h"

// --- Characters --------------------------------------------------------------------------

static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_name_start(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_name_continue(int c) { return is_name_start(c) || is_digit(c); }
static bool is_scalar_value(long c) { return (c >= 0 && c <= 0xD7FF) || (c >= 0xE000 && c <= 0x10FFFF); }

static void utf8_append(Buf *out, uint32_t code_point) {
    char bytes[4];
    buf_append(out, bytes, utf8_encode(code_point, bytes));
}

static uint32_t count_code_points(const unsigned char *s, size_t len) {
    uint32_t n = 0;
    for (size_t i = 0; i < len; i++) n += (s[i] & 0xC0) != 0x80;
    return n;
}

// `len` bytes into `out` (room bytes, NUL-terminated), a NUL byte shown as U+FFFD: messages
// are C strings. Returns the length written.
size_t gql_copy_showing_nul(char *out, size_t room, const char *bytes, size_t len) {
    size_t at = 0;
    for (size_t i = 0; i < len && at + 4 < room; i++) {
        if (bytes[i]) {
            out[at++] = bytes[i];
        } else {
            memcpy(out + at, "\xEF\xBF\xBD", 3);
            at += 3;
        }
    }
    out[at] = 0;
    return at;
}

static GqlLoc make_loc(size_t line, size_t column) {
    GqlLoc loc = {line > UINT32_MAX ? UINT32_MAX : (uint32_t)line, column > UINT32_MAX ? UINT32_MAX : (uint32_t)column};
    return loc;
}

// --- Lexer -------------------------------------------------------------------------------

// graphql-js's getLocation: lines end at \r\n, \n or \r; columns count code points here.
static GqlLoc locate(const Parser *p, size_t position) {
    size_t line = 1;
    size_t line_start = 0;
    size_t i = 0;
    while (i < position && i < p->len) {
        unsigned char c = p->src[i++];
        if (c == '\r' && i < p->len && p->src[i] == '\n') i++;
        if (c == '\n' || c == '\r') {
            line++;
            line_start = i;
        }
    }
    size_t end = position < p->len ? position : p->len;
    size_t column = 1 + (end > line_start ? count_code_points(p->src + line_start, end - line_start) : 0);
    return make_loc(line, column);
}

__attribute__((format(printf, 3, 4))) _Noreturn void gql_syntax_error(Parser *p, size_t position,
                                                                      const char *format, ...) {
    char description[sizeof p->error->message];
    va_list args;
    va_start(args, format);
    vsnprintf(description, sizeof description, format, args);
    va_end(args);
    gql_error_start(p->error, "GRAPHQL_PARSE_FAILED", NULL, 0);
    gql_error_format(p->error, "Syntax Error: %s", description);
    gql_error_locate(p->error, locate(p, position));
    longjmp(p->fail, 1);
}

_Noreturn void gql_too_many_tokens(Parser *p) {
    gql_error_start(p->error, "GRAPHQL_VALIDATION_FAILED", "tokens", (long)p->max_tokens);
    gql_error_format(p->error,
                     "The document has more than %zu tokens: ask for fewer fields, or split the operation into several requests.",
                     p->max_tokens);
    longjmp(p->fail, 1);
}

static int byte_at(const Parser *p, size_t position) { return position < p->len ? p->src[position] : -1; }

// How graphql-js's printCodePointAt shows the character at `position` ("<EOF>" past the end);
// a byte that is not UTF-8 shows as U+FFFD, what a decoder would have made of it.
static const char *describe_character(const Parser *p, size_t position, char out[16]) {
    if (position >= p->len) return "<EOF>";
    uint32_t cp;
    if (!utf8_decode(p->src + position, p->len - position, &cp)) cp = 0xFFFD;
    if (cp == '"') snprintf(out, 16, "'\"'");
    else if (cp >= 0x20 && cp <= 0x7E) snprintf(out, 16, "\"%c\"", (char)cp);
    else snprintf(out, 16, "U+%04X", (unsigned)cp);
    return out;
}

// The bytes of up to `count` characters from `position` (fewer at the end): the slices
// graphql-js quotes in its escape sequence errors.
static size_t characters_length(const Parser *p, size_t position, size_t count) {
    size_t end = position;
    for (size_t i = 0; i < count && end < p->len; i++) {
        size_t n = utf8_length(p->src + end, p->len - end);
        end += n ? n : 1;
    }
    return end - position;
}

// The length of the character at `position` when it may be in a string or comment (any
// Unicode scalar value), or 0 when it is not UTF-8.
static size_t source_character(const Parser *p, size_t position) {
    return p->src[position] < 0x80 ? 1 : utf8_length(p->src + position, p->len - position);
}

static void new_line(Parser *p, size_t position) {
    p->line++;
    p->line_start = position;
}

static GqlLoc token_loc(Parser *p, size_t start) {
    if (p->column_offset < p->line_start) {
        p->column_offset = p->line_start;
        p->column = 1;
    }
    p->column += count_code_points(p->src + p->column_offset, start - p->column_offset);
    p->column_offset = start;
    return make_loc(p->line, p->column);
}

static Token make_token(Parser *p, TokenKind kind, size_t start, size_t end) {
    Token t = {kind, start, end, token_loc(p, start), NULL, 0};
    if (kind >= TOKEN_NAME) {
        t.value = (const char *)p->src + start;
        t.value_len = end - start;
    }
    return t;
}

static Token decoded_token(Parser *p, TokenKind kind, size_t start, size_t end) {
    Token t = make_token(p, kind, start, end);
    t.value = arena_strndup(p->arena, p->text.data ? p->text.data : "", p->text.len);
    t.value_len = p->text.len;
    return t;
}

static size_t skip_comment(const Parser *p, size_t position) {
    position++;
    while (position < p->len && p->src[position] != '\n' && p->src[position] != '\r') {
        size_t n = source_character(p, position);
        if (!n) break;
        position += n;
    }
    return position;
}

static size_t read_digits(Parser *p, size_t position) {
    char shown[16];
    if (!is_digit(byte_at(p, position))) {
        gql_syntax_error(p, position, "Invalid number, expected digit but got: %s.", describe_character(p, position, shown));
    }
    while (is_digit(byte_at(p, position))) position++;
    return position;
}

static Token read_number(Parser *p, size_t start) {
    char shown[16];
    size_t position = start;
    bool is_float = false;
    if (byte_at(p, position) == '-') position++;
    if (byte_at(p, position) == '0') {
        position++;
        if (is_digit(byte_at(p, position))) {
            gql_syntax_error(p, position, "Invalid number, unexpected digit after 0: %s.", describe_character(p, position, shown));
        }
    } else {
        position = read_digits(p, position);
    }
    if (byte_at(p, position) == '.') {
        is_float = true;
        position = read_digits(p, position + 1);
    }
    if (byte_at(p, position) == 'E' || byte_at(p, position) == 'e') {
        is_float = true;
        position++;
        if (byte_at(p, position) == '+' || byte_at(p, position) == '-') position++;
        position = read_digits(p, position);
    }
    if (byte_at(p, position) == '.' || is_name_start(byte_at(p, position))) {
        gql_syntax_error(p, position, "Invalid number, expected digit but got: %s.", describe_character(p, position, shown));
    }
    return make_token(p, is_float ? TOKEN_FLOAT : TOKEN_INT, start, position);
}

static Token read_name(Parser *p, size_t start) {
    size_t position = start + 1;
    while (is_name_continue(byte_at(p, position))) position++;
    return make_token(p, TOKEN_NAME, start, position);
}

static int hex_digit(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Four hex digits at `position`, or -1.
static long read_hex4(const Parser *p, size_t position) {
    long value = 0;
    for (size_t i = 0; i < 4; i++) {
        int digit = hex_digit(byte_at(p, position + i));
        if (digit < 0) return -1;
        value = value << 4 | digit;
    }
    return value;
}

static _Noreturn void invalid_escape(Parser *p, const char *what, size_t position, size_t length) {
    char sequence[64];
    gql_copy_showing_nul(sequence, sizeof sequence, (const char *)p->src + position, length);
    gql_syntax_error(p, position, "Invalid %s escape sequence: \"%s\".", what, sequence);
}

// \u{...}: graphql-js reads at most 12 characters, its code point in 32-bit arithmetic.
static size_t read_unicode_variable_escape(Parser *p, size_t position) {
    int32_t point = 0;
    size_t end = position + 3;
    for (size_t size = 3; size < 12; size++) {
        int c = byte_at(p, end);
        if (end < p->len) end += characters_length(p, end, 1);
        if (c == '}') {
            if (size + 1 < 5 || !is_scalar_value(point)) break;
            utf8_append(&p->text, (uint32_t)point);
            return end - position;
        }
        int digit = hex_digit(c);
        point = digit < 0 ? -1 : (int32_t)((uint32_t)point << 4 | (uint32_t)digit);
        if (point < 0) break;
    }
    invalid_escape(p, "Unicode", position, end - position);
}

// \uXXXX, or a surrogate pair of two of them.
static size_t read_unicode_fixed_escape(Parser *p, size_t position) {
    long code = read_hex4(p, position + 2);
    if (is_scalar_value(code)) {
        utf8_append(&p->text, (uint32_t)code);
        return 6;
    }
    if (code >= 0xD800 && code <= 0xDBFF && byte_at(p, position + 6) == '\\' && byte_at(p, position + 7) == 'u') {
        long trailing = read_hex4(p, position + 8);
        if (trailing >= 0xDC00 && trailing <= 0xDFFF) {
            utf8_append(&p->text, (uint32_t)(0x10000 + ((code - 0xD800) << 10) + (trailing - 0xDC00)));
            return 12;
        }
    }
    invalid_escape(p, "Unicode", position, characters_length(p, position, 6));
}

// The escape sequence at `position` (a backslash): appends its value, returns its length.
static size_t read_escape(Parser *p, size_t position) {
    int c = byte_at(p, position + 1);
    if (c == 'u') {
        return byte_at(p, position + 2) == '{' ? read_unicode_variable_escape(p, position)
                                                : read_unicode_fixed_escape(p, position);
    }
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *found = c > 0 ? strchr(from, c) : NULL;
    if (!found) invalid_escape(p, "character", position, characters_length(p, position, 2));
    buf_appendc(&p->text, to[found - from]);
    return 2;
}

static _Noreturn void invalid_string_character(Parser *p, size_t position) {
    char shown[16];
    gql_syntax_error(p, position, "Invalid character within String: %s.", describe_character(p, position, shown));
}

static Token read_string(Parser *p, size_t start) {
    size_t position = start + 1;
    size_t chunk = position;
    buf_clear(&p->text);
    while (position < p->len) {
        unsigned char c = p->src[position];
        if (c == '"') {
            buf_append(&p->text, p->src + chunk, position - chunk);
            return decoded_token(p, TOKEN_STRING, start, position + 1);
        }
        if (c == '\\') {
            buf_append(&p->text, p->src + chunk, position - chunk);
            position += read_escape(p, position);
            chunk = position;
            continue;
        }
        if (c == '\n' || c == '\r') break;
        size_t n = source_character(p, position);
        if (!n) invalid_string_character(p, position);
        position += n;
    }
    gql_syntax_error(p, position, "Unterminated string.");
}

static bool is_triple_quote(const Parser *p, size_t position) {
    return byte_at(p, position) == '"' && byte_at(p, position + 1) == '"' && byte_at(p, position + 2) == '"';
}

static size_t leading_whitespace(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t')) i++;
    return i;
}

// The spec's BlockStringValue (graphql-js's dedentBlockStringLines): the common indentation
// of the lines after the first goes, then leading and trailing blank lines.
static void dedent_block_string(Parser *p, Buf *out) {
    const size_t *ends = (const size_t *)p->lines.data;
    size_t nlines = p->lines.len / sizeof(size_t);
    size_t common = NO_INDEX;
    size_t first = NO_INDEX;
    size_t last = NO_INDEX;
    for (size_t i = 0; i < nlines; i++) {
        size_t start = i ? ends[i - 1] : 0;
        size_t indent = leading_whitespace(p->text.data + start, ends[i] - start);
        if (indent == ends[i] - start) continue;
        if (first == NO_INDEX) first = i;
        last = i;
        if (i != 0 && indent < common) common = indent;
    }
    if (first == NO_INDEX) return;
    for (size_t i = first; i <= last; i++) {
        size_t start = i ? ends[i - 1] : 0;
        size_t len = ends[i] - start;
        size_t cut = i == 0 ? 0 : common < len ? common : len;
        if (i > first) buf_appendc(out, '\n');
        buf_append(out, p->text.data + start + cut, len - cut);
    }
}

static void end_block_line(Parser *p, size_t chunk, size_t position) {
    buf_append(&p->text, p->src + chunk, position - chunk);
    size_t end = p->text.len;
    buf_append(&p->lines, &end, sizeof end);
}

static Token read_block_string(Parser *p, size_t start) {
    size_t line_start = p->line_start;
    size_t position = start + 3;
    size_t chunk = position;
    buf_clear(&p->text);
    buf_clear(&p->lines);
    while (position < p->len) {
        unsigned char c = p->src[position];
        if (is_triple_quote(p, position)) {
            end_block_line(p, chunk, position);
            Token t = make_token(p, TOKEN_BLOCK_STRING, start, position + 3);
            Buf value = BUF_INIT;
            dedent_block_string(p, &value);
            t.value = arena_strndup(p->arena, value.data ? value.data : "", value.len);
            t.value_len = value.len;
            buf_free(&value);
            p->line += p->lines.len / sizeof(size_t) - 1;
            p->line_start = line_start;
            return t;
        }
        if (c == '\\' && is_triple_quote(p, position + 1)) {
            buf_append(&p->text, p->src + chunk, position - chunk);
            chunk = position + 1;
            position += 4;
            continue;
        }
        if (c == '\n' || c == '\r') {
            end_block_line(p, chunk, position);
            position += c == '\r' && byte_at(p, position + 1) == '\n' ? 2 : 1;
            chunk = line_start = position;
            continue;
        }
        size_t n = source_character(p, position);
        if (!n) invalid_string_character(p, position);
        position += n;
    }
    gql_syntax_error(p, position, "Unterminated string.");
}

static _Noreturn void unexpected_character(Parser *p, size_t position) {
    char shown[16];
    if (p->src[position] == '\'') {
        gql_syntax_error(p, position, "Unexpected single quote character ('), did you mean to use a double quote (\")?");
    }
    if (!utf8_length(p->src + position, p->len - position)) {
        gql_syntax_error(p, position, "Invalid character: %s.", describe_character(p, position, shown));
    }
    gql_syntax_error(p, position, "Unexpected character: %s.", describe_character(p, position, shown));
}

// The punctuator `c` is, or TOKEN_SOF when it is none (`...` aside).
static TokenKind punctuator_kind(unsigned char c) {
    switch (c) {
    case '!': return TOKEN_BANG;
    case '$': return TOKEN_DOLLAR;
    case '&': return TOKEN_AMP;
    case '(': return TOKEN_PAREN_L;
    case ')': return TOKEN_PAREN_R;
    case ':': return TOKEN_COLON;
    case '=': return TOKEN_EQUALS;
    case '@': return TOKEN_AT;
    case '[': return TOKEN_BRACKET_L;
    case ']': return TOKEN_BRACKET_R;
    case '{': return TOKEN_BRACE_L;
    case '|': return TOKEN_PIPE;
    case '}': return TOKEN_BRACE_R;
    default: return TOKEN_SOF;
    }
}

// The next token from `position`, past ignored characters (BOM, white space, line
// terminators, commas, comments).
Token gql_read_token(Parser *p, size_t position) {
    while (position < p->len) {
        unsigned char c = p->src[position];
        if (c == ' ' || c == '\t' || c == ',') {
            position++;
        } else if (c == '\n' || c == '\r') {
            position += c == '\r' && byte_at(p, position + 1) == '\n' ? 2 : 1;
            new_line(p, position);
        } else if (c == 0xEF && byte_at(p, position + 1) == 0xBB && byte_at(p, position + 2) == 0xBF) {
            position += 3;
        } else if (c == '#') {
            position = skip_comment(p, position);
        } else if (punctuator_kind(c) != TOKEN_SOF) {
            return make_token(p, punctuator_kind(c), position, position + 1);
        } else if (c == '.' && byte_at(p, position + 1) == '.' && byte_at(p, position + 2) == '.') {
            return make_token(p, TOKEN_SPREAD, position, position + 3);
        } else if (c == '"') {
            return is_triple_quote(p, position) ? read_block_string(p, position) : read_string(p, position);
        } else if (is_digit(c) || c == '-') {
            return read_number(p, position);
        } else if (is_name_start(c)) {
            return read_name(p, position);
        } else {
            unexpected_character(p, position);
        }
    }
    return make_token(p, TOKEN_EOF, p->len, p->len);
}
