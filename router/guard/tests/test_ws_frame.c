// Tests for ws_frame.c: SHA-1 and base64 vectors, the RFC 6455 handshake key, frames of
// every length form at their boundaries, every error, partial input at every split
// point, strict UTF-8, and deterministic fuzz loops (run under ASan and UBSan).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "utf8.h"
#include "ws_frame.h"

static const char *hex(const uint8_t *data, size_t len) {
    static char text[2 * 64 + 1];
    for (size_t i = 0; i < len; i++) snprintf(text + 2 * i, 3, "%02x", data[i]);
    text[2 * len] = 0;
    return text;
}

static const char *sha1_hex(const void *data, size_t len) {
    uint8_t digest[20];
    sha1(data, len, digest);
    return hex(digest, 20);
}

// One call of ws_parse_frame on an exact-size heap copy of the input, so that AddressSanitizer
// reports any read past `len`. The copy (which the frame's payload points into) is kept.
typedef struct Parsed {
    WsParse result;
    WsFrame frame;
    size_t used;
    const char *reason;
    uint8_t *copy;
} Parsed;

static Parsed parse(const void *data, size_t len, bool expect_masked, size_t max_payload) {
    Parsed p = {0};
    p.copy = malloc(len ? len : 1);
    if (len) memcpy(p.copy, data, len);
    p.used = (size_t)-1;
    p.result = ws_parse_frame(p.copy, len, expect_masked, max_payload, &p.frame, &p.used, &p.reason);
    return p;
}

static void parsed_free(Parsed *p) { free(p->copy); }

// The result of parsing a literal frame (server side unless `masked`), copy freed.
static WsParse parse_result(const char *bytes, size_t len, bool masked, size_t max_payload, const char **reason) {
    Parsed p = parse(bytes, len, masked, max_payload);
    if (reason) *reason = p.reason;
    parsed_free(&p);
    return p.result;
}

#define LIT(s) s, sizeof(s) - 1

// --- SHA-1, base64, keys -------------------------------------------------------------------

static void test_sha1(void) {
    CHECK_STR(sha1_hex("", 0), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    CHECK_STR(sha1_hex(LIT("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
    CHECK_STR(sha1_hex(LIT("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")),
              "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    char *million = malloc(1000000);
    memset(million, 'a', 1000000);
    CHECK_STR(sha1_hex(million, 1000000), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    // Lengths around the padding's block boundaries (values from coreutils' sha1sum).
    static const struct {
        size_t len;
        const char *digest;
    } boundaries[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"}, {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"}, {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"}, {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    for (size_t i = 0; i < sizeof boundaries / sizeof boundaries[0]; i++) {
        CHECK_STR(sha1_hex(million, boundaries[i].len), boundaries[i].digest);
    }
    free(million);
}

static void test_base64(void) {
    static const char *vectors[][2] = {
        {"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},         {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
        char out[16];
        memset(out, 'x', sizeof out);
        size_t n = base64_encode((const uint8_t *)vectors[i][0], strlen(vectors[i][0]), out);
        CHECK_STR(out, vectors[i][1]);
        CHECK(n == strlen(vectors[i][1]));
    }
    // The last two characters of the alphabet, and every bit of every byte.
    const uint8_t high[] = {0xFB, 0xFF, 0xBF, 0xFF};
    char out[16];
    CHECK(base64_encode(high, 3, out) == 4);
    CHECK_STR(out, "+/+/");
    CHECK(base64_encode(high, 4, out) == 8);
    CHECK_STR(out, "+/+//w==");
    const uint8_t zeros[2] = {0, 0};
    base64_encode(zeros, 2, out);
    CHECK_STR(out, "AAA=");
}

static void test_accept_key(void) {
    char out[29];
    memset(out, 'x', sizeof out);
    ws_accept_key(LIT("dGhlIHNhbXBsZSBub25jZQ=="), out);
    CHECK_STR(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    // ws_accept_key hashes the key and the GUID in two parts: every split against a block
    // boundary must equal hashing the concatenation at once.
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char key[200];
    char joined[200 + sizeof guid];
    for (size_t len = 0; len < sizeof key; len++) {
        for (size_t i = 0; i < len; i++) key[i] = (char)('A' + (i * 7 + len) % 26);
        memcpy(joined, key, len);
        memcpy(joined + len, guid, sizeof guid - 1);
        uint8_t digest[20];
        sha1(joined, len + sizeof guid - 1, digest);
        char expected[29];
        base64_encode(digest, 20, expected);
        ws_accept_key(key, len, out);
        CHECK(strcmp(out, expected) == 0);
    }
}

static bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

static void test_new_key(void) {
    char a[25], b[25];
    memset(a, 'x', sizeof a);
    ws_new_key(a);
    ws_new_key(b);
    CHECK(strlen(a) == 24 && strlen(b) == 24);
    CHECK(a[22] == '=' && a[23] == '=');
    bool alphabet = true;
    for (int i = 0; i < 22; i++) alphabet = alphabet && is_base64_char(a[i]) && is_base64_char(b[i]);
    CHECK(alphabet);
    CHECK(strcmp(a, b) != 0);  // 128 random bits each
}

// --- reading frames --------------------------------------------------------------------------

static void test_rfc_examples(void) {
    // RFC 6455 section 5.7.
    Parsed p = parse(LIT("\x81\x05Hello"), false, 1000);
    CHECK(p.result == WS_PARSE_FRAME && p.used == 7);
    CHECK(p.frame.fin && p.frame.opcode == WS_TEXT && !p.frame.masked);
    CHECK(p.frame.len == 5 && memcmp(p.frame.payload, "Hello", 5) == 0);
    CHECK(p.frame.payload == p.copy + 2);
    parsed_free(&p);

    p = parse(LIT("\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), true, 1000);
    CHECK(p.result == WS_PARSE_FRAME && p.used == 11);
    CHECK(p.frame.fin && p.frame.opcode == WS_TEXT && p.frame.masked);
    CHECK(p.frame.len == 5 && memcmp(p.frame.payload, "Hello", 5) == 0);
    CHECK(p.frame.payload == p.copy + 6 && memcmp(p.copy + 6, "Hello", 5) == 0);  // in place
    parsed_free(&p);

    p = parse(LIT("\x01\x03Hel"), false, 1000);
    CHECK(p.result == WS_PARSE_FRAME && !p.frame.fin && p.frame.opcode == WS_TEXT && p.frame.len == 3);
    parsed_free(&p);
    p = parse(LIT("\x80\x02lo"), false, 1000);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.fin && p.frame.opcode == WS_CONTINUATION && p.frame.len == 2);
    CHECK(memcmp(p.frame.payload, "lo", 2) == 0);
    parsed_free(&p);

    p = parse(LIT("\x89\x05Hello"), false, 1000);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.opcode == WS_PING && p.frame.len == 5);
    parsed_free(&p);
    p = parse(LIT("\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"), true, 1000);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.opcode == WS_PONG && memcmp(p.frame.payload, "Hello", 5) == 0);
    parsed_free(&p);

    uint8_t big[10 + 65536] = {0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0};
    p = parse(big, sizeof big, false, 65536);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.opcode == WS_BINARY && p.frame.len == 65536 && p.used == sizeof big);
    parsed_free(&p);
    uint8_t medium[4 + 256] = {0x82, 0x7E, 0x01, 0x00};
    p = parse(medium, sizeof medium, false, 256);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.len == 256 && p.used == sizeof medium);
    parsed_free(&p);
}

static void test_non_minimal_lengths(void) {
    Parsed p = parse(LIT("\x81\x7E\x00\x02hi"), false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.len == 2 && p.used == 6 && memcmp(p.frame.payload, "hi", 2) == 0);
    parsed_free(&p);
    p = parse(LIT("\x81\x7F\x00\x00\x00\x00\x00\x00\x00\x02hi"), false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.len == 2 && p.used == 12);
    parsed_free(&p);
    // A control frame's length in a longer form is still at most 125 bytes.
    p = parse(LIT("\x89\x7E\x00\x01!"), false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.opcode == WS_PING && p.frame.len == 1);
    parsed_free(&p);
    p = parse(LIT("\x81\x7E\x00\x00"), false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.len == 0 && p.used == 4);
    parsed_free(&p);
}

static void test_errors(void) {
    const char *reason = NULL;
    static const char *rsv[] = {"\xC1\x00", "\xA1\x00", "\x91\x00", "\xF1\x00", "\x48\x00"};
    for (size_t i = 0; i < sizeof rsv / sizeof rsv[0]; i++) {
        CHECK(parse_result(rsv[i], 2, false, 100, &reason) == WS_PARSE_ERROR);
        CHECK_STR(reason, "Reserved bits must be clear (no extension was negotiated)");
    }
    for (int opcode = 0; opcode < 16; opcode++) {
        uint8_t frame[2] = {(uint8_t)(0x80 | opcode), 0};
        bool known = opcode <= 2 || (opcode >= 8 && opcode <= 10);
        WsParse r = parse_result((const char *)frame, 2, false, 100, &reason);
        CHECK(known ? r == WS_PARSE_FRAME : r == WS_PARSE_ERROR);
        if (!known) CHECK_STR(reason, "Unknown opcode");
        // Detected from the first byte alone.
        r = parse_result((const char *)frame, 1, false, 100, NULL);
        CHECK(known ? r == WS_PARSE_MORE : r == WS_PARSE_ERROR);
    }
    for (int opcode = WS_CLOSE; opcode <= WS_PONG; opcode++) {
        uint8_t frame[2] = {(uint8_t)opcode, 0};
        CHECK(parse_result((const char *)frame, 2, false, 100, &reason) == WS_PARSE_ERROR);
        CHECK_STR(reason, "Control frames must not be fragmented");
    }

    CHECK(parse_result(LIT("\x81\x00"), true, 100, &reason) == WS_PARSE_ERROR);
    CHECK_STR(reason, "Frames from a client must be masked");
    CHECK(parse_result(LIT("\x81\x80\x00\x00\x00\x00"), false, 100, &reason) == WS_PARSE_ERROR);
    CHECK_STR(reason, "Frames from a server must not be masked");

    CHECK(parse_result(LIT("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00"), false, SIZE_MAX, &reason) == WS_PARSE_ERROR);
    CHECK_STR(reason, "A 64-bit payload length must have its top bit clear");
    CHECK(parse_result(LIT("\x82\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF"), false, SIZE_MAX, &reason) == WS_PARSE_ERROR);

    for (int opcode = WS_CLOSE; opcode <= WS_PONG; opcode++) {
        uint8_t frame[4 + 126] = {(uint8_t)(0x80 | opcode), 126, 0, 126};
        CHECK(parse_result((const char *)frame, sizeof frame, false, 1000, &reason) == WS_PARSE_ERROR);
        CHECK_STR(reason, "Control frames must be at most 125 bytes");
        // Known from the length alone, before the payload.
        CHECK(parse_result((const char *)frame, 4, false, 1000, NULL) == WS_PARSE_ERROR);
        uint8_t largest[2 + 125] = {(uint8_t)(0x80 | opcode), 125};
        CHECK(parse_result((const char *)largest, sizeof largest, false, 1000, NULL) == WS_PARSE_FRAME);
    }
    // In the 7-bit field, 126 and 127 announce longer forms, never a 126-byte control frame.
    CHECK(parse_result(LIT("\x89\x7F\x00\x00\x00\x00\x00\x00\x00\x7E"), false, 1000, &reason) == WS_PARSE_ERROR);
}

static void test_max_payload(void) {
    const char *reason = NULL;
    static uint8_t frame[14 + 70000];
    static const size_t limits[] = {0, 1, 125, 126, 65535, 65536, 69999};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        size_t limit = limits[i];
        for (size_t len = limit; len <= limit + 1; len++) {
            Buf out = BUF_INIT;
            uint8_t *payload = calloc(len + 1, 1);
            ws_write_frame(&out, WS_BINARY, payload, len, true);
            Parsed p = parse(out.data, out.len, true, limit);
            CHECK(len == limit ? p.result == WS_PARSE_FRAME : p.result == WS_PARSE_TOO_BIG);
            if (len > limit) CHECK_STR(p.reason, "Message too big");
            parsed_free(&p);
            // Over the limit, the header alone says so: nothing of the payload need wait.
            size_t header = out.len - len;
            WsParse r = parse_result(out.data, header, true, limit, NULL);
            CHECK(len > limit ? r == WS_PARSE_TOO_BIG : len > 0 ? r == WS_PARSE_MORE : r == WS_PARSE_FRAME);
            free(payload);
            buf_free(&out);
        }
    }
    // The largest length allowed, with no limit: more is wanted, nothing overflows.
    memcpy(frame, "\x82\x7F\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF", 10);
    CHECK(parse_result((const char *)frame, 10, false, SIZE_MAX, &reason) == WS_PARSE_MORE);
    CHECK(reason == NULL);
    memcpy(frame, "\x82\xFF\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x01\x02\x03\x04", 14);
    CHECK(parse_result((const char *)frame, 14 + 70000, true, SIZE_MAX, NULL) == WS_PARSE_MORE);
    CHECK(parse_result((const char *)frame, 14, true, (size_t)1 << 40, NULL) == WS_PARSE_TOO_BIG);
    // A protocol error outranks the size: a 126-byte ping is an error even when over the limit.
    CHECK(parse_result(LIT("\x89\x7E\x00\x7E"), false, 10, &reason) == WS_PARSE_ERROR);
    CHECK(parse_result(LIT("\x89\x0B"), false, 10, &reason) == WS_PARSE_TOO_BIG);
}

// --- writing frames ----------------------------------------------------------------------------

static void fill_pattern(uint8_t *data, size_t len, unsigned seed) {
    for (size_t i = 0; i < len; i++) data[i] = (uint8_t)(i * 31 + seed + (i >> 8));
}

static void test_length_forms(void) {
    static const size_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    static uint8_t payload[70000];
    fill_pattern(payload, sizeof payload, 7);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        size_t len = lengths[i];
        for (int mask = 0; mask <= 1; mask++) {
            Buf out = BUF_INIT;
            ws_write_frame(&out, WS_BINARY, payload, len, mask);
            const uint8_t *wire = (const uint8_t *)out.data;
            size_t length_bytes = len <= 125 ? 0 : len <= 65535 ? 2 : 8;
            size_t header = 2 + length_bytes + (mask ? 4 : 0);
            CHECK(out.len == header + len);
            CHECK(wire[0] == 0x82);
            CHECK((wire[1] & 0x80) == (mask ? 0x80 : 0));
            if (length_bytes == 0) CHECK((wire[1] & 0x7F) == len);
            if (length_bytes == 2) CHECK((wire[1] & 0x7F) == 126 && (size_t)(wire[2] << 8 | wire[3]) == len);
            if (length_bytes == 8) {
                CHECK((wire[1] & 0x7F) == 127);
                uint64_t v = 0;
                for (int b = 0; b < 8; b++) v = v << 8 | wire[2 + b];
                CHECK(v == len);
            }
            if (mask) {
                // Unmasking by hand with the key on the wire gives the payload back.
                const uint8_t *key = wire + header - 4;
                bool same = true;
                for (size_t j = 0; j < len; j++) same = same && (uint8_t)(wire[header + j] ^ key[j & 3]) == payload[j];
                CHECK(same);
            } else {
                CHECK(memcmp(wire + header, payload, len) == 0);
            }
            Parsed p = parse(out.data, out.len, mask, SIZE_MAX);
            CHECK(p.result == WS_PARSE_FRAME && p.used == out.len && p.frame.len == len);
            CHECK(p.frame.fin && p.frame.opcode == WS_BINARY && p.frame.masked == (bool)mask);
            CHECK(len == 0 || memcmp(p.frame.payload, payload, len) == 0);
            parsed_free(&p);
            buf_free(&out);
        }
    }
}

static void test_masking_keys(void) {
    // Keys differ from frame to frame (a repeat among 64 has odds of about 2^-21).
    uint8_t keys[64][4];
    for (int i = 0; i < 64; i++) {
        Buf out = BUF_INIT;
        ws_write_frame(&out, WS_TEXT, "x", 1, true);
        memcpy(keys[i], out.data + 2, 4);
        buf_free(&out);
    }
    int repeats = 0;
    for (int i = 0; i < 64; i++) {
        for (int j = i + 1; j < 64; j++) repeats += memcmp(keys[i], keys[j], 4) == 0;
    }
    CHECK(repeats == 0);
}

static void test_appends(void) {
    // Frames are appended after what the buffer holds, and the buffer stays NUL-terminated.
    Buf out = BUF_INIT;
    buf_appends(&out, "ab");
    ws_write_frame(&out, WS_TEXT, "hi", 2, false);
    ws_write_frame(&out, WS_PING, NULL, 0, false);
    CHECK(out.len == 2 + 4 + 2 && memcmp(out.data, "ab\x81\x02hi\x89\x00", 8) == 0 && out.data[out.len] == 0);
    // Two frames back to back: each parse consumes exactly one.
    Parsed p = parse(out.data + 2, out.len - 2, false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.used == 4 && p.frame.opcode == WS_TEXT);
    size_t first = p.used;
    parsed_free(&p);
    p = parse(out.data + 2 + first, out.len - 2 - first, false, 100);
    CHECK(p.result == WS_PARSE_FRAME && p.used == 2 && p.frame.opcode == WS_PING && p.frame.len == 0);
    parsed_free(&p);
    buf_free(&out);
}

static void test_close(void) {
    Buf out = BUF_INIT;
    ws_write_close(&out, 0, "ignored", false);
    CHECK(out.len == 2 && memcmp(out.data, "\x88\x00", 2) == 0);
    buf_clear(&out);
    ws_write_close(&out, 1000, "bye", false);
    CHECK(out.len == 7 && memcmp(out.data, "\x88\x05\x03\xE8" "bye", 7) == 0);
    buf_clear(&out);
    ws_write_close(&out, 4408, NULL, false);
    CHECK(out.len == 4 && memcmp(out.data, "\x88\x02\x11\x38", 4) == 0);
    buf_clear(&out);

    // Reasons are cut to 123 bytes (with the code, 125), at a character boundary.
    char reason[301];
    memset(reason, 'r', 300);
    reason[300] = 0;
    for (size_t len = 122; len <= 124; len++) {
        reason[len] = 0;
        ws_write_close(&out, 1011, reason, false);
        size_t kept = len < 123 ? len : 123;
        CHECK(out.len == 2 + 2 + kept && (uint8_t)out.data[1] == 2 + kept);
        buf_clear(&out);
        reason[len] = 'r';
    }
    for (int i = 0; i < 100; i++) memcpy(reason + 2 * i, "\xC3\xA9", 2);  // é, 200 bytes
    reason[200] = 0;
    ws_write_close(&out, 1011, reason, false);
    CHECK(out.len == 4 + 122 && utf8_valid((const uint8_t *)out.data + 4, 122));
    buf_clear(&out);
    for (int i = 0; i < 50; i++) memcpy(reason + 4 * i, "\xF0\x9F\x92\x98", 4);  // 💘, 200 bytes
    ws_write_close(&out, 1011, reason, false);
    CHECK(out.len == 4 + 120 && utf8_valid((const uint8_t *)out.data + 4, 120));
    buf_clear(&out);

    ws_write_close(&out, 1001, "going away", true);
    Parsed p = parse(out.data, out.len, true, 125);
    CHECK(p.result == WS_PARSE_FRAME && p.frame.opcode == WS_CLOSE && p.frame.fin && p.frame.len == 12);
    CHECK(memcmp(p.frame.payload, "\x03\xE9going away", 12) == 0);
    parsed_free(&p);
    buf_free(&out);
}

// --- partial input -----------------------------------------------------------------------------

static void test_partial_valid(void) {
    static const size_t lengths[] = {0, 5, 125, 126, 300, 65535, 65536};
    static uint8_t payload[65536];
    fill_pattern(payload, sizeof payload, 3);
    for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
        for (int mask = 0; mask <= 1; mask++) {
            Buf out = BUF_INIT;
            ws_write_frame(&out, WS_TEXT, payload, lengths[i], mask);
            // Long payloads: every split in the header and around its end, a stride inside.
            size_t header = out.len - lengths[i];
            bool all_more = true, untouched = true;
            for (size_t split = 0; split < out.len; split += split < header + 4 || split + 4 > out.len ? 1 : 97) {
                Parsed p = parse(out.data, split, mask, SIZE_MAX);
                all_more = all_more && p.result == WS_PARSE_MORE && p.reason == NULL;
                untouched = untouched && (split == 0 || memcmp(p.copy, out.data, split) == 0);
                parsed_free(&p);
            }
            CHECK(all_more);
            CHECK(untouched);  // nothing is unmasked until the whole frame is there
            Parsed p = parse(out.data, out.len, mask, SIZE_MAX);
            CHECK(p.result == WS_PARSE_FRAME && p.used == out.len);
            parsed_free(&p);
            buf_free(&out);
        }
    }
}

// An invalid frame is MORE before the byte that shows its error and that error from then on.
static void check_partial_error(const char *bytes, size_t len, bool masked, size_t max_payload, size_t decisive,
                                WsParse error) {
    bool as_expected = true;
    for (size_t split = 0; split <= len; split++) {
        WsParse r = parse_result(bytes, split, masked, max_payload, NULL);
        as_expected = as_expected && r == (split < decisive ? WS_PARSE_MORE : error);
    }
    CHECK(as_expected);
}

static void test_partial_errors(void) {
    check_partial_error(LIT("\xC1\x02hi"), false, 100, 1, WS_PARSE_ERROR);
    check_partial_error(LIT("\x83\x02hi"), false, 100, 1, WS_PARSE_ERROR);
    check_partial_error(LIT("\x09\x02hi"), false, 100, 1, WS_PARSE_ERROR);
    check_partial_error(LIT("\x81\x02hi"), true, 100, 2, WS_PARSE_ERROR);
    check_partial_error(LIT("\x81\x82\x01\x02\x03\x04hi"), false, 100, 2, WS_PARSE_ERROR);
    check_partial_error(LIT("\x89\x7E\x00\x80"), false, 1000, 4, WS_PARSE_ERROR);
    check_partial_error(LIT("\x82\x7F\x80\x00\x00\x00\x00\x00\x00\x00"), false, SIZE_MAX, 10, WS_PARSE_ERROR);
    check_partial_error(LIT("\x82\x7E\x01\x00"), false, 255, 4, WS_PARSE_TOO_BIG);
    check_partial_error(LIT("\x82\x0A" "0123456789"), false, 9, 2, WS_PARSE_TOO_BIG);
}

// --- UTF-8 ---------------------------------------------------------------------------------

// A reference for utf8_valid written the other way round: decode each sequence by its
// lead byte, then reject it by the code point's value.
static bool utf8_reference(const uint8_t *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        size_t n;
        uint32_t cp, min;
        if (c < 0x80) n = 1, cp = c, min = 0;
        else if ((c & 0xE0) == 0xC0) n = 2, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) n = 3, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) n = 4, cp = c & 0x07, min = 0x10000;
        else return false;
        if (len - i < n) return false;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
        i += n;
    }
    return true;
}

static bool utf8_lit(const char *s, size_t len) {
    // An exact-size copy, so a read past the end is reported.
    uint8_t *copy = malloc(len ? len : 1);
    memcpy(copy, s, len);
    bool valid = utf8_valid(copy, len);
    free(copy);
    return valid;
}

static void test_utf8(void) {
    static const struct {
        const char *text;
        size_t len;
        bool valid;
    } cases[] = {
        {LIT(""), true},
        {LIT("plain ASCII, longer than eight bytes"), true},
        {LIT("\x00"), true},
        {LIT("\x7F"), true},                  // U+007F
        {LIT("\xC2\x80"), true},              // U+0080
        {LIT("\xDF\xBF"), true},              // U+07FF
        {LIT("\xE0\xA0\x80"), true},          // U+0800
        {LIT("\xED\x9F\xBF"), true},          // U+D7FF
        {LIT("\xEE\x80\x80"), true},          // U+E000
        {LIT("\xEF\xBF\xBF"), true},          // U+FFFF
        {LIT("\xF0\x90\x80\x80"), true},      // U+10000
        {LIT("\xF4\x8F\xBF\xBF"), true},      // U+10FFFF
        {LIT("caf\xC3\xA9 \xF0\x9F\x92\x98 \xE2\x82\xAC"), true},
        {LIT("12345678\xC3\xA9" "12345678"), true},
        {LIT("\xC0\x80"), false},             // overlong NUL
        {LIT("\xC1\xBF"), false},             // overlong U+007F
        {LIT("\xE0\x80\x80"), false},         // overlong
        {LIT("\xE0\x9F\xBF"), false},         // overlong U+07FF
        {LIT("\xF0\x80\x80\x80"), false},     // overlong
        {LIT("\xF0\x8F\xBF\xBF"), false},     // overlong U+FFFF
        {LIT("\xED\xA0\x80"), false},         // U+D800
        {LIT("\xED\xBF\xBF"), false},         // U+DFFF
        {LIT("\xED\xA0\xBD\xED\xB2\x98"), false},  // a surrogate pair in CESU-8
        {LIT("\xF4\x90\x80\x80"), false},     // U+110000
        {LIT("\xF5\x80\x80\x80"), false},
        {LIT("\xF8\x88\x80\x80\x80"), false}, // five bytes
        {LIT("\xFE"), false},
        {LIT("\xFF"), false},
        {LIT("\x80"), false},                 // a lone continuation byte
        {LIT("a\xBF"), false},
        {LIT("\xC3"), false},                 // cut short at the end
        {LIT("\xE2\x82"), false},
        {LIT("\xF0\x9F\x92"), false},
        {LIT("12345678\xF0\x9F\x92"), false},
        {LIT("\xE2\x28\xA1"), false},         // a bad continuation
        {LIT("\xC3\xC3\xA9"), false},
        {LIT("\xF0\x9F\x92\x28"), false},
        {LIT("1234567\xC3\xA9\x80"), false},  // a stray byte right after the ASCII run
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool valid = utf8_lit(cases[i].text, cases[i].len);
        if (valid != cases[i].valid) fprintf(stderr, "utf8 case %zu\n", i);
        CHECK(valid == cases[i].valid);
        CHECK(utf8_reference((const uint8_t *)cases[i].text, cases[i].len) == cases[i].valid);
    }
    // Every code point encodes to something utf8_valid accepts, except the surrogates.
    bool all = true;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        uint8_t s[4];
        size_t n;
        if (cp < 0x80) s[0] = (uint8_t)cp, n = 1;
        else if (cp < 0x800) s[0] = (uint8_t)(0xC0 | cp >> 6), s[1] = (uint8_t)(0x80 | (cp & 0x3F)), n = 2;
        else if (cp < 0x10000)
            s[0] = (uint8_t)(0xE0 | cp >> 12), s[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
            s[2] = (uint8_t)(0x80 | (cp & 0x3F)), n = 3;
        else
            s[0] = (uint8_t)(0xF0 | cp >> 18), s[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
            s[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), s[3] = (uint8_t)(0x80 | (cp & 0x3F)), n = 4;
        bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
        all = all && utf8_valid(s, n) == !surrogate;
    }
    CHECK(all);
}

// Random short strings biased toward the interesting bytes, against the reference.
static void fuzz_utf8(void) {
    static const uint8_t interesting[] = {0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
                                          0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1, 0xF3,
                                          0xF4, 0xF5, 0xF7, 0xF8, 0xFE, 0xFF};
    int mismatches = 0;
    for (int iteration = 0; iteration < 200000; iteration++) {
        size_t len = check_below(20);
        uint8_t *s = malloc(len ? len : 1);
        for (size_t i = 0; i < len; i++) {
            s[i] = check_below(3) ? interesting[check_below(sizeof interesting)] : (uint8_t)check_random();
        }
        mismatches += utf8_valid(s, len) != utf8_reference(s, len);
        free(s);
    }
    CHECK(mismatches == 0);
}

// --- fuzzing frames ----------------------------------------------------------------------------

// Reads frames from `data` until it runs out or fails, checking what each result promises.
static bool parse_all_holds_promises(uint8_t *data, size_t len, bool masked, size_t max_payload) {
    size_t at = 0;
    for (;;) {
        WsFrame frame;
        size_t used = 0;
        const char *reason = NULL;
        WsParse r = ws_parse_frame(data + at, len - at, masked, max_payload, &frame, &used, &reason);
        if (r == WS_PARSE_MORE) return reason == NULL;
        if (r == WS_PARSE_ERROR || r == WS_PARSE_TOO_BIG) return reason && strlen(reason) <= 123;
        if (r != WS_PARSE_FRAME) return false;
        bool control = frame.opcode >= WS_CLOSE;
        bool known = frame.opcode <= WS_BINARY || (control && frame.opcode <= WS_PONG);
        if (used < 2 || used > len - at || frame.len > max_payload || !known || frame.masked != masked) return false;
        if (frame.payload + frame.len != data + at + used || (control && (!frame.fin || frame.len > 125))) return false;
        at += used;
    }
}

static void fuzz_parse(void) {
    Buf seeds[8];
    for (int i = 0; i < 8; i++) seeds[i] = (Buf)BUF_INIT;
    static uint8_t payload[70000];
    fill_pattern(payload, sizeof payload, 11);
    for (int mask = 0; mask <= 1; mask++) {
        Buf *s = &seeds[mask * 4];
        ws_write_frame(&s[0], WS_TEXT, "{\"type\":\"connection_init\"}", 26, mask);
        ws_write_frame(&s[0], WS_PING, "p", 1, mask);
        ws_write_frame(&s[1], WS_BINARY, payload, 300, mask);
        ws_write_close(&s[1], 1000, "done", mask);
        ws_write_frame(&s[2], WS_TEXT, payload, 70000, mask);
        ws_write_frame(&s[3], WS_PONG, payload, 125, mask);
        ws_write_frame(&s[3], WS_CONTINUATION, payload, 3, mask);
    }
    bool promises_kept = true;
    for (int iteration = 0; iteration < 100000; iteration++) {
        int which = (int)check_below(8);
        bool masked = which >= 4;
        const Buf *seed = &seeds[which];
        size_t len = seed->len;
        uint8_t *data = malloc(len + 16);
        memcpy(data, seed->data, len);
        int mutations = 1 + (int)check_below(4);
        for (int m = 0; m < mutations && len > 0; m++) {
            // Mostly in the headers, where the decisions are.
            size_t at = check_below(4) ? check_below(len < 16 ? len : 16) : check_below(len);
            switch (check_below(5)) {
            case 0: data[at] ^= (uint8_t)(1u << check_below(8)); break;
            case 1: data[at] = (uint8_t)check_random(); break;
            case 2: data[at] = check_below(2) ? 0xFF : 0x7F; break;
            case 3: len = at; break;  // truncate
            default: memmove(data + at + 1, data + at, len - at), data[at] = (uint8_t)check_random(), len++; break;
            }
        }
        // An exact-size buffer, so that a read past the end is a finding.
        uint8_t *exact = malloc(len ? len : 1);
        memcpy(exact, data, len);
        free(data);
        static const size_t limits[] = {0, 10, 125, 300, 65536, SIZE_MAX};
        promises_kept = promises_kept && parse_all_holds_promises(exact, len, masked, limits[check_below(6)]);
        free(exact);
    }
    CHECK(promises_kept);
    for (int i = 0; i < 8; i++) buf_free(&seeds[i]);
}

// Whatever is written reads back the same, in one piece.
static void fuzz_round_trip(void) {
    static const int opcodes[] = {WS_CONTINUATION, WS_TEXT, WS_BINARY, WS_CLOSE, WS_PING, WS_PONG};
    static uint8_t payload[70000];
    bool same = true;
    for (int iteration = 0; iteration < 20000; iteration++) {
        int opcode = opcodes[check_below(6)];
        size_t len = opcode >= WS_CLOSE ? check_below(126)
                     : check_below(50) ? check_below(300)
                                     : 65530 + check_below(10);
        for (size_t i = 0; i < len; i++) payload[i] = (uint8_t)check_random();
        bool mask = check_below(2);
        Buf out = BUF_INIT;
        ws_write_frame(&out, opcode, payload, len, mask);
        Parsed p = parse(out.data, out.len, mask, len);
        same = same && p.result == WS_PARSE_FRAME && p.used == out.len && p.frame.opcode == opcode &&
               p.frame.len == len && (len == 0 || memcmp(p.frame.payload, payload, len) == 0);
        parsed_free(&p);
        buf_free(&out);
    }
    CHECK(same);
}

int main(void) {
    test_sha1();
    test_base64();
    test_accept_key();
    test_new_key();
    test_rfc_examples();
    test_non_minimal_lengths();
    test_errors();
    test_max_payload();
    test_length_forms();
    test_masking_keys();
    test_appends();
    test_close();
    test_partial_valid();
    test_partial_errors();
    test_utf8();
    fuzz_utf8();
    fuzz_parse();
    fuzz_round_trip();
    return check_finish("ws_frame");
}
