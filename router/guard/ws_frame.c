// WebSocket framing (RFC 6455) over byte buffers: the handshake's accept key (SHA-1,
// base64), reading one frame at a time from whatever bytes have arrived, writing whole
// frames. No sockets and no allocation beyond the output Buf.
#include "ws_frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

// --- SHA-1 (FIPS 180-1) -------------------------------------------------------------------

typedef struct Sha1 {
    uint32_t state[5];
    uint64_t length;  // bytes hashed so far
    uint8_t block[64];
    size_t used;      // bytes waiting in `block`
} Sha1;

static uint32_t rotl32(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_init(Sha1 *s) {
    static const uint32_t initial[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    memcpy(s->state, initial, sizeof initial);
    s->length = 0;
    s->used = 0;
}

static void sha1_block(uint32_t state[5], const uint8_t block[64]) {
    uint32_t w[80];
    for (int i = 0; i < 16; i++) {
        w[i] = (uint32_t)block[4 * i] << 24 | (uint32_t)block[4 * i + 1] << 16 | (uint32_t)block[4 * i + 2] << 8 |
               (uint32_t)block[4 * i + 3];
    }
    for (int i = 16; i < 80; i++) w[i] = rotl32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4];
    for (int i = 0; i < 80; i++) {
        uint32_t f, k;
        if (i < 20) f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40) f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60) f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else f = b ^ c ^ d, k = 0xCA62C1D6;
        uint32_t t = rotl32(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = rotl32(b, 30);
        b = a;
        a = t;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
}

static void sha1_update(Sha1 *s, const void *data, size_t len) {
    const uint8_t *p = data;
    s->length += len;
    if (s->used) {
        size_t take = 64 - s->used < len ? 64 - s->used : len;
        memcpy(s->block + s->used, p, take);
        s->used += take;
        p += take;
        len -= take;
        if (s->used < 64) return;
        sha1_block(s->state, s->block);
        s->used = 0;
    }
    for (; len >= 64; p += 64, len -= 64) sha1_block(s->state, p);
    if (len) memcpy(s->block, p, len);
    s->used = len;
}

static void sha1_final(Sha1 *s, uint8_t digest[20]) {
    uint64_t bits = s->length * 8;
    static const uint8_t pad[64] = {0x80};
    // Pad to 56 bytes mod 64, leaving room for the 8-byte length.
    size_t pad_len = s->used < 56 ? 56 - s->used : 120 - s->used;
    sha1_update(s, pad, pad_len);
    uint8_t length_bytes[8];
    for (int i = 0; i < 8; i++) length_bytes[i] = (uint8_t)(bits >> (56 - 8 * i));
    sha1_update(s, length_bytes, 8);
    for (int i = 0; i < 5; i++) {
        digest[4 * i] = (uint8_t)(s->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(s->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(s->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)s->state[i];
    }
}

void sha1(const void *data, size_t len, uint8_t digest[20]) {
    Sha1 s;
    sha1_init(&s);
    sha1_update(&s, data, len);
    sha1_final(&s, digest);
}

// --- base64 and handshake keys -------------------------------------------------------------

size_t base64_encode(const uint8_t *data, size_t len, char *out) {
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[n++] = alphabet[v >> 18];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = alphabet[(v >> 6) & 63];
        out[n++] = alphabet[v & 63];
    }
    if (i < len) {
        bool two = len - i == 2;
        uint32_t v = (uint32_t)data[i] << 16 | (two ? (uint32_t)data[i + 1] << 8 : 0);
        out[n++] = alphabet[v >> 18];
        out[n++] = alphabet[(v >> 12) & 63];
        out[n++] = two ? alphabet[(v >> 6) & 63] : '=';
        out[n++] = '=';
    }
    out[n] = 0;
    return n;
}

void ws_accept_key(const char *key, size_t key_len, char out[29]) {
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    // Hashed in two parts so that a client's key, however long, needs no copy.
    Sha1 s;
    uint8_t digest[20];
    sha1_init(&s);
    sha1_update(&s, key, key_len);
    sha1_update(&s, guid, sizeof guid - 1);
    sha1_final(&s, digest);
    base64_encode(digest, sizeof digest, out);
}

// Fills `out` from the kernel's CSPRNG. Without it the guard could not make keys that
// strangers cannot guess, so failing is fatal (it only happens on kernels before 3.17).
static void random_bytes(void *out, size_t len) {
    uint8_t *p = out;
    while (len) {
        ssize_t n = getrandom(p, len, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            perror("[guard] getrandom");
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
}

void ws_new_key(char out[25]) {
    uint8_t nonce[16];
    random_bytes(nonce, sizeof nonce);
    base64_encode(nonce, sizeof nonce, out);
}

// --- masking -------------------------------------------------------------------------------

// xorshift128+, seeded once from getrandom: masking keys need only be unpredictable to
// third parties on the path (RFC 6455 section 10.3), not secret, so one syscall suffices.
static uint64_t mask_state[2];

static uint32_t next_masking_key(void) {
    if (!mask_state[0] && !mask_state[1]) {
        random_bytes(mask_state, sizeof mask_state);
        if (!mask_state[0] && !mask_state[1]) mask_state[0] = 1;  // the one state it cannot leave
    }
    uint64_t x = mask_state[0];
    const uint64_t y = mask_state[1];
    mask_state[0] = y;
    x ^= x << 23;
    mask_state[1] = x ^ y ^ (x >> 17) ^ (y >> 26);
    return (uint32_t)((mask_state[1] + y) >> 32);
}

// XORs `data` with the 4-byte `key` repeated (masking and unmasking are the same), eight
// bytes at a time because whole messages pass through here.
static void apply_mask(uint8_t *data, size_t len, const uint8_t key[4]) {
    uint8_t key8[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
    uint64_t wide;
    memcpy(&wide, key8, 8);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t chunk;
        memcpy(&chunk, data + i, 8);
        chunk ^= wide;
        memcpy(data + i, &chunk, 8);
    }
    for (; i < len; i++) data[i] ^= key[i & 3];
}

// --- reading frames -------------------------------------------------------------------------

static bool is_control(int opcode) { return opcode >= WS_CLOSE; }

static bool is_known_opcode(int opcode) {
    return opcode == WS_CONTINUATION || opcode == WS_TEXT || opcode == WS_BINARY || opcode == WS_CLOSE ||
           opcode == WS_PING || opcode == WS_PONG;
}

// Checks the first byte: FIN, RSV1-3, opcode. NULL when it is acceptable.
static const char *first_byte_error(uint8_t b0) {
    int opcode = b0 & 0x0F;
    if (b0 & 0x70) return "Reserved bits must be clear (no extension was negotiated)";
    if (!is_known_opcode(opcode)) return "Unknown opcode";
    if (is_control(opcode) && !(b0 & 0x80)) return "Control frames must not be fragmented";
    return NULL;
}

static uint64_t read_be(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v = v << 8 | p[i];
    return v;
}

// Errors are reported as soon as the bytes that show them have arrived, and a frame over
// max_payload as soon as its length has, so a hostile peer never makes the caller buffer
// a frame that will be refused.
WsParse ws_parse_frame(uint8_t *data, size_t len, bool expect_masked, size_t max_payload, WsFrame *frame,
                       size_t *used, const char **reason) {
    *reason = NULL;
    if (len < 1) return WS_PARSE_MORE;
    if ((*reason = first_byte_error(data[0]))) return WS_PARSE_ERROR;
    if (len < 2) return WS_PARSE_MORE;

    bool masked = data[1] & 0x80;
    if (masked != expect_masked) {
        *reason = expect_masked ? "Frames from a client must be masked" : "Frames from a server must not be masked";
        return WS_PARSE_ERROR;
    }
    int length_bytes = (data[1] & 0x7F) == 127 ? 8 : (data[1] & 0x7F) == 126 ? 2 : 0;
    if (len < 2 + (size_t)length_bytes) return WS_PARSE_MORE;
    uint64_t length = length_bytes ? read_be(data + 2, length_bytes) : (uint64_t)(data[1] & 0x7F);
    if (length >> 63) {
        *reason = "A 64-bit payload length must have its top bit clear";
        return WS_PARSE_ERROR;
    }
    int opcode = data[0] & 0x0F;
    if (is_control(opcode) && length > 125) {
        *reason = "Control frames must be at most 125 bytes";
        return WS_PARSE_ERROR;
    }
    size_t header = 2 + (size_t)length_bytes + (masked ? 4 : 0);
    // The second test matters only where size_t is narrower than 64 bits.
    if (length > max_payload || length > SIZE_MAX - header) {
        *reason = "Message too big";
        return WS_PARSE_TOO_BIG;
    }
    if (len < header || len - header < length) return WS_PARSE_MORE;

    uint8_t *payload = data + header;
    if (masked) apply_mask(payload, (size_t)length, data + header - 4);
    frame->fin = data[0] & 0x80;
    frame->opcode = opcode;
    frame->masked = masked;
    frame->payload = payload;
    frame->len = (size_t)length;
    *used = header + (size_t)length;
    return WS_PARSE_FRAME;
}

// --- writing frames ----------------------------------------------------------------------------

void ws_write_frame(Buf *out, int opcode, const void *payload, size_t len, bool mask) {
    uint8_t header[14];
    size_t n = 0;
    header[n++] = (uint8_t)(0x80 | (opcode & 0x0F));
    uint8_t mask_bit = mask ? 0x80 : 0;
    if (len <= 125) {
        header[n++] = (uint8_t)(mask_bit | len);
    } else if (len <= 0xFFFF) {
        header[n++] = mask_bit | 126;
        header[n++] = (uint8_t)(len >> 8);
        header[n++] = (uint8_t)len;
    } else {
        header[n++] = mask_bit | 127;
        for (int shift = 56; shift >= 0; shift -= 8) header[n++] = (uint8_t)((uint64_t)len >> shift);
    }
    uint8_t key[4];
    if (mask) {
        uint32_t k = next_masking_key();
        memcpy(key, &k, 4);
        memcpy(header + n, key, 4);
        n += 4;
    }
    buf_reserve(out, n + len);
    buf_append(out, header, n);
    size_t start = out->len;
    buf_append(out, payload, len);
    if (mask) apply_mask((uint8_t *)out->data + start, len, key);
}

// The longest prefix of `text` (at most `limit` bytes) that does not end inside a UTF-8
// sequence, so that a truncated close reason stays valid UTF-8.
static size_t utf8_prefix(const char *text, size_t len, size_t limit) {
    if (len <= limit) return len;
    size_t n = limit;
    while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80) n--;
    return n;
}

void ws_write_close(Buf *out, int code, const char *reason, bool mask) {
    if (code == 0) {
        ws_write_frame(out, WS_CLOSE, NULL, 0, mask);
        return;
    }
    uint8_t payload[125];
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    size_t reason_len = reason ? utf8_prefix(reason, strlen(reason), sizeof payload - 2) : 0;
    if (reason_len) memcpy(payload + 2, reason, reason_len);
    ws_write_frame(out, WS_CLOSE, payload, 2 + reason_len, mask);
}
