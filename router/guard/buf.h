// Growable byte buffers and arenas: the two ways the guard holds memory. A buffer builds
// text (an answer, a span batch); an arena holds everything one parse makes (a JSON
// value, a GraphQL document) and is freed in one call.
#ifndef KINDRED_GUARD_BUF_H
#define KINDRED_GUARD_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct Buf {
    char *data;  // always NUL-terminated after any append (data[len] == 0), or NULL when empty
    size_t len;
    size_t cap;
} Buf;

#define BUF_INIT {NULL, 0, 0}

void buf_reserve(Buf *b, size_t extra);  // room for `extra` more bytes (aborts when out of memory)
void buf_append(Buf *b, const void *data, size_t len);
void buf_appends(Buf *b, const char *text);  // a NUL-terminated string
void buf_appendc(Buf *b, char c);
void buf_printf(Buf *b, const char *format, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(Buf *b, const char *format, va_list args);
// `text` as a JSON string literal, quotes included; invalid UTF-8 bytes become U+FFFD.
void buf_json_string(Buf *b, const char *text, size_t len);
void buf_clear(Buf *b);  // len = 0, memory kept
void buf_free(Buf *b);   // back to BUF_INIT

typedef struct Arena Arena;

Arena *arena_new(void);
void *arena_alloc(Arena *a, size_t size);  // zeroed, 8-byte aligned (aborts when out of memory)
char *arena_strndup(Arena *a, const char *text, size_t len);  // NUL-terminated copy
size_t arena_size(const Arena *a);  // bytes taken from the system so far
void arena_free(Arena *a);

#endif
