// GraphQL executable documents: a lexer and parser that follow graphql-js 16 (its syntax
// error texts and places, its token count), Kindred's limits as the Node edge measured them
// (router/edge/document.mjs), and the spec's schema-free validation rules with graphql-js's
// messages, reported in the order graphql-js's single pass over the document finds them.
//
// Hostile documents are bounded everywhere: the parser refuses nesting past MAX_NESTING, so
// walks over one definition recurse at most that deep; walks that follow fragment spreads
// keep their stacks on the heap and mark what they have seen, so a fragment is walked a
// bounded number of times whatever the spreads; names are looked up in sorted indexes, so
// no choice of names makes a check quadratic.
#include "graphql.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

enum { MAX_NESTING = 256 };  // selection sets, lists, objects and list types, together
enum { MAX_INTROSPECTION_LISTS_DEPTH = 3 };  // graphql-js's MaxIntrospectionDepthRule, fixed there too

static const size_t NO_INDEX = (size_t)-1;

// --- Errors ------------------------------------------------------------------------------

static void error_start(GqlError *error, const char *code, const char *limit, long max) {
    memset(error, 0, sizeof *error);
    error->code = code;
    error->limit = limit;
    error->max = max;
}

// A message longer than the room is cut at a character boundary and ends with "…".
static void error_vformat(GqlError *error, const char *format, va_list args) {
    static const char ellipsis[] = "\xE2\x80\xA6";
    size_t room = sizeof error->message;
    int n = vsnprintf(error->message, room, format, args);
    if (n < 0 || (size_t)n < room) return;
    size_t end = room - sizeof ellipsis;
    while (end > 0 && ((unsigned char)error->message[end] & 0xC0) == 0x80) end--;
    memcpy(error->message + end, ellipsis, sizeof ellipsis);
}

__attribute__((format(printf, 2, 3))) static void error_format(GqlError *error, const char *format, ...) {
    va_list args;
    va_start(args, format);
    error_vformat(error, format, args);
    va_end(args);
}

static void error_locate(GqlError *error, GqlLoc loc) {
    if (error->nlocations < GQL_MAX_LOCATIONS) error->locations[error->nlocations++] = loc;
}

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
static size_t copy_showing_nul(char *out, size_t room, const char *bytes, size_t len) {
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

typedef enum {
    TOKEN_SOF, TOKEN_EOF, TOKEN_BANG, TOKEN_DOLLAR, TOKEN_AMP, TOKEN_PAREN_L, TOKEN_PAREN_R,
    TOKEN_SPREAD, TOKEN_COLON, TOKEN_EQUALS, TOKEN_AT, TOKEN_BRACKET_L, TOKEN_BRACKET_R,
    TOKEN_BRACE_L, TOKEN_PIPE, TOKEN_BRACE_R, TOKEN_NAME, TOKEN_INT, TOKEN_FLOAT, TOKEN_STRING,
    TOKEN_BLOCK_STRING,
} TokenKind;

// As graphql-js names each kind in its messages: punctuators quoted.
static const char *const TOKEN_KIND_TEXT[] = {
    [TOKEN_SOF] = "<SOF>", [TOKEN_EOF] = "<EOF>", [TOKEN_BANG] = "\"!\"", [TOKEN_DOLLAR] = "\"$\"",
    [TOKEN_AMP] = "\"&\"", [TOKEN_PAREN_L] = "\"(\"", [TOKEN_PAREN_R] = "\")\"", [TOKEN_SPREAD] = "\"...\"",
    [TOKEN_COLON] = "\":\"", [TOKEN_EQUALS] = "\"=\"", [TOKEN_AT] = "\"@\"", [TOKEN_BRACKET_L] = "\"[\"",
    [TOKEN_BRACKET_R] = "\"]\"", [TOKEN_BRACE_L] = "\"{\"", [TOKEN_PIPE] = "\"|\"", [TOKEN_BRACE_R] = "\"}\"",
    [TOKEN_NAME] = "Name", [TOKEN_INT] = "Int", [TOKEN_FLOAT] = "Float", [TOKEN_STRING] = "String",
    [TOKEN_BLOCK_STRING] = "BlockString",
};

typedef struct Token {
    TokenKind kind;
    size_t start;
    size_t end;
    GqlLoc loc;
    // Name, Int, Float: the text, in the source (not NUL-terminated). String, BlockString:
    // the decoded value, NUL-terminated, in the arena. NULL for punctuators.
    const char *value;
    size_t value_len;
} Token;

typedef struct Parser {
    Arena *arena;
    const unsigned char *src;
    size_t len;
    size_t max_tokens;
    GqlDocument *doc;
    GqlError *error;
    jmp_buf fail;
    // The lexer's place, as graphql-js keeps it, and a cursor that turns byte offsets on the
    // current line into columns without rescanning the line for each token.
    size_t line;
    size_t line_start;
    size_t column_offset;
    size_t column;
    Token token;
    Token ahead;  // graphql-js's lookahead, lexed but not yet counted
    bool has_ahead;
    unsigned nesting;
    Buf items;       // items of the lists being parsed, innermost list last
    Buf text;        // the string being decoded
    Buf lines;       // the block string being decoded: where each of its lines ends in `text`
    Buf type;        // the variable type being written
    Buf operations;  // the document's definitions so far
    Buf fragments;
    Buf type_system;
} Parser;

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

__attribute__((format(printf, 3, 4))) static _Noreturn void syntax_error(Parser *p, size_t position,
                                                                          const char *format, ...) {
    char description[sizeof p->error->message];
    va_list args;
    va_start(args, format);
    vsnprintf(description, sizeof description, format, args);
    va_end(args);
    error_start(p->error, "GRAPHQL_PARSE_FAILED", NULL, 0);
    error_format(p->error, "Syntax Error: %s", description);
    error_locate(p->error, locate(p, position));
    longjmp(p->fail, 1);
}

static _Noreturn void too_many_tokens(Parser *p) {
    error_start(p->error, "GRAPHQL_VALIDATION_FAILED", "tokens", (long)p->max_tokens);
    error_format(p->error,
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
        syntax_error(p, position, "Invalid number, expected digit but got: %s.", describe_character(p, position, shown));
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
            syntax_error(p, position, "Invalid number, unexpected digit after 0: %s.", describe_character(p, position, shown));
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
        syntax_error(p, position, "Invalid number, expected digit but got: %s.", describe_character(p, position, shown));
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
    copy_showing_nul(sequence, sizeof sequence, (const char *)p->src + position, length);
    syntax_error(p, position, "Invalid %s escape sequence: \"%s\".", what, sequence);
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
    syntax_error(p, position, "Invalid character within String: %s.", describe_character(p, position, shown));
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
    syntax_error(p, position, "Unterminated string.");
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
    syntax_error(p, position, "Unterminated string.");
}

static _Noreturn void unexpected_character(Parser *p, size_t position) {
    char shown[16];
    if (p->src[position] == '\'') {
        syntax_error(p, position, "Unexpected single quote character ('), did you mean to use a double quote (\")?");
    }
    if (!utf8_length(p->src + position, p->len - position)) {
        syntax_error(p, position, "Invalid character: %s.", describe_character(p, position, shown));
    }
    syntax_error(p, position, "Unexpected character: %s.", describe_character(p, position, shown));
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
static Token read_token(Parser *p, size_t position) {
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

// --- Parser: tokens ----------------------------------------------------------------------

// Moves to the next token and counts it, as graphql-js's parse(maxTokens) counts.
static void advance(Parser *p) {
    if (p->has_ahead) {
        p->token = p->ahead;
        p->has_ahead = false;
    } else {
        p->token = read_token(p, p->token.end);
    }
    if (p->token.kind != TOKEN_EOF && ++p->doc->ntokens > p->max_tokens) too_many_tokens(p);
}

static const Token *lookahead(Parser *p) {
    if (!p->has_ahead) {
        p->ahead = read_token(p, p->token.end);
        p->has_ahead = true;
    }
    return &p->ahead;
}

static bool peek(const Parser *p, TokenKind kind) { return p->token.kind == kind; }

static bool value_is(const Token *t, const char *word) {
    return t->value && t->value_len == strlen(word) && memcmp(t->value, word, t->value_len) == 0;
}

static bool is_keyword(const Token *t, const char *word) { return t->kind == TOKEN_NAME && value_is(t, word); }

// graphql-js's getTokenDesc: the kind, and the value when the token has one.
static const char *describe_token(const Token *t, char *out, size_t room) {
    if (!t->value) return TOKEN_KIND_TEXT[t->kind];
    size_t len = (size_t)snprintf(out, room, "%s \"", TOKEN_KIND_TEXT[t->kind]);
    len += copy_showing_nul(out + len, room - len, t->value, t->value_len);
    snprintf(out + len, room - len, "\"");
    return out;
}

static _Noreturn void unexpected(Parser *p, const Token *t) {
    char shown[sizeof p->error->message];
    syntax_error(p, t->start, "Unexpected %s.", describe_token(t, shown, sizeof shown));
}

static Token expect(Parser *p, TokenKind kind) {
    Token t = p->token;
    if (t.kind != kind) {
        char shown[sizeof p->error->message];
        syntax_error(p, t.start, "Expected %s, found %s.", TOKEN_KIND_TEXT[kind], describe_token(&t, shown, sizeof shown));
    }
    advance(p);
    return t;
}

static bool expect_optional(Parser *p, TokenKind kind) {
    if (!peek(p, kind)) return false;
    advance(p);
    return true;
}

static void expect_keyword(Parser *p, const char *word) {
    if (!is_keyword(&p->token, word)) {
        char shown[sizeof p->error->message];
        syntax_error(p, p->token.start, "Expected \"%s\", found %s.", word, describe_token(&p->token, shown, sizeof shown));
    }
    advance(p);
}

static bool expect_optional_keyword(Parser *p, const char *word) {
    if (!is_keyword(&p->token, word)) return false;
    advance(p);
    return true;
}

static const char *copy_name(Parser *p, const Token *t) { return arena_strndup(p->arena, t->value, t->value_len); }

static void enter_nesting(Parser *p) {
    if (++p->nesting > MAX_NESTING) syntax_error(p, p->token.start, "the document nests too deep.");
}

static void leave_nesting(Parser *p) { p->nesting--; }

// A list's items wait on p->items above `mark` until the list closes, then move to the arena.
static void push_item(Parser *p, const void *item, size_t size) { buf_append(&p->items, item, size); }

static void *pop_items(Parser *p, size_t mark, size_t size, size_t *count) {
    size_t bytes = p->items.len - mark;
    *count = bytes / size;
    void *items = NULL;
    if (bytes) {
        items = arena_alloc(p->arena, bytes);
        memcpy(items, p->items.data + mark, bytes);
    }
    p->items.len = mark;
    return items;
}

// --- Parser: values, directives, types ----------------------------------------------------

static GqlValue *parse_value(Parser *p, bool is_const);

static GqlValue *new_value(Parser *p, GqlValueKind kind, const Token *t) {
    GqlValue *v = arena_alloc(p->arena, sizeof *v);
    v->kind = kind;
    v->loc = t->loc;
    return v;
}

static GqlValue *parse_list(Parser *p, bool is_const) {
    GqlValue *list = new_value(p, GQL_LIST, &p->token);
    enter_nesting(p);
    advance(p);
    size_t mark = p->items.len;
    while (!expect_optional(p, TOKEN_BRACKET_R)) {
        GqlValue *item = parse_value(p, is_const);
        push_item(p, &item, sizeof item);
    }
    list->items = pop_items(p, mark, sizeof(GqlValue *), &list->count);
    leave_nesting(p);
    return list;
}

typedef struct ObjectField {
    const char *name;
    GqlLoc name_loc;
    GqlValue *value;
} ObjectField;

static GqlValue *parse_object(Parser *p, bool is_const) {
    GqlValue *object = new_value(p, GQL_OBJECT, &p->token);
    enter_nesting(p);
    advance(p);
    size_t mark = p->items.len;
    while (!expect_optional(p, TOKEN_BRACE_R)) {
        Token name = expect(p, TOKEN_NAME);
        expect(p, TOKEN_COLON);
        ObjectField field = {copy_name(p, &name), name.loc, NULL};
        field.value = parse_value(p, is_const);
        push_item(p, &field, sizeof field);
    }
    size_t count = (p->items.len - mark) / sizeof(ObjectField);
    object->count = count;
    object->items = arena_alloc(p->arena, count * sizeof *object->items);
    object->names = arena_alloc(p->arena, count * sizeof *object->names);
    object->name_locs = arena_alloc(p->arena, count * sizeof *object->name_locs);
    for (size_t i = 0; i < count; i++) {
        ObjectField field;
        memcpy(&field, p->items.data + mark + i * sizeof field, sizeof field);
        object->items[i] = field.value;
        object->names[i] = field.name;
        object->name_locs[i] = field.name_loc;
    }
    p->items.len = mark;
    leave_nesting(p);
    return object;
}

static GqlValue *parse_variable(Parser *p) {
    GqlValue *v = new_value(p, GQL_VARIABLE, &p->token);
    expect(p, TOKEN_DOLLAR);
    Token name = expect(p, TOKEN_NAME);
    v->text = copy_name(p, &name);
    v->len = name.value_len;
    return v;
}

static _Noreturn void variable_in_constant(Parser *p) {
    Token dollar = p->token;
    advance(p);
    if (peek(p, TOKEN_NAME)) {
        syntax_error(p, dollar.start, "Unexpected variable \"$%.*s\" in constant value.", (int)p->token.value_len,
                     p->token.value);
    }
    unexpected(p, &dollar);
}

static GqlValue *parse_value(Parser *p, bool is_const) {
    Token t = p->token;
    GqlValue *v;
    switch (t.kind) {
    case TOKEN_BRACKET_L: return parse_list(p, is_const);
    case TOKEN_BRACE_L: return parse_object(p, is_const);
    case TOKEN_DOLLAR:
        if (is_const) variable_in_constant(p);
        return parse_variable(p);
    case TOKEN_INT:
    case TOKEN_FLOAT:
        advance(p);
        v = new_value(p, t.kind == TOKEN_INT ? GQL_INT : GQL_FLOAT, &t);
        v->text = copy_name(p, &t);
        v->len = t.value_len;
        return v;
    case TOKEN_STRING:
    case TOKEN_BLOCK_STRING:
        advance(p);
        v = new_value(p, GQL_STRING, &t);
        v->text = t.value;
        v->len = t.value_len;
        return v;
    case TOKEN_NAME:
        advance(p);
        v = new_value(p, value_is(&t, "true") || value_is(&t, "false") ? GQL_BOOLEAN
                         : value_is(&t, "null")                         ? GQL_NULL
                                                                        : GQL_ENUM,
                      &t);
        v->text = copy_name(p, &t);
        v->len = t.value_len;
        return v;
    default: unexpected(p, &p->token);
    }
}

static void parse_arguments(Parser *p, bool is_const, GqlArgument **args, size_t *count) {
    *args = NULL;
    *count = 0;
    if (!expect_optional(p, TOKEN_PAREN_L)) return;
    size_t mark = p->items.len;
    do {
        Token name = expect(p, TOKEN_NAME);
        expect(p, TOKEN_COLON);
        GqlArgument arg = {copy_name(p, &name), NULL, name.loc};
        arg.value = parse_value(p, is_const);
        push_item(p, &arg, sizeof arg);
    } while (!expect_optional(p, TOKEN_PAREN_R));
    *args = pop_items(p, mark, sizeof(GqlArgument), count);
}

static void parse_directives(Parser *p, bool is_const, GqlDirective **directives, size_t *count) {
    size_t mark = p->items.len;
    while (peek(p, TOKEN_AT)) {
        GqlDirective d = {0};
        d.loc = p->token.loc;
        advance(p);
        Token name = expect(p, TOKEN_NAME);
        d.name = copy_name(p, &name);
        parse_arguments(p, is_const, &d.args, &d.nargs);
        push_item(p, &d, sizeof d);
    }
    *directives = pop_items(p, mark, sizeof(GqlDirective), count);
}

static void skip_const_directives(Parser *p, size_t *count) {
    GqlDirective *directives;
    parse_directives(p, true, &directives, count);
}

// A type reference (`[ID!]!`), written to p->type without its ignored characters.
static void parse_type_reference(Parser *p) {
    if (peek(p, TOKEN_BRACKET_L)) {
        enter_nesting(p);
        advance(p);
        buf_appendc(&p->type, '[');
        parse_type_reference(p);
        expect(p, TOKEN_BRACKET_R);
        buf_appendc(&p->type, ']');
        leave_nesting(p);
    } else {
        Token name = expect(p, TOKEN_NAME);
        buf_append(&p->type, name.value, name.value_len);
    }
    if (expect_optional(p, TOKEN_BANG)) buf_appendc(&p->type, '!');
}

static bool peek_description(const Parser *p) { return peek(p, TOKEN_STRING) || peek(p, TOKEN_BLOCK_STRING); }

static void skip_description(Parser *p) {
    if (peek_description(p)) advance(p);
}

// --- Parser: executable definitions --------------------------------------------------------

static void parse_selection_set(Parser *p, GqlSelectionSet *set);

static const char *parse_fragment_name(Parser *p, GqlLoc *loc) {
    if (value_is(&p->token, "on")) unexpected(p, &p->token);
    Token name = expect(p, TOKEN_NAME);
    *loc = name.loc;
    return copy_name(p, &name);
}

static void parse_field(Parser *p, GqlSelection *s) {
    s->kind = GQL_FIELD;
    Token name = expect(p, TOKEN_NAME);
    if (expect_optional(p, TOKEN_COLON)) {
        s->alias = copy_name(p, &name);
        name = expect(p, TOKEN_NAME);
    }
    s->name = copy_name(p, &name);
    s->name_loc = name.loc;
    parse_arguments(p, false, &s->args, &s->nargs);
    parse_directives(p, false, &s->directives, &s->ndirectives);
    if (peek(p, TOKEN_BRACE_L)) parse_selection_set(p, &s->selections);
}

// After `...`: a fragment spread, or an inline fragment with or without a type condition.
static void parse_fragment_selection(Parser *p, GqlSelection *s) {
    advance(p);
    bool has_type_condition = expect_optional_keyword(p, "on");
    if (!has_type_condition && peek(p, TOKEN_NAME)) {
        s->kind = GQL_FRAGMENT_SPREAD;
        s->name = parse_fragment_name(p, &s->name_loc);
        parse_directives(p, false, &s->directives, &s->ndirectives);
        return;
    }
    s->kind = GQL_INLINE_FRAGMENT;
    if (has_type_condition) {
        Token type = expect(p, TOKEN_NAME);
        s->type_condition = copy_name(p, &type);
    }
    parse_directives(p, false, &s->directives, &s->ndirectives);
    parse_selection_set(p, &s->selections);
}

static void parse_selection_set(Parser *p, GqlSelectionSet *set) {
    enter_nesting(p);
    expect(p, TOKEN_BRACE_L);
    size_t mark = p->items.len;
    do {
        GqlSelection s = {0};
        s.loc = p->token.loc;
        if (peek(p, TOKEN_SPREAD)) parse_fragment_selection(p, &s);
        else parse_field(p, &s);
        push_item(p, &s, sizeof s);
    } while (!expect_optional(p, TOKEN_BRACE_R));
    set->items = pop_items(p, mark, sizeof(GqlSelection), &set->count);
    leave_nesting(p);
}

static GqlOperationType parse_operation_type(Parser *p) {
    Token t = expect(p, TOKEN_NAME);
    if (value_is(&t, "query")) return GQL_QUERY;
    if (value_is(&t, "mutation")) return GQL_MUTATION;
    if (value_is(&t, "subscription")) return GQL_SUBSCRIPTION;
    unexpected(p, &t);
}

static void parse_variable_definition(Parser *p, GqlVariable *v) {
    v->loc = p->token.loc;
    skip_description(p);
    expect(p, TOKEN_DOLLAR);
    Token name = expect(p, TOKEN_NAME);
    v->name = copy_name(p, &name);
    v->name_loc = name.loc;
    expect(p, TOKEN_COLON);
    buf_clear(&p->type);
    parse_type_reference(p);
    v->type = arena_strndup(p->arena, p->type.data, p->type.len);
    if (expect_optional(p, TOKEN_EQUALS)) v->default_value = parse_value(p, true);
    parse_directives(p, true, &v->directives, &v->ndirectives);
}

static void parse_variable_definitions(Parser *p, GqlOperation *op) {
    if (!expect_optional(p, TOKEN_PAREN_L)) return;
    size_t mark = p->items.len;
    do {
        GqlVariable v = {0};
        parse_variable_definition(p, &v);
        push_item(p, &v, sizeof v);
    } while (!expect_optional(p, TOKEN_PAREN_R));
    op->variables = pop_items(p, mark, sizeof(GqlVariable), &op->nvariables);
}

static void parse_operation_definition(Parser *p) {
    GqlOperation op = {0};
    op.loc = p->token.loc;
    if (peek(p, TOKEN_BRACE_L)) {
        op.type = GQL_QUERY;
    } else {
        skip_description(p);
        op.type = parse_operation_type(p);
        if (peek(p, TOKEN_NAME)) {
            Token name = expect(p, TOKEN_NAME);
            op.name = copy_name(p, &name);
            op.name_loc = name.loc;
        }
        parse_variable_definitions(p, &op);
        parse_directives(p, false, &op.directives, &op.ndirectives);
    }
    parse_selection_set(p, &op.selections);
    buf_append(&p->operations, &op, sizeof op);
}

static void parse_fragment_definition(Parser *p) {
    GqlFragment f = {0};
    f.loc = p->token.loc;
    skip_description(p);
    expect_keyword(p, "fragment");
    f.name = parse_fragment_name(p, &f.name_loc);
    expect_keyword(p, "on");
    Token type = expect(p, TOKEN_NAME);
    f.type_condition = copy_name(p, &type);
    parse_directives(p, false, &f.directives, &f.ndirectives);
    parse_selection_set(p, &f.selections);
    buf_append(&p->fragments, &f, sizeof f);
}

// --- Parser: type-system definitions (parsed as graphql-js parses them, then dropped) ------

static const char *parse_type_system_name(Parser *p) {
    Token name = expect(p, TOKEN_NAME);
    return copy_name(p, &name);
}

// graphql-js's optionalMany: when `open` comes, items up to `close` (at least one).
static bool parse_optional_many(Parser *p, TokenKind open, void (*item)(Parser *), TokenKind close) {
    if (!expect_optional(p, open)) return false;
    do item(p);
    while (!expect_optional(p, close));
    return true;
}

// graphql-js's delimitedMany: named types, an optional leading delimiter.
static void parse_named_types(Parser *p, TokenKind delimiter) {
    expect_optional(p, delimiter);
    do expect(p, TOKEN_NAME);
    while (expect_optional(p, delimiter));
}

static void skip_type_reference(Parser *p) {
    parse_type_reference(p);
    buf_clear(&p->type);
}

static void parse_operation_type_definition(Parser *p) {
    parse_operation_type(p);
    expect(p, TOKEN_COLON);
    expect(p, TOKEN_NAME);
}

static void parse_input_value_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect(p, TOKEN_NAME);
    expect(p, TOKEN_COLON);
    skip_type_reference(p);
    if (expect_optional(p, TOKEN_EQUALS)) parse_value(p, true);
    skip_const_directives(p, &ndirectives);
}

static void parse_field_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect(p, TOKEN_NAME);
    parse_optional_many(p, TOKEN_PAREN_L, parse_input_value_definition, TOKEN_PAREN_R);
    expect(p, TOKEN_COLON);
    skip_type_reference(p);
    skip_const_directives(p, &ndirectives);
}

static void parse_enum_value_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    if (value_is(&p->token, "true") || value_is(&p->token, "false") || value_is(&p->token, "null")) {
        char shown[sizeof p->error->message];
        syntax_error(p, p->token.start, "%s is reserved and cannot be used for an enum value.",
                     describe_token(&p->token, shown, sizeof shown));
    }
    expect(p, TOKEN_NAME);
    skip_const_directives(p, &ndirectives);
}

static bool parse_implements_interfaces(Parser *p) {
    if (!expect_optional_keyword(p, "implements")) return false;
    parse_named_types(p, TOKEN_AMP);
    return true;
}

static bool parse_union_members(Parser *p) {
    if (!expect_optional(p, TOKEN_EQUALS)) return false;
    parse_named_types(p, TOKEN_PIPE);
    return true;
}

static const char *const DIRECTIVE_LOCATIONS[] = {
    "QUERY", "MUTATION", "SUBSCRIPTION", "FIELD", "FRAGMENT_DEFINITION", "FRAGMENT_SPREAD", "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION", "SCHEMA", "SCALAR", "OBJECT", "FIELD_DEFINITION", "ARGUMENT_DEFINITION", "INTERFACE",
    "UNION", "ENUM", "ENUM_VALUE", "INPUT_OBJECT", "INPUT_FIELD_DEFINITION", "DIRECTIVE_DEFINITION",
};

static void parse_directive_locations(Parser *p) {
    expect_optional(p, TOKEN_PIPE);
    do {
        Token location = expect(p, TOKEN_NAME);
        bool known = false;
        for (size_t i = 0; i < sizeof DIRECTIVE_LOCATIONS / sizeof *DIRECTIVE_LOCATIONS; i++) {
            known = known || value_is(&location, DIRECTIVE_LOCATIONS[i]);
        }
        if (!known) unexpected(p, &location);
    } while (expect_optional(p, TOKEN_PIPE));
}

// Each returns the definition's name (NULL for the schema).
static const char *parse_schema_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "schema");
    skip_const_directives(p, &ndirectives);
    expect(p, TOKEN_BRACE_L);
    do parse_operation_type_definition(p);
    while (!expect_optional(p, TOKEN_BRACE_R));
    return NULL;
}

static const char *parse_scalar_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "scalar");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    return name;
}

static const char *parse_fields_type_definition(Parser *p, const char *keyword) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, keyword);
    const char *name = parse_type_system_name(p);
    parse_implements_interfaces(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_field_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_object_definition(Parser *p) { return parse_fields_type_definition(p, "type"); }
static const char *parse_interface_definition(Parser *p) { return parse_fields_type_definition(p, "interface"); }

static const char *parse_union_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "union");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_union_members(p);
    return name;
}

static const char *parse_enum_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "enum");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_enum_value_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_input_definition(Parser *p) {
    size_t ndirectives;
    skip_description(p);
    expect_keyword(p, "input");
    const char *name = parse_type_system_name(p);
    skip_const_directives(p, &ndirectives);
    parse_optional_many(p, TOKEN_BRACE_L, parse_input_value_definition, TOKEN_BRACE_R);
    return name;
}

static const char *parse_directive_definition(Parser *p) {
    skip_description(p);
    expect_keyword(p, "directive");
    expect(p, TOKEN_AT);
    const char *name = parse_type_system_name(p);
    parse_optional_many(p, TOKEN_PAREN_L, parse_input_value_definition, TOKEN_PAREN_R);
    expect_optional_keyword(p, "repeatable");
    expect_keyword(p, "on");
    parse_directive_locations(p);
    return name;
}

// `extend schema|scalar|type|interface|union|enum|input`: each must add something.
static const char *parse_type_system_extension(Parser *p) {
    const Token keyword = *lookahead(p);
    size_t ndirectives;
    bool adds = false;
    const char *name = NULL;
    if (keyword.kind != TOKEN_NAME) unexpected(p, &keyword);
    bool is_schema = value_is(&keyword, "schema");
    bool has_fields = value_is(&keyword, "type") || value_is(&keyword, "interface");
    bool is_scalar = value_is(&keyword, "scalar");
    bool is_union = value_is(&keyword, "union");
    bool is_enum = value_is(&keyword, "enum");
    bool is_input = value_is(&keyword, "input");
    if (!(is_schema || has_fields || is_scalar || is_union || is_enum || is_input)) unexpected(p, &keyword);
    advance(p);  // `extend`
    advance(p);  // the kind
    if (!is_schema) name = parse_type_system_name(p);
    if (has_fields) adds = parse_implements_interfaces(p);
    skip_const_directives(p, &ndirectives);
    adds = adds || ndirectives > 0;
    if (is_schema) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_operation_type_definition, TOKEN_BRACE_R) || adds;
    if (has_fields) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_field_definition, TOKEN_BRACE_R) || adds;
    if (is_union) adds = parse_union_members(p) || adds;
    if (is_enum) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_enum_value_definition, TOKEN_BRACE_R) || adds;
    if (is_input) adds = parse_optional_many(p, TOKEN_BRACE_L, parse_input_value_definition, TOKEN_BRACE_R) || adds;
    if (!adds) unexpected(p, &p->token);
    return name;
}

typedef struct TypeSystemParser {
    const char *keyword;
    const char *(*parse)(Parser *p);
} TypeSystemParser;

static const TypeSystemParser TYPE_SYSTEM_PARSERS[] = {
    {"schema", parse_schema_definition},     {"scalar", parse_scalar_definition}, {"type", parse_object_definition},
    {"interface", parse_interface_definition}, {"union", parse_union_definition},  {"enum", parse_enum_definition},
    {"input", parse_input_definition},       {"directive", parse_directive_definition},
};

static void parse_type_system_definition(Parser *p, const char *(*parse)(Parser *p)) {
    GqlTypeSystemDefinition definition = {NULL, p->token.loc};
    definition.name = parse(p);
    buf_append(&p->type_system, &definition, sizeof definition);
}

static const TypeSystemParser *type_system_parser(const Token *keyword) {
    for (size_t i = 0; i < sizeof TYPE_SYSTEM_PARSERS / sizeof *TYPE_SYSTEM_PARSERS; i++) {
        if (value_is(keyword, TYPE_SYSTEM_PARSERS[i].keyword)) return &TYPE_SYSTEM_PARSERS[i];
    }
    return NULL;
}

// graphql-js's parseDefinition: what the first keyword (after a description) announces.
static void parse_definition(Parser *p) {
    p->doc->ndefinitions++;
    if (peek(p, TOKEN_BRACE_L)) {
        parse_operation_definition(p);
        return;
    }
    bool has_description = peek_description(p);
    const Token keyword = has_description ? *lookahead(p) : p->token;
    if (has_description && keyword.kind == TOKEN_BRACE_L) {
        syntax_error(p, p->token.start, "Unexpected description, descriptions are not supported on shorthand queries.");
    }
    if (keyword.kind == TOKEN_NAME) {
        const TypeSystemParser *type_system = type_system_parser(&keyword);
        if (type_system) {
            parse_type_system_definition(p, type_system->parse);
            return;
        }
        if (value_is(&keyword, "query") || value_is(&keyword, "mutation") || value_is(&keyword, "subscription")) {
            parse_operation_definition(p);
            return;
        }
        if (value_is(&keyword, "fragment")) {
            parse_fragment_definition(p);
            return;
        }
        if (has_description) {
            syntax_error(p, p->token.start, "Unexpected description, only GraphQL definitions support descriptions.");
        }
        if (value_is(&keyword, "extend")) {
            parse_type_system_definition(p, parse_type_system_extension);
            return;
        }
    }
    unexpected(p, &keyword);
}

static void parse_document(Parser *p) {
    advance(p);  // past <SOF>
    do parse_definition(p);
    while (!peek(p, TOKEN_EOF));
}

// The one place a syntax error lands (longjmp), away from any local that changes.
static bool parse_guarded(Parser *p) {
    if (setjmp(p->fail)) return false;
    parse_document(p);
    return true;
}

static void *move_to_arena(Arena *arena, const Buf *b, size_t size, size_t *count) {
    *count = b->len / size;
    if (!b->len) return NULL;
    void *items = arena_alloc(arena, b->len);
    memcpy(items, b->data, b->len);
    return items;
}

GqlDocument *gql_parse(Arena *arena, const char *text, size_t len, const GqlLimits *limits, GqlError *error) {
    Parser p = {
        .arena = arena,
        .src = (const unsigned char *)text,
        .len = len,
        .max_tokens = limits->max_tokens,
        .doc = arena_alloc(arena, sizeof(GqlDocument)),
        .error = error,
        .line = 1,
        .column = 1,
        .token = {.kind = TOKEN_SOF},
    };
    bool parsed = parse_guarded(&p);
    GqlDocument *doc = parsed ? p.doc : NULL;
    if (parsed) {
        doc->operations = move_to_arena(arena, &p.operations, sizeof(GqlOperation), &doc->noperations);
        doc->fragments = move_to_arena(arena, &p.fragments, sizeof(GqlFragment), &doc->nfragments);
        doc->type_system = move_to_arena(arena, &p.type_system, sizeof(GqlTypeSystemDefinition), &doc->ntype_system);
    }
    Buf *scratch[] = {&p.items, &p.text, &p.lines, &p.type, &p.operations, &p.fragments, &p.type_system};
    for (size_t i = 0; i < sizeof scratch / sizeof *scratch; i++) buf_free(scratch[i]);
    return doc;
}

// --- Checks: names -----------------------------------------------------------------------

typedef struct NameRef {
    const char *name;
    size_t index;
} NameRef;

static int compare_name_refs(const void *a, const void *b) {
    const NameRef *x = a;
    const NameRef *y = b;
    int order = strcmp(x->name, y->name);
    if (order) return order;
    return x->index < y->index ? -1 : x->index > y->index;
}

// Equal names among names[0..count): sorting keeps it O(n log n) whatever the names.
typedef struct NameIndex {
    NameRef *sorted;  // by name, then index; NULL names left out
    size_t nsorted;
    size_t *first;    // [count]: the index of the first name equal to names[i] (i itself when first)
    size_t *next;     // [count]: the index of the next equal name, or NO_INDEX
    size_t *last;     // [count]: the index of the last equal name
} NameIndex;

typedef struct Checker {
    const GqlDocument *doc;
    const GqlLimits *limits;
    GqlError *errors;
    size_t max_errors;
    size_t nerrors;
    Arena *scratch;  // what one check needs, freed at its end
    Buf frames;      // the stack of the walk under way
    Buf sets;        // the selection sets collect_spreads has yet to look into
    Buf path;        // the cycle search's path of spreads, or the fragments a walk reached
    Buf usages;      // an operation's variable usages
    NameIndex fragment_names;
    // Per fragment (by its index in doc->fragments), made when first needed.
    const GqlSelection ***spreads;  // graphql-js's getFragmentSpreads, NULL-terminated lists
    const GqlValue ***fragment_usages;
    // The limits' memo: per fragment, measured outside introspection [2i] and inside [2i+1].
    struct Memo *memo;
    uint32_t generation;
    // MaxIntrospectionDepthRule's marks per fragment: entry depths (-1: none).
    int *checked;
    int *exceeded;
    int *visited;
    uint32_t *visited_generation;
    // The cycle search's marks and its path's index per fragment.
    bool *cycle_visited;
    size_t *path_index;
    // NoUnusedFragments's and the variable rules' marks.
    uint32_t *reached_generation;
} Checker;

// NULL for nothing: a document without fragments or variables needs no scratch arena.
static void *scratch_alloc(Checker *c, size_t count, size_t size) {
    if (!count) return NULL;
    if (!c->scratch) c->scratch = arena_new();
    return arena_alloc(c->scratch, count * size);
}

static NameIndex index_names(Checker *c, const char *const *names, size_t count) {
    NameIndex index = {0};
    index.sorted = scratch_alloc(c, count, sizeof *index.sorted);
    index.first = scratch_alloc(c, count, sizeof *index.first);
    index.next = scratch_alloc(c, count, sizeof *index.next);
    index.last = scratch_alloc(c, count, sizeof *index.last);
    for (size_t i = 0; i < count; i++) {
        index.first[i] = index.last[i] = i;
        index.next[i] = NO_INDEX;
        if (names[i]) index.sorted[index.nsorted++] = (NameRef){names[i], i};
    }
    if (index.nsorted > 1) qsort(index.sorted, index.nsorted, sizeof *index.sorted, compare_name_refs);
    for (size_t run = 0; run < index.nsorted;) {
        size_t end = run + 1;
        while (end < index.nsorted && strcmp(index.sorted[end].name, index.sorted[run].name) == 0) end++;
        for (size_t k = run; k < end; k++) {
            index.first[index.sorted[k].index] = index.sorted[run].index;
            index.last[index.sorted[k].index] = index.sorted[end - 1].index;
            if (k + 1 < end) index.next[index.sorted[k].index] = index.sorted[k + 1].index;
        }
        run = end;
    }
    return index;
}

// The index of the first of the names equal to `name`, or NO_INDEX.
static size_t find_name(const NameIndex *index, const char *name) {
    size_t low = 0;
    size_t high = index->nsorted;
    while (low < high) {
        size_t middle = low + (high - low) / 2;
        if (strcmp(index->sorted[middle].name, name) < 0) low = middle + 1;
        else high = middle;
    }
    if (low < index->nsorted && strcmp(index->sorted[low].name, name) == 0) return index->sorted[low].index;
    return NO_INDEX;
}

// The fragment graphql-js's getFragment finds for `name` (the last defined), or NO_INDEX.
static size_t fragment_named(const Checker *c, const char *name) {
    size_t first = find_name(&c->fragment_names, name);
    return first == NO_INDEX ? NO_INDEX : c->fragment_names.last[first];
}

// --- Checks: reporting -------------------------------------------------------------------

static bool full(const Checker *c) { return c->nerrors >= c->max_errors; }

// The next error to fill, or NULL when there is no room left.
static GqlError *report(Checker *c, const char *limit, long max) {
    if (full(c)) return NULL;
    GqlError *error = &c->errors[c->nerrors++];
    error_start(error, "GRAPHQL_VALIDATION_FAILED", limit, max);
    return error;
}

#define REPORT_AT(c, loc, ...)                      \
    do {                                            \
        GqlError *reported_ = report((c), NULL, 0); \
        if (reported_) {                            \
            error_format(reported_, __VA_ARGS__);   \
            error_locate(reported_, (loc));         \
        }                                           \
    } while (0)

// --- Checks: Kindred's limits (document.mjs measure and limitErrors) ----------------------

typedef struct Figures {
    size_t depth;
    size_t introspection_depth;
    uint64_t aliases;  // saturates: fragments spread twice at each of 64 levels count past 2^64
} Figures;

struct Memo {
    uint32_t generation;  // this operation's when measured or being measured (zero figures)
    Figures figures;
};

typedef enum { BACK_TO_NOBODY, BACK_MERGED, BACK_AS_FRAGMENT, BACK_AS_FIELD } MeasureReturn;

typedef struct MeasureFrame {
    const GqlSelectionSet *set;
    size_t next;
    bool introspection;
    Figures figures;
    MeasureReturn returns;
    const GqlSelection *field;  // BACK_AS_FIELD: the field this set is below
    size_t memo_slot;           // BACK_AS_FRAGMENT
} MeasureFrame;

static uint64_t add_saturating(uint64_t a, uint64_t b) { return a > UINT64_MAX - b ? UINT64_MAX : a + b; }
static size_t max_size(size_t a, size_t b) { return a > b ? a : b; }

static void merge_figures(Figures *into, const Figures *inner) {
    into->depth = max_size(into->depth, inner->depth);
    into->introspection_depth = max_size(into->introspection_depth, inner->introspection_depth);
    into->aliases = add_saturating(into->aliases, inner->aliases);
}

static void add_field_figures(Figures *into, const GqlSelection *field, bool introspection, const Figures *below) {
    into->aliases = add_saturating(into->aliases, add_saturating(below->aliases, field->alias != NULL));
    if (introspection) {
        into->introspection_depth = max_size(into->introspection_depth, 1 + below->introspection_depth);
    } else {
        into->depth = max_size(into->depth, 1 + below->depth);
        into->introspection_depth = max_size(into->introspection_depth, below->introspection_depth);
    }
}

static bool is_introspection_root(const char *name) { return strcmp(name, "__schema") == 0 || strcmp(name, "__type") == 0; }

static void push_frame(Buf *frames, const void *frame, size_t size) { buf_append(frames, frame, size); }

// The last frame pushed (the stack is not empty).
static void *top_frame(Buf *frames, size_t size) { return frames->data + frames->len - size; }

static void measure_spread(Checker *c, MeasureFrame *frame, const GqlSelection *spread) {
    size_t fragment = fragment_named(c, spread->name);
    if (fragment == NO_INDEX) return;
    size_t slot = 2 * fragment + frame->introspection;
    struct Memo *memo = &c->memo[slot];
    if (memo->generation == c->generation) {
        merge_figures(&frame->figures, &memo->figures);
        return;
    }
    *memo = (struct Memo){c->generation, {0, 0, 0}};
    MeasureFrame inner = {&c->doc->fragments[fragment].selections, 0, frame->introspection, {0, 0, 0},
                          BACK_AS_FRAGMENT, NULL, slot};
    push_frame(&c->frames, &inner, sizeof inner);
}

static void measure_selection(Checker *c, MeasureFrame *frame, const GqlSelection *s) {
    if (s->kind == GQL_INLINE_FRAGMENT) {
        MeasureFrame inner = {&s->selections, 0, frame->introspection, {0, 0, 0}, BACK_MERGED, NULL, 0};
        push_frame(&c->frames, &inner, sizeof inner);
    } else if (s->kind == GQL_FRAGMENT_SPREAD) {
        measure_spread(c, frame, s);
    } else {
        bool introspection = frame->introspection || is_introspection_root(s->name);
        if (s->selections.count) {
            MeasureFrame inner = {&s->selections, 0, introspection, {0, 0, 0}, BACK_AS_FIELD, s, 0};
            push_frame(&c->frames, &inner, sizeof inner);
        } else {
            Figures none = {0, 0, 0};
            add_field_figures(&frame->figures, s, introspection, &none);
        }
    }
}

static void hand_back(Checker *c, MeasureFrame *parent, const MeasureFrame *done) {
    if (done->returns == BACK_AS_FIELD) {
        add_field_figures(&parent->figures, done->field, done->introspection, &done->figures);
        return;
    }
    if (done->returns == BACK_AS_FRAGMENT) c->memo[done->memo_slot].figures = done->figures;
    merge_figures(&parent->figures, &done->figures);
}

// document.mjs's measure, on a stack of its own: each fragment measured once per kind of
// nesting and remembered; a spread back into one being measured, or of an unknown one,
// counts nothing.
static Figures measure_operation(Checker *c, const GqlOperation *op) {
    c->generation++;
    c->frames.len = 0;
    MeasureFrame root = {&op->selections, 0, false, {0, 0, 0}, BACK_TO_NOBODY, NULL, 0};
    push_frame(&c->frames, &root, sizeof root);
    for (;;) {
        MeasureFrame *top = top_frame(&c->frames, sizeof *top);
        if (top->next < top->set->count) {
            const GqlSelection *s = &top->set->items[top->next++];
            measure_selection(c, top, s);
            continue;
        }
        MeasureFrame done = *top;
        c->frames.len -= sizeof done;
        if (done.returns == BACK_TO_NOBODY) return done.figures;
        hand_back(c, top_frame(&c->frames, sizeof done), &done);
    }
}

static void report_limit(Checker *c, const GqlOperation *op, const char *limit, size_t max, const char *what,
                         uint64_t value) {
    GqlError *error = report(c, limit, (long)max);
    if (!error) return;
    error_format(error, "%s is %llu; at most %zu is allowed.", what, (unsigned long long)value, max);
    error_locate(error, op->loc);
}

static void check_limits(Checker *c, const GqlOperation *op) {
    const GqlLimits *limits = c->limits;
    Figures figures = measure_operation(c, op);
    // Depth counts the levels below a root field, as the subgraphs' limiter does.
    size_t depth = figures.depth ? figures.depth - 1 : 0;
    if (depth > limits->max_depth) report_limit(c, op, "depth", limits->max_depth, "The depth of this operation", depth);
    if (figures.aliases > limits->max_aliases) {
        report_limit(c, op, "aliases", limits->max_aliases, "The number of aliases", figures.aliases);
    }
    if (figures.introspection_depth > limits->max_introspection_depth) {
        report_limit(c, op, "introspectionDepth", limits->max_introspection_depth, "The introspection depth",
                     figures.introspection_depth);
    }
}

// --- Checks: fragment spreads ------------------------------------------------------------

// graphql-js's getFragmentSpreads: the spreads in a selection set and those nested in its
// fields and inline fragments, in its order (nested sets taken last in, first out).
static const GqlSelection **collect_spreads(Checker *c, const GqlSelectionSet *set) {
    Buf found = BUF_INIT;
    c->sets.len = 0;
    push_frame(&c->sets, &set, sizeof set);
    while (c->sets.len) {
        const GqlSelectionSet *current = *(const GqlSelectionSet **)top_frame(&c->sets, sizeof set);
        c->sets.len -= sizeof set;
        for (size_t i = 0; i < current->count; i++) {
            const GqlSelection *s = &current->items[i];
            if (s->kind == GQL_FRAGMENT_SPREAD) {
                buf_append(&found, &s, sizeof s);
            } else if (s->selections.count) {
                const GqlSelectionSet *inner = &s->selections;
                push_frame(&c->sets, &inner, sizeof inner);
            }
        }
    }
    size_t count = found.len / sizeof(GqlSelection *);
    const GqlSelection **spreads = scratch_alloc(c, count + 1, sizeof *spreads);
    if (count) memcpy(spreads, found.data, found.len);
    buf_free(&found);
    return spreads;
}

static const GqlSelection **fragment_spreads(Checker *c, size_t fragment) {
    if (!c->spreads[fragment]) c->spreads[fragment] = collect_spreads(c, &c->doc->fragments[fragment].selections);
    return c->spreads[fragment];
}

// graphql-js's getRecursivelyReferencedFragments: fragments reached from `spreads`, each
// once, in the order found (breadth first); marked with this walk's generation. Leaves
// them in c->path.
static void reach_fragments(Checker *c, const GqlSelection **spreads) {
    c->generation++;
    c->path.len = 0;
    for (size_t head = 0;; head++) {
        for (; *spreads; spreads++) {
            size_t fragment = fragment_named(c, (*spreads)->name);
            if (fragment == NO_INDEX || c->reached_generation[fragment] == c->generation) continue;
            c->reached_generation[fragment] = c->generation;
            buf_append(&c->path, &fragment, sizeof fragment);
        }
        if (head >= c->path.len / sizeof(size_t)) return;
        spreads = fragment_spreads(c, ((const size_t *)c->path.data)[head]);
    }
}

// --- Checks: NoFragmentCyclesRule ----------------------------------------------------------

typedef struct CycleFrame {
    size_t fragment;  // whose spreads are being followed
    size_t name;      // the fragment its name finds (differs for a repeated name)
    size_t next;
} CycleFrame;

static void report_cycle(Checker *c, const GqlSelection *const *cycle, size_t length) {
    GqlError *error = report(c, NULL, 0);
    if (!error) return;
    Buf message = BUF_INIT;
    buf_printf(&message, "Cannot spread fragment \"%s\" within itself", cycle[length - 1]->name);
    for (size_t i = 0; i + 1 < length && message.len < sizeof error->message; i++) {
        buf_printf(&message, "%s\"%s\"", i ? ", " : " via ", cycle[i]->name);
    }
    buf_appendc(&message, '.');
    error_format(error, "%s", message.data);
    buf_free(&message);
    for (size_t i = 0; i < length; i++) error_locate(error, cycle[i]->loc);
}

// Follows a spread: a cycle when its fragment is on the path, else into that fragment unless
// already searched (the spread then stays on the path until the fragment is done).
static void follow_spread(Checker *c, const GqlSelection *spread) {
    size_t fragment = fragment_named(c, spread->name);
    buf_append(&c->path, &spread, sizeof spread);
    size_t length = c->path.len / sizeof spread;
    if (fragment != NO_INDEX && c->path_index[fragment] != NO_INDEX) {
        const GqlSelection *const *path = (const GqlSelection *const *)c->path.data;
        report_cycle(c, path + c->path_index[fragment], length - c->path_index[fragment]);
    } else if (fragment != NO_INDEX && !c->cycle_visited[fragment]) {
        c->cycle_visited[fragment] = true;
        if (*fragment_spreads(c, fragment)) {
            c->path_index[fragment] = length;
            CycleFrame frame = {fragment, fragment, 0};
            push_frame(&c->frames, &frame, sizeof frame);
            return;
        }
    }
    c->path.len -= sizeof spread;
}

// graphql-js's detectCycleRecursive from one fragment definition, on a stack of its own;
// fragments already searched are not searched again.
static void detect_cycles(Checker *c, size_t fragment) {
    size_t name = fragment_named(c, c->doc->fragments[fragment].name);
    if (c->cycle_visited[name]) return;
    c->cycle_visited[name] = true;
    if (!*fragment_spreads(c, fragment)) return;
    c->frames.len = 0;
    c->path.len = 0;
    c->path_index[name] = 0;
    CycleFrame root = {fragment, name, 0};
    push_frame(&c->frames, &root, sizeof root);
    while (c->frames.len) {
        CycleFrame *top = top_frame(&c->frames, sizeof *top);
        const GqlSelection *spread = fragment_spreads(c, top->fragment)[top->next];
        if (spread) {
            top->next++;
            follow_spread(c, spread);
            continue;
        }
        c->path_index[top->name] = NO_INDEX;
        c->frames.len -= sizeof *top;
        if (c->frames.len) c->path.len -= sizeof spread;  // the spread that led into it
    }
}

// --- Checks: MaxIntrospectionDepthRule -----------------------------------------------------

typedef struct DepthFrame {
    const GqlSelectionSet *set;
    size_t next;
    int depth;
    size_t fragment;  // NO_INDEX, or the fragment this set is, entered at `depth`
} DepthFrame;

static bool is_introspection_list(const char *name) {
    return strcmp(name, "fields") == 0 || strcmp(name, "interfaces") == 0 || strcmp(name, "possibleTypes") == 0 ||
           strcmp(name, "inputFields") == 0;
}

// Every fragment being walked reaches the limit too, at its entry depth: marked innermost
// first, as graphql-js's recursion unwinds, so a fragment entered twice keeps the outer depth.
static bool reached_limit(Checker *c) {
    for (size_t at = c->frames.len; at > 0; at -= sizeof(DepthFrame)) {
        const DepthFrame *frame = (const DepthFrame *)(c->frames.data + at - sizeof(DepthFrame));
        if (frame->fragment != NO_INDEX) c->exceeded[frame->fragment] = frame->depth;
    }
    return true;
}

// A fragment whose walk reached the limit reaches it again from as deep; one visited (in
// this root's walk) or checked (in any) from as deep is not walked again.
static bool enter_spread(Checker *c, const GqlSelection *spread, int depth) {
    size_t fragment = fragment_named(c, spread->name);
    if (fragment == NO_INDEX) return false;
    if (c->exceeded[fragment] >= 0 && c->exceeded[fragment] <= depth) return reached_limit(c);
    bool visited = c->visited_generation[fragment] == c->generation && c->visited[fragment] >= depth;
    if (visited || (c->checked[fragment] >= 0 && c->checked[fragment] >= depth)) return false;
    c->visited_generation[fragment] = c->generation;
    c->visited[fragment] = depth;
    DepthFrame frame = {&c->doc->fragments[fragment].selections, 0, depth, fragment};
    push_frame(&c->frames, &frame, sizeof frame);
    return false;
}

static bool enter_selection(Checker *c, const GqlSelection *s, int depth) {
    if (s->kind == GQL_FRAGMENT_SPREAD) return enter_spread(c, s, depth);
    if (s->kind == GQL_FIELD && is_introspection_list(s->name) && ++depth >= MAX_INTROSPECTION_LISTS_DEPTH) {
        return reached_limit(c);
    }
    if (s->selections.count) {
        DepthFrame frame = {&s->selections, 0, depth, NO_INDEX};
        push_frame(&c->frames, &frame, sizeof frame);
    }
    return false;
}

// graphql-js's checkDepth from a __schema or __type field, on a stack of its own, with its
// marks: per fragment, the entry depths that reached the limit or did not.
static bool introspection_too_deep(Checker *c, const GqlSelection *root) {
    c->generation++;
    c->frames.len = 0;
    DepthFrame start = {&root->selections, 0, 0, NO_INDEX};
    push_frame(&c->frames, &start, sizeof start);
    while (c->frames.len) {
        DepthFrame *top = top_frame(&c->frames, sizeof *top);
        if (top->next < top->set->count) {
            const GqlSelection *s = &top->set->items[top->next++];
            if (enter_selection(c, s, top->depth)) return true;
            continue;
        }
        if (top->fragment != NO_INDEX) c->checked[top->fragment] = top->depth;
        c->frames.len -= sizeof *top;
    }
    return false;
}

// --- Checks: the validation pass -----------------------------------------------------------

static void check_directive_count(Checker *c, size_t count, GqlLoc loc) {
    size_t max = c->limits->max_directives;
    if (count <= max) return;
    GqlError *error = report(c, "directives", (long)max);
    if (!error) return;
    error_format(error, "At most %zu directives may be put in one place; this one has %zu.", max, count);
    error_locate(error, loc);
}

// graphql-js's groupBy rules (UniqueArgumentNames, UniqueVariableNames): one error per
// repeated name, in the order the names first come, with every place it is written.
static void report_repeated_names(Checker *c, const char *const *names, const GqlLoc *locs, size_t count,
                                  const char *format) {
    if (count < 2) return;
    NameIndex index = index_names(c, names, count);
    for (size_t i = 0; i < count && !full(c); i++) {
        if (index.first[i] != i || index.next[i] == NO_INDEX) continue;
        GqlError *error = report(c, NULL, 0);
        error_format(error, format, names[i]);
        for (size_t at = i; at != NO_INDEX && error->nlocations < GQL_MAX_LOCATIONS; at = index.next[at]) {
            error_locate(error, locs[at]);
        }
    }
}

static void check_argument_names(Checker *c, const GqlArgument *args, size_t count) {
    if (count < 2) return;
    const char **names = scratch_alloc(c, count, sizeof *names);
    GqlLoc *locs = scratch_alloc(c, count, sizeof *locs);
    for (size_t i = 0; i < count; i++) names[i] = args[i].name, locs[i] = args[i].loc;
    report_repeated_names(c, names, locs, count, "There can be only one argument named \"%s\".");
}

static void check_variable_names(Checker *c, const GqlOperation *op) {
    if (op->nvariables < 2) return;
    const char **names = scratch_alloc(c, op->nvariables, sizeof *names);
    GqlLoc *locs = scratch_alloc(c, op->nvariables, sizeof *locs);
    for (size_t i = 0; i < op->nvariables; i++) names[i] = op->variables[i].name, locs[i] = op->variables[i].name_loc;
    report_repeated_names(c, names, locs, op->nvariables, "There can be only one variable named \"$%s\".");
}

// UniqueInputFieldNamesRule, each object value on its own.
static void walk_value(Checker *c, const GqlValue *v) {
    if (v->kind != GQL_LIST && v->kind != GQL_OBJECT) return;
    NameIndex index = {0};
    if (v->kind == GQL_OBJECT && v->count > 1) index = index_names(c, v->names, v->count);
    for (size_t i = 0; i < v->count && !full(c); i++) {
        if (index.first && index.first[i] != i) {
            GqlError *error = report(c, NULL, 0);
            error_format(error, "There can be only one input field named \"%s\".", v->names[i]);
            error_locate(error, v->name_locs[index.first[i]]);
            error_locate(error, v->name_locs[i]);
        }
        walk_value(c, v->items[i]);
    }
}

static void walk_directives(Checker *c, const GqlDirective *directives, size_t count) {
    for (size_t i = 0; i < count && !full(c); i++) {
        check_argument_names(c, directives[i].args, directives[i].nargs);
        for (size_t a = 0; a < directives[i].nargs; a++) walk_value(c, directives[i].args[a].value);
    }
}

static void walk_selections(Checker *c, const GqlSelectionSet *set, bool introspection_checked);

static void walk_field(Checker *c, const GqlSelection *field, bool introspection_checked) {
    check_argument_names(c, field->args, field->nargs);
    // graphql-js's rule skips what is under a root it refused.
    if (!introspection_checked && is_introspection_root(field->name) && introspection_too_deep(c, field)) {
        GqlError *error = report(c, "introspectionLists", (long)c->limits->max_introspection_lists);
        if (error) {
            error_format(error, "This introspection query nests `fields`, `interfaces`, `possibleTypes` or "
                                "`inputFields` three deep: ask for less nesting (GraphiQL's introspection query fits).");
            error_locate(error, field->loc);
        }
        introspection_checked = true;
    }
    check_directive_count(c, field->ndirectives, field->loc);
    for (size_t a = 0; a < field->nargs; a++) walk_value(c, field->args[a].value);
    walk_directives(c, field->directives, field->ndirectives);
    walk_selections(c, &field->selections, introspection_checked);
}

static void walk_selections(Checker *c, const GqlSelectionSet *set, bool introspection_checked) {
    for (size_t i = 0; i < set->count && !full(c); i++) {
        const GqlSelection *s = &set->items[i];
        if (s->kind == GQL_FIELD) {
            walk_field(c, s, introspection_checked);
            continue;
        }
        if (s->kind == GQL_FRAGMENT_SPREAD && fragment_named(c, s->name) == NO_INDEX) {
            REPORT_AT(c, s->name_loc, "Unknown fragment \"%s\".", s->name);
        }
        check_directive_count(c, s->ndirectives, s->loc);
        walk_directives(c, s->directives, s->ndirectives);
        if (s->kind == GQL_INLINE_FRAGMENT) walk_selections(c, &s->selections, introspection_checked);
    }
}

// graphql-js's getVariableUsages: the variables in values, in document order.
static void collect_value_usages(Buf *out, const GqlValue *v) {
    if (v->kind == GQL_VARIABLE) buf_append(out, &v, sizeof v);
    if (v->kind == GQL_LIST || v->kind == GQL_OBJECT) {
        for (size_t i = 0; i < v->count; i++) collect_value_usages(out, v->items[i]);
    }
}

static void collect_directive_usages(Buf *out, const GqlDirective *directives, size_t count) {
    for (size_t i = 0; i < count; i++) {
        for (size_t a = 0; a < directives[i].nargs; a++) collect_value_usages(out, directives[i].args[a].value);
    }
}

static void collect_selection_usages(Buf *out, const GqlSelectionSet *set) {
    for (size_t i = 0; i < set->count; i++) {
        const GqlSelection *s = &set->items[i];
        for (size_t a = 0; a < s->nargs; a++) collect_value_usages(out, s->args[a].value);
        collect_directive_usages(out, s->directives, s->ndirectives);
        collect_selection_usages(out, &s->selections);
    }
}

// A fragment's usages, collected once and NULL-terminated.
static const GqlValue **fragment_usages(Checker *c, size_t fragment) {
    if (c->fragment_usages[fragment]) return c->fragment_usages[fragment];
    const GqlFragment *f = &c->doc->fragments[fragment];
    Buf found = BUF_INIT;
    collect_directive_usages(&found, f->directives, f->ndirectives);
    collect_selection_usages(&found, &f->selections);
    size_t count = found.len / sizeof(GqlValue *);
    const GqlValue **usages = scratch_alloc(c, count + 1, sizeof *usages);
    if (count) memcpy(usages, found.data, found.len);
    buf_free(&found);
    return c->fragment_usages[fragment] = usages;
}

// graphql-js's getRecursiveVariableUsages: the operation's own, then each fragment it
// reaches, in c->usages.
static void collect_operation_usages(Checker *c, const GqlOperation *op) {
    c->usages.len = 0;
    collect_directive_usages(&c->usages, op->directives, op->ndirectives);
    collect_selection_usages(&c->usages, &op->selections);
    if (!c->doc->nfragments) return;
    reach_fragments(c, collect_spreads(c, &op->selections));
    for (size_t at = 0; at < c->path.len; at += sizeof(size_t)) {
        size_t fragment = *(const size_t *)(c->path.data + at);
        for (const GqlValue **u = fragment_usages(c, fragment); *u; u++) buf_append(&c->usages, u, sizeof *u);
    }
}

// NoUndefinedVariablesRule, then NoUnusedVariablesRule.
static void check_variable_usages(Checker *c, const GqlOperation *op) {
    collect_operation_usages(c, op);
    const GqlValue *const *usages = (const GqlValue *const *)c->usages.data;
    size_t nusages = c->usages.len / sizeof *usages;
    const char **names = scratch_alloc(c, op->nvariables, sizeof *names);
    bool *used = scratch_alloc(c, op->nvariables, sizeof *used);
    for (size_t i = 0; i < op->nvariables; i++) names[i] = op->variables[i].name;
    NameIndex defined = index_names(c, names, op->nvariables);
    for (size_t i = 0; i < nusages && !full(c); i++) {
        size_t definition = find_name(&defined, usages[i]->text);
        if (definition != NO_INDEX) {
            used[definition] = true;
            continue;
        }
        GqlError *error = report(c, NULL, 0);
        if (op->name) error_format(error, "Variable \"$%s\" is not defined by operation \"%s\".", usages[i]->text, op->name);
        else error_format(error, "Variable \"$%s\" is not defined.", usages[i]->text);
        error_locate(error, usages[i]->loc);
        error_locate(error, op->loc);
    }
    for (size_t i = 0; i < op->nvariables && !full(c); i++) {
        if (used[defined.first[i]]) continue;
        const char *name = op->variables[i].name;
        if (op->name) REPORT_AT(c, op->variables[i].loc, "Variable \"$%s\" is never used in operation \"%s\".", name, op->name);
        else REPORT_AT(c, op->variables[i].loc, "Variable \"$%s\" is never used.", name);
    }
}

static void walk_operation(Checker *c, const NameIndex *operation_names, size_t index) {
    const GqlOperation *op = &c->doc->operations[index];
    if (op->name && operation_names->first && operation_names->first[index] != index) {
        GqlError *error = report(c, NULL, 0);
        if (error) {
            error_format(error, "There can be only one operation named \"%s\".", op->name);
            error_locate(error, c->doc->operations[operation_names->first[index]].name_loc);
            error_locate(error, op->name_loc);
        }
    }
    if (!op->name && c->doc->noperations > 1) {
        REPORT_AT(c, op->loc, "This anonymous operation must be the only defined operation.");
    }
    check_variable_names(c, op);
    check_directive_count(c, op->ndirectives, op->loc);
    for (size_t i = 0; i < op->nvariables && !full(c); i++) {
        const GqlVariable *v = &op->variables[i];
        check_directive_count(c, v->ndirectives, v->loc);
        if (v->default_value) walk_value(c, v->default_value);
        walk_directives(c, v->directives, v->ndirectives);
    }
    walk_directives(c, op->directives, op->ndirectives);
    walk_selections(c, &op->selections, false);
    if (!full(c)) check_variable_usages(c, op);
}

static void walk_fragment(Checker *c, size_t index) {
    const GqlFragment *f = &c->doc->fragments[index];
    size_t first = c->fragment_names.first[index];
    if (first != index) {
        GqlError *error = report(c, NULL, 0);
        if (error) {
            error_format(error, "There can be only one fragment named \"%s\".", f->name);
            error_locate(error, c->doc->fragments[first].name_loc);
            error_locate(error, f->name_loc);
        }
    }
    detect_cycles(c, index);
    check_directive_count(c, f->ndirectives, f->loc);
    walk_directives(c, f->directives, f->ndirectives);
    walk_selections(c, &f->selections, false);
}

static void check_executable_definitions(Checker *c) {
    for (size_t i = 0; i < c->doc->ntype_system; i++) {
        const GqlTypeSystemDefinition *d = &c->doc->type_system[i];
        if (d->name) REPORT_AT(c, d->loc, "The \"%s\" definition is not executable.", d->name);
        else REPORT_AT(c, d->loc, "The schema definition is not executable.");
    }
}

static void check_unused_fragments(Checker *c) {
    if (!c->doc->nfragments) return;
    Buf all = BUF_INIT;
    for (size_t i = 0; i < c->doc->noperations; i++) {
        for (const GqlSelection **s = collect_spreads(c, &c->doc->operations[i].selections); *s; s++) {
            buf_append(&all, s, sizeof *s);
        }
    }
    const GqlSelection *end = NULL;
    buf_append(&all, &end, sizeof end);
    reach_fragments(c, (const GqlSelection **)all.data);
    buf_free(&all);
    for (size_t i = 0; i < c->doc->nfragments && !full(c); i++) {
        const GqlFragment *f = &c->doc->fragments[i];
        if (c->reached_generation[c->fragment_names.last[i]] != c->generation) {
            REPORT_AT(c, f->loc, "Fragment \"%s\" is never used.", f->name);
        }
    }
}

static bool comes_before(GqlLoc a, GqlLoc b) { return a.line < b.line || (a.line == b.line && a.column < b.column); }

// The rules run as graphql-js's validate runs them: one pass over the document, each node
// handed to every rule in turn, so their errors come in the same order.
static void validate(Checker *c) {
    const GqlDocument *doc = c->doc;
    NameIndex operation_names = {0};
    if (doc->noperations > 1) {
        const char **names = scratch_alloc(c, doc->noperations, sizeof *names);
        for (size_t i = 0; i < doc->noperations; i++) names[i] = doc->operations[i].name;
        operation_names = index_names(c, names, doc->noperations);
    }
    check_executable_definitions(c);
    size_t op = 0;
    size_t fragment = 0;
    while ((op < doc->noperations || fragment < doc->nfragments) && !full(c)) {
        bool operation_first = fragment == doc->nfragments ||
                               (op < doc->noperations && comes_before(doc->operations[op].loc, doc->fragments[fragment].loc));
        if (operation_first) walk_operation(c, &operation_names, op++);
        else walk_fragment(c, fragment++);
    }
    check_unused_fragments(c);
}

static void prepare_fragments(Checker *c) {
    size_t n = c->doc->nfragments;
    const char **names = scratch_alloc(c, n, sizeof *names);
    for (size_t i = 0; i < n; i++) names[i] = c->doc->fragments[i].name;
    c->fragment_names = index_names(c, names, n);
    c->spreads = scratch_alloc(c, n, sizeof *c->spreads);
    c->fragment_usages = scratch_alloc(c, n, sizeof *c->fragment_usages);
    c->memo = scratch_alloc(c, 2 * n, sizeof *c->memo);
    c->checked = scratch_alloc(c, n, sizeof *c->checked);
    c->exceeded = scratch_alloc(c, n, sizeof *c->exceeded);
    c->visited = scratch_alloc(c, n, sizeof *c->visited);
    c->visited_generation = scratch_alloc(c, n, sizeof *c->visited_generation);
    c->cycle_visited = scratch_alloc(c, n, sizeof *c->cycle_visited);
    c->path_index = scratch_alloc(c, n, sizeof *c->path_index);
    c->reached_generation = scratch_alloc(c, n, sizeof *c->reached_generation);
    for (size_t i = 0; i < n; i++) {
        c->checked[i] = c->exceeded[i] = -1;
        c->path_index[i] = NO_INDEX;
    }
}

size_t gql_check(const GqlDocument *doc, const GqlLimits *limits, GqlError *errors, size_t max_errors) {
    Checker c = {.doc = doc, .limits = limits, .errors = errors, .max_errors = max_errors};
    if (doc->nfragments) prepare_fragments(&c);
    // The limits first, one operation at a time: they are cheap, and they spare the rules
    // a document too big to be worth their time.
    for (size_t i = 0; i < doc->noperations && !c.nerrors; i++) check_limits(&c, &doc->operations[i]);
    if (!c.nerrors) validate(&c);
    arena_free(c.scratch);
    buf_free(&c.frames);
    buf_free(&c.sets);
    buf_free(&c.path);
    buf_free(&c.usages);
    return c.nerrors;
}

// --- Operations --------------------------------------------------------------------------

const GqlOperation *gql_operation(const GqlDocument *doc, const char *name, GqlError *error) {
    bool named = name && *name;
    for (size_t i = 0; named && i < doc->noperations; i++) {
        if (doc->operations[i].name && strcmp(doc->operations[i].name, name) == 0) return &doc->operations[i];
    }
    if (!named && doc->noperations == 1) return &doc->operations[0];
    error_start(error, "OPERATION_RESOLUTION_FAILURE", NULL, 0);
    if (named) error_format(error, "The document has no operation named \"%s\".", name);
    else error_format(error, "The document has several operations: say which one to run in `operationName`.");
    return NULL;
}

bool gql_introspection_only(const GqlOperation *op) {
    if (op->type != GQL_QUERY) return false;
    for (size_t i = 0; i < op->selections.count; i++) {
        const GqlSelection *s = &op->selections.items[i];
        if (s->kind != GQL_FIELD) return false;
        if (!is_introspection_root(s->name) && strcmp(s->name, "__typename") != 0) return false;
    }
    return true;
}

void gql_error_json(Buf *out, const GqlError *error) {
    buf_appends(out, "{\"message\":");
    buf_json_string(out, error->message, strlen(error->message));
    if (error->nlocations > 0) {
        buf_appends(out, ",\"locations\":[");
        for (int i = 0; i < error->nlocations && i < GQL_MAX_LOCATIONS; i++) {
            buf_printf(out, "%s{\"line\":%u,\"column\":%u}", i ? "," : "", (unsigned)error->locations[i].line,
                       (unsigned)error->locations[i].column);
        }
        buf_appendc(out, ']');
    }
    buf_appends(out, ",\"extensions\":{");
    const char *separator = "";
    if (error->code) {
        buf_appends(out, "\"code\":");
        buf_json_string(out, error->code, strlen(error->code));
        separator = ",";
    }
    if (error->limit) {
        buf_printf(out, "%s\"limit\":", separator);
        buf_json_string(out, error->limit, strlen(error->limit));
        buf_printf(out, ",\"max\":%ld", error->max);
    }
    buf_appends(out, "}}");
}

void gql_errors_json(Buf *out, const GqlError *errors, size_t n) {
    buf_appendc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i) buf_appendc(out, ',');
        gql_error_json(out, &errors[i]);
    }
    buf_appendc(out, ']');
}
