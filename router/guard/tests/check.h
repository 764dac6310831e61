// A minimal test harness for the guard's modules: CHECK records a failure and goes on;
// each test file's main returns check_finish().
#ifndef KINDRED_GUARD_CHECK_H
#define KINDRED_GUARD_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_failures;
static int check_count;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        check_count++;                                                                    \
        if (!(condition)) {                                                               \
            check_failures++;                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
        }                                                                                 \
    } while (0)

#define CHECK_STR(actual, expected)                                                                \
    do {                                                                                           \
        const char *check_a = (actual);                                                            \
        const char *check_e = (expected);                                                          \
        check_count++;                                                                             \
        if (!check_a || strcmp(check_a, check_e) != 0) {                                           \
            check_failures++;                                                                      \
            fprintf(stderr, "%s:%d: expected %s\n  got      %s\n", __FILE__, __LINE__, check_e,   \
                    check_a ? check_a : "(null)");                                                 \
        }                                                                                          \
    } while (0)

// A deterministic xorshift64 for the fuzz loops: the same inputs on every run.
static uint64_t check_random_state = 0x9E3779B97F4A7C15ULL;

static inline uint64_t check_random(void) {
    check_random_state ^= check_random_state << 13;
    check_random_state ^= check_random_state >> 7;
    check_random_state ^= check_random_state << 17;
    return check_random_state;
}

static inline size_t check_below(size_t n) { return (size_t)(check_random() % n); }

static inline int check_finish(const char *name) {
    if (check_count == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    fprintf(stderr, "%s: %d checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

#endif
