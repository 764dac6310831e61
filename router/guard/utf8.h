// UTF-8, strictly (Unicode's table 3-7: no overlong forms, no surrogates, nothing above
// U+10FFFF): the one decoder and encoder of the guard's modules.
#ifndef KINDRED_GUARD_UTF8_H
#define KINDRED_GUARD_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The length of the well-formed sequence at `s` (at most `available` bytes), or 0.
size_t utf8_length(const unsigned char *s, size_t available);

// Like utf8_length, with the sequence's code point in *code_point.
size_t utf8_decode(const unsigned char *s, size_t available, uint32_t *code_point);

// Writes `code_point` (a Unicode scalar value) to `out`; returns how many bytes (1 to 4).
size_t utf8_encode(uint32_t code_point, char out[4]);

// Whether all of `data` is well-formed.
bool utf8_valid(const uint8_t *data, size_t len);

#endif
