// JSON for the guard: a strict RFC 8259 parser (recursive descent, nesting bounded by the
// caller, UTF-8 and escapes checked), member look-up, builders for answers, and a compact
// writer. Everything a parse makes lives in the caller's arena; nothing points into the
// input, which need not be NUL-terminated.
#include "json.h"

#include "utf8.h"

#include <stdint.h>
#include <string.h>

typedef struct Parser {
    Arena *arena;
    const unsigned char *text;
    size_t len;
    size_t pos;
    int max_depth;
    const char *message;  // the first error, or NULL
    size_t offset;
} Parser;

// Bytes a string holds as they are: printable ASCII other than '"' and '\'. The scanner
// skips runs of them with one table look-up per byte; the rest (0x80 and up included, for
// the UTF-8 check) stop it.
static const unsigned char plain_byte[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 0x00
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // 0x10
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0x20: '"' is 0x22
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0x30
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0x40
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,  // 0x50: '\' is 0x5C
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0x60
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  // 0x70
};

static bool set_error(Parser *p, const char *message, size_t offset) {
    p->message = message;
    p->offset = offset;
    return false;
}

static Json *fail(Parser *p, const char *message, size_t offset) {
    set_error(p, message, offset);
    return NULL;
}

static void skip_whitespace(Parser *p) {
    while (p->pos < p->len) {
        unsigned char c = p->text[p->pos];
        if (c != ' ' && c != '\n' && c != '\r' && c != '\t') return;
        p->pos++;
    }
}

// Whether the input holds `word` at `at`; if not, `*stop` is where it differs (p->len when
// the input ends first, which callers report as such).
static bool holds_word(const Parser *p, size_t at, const char *word, size_t *stop) {
    size_t i = at;
    for (; *word; word++, i++) {
        if (i >= p->len || p->text[i] != (unsigned char)*word) {
            *stop = i < p->len ? i : p->len;
            return false;
        }
    }
    return true;
}

static bool digit_at(const Parser *p, size_t i) { return i < p->len && (unsigned)(p->text[i] - '0') < 10; }

static size_t skip_digits(const Parser *p, size_t i) {
    while (digit_at(p, i)) i++;
    return i;
}

// Collections record no capacity: it is implied by the count (none, then 4, 8, 16, ...),
// so storage is full exactly when the count is 0 or a power of two of at least 4. Parsed
// and built collections follow the same rule, so json_push and json_set work on both.
static bool storage_full(size_t count) { return count == 0 || (count >= 4 && (count & (count - 1)) == 0); }

// A copy of `count` elements of `size` bytes with room for as many again; the old copy
// stays in the arena, which keeps the total work linear.
static void *grow_storage(Arena *arena, const void *old, size_t count, size_t size) {
    size_t capacity = count ? count * 2 : 4;
    void *fresh = arena_alloc(arena, capacity * size);
    if (count) memcpy(fresh, old, count * size);
    return fresh;
}

static void append_item(Arena *arena, Json *array, Json *item) {
    if (storage_full(array->count)) array->items = grow_storage(arena, array->items, array->count, sizeof *array->items);
    array->items[array->count++] = item;
}

static void append_member(Arena *arena, Json *object, const char *key, size_t key_len, Json *value) {
    if (storage_full(object->count)) {
        object->items = grow_storage(arena, object->items, object->count, sizeof *object->items);
        object->keys = grow_storage(arena, object->keys, object->count, sizeof *object->keys);
        object->key_lens = grow_storage(arena, object->key_lens, object->count, sizeof *object->key_lens);
    }
    object->items[object->count] = value;
    object->keys[object->count] = key;
    object->key_lens[object->count] = key_len;
    object->count++;
}

static int hex_value(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads the UTF-16 unit of the \uXXXX escape whose `\` is at `at`.
static bool read_unicode_escape(Parser *p, size_t at, uint32_t *unit) {
    *unit = 0;
    for (size_t i = at + 2; i < at + 6; i++) {
        if (i >= p->len) return set_error(p, "unexpected end of input", p->len);
        int digit = hex_value(p->text[i]);
        if (digit < 0) return set_error(p, "invalid escape in a string", at);
        *unit = *unit * 16 + (uint32_t)digit;
    }
    return true;
}

static bool is_high_surrogate(uint32_t unit) { return unit >= 0xD800 && unit <= 0xDBFF; }
static bool is_low_surrogate(uint32_t unit) { return unit >= 0xDC00 && unit <= 0xDFFF; }

// Checks the escape whose `\` is at `at`; its length in bytes, or 0 with the error set.
// A \u escape of a surrogate must be the first half of a pair whose second half follows.
static size_t check_escape(Parser *p, size_t at) {
    if (at + 1 >= p->len) return set_error(p, "unexpected end of input", p->len);
    switch (p->text[at + 1]) {
    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
        return 2;
    case 'u':
        break;
    default:
        return set_error(p, "invalid escape in a string", at);
    }
    uint32_t unit, second;
    if (!read_unicode_escape(p, at, &unit)) return 0;
    if (is_low_surrogate(unit)) return set_error(p, "lone surrogate in a string", at);
    if (!is_high_surrogate(unit)) return 6;
    size_t stop;
    if (!holds_word(p, at + 6, "\\u", &stop)) {
        if (stop == p->len) return set_error(p, "unexpected end of input", p->len);
        return set_error(p, "lone surrogate in a string", at);
    }
    if (!read_unicode_escape(p, at + 6, &second)) return 0;
    if (!is_low_surrogate(second)) return set_error(p, "lone surrogate in a string", at);
    return 12;
}

// Checks the string whose opening quote is at p->pos: finds its closing quote and says
// whether it holds escapes (raw bytes, already checked, can then be copied as they are).
static bool scan_string(Parser *p, size_t *end, bool *has_escapes) {
    const unsigned char *s = p->text;
    size_t i = p->pos + 1;
    *has_escapes = false;
    for (;;) {
        while (i < p->len && plain_byte[s[i]]) i++;
        if (i == p->len) return set_error(p, "unexpected end of input", p->len);
        unsigned char c = s[i];
        size_t n;
        if (c == '"') {
            *end = i;
            return true;
        } else if (c == '\\') {
            n = check_escape(p, i);
            if (!n) return false;
            *has_escapes = true;
        } else if (c < 0x20) {
            return set_error(p, "control character in a string", i);
        } else {
            n = utf8_length(s + i, p->len - i);
            if (!n) return set_error(p, "invalid UTF-8", i);
        }
        i += n;
    }
}

static uint32_t hex4(const unsigned char *s) {
    return (uint32_t)(hex_value(s[0]) << 12 | hex_value(s[1]) << 8 | hex_value(s[2]) << 4 | hex_value(s[3]));
}

// Decodes `len` bytes of string body that scan_string accepted into `out`, which has room
// for `len` bytes (no escape decodes to more bytes than it is written with); the length.
static size_t decode_string(const unsigned char *s, size_t len, char *out) {
    size_t i = 0, o = 0;
    while (i < len) {
        const unsigned char *backslash = memchr(s + i, '\\', len - i);
        size_t run = backslash ? (size_t)(backslash - s) - i : len - i;
        memcpy(out + o, s + i, run);
        i += run;
        o += run;
        if (i == len) break;
        unsigned char c = s[i + 1];
        i += 2;
        switch (c) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            uint32_t code_point = hex4(s + i);
            i += 4;
            if (is_high_surrogate(code_point)) {
                code_point = 0x10000 + ((code_point - 0xD800) << 10) + (hex4(s + i + 2) - 0xDC00);
                i += 6;
            }
            o += utf8_encode(code_point, out + o);
            break;
        }
        default: out[o++] = (char)c; break;  // '"', '\\', '/'
        }
    }
    out[o] = 0;
    return o;
}

// Parses the string whose opening quote is at p->pos into `text` and `len`.
static bool parse_string(Parser *p, const char **text, size_t *len) {
    size_t end;
    bool has_escapes;
    if (!scan_string(p, &end, &has_escapes)) return false;
    const unsigned char *body = p->text + p->pos + 1;
    size_t raw = end - p->pos - 1;
    if (raw == 0) {
        *text = "";
        *len = 0;
    } else if (!has_escapes) {
        *text = arena_strndup(p->arena, (const char *)body, raw);
        *len = raw;
    } else {
        char *out = arena_alloc(p->arena, raw + 1);
        *len = decode_string(body, raw, out);
        *text = out;
    }
    p->pos = end + 1;
    return true;
}

static Json *parse_string_value(Parser *p) {
    Json *value = json_new(p->arena, JSON_STRING);
    return parse_string(p, &value->text, &value->len) ? value : NULL;
}

// A number lacking the digit expected at `i`.
static Json *fail_number(Parser *p, size_t i) {
    return fail(p, i >= p->len ? "unexpected end of input" : "invalid number", i);
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, kept as written.
static Json *parse_number(Parser *p) {
    size_t start = p->pos, i = start;
    if (p->text[i] == '-') i++;
    if (!digit_at(p, i)) return fail_number(p, i);
    if (p->text[i] == '0') {
        i++;
        if (digit_at(p, i)) return fail(p, "leading zero in a number", start);
    } else {
        i = skip_digits(p, i);
    }
    if (i < p->len && p->text[i] == '.') {
        i++;
        if (!digit_at(p, i)) return fail_number(p, i);
        i = skip_digits(p, i);
    }
    if (i < p->len && (p->text[i] == 'e' || p->text[i] == 'E')) {
        i++;
        if (i < p->len && (p->text[i] == '+' || p->text[i] == '-')) i++;
        if (!digit_at(p, i)) return fail_number(p, i);
        i = skip_digits(p, i);
    }
    Json *value = json_new(p->arena, JSON_NUMBER);
    value->len = i - start;
    value->text = arena_strndup(p->arena, (const char *)p->text + start, value->len);
    p->pos = i;
    return value;
}

static Json *parse_literal(Parser *p, const char *word, JsonType type) {
    size_t stop;
    if (!holds_word(p, p->pos, word, &stop))
        return fail(p, stop == p->len ? "unexpected end of input" : "unexpected character", stop);
    p->pos += strlen(word);
    return json_new(p->arena, type);
}

static Json *parse_value(Parser *p, int depth);

// The byte after a collection's item, which must be `,` or `close`; consumed.
static bool next_separator(Parser *p, char close, const char *message, bool *closed) {
    skip_whitespace(p);
    if (p->pos >= p->len) return set_error(p, "unexpected end of input", p->len);
    unsigned char c = p->text[p->pos];
    if (c != ',' && c != (unsigned char)close) return set_error(p, message, p->pos);
    p->pos++;
    *closed = c != ',';
    if (*closed) return true;
    skip_whitespace(p);
    if (p->pos < p->len && p->text[p->pos] == (unsigned char)close) return set_error(p, "trailing comma", p->pos);
    return true;
}

// `depth` is the nesting of the collection opening at p->pos, already checked.
static Json *parse_array(Parser *p, int depth) {
    Json *array = json_new(p->arena, JSON_ARRAY);
    p->pos++;
    skip_whitespace(p);
    if (p->pos < p->len && p->text[p->pos] == ']') {
        p->pos++;
        return array;
    }
    bool closed = false;
    while (!closed) {
        Json *item = parse_value(p, depth);
        if (!item) return NULL;
        append_item(p->arena, array, item);
        if (!next_separator(p, ']', "expected ',' or ']' in an array", &closed)) return NULL;
    }
    return array;
}

static bool parse_member(Parser *p, Json *object, int depth) {
    skip_whitespace(p);
    if (p->pos >= p->len) return set_error(p, "unexpected end of input", p->len);
    if (p->text[p->pos] != '"') return set_error(p, "expected a string as a member name", p->pos);
    const char *key;
    size_t key_len;
    if (!parse_string(p, &key, &key_len)) return false;
    skip_whitespace(p);
    if (p->pos >= p->len) return set_error(p, "unexpected end of input", p->len);
    if (p->text[p->pos] != ':') return set_error(p, "expected ':' after a member name", p->pos);
    p->pos++;
    Json *value = parse_value(p, depth);
    if (!value) return false;
    append_member(p->arena, object, key, key_len, value);
    return true;
}

static Json *parse_object(Parser *p, int depth) {
    Json *object = json_new(p->arena, JSON_OBJECT);
    p->pos++;
    skip_whitespace(p);
    if (p->pos < p->len && p->text[p->pos] == '}') {
        p->pos++;
        return object;
    }
    bool closed = false;
    while (!closed) {
        if (!parse_member(p, object, depth)) return NULL;
        if (!next_separator(p, '}', "expected ',' or '}' in an object", &closed)) return NULL;
    }
    return object;
}

// The value at p->pos (after whitespace), inside `depth` arrays and objects.
static Json *parse_value(Parser *p, int depth) {
    skip_whitespace(p);
    if (p->pos >= p->len) return fail(p, "unexpected end of input", p->len);
    unsigned char c = p->text[p->pos];
    switch (c) {
    case '{':
    case '[':
        if (depth >= p->max_depth) return fail(p, "nesting too deep", p->pos);
        return c == '{' ? parse_object(p, depth + 1) : parse_array(p, depth + 1);
    case '"': return parse_string_value(p);
    case 't': return parse_literal(p, "true", JSON_TRUE);
    case 'f': return parse_literal(p, "false", JSON_FALSE);
    case 'n': return parse_literal(p, "null", JSON_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(p);
        return fail(p, "unexpected character", p->pos);
    }
}

Json *json_parse(Arena *arena, const char *text, size_t len, int max_depth, JsonError *error) {
    Parser p = {.arena = arena, .text = (const unsigned char *)text, .len = len, .max_depth = max_depth};
    skip_whitespace(&p);
    Json *value = NULL;
    if (p.pos == len) {
        set_error(&p, "empty input", 0);
    } else {
        value = parse_value(&p, 0);
        skip_whitespace(&p);
        if (value && p.pos < len) {
            set_error(&p, "trailing characters after the value", p.pos);
            value = NULL;
        }
    }
    if (!value && error) {
        error->message = p.message;
        error->offset = p.offset;
    }
    return value;
}

Json *json_get(const Json *value, const char *key) {
    if (!value || value->type != JSON_OBJECT || !key) return NULL;
    size_t key_len = strlen(key);
    for (size_t i = value->count; i-- > 0;)
        if (value->key_lens[i] == key_len && memcmp(value->keys[i], key, key_len) == 0) return value->items[i];
    return NULL;
}

Json *json_new(Arena *arena, JsonType type) {
    Json *value = arena_alloc(arena, sizeof *value);
    value->type = type;
    // Strings and numbers always have text, so writing a fresh one gives valid JSON.
    if (type == JSON_STRING) value->text = "";
    if (type == JSON_NUMBER) {
        value->text = "0";
        value->len = 1;
    }
    return value;
}

Json *json_new_string(Arena *arena, const char *text, size_t len) {
    Json *value = json_new(arena, JSON_STRING);
    if (len) {
        value->text = arena_strndup(arena, text, len);
        value->len = len;
    }
    return value;
}

void json_push(Arena *arena, Json *array, Json *item) {
    if (array && array->type == JSON_ARRAY) append_item(arena, array, item);
}

void json_set(Arena *arena, Json *object, const char *key, Json *value) {
    if (!object || object->type != JSON_OBJECT || !key) return;
    size_t key_len = strlen(key);
    for (size_t i = object->count; i-- > 0;) {
        if (object->key_lens[i] == key_len && memcmp(object->keys[i], key, key_len) == 0) {
            object->items[i] = value;
            return;
        }
    }
    append_member(arena, object, arena_strndup(arena, key, key_len), key_len, value);
}

void json_write(Buf *out, const Json *value) {
    if (!value) {
        buf_append(out, "null", 4);
        return;
    }
    switch (value->type) {
    case JSON_NULL: buf_append(out, "null", 4); break;
    case JSON_FALSE: buf_append(out, "false", 5); break;
    case JSON_TRUE: buf_append(out, "true", 4); break;
    case JSON_NUMBER: buf_append(out, value->text, value->len); break;
    case JSON_STRING: buf_json_string(out, value->text, value->len); break;
    case JSON_ARRAY:
        buf_appendc(out, '[');
        for (size_t i = 0; i < value->count; i++) {
            if (i) buf_appendc(out, ',');
            json_write(out, value->items[i]);
        }
        buf_appendc(out, ']');
        break;
    case JSON_OBJECT:
        buf_appendc(out, '{');
        for (size_t i = 0; i < value->count; i++) {
            if (i) buf_appendc(out, ',');
            buf_json_string(out, value->keys[i], value->key_lens[i]);
            buf_appendc(out, ':');
            json_write(out, value->items[i]);
        }
        buf_appendc(out, '}');
        break;
    }
}
