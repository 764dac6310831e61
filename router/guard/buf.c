#include "buf.h"

#include "utf8.h"

#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *must(void *p) {
    if (!p) {
        fputs("[guard] out of memory\n", stderr);
        abort();
    }
    return p;
}

void buf_reserve(Buf *b, size_t extra) {
    size_t need = b->len + extra + 1;
    if (need <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    b->data = must(realloc(b->data, cap));
    b->cap = cap;
}

void buf_append(Buf *b, const void *data, size_t len) {
    buf_reserve(b, len);
    if (len) memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = 0;
}

void buf_appends(Buf *b, const char *text) { buf_append(b, text, strlen(text)); }

void buf_appendc(Buf *b, char c) { buf_append(b, &c, 1); }

void buf_vprintf(Buf *b, const char *format, va_list args) {
    va_list again;
    va_copy(again, args);
    char small[256];
    int n = vsnprintf(small, sizeof small, format, args);
    if (n > 0 && (size_t)n < sizeof small) {
        buf_append(b, small, (size_t)n);
    } else if (n > 0) {
        buf_reserve(b, (size_t)n);
        vsnprintf(b->data + b->len, (size_t)n + 1, format, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void buf_printf(Buf *b, const char *format, ...) {
    va_list args;
    va_start(args, format);
    buf_vprintf(b, format, args);
    va_end(args);
}

void buf_json_string(Buf *b, const char *text, size_t len) {
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)text;
    buf_reserve(b, len + 2);
    buf_appendc(b, '"');
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            buf_append(b, escaped, 2);
            i++;
        } else if (c < 0x20) {
            const char *short_form = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (short_form) {
                buf_append(b, short_form, 2);
            } else {
                char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                buf_append(b, escaped, 6);
            }
            i++;
        } else if (c < 0x80) {
            buf_appendc(b, (char)c);
            i++;
        } else {
            size_t n = utf8_length(s + i, len - i);
            if (n) {
                buf_append(b, s + i, n);
                i += n;
            } else {
                buf_appends(b, "\xEF\xBF\xBD");
                i++;
            }
        }
    }
    buf_appendc(b, '"');
}

void buf_clear(Buf *b) {
    b->len = 0;
    if (b->data) b->data[0] = 0;
}

void buf_free(Buf *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

typedef struct Block {
    struct Block *next;
    size_t used;
    size_t size;
    _Alignas(16) unsigned char bytes[];
} Block;

struct Arena {
    Block *head;
    size_t total;
};

enum { ARENA_BLOCK = 8192, ARENA_TRIM_BYTES = 1 << 20 };

Arena *arena_new(void) { return must(calloc(1, sizeof(Arena))); }

void *arena_alloc(Arena *a, size_t size) {
    size = (size + 7) & ~(size_t)7;
    Block *block = a->head;
    if (!block || block->size - block->used < size) {
        size_t bytes = size > ARENA_BLOCK ? size : ARENA_BLOCK;
        block = must(malloc(sizeof(Block) + bytes));
        block->used = 0;
        block->size = bytes;
        block->next = a->head;
        a->head = block;
        a->total += sizeof(Block) + bytes;
    }
    void *p = block->bytes + block->used;
    block->used += size;
    memset(p, 0, size);
    return p;
}

char *arena_strndup(Arena *a, const char *text, size_t len) {
    char *copy = arena_alloc(a, len + 1);
    memcpy(copy, text, len);
    copy[len] = 0;
    return copy;
}

size_t arena_size(const Arena *a) { return a->total; }

void arena_free(Arena *a) {
    if (!a) return;
    // A big parse (a hostile body, say) leaves the freed heap to the system, not to the
    // process's resident size.
    bool big = a->total > ARENA_TRIM_BYTES;
    Block *block = a->head;
    while (block) {
        Block *next = block->next;
        free(block);
        block = next;
    }
    free(a);
    if (big) malloc_trim(0);
}
