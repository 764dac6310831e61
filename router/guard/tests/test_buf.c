#include "buf.h"
#include "check.h"

int main(void) {
    Buf b = BUF_INIT;
    buf_json_string(&b, "a\"b\\c\n\x01", 7);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_clear(&b);
    buf_json_string(&b, "\xC3\xA9\xFF", 3);  // é, then a byte that is not UTF-8
    CHECK_STR(b.data, "\"\xC3\xA9\xEF\xBF\xBD\"");
    buf_clear(&b);
    buf_printf(&b, "%d-%s", 42, "x");
    CHECK_STR(b.data, "42-x");
    buf_free(&b);

    Arena *a = arena_new();
    char *copy = arena_strndup(a, "hello", 3);
    CHECK_STR(copy, "hel");
    void *big = arena_alloc(a, 100000);
    CHECK(big != NULL && arena_size(a) >= 100000);
    arena_free(a);
    return check_finish("buf");
}
