#include "utf8.h"

#include <string.h>

// The second byte's range is what excludes overlong forms, surrogates and code points past
// U+10FFFF.
size_t utf8_length(const unsigned char *s, size_t available) {
    unsigned char lead = s[0];
    unsigned char low = 0x80, high = 0xBF;
    size_t n;
    if (lead < 0x80) return 1;
    if (lead >= 0xC2 && lead <= 0xDF) {
        n = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        n = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        n = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (available < n || s[1] < low || s[1] > high) return 0;
    for (size_t i = 2; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
    }
    return n;
}

size_t utf8_decode(const unsigned char *s, size_t available, uint32_t *code_point) {
    static const unsigned char lead_bits[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    size_t n = utf8_length(s, available);
    if (!n) return 0;
    uint32_t value = s[0] & lead_bits[n];
    for (size_t i = 1; i < n; i++) value = (value << 6) | (s[i] & 0x3F);
    *code_point = value;
    return n;
}

size_t utf8_encode(uint32_t code_point, char out[4]) {
    if (code_point < 0x80) {
        out[0] = (char)code_point;
        return 1;
    }
    if (code_point < 0x800) {
        out[0] = (char)(0xC0 | code_point >> 6);
        out[1] = (char)(0x80 | (code_point & 0x3F));
        return 2;
    }
    if (code_point < 0x10000) {
        out[0] = (char)(0xE0 | code_point >> 12);
        out[1] = (char)(0x80 | (code_point >> 6 & 0x3F));
        out[2] = (char)(0x80 | (code_point & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | code_point >> 18);
    out[1] = (char)(0x80 | (code_point >> 12 & 0x3F));
    out[2] = (char)(0x80 | (code_point >> 6 & 0x3F));
    out[3] = (char)(0x80 | (code_point & 0x3F));
    return 4;
}

bool utf8_valid(const uint8_t *data, size_t len) {
    size_t i = 0;
    while (i < len) {
        // GraphQL text is mostly ASCII: skip it eight bytes at a time.
        if (i + 8 <= len) {
            uint64_t chunk;
            memcpy(&chunk, data + i, 8);
            if (!(chunk & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        size_t n = utf8_length(data + i, len - i);
        if (!n) return false;
        i += n;
    }
    return true;
}
