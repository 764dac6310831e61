// WebSocket (RFC 6455) without sockets: the opening handshake's accept key, and frames
// read from and written to byte buffers. The network layer (net_*.c) does the I/O.
#ifndef KINDRED_GUARD_WS_FRAME_H
#define KINDRED_GUARD_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum {
    WS_CONTINUATION = 0x0,
    WS_TEXT = 0x1,
    WS_BINARY = 0x2,
    WS_CLOSE = 0x8,
    WS_PING = 0x9,
    WS_PONG = 0xA,
};

// Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (base64 of SHA-1 of key + GUID):
// 28 characters and a NUL written to `out`.
void ws_accept_key(const char *key, size_t key_len, char out[29]);

// A fresh Sec-WebSocket-Key (16 random bytes, base64): 24 characters and a NUL.
void ws_new_key(char out[25]);

void sha1(const void *data, size_t len, uint8_t digest[20]);
size_t base64_encode(const uint8_t *data, size_t len, char *out);  // writes 4*ceil(len/3) chars + NUL

typedef struct WsFrame {
    bool fin;
    int opcode;
    bool masked;
    const uint8_t *payload;  // unmasked (in place, in the input buffer)
    size_t len;
} WsFrame;

typedef enum {
    WS_PARSE_FRAME = 1,       // a whole frame: `frame` is filled, `*used` bytes consumed
    WS_PARSE_MORE = 0,        // not yet a whole frame: read more
    WS_PARSE_ERROR = -1,      // a protocol error: close with 1002 (`*reason` says why)
    WS_PARSE_TOO_BIG = -2,    // a frame over max_payload: close with 1009
} WsParse;

// Reads one frame from `data` (len bytes; unmasks its payload in place). A client's frames
// must be masked and a server's must not (`expect_masked`); reserved bits, unknown
// opcodes, control frames over 125 bytes or fragmented are errors.
WsParse ws_parse_frame(uint8_t *data, size_t len, bool expect_masked, size_t max_payload, WsFrame *frame,
                       size_t *used, const char **reason);

// Appends one whole (fin) frame to `out`; `mask` true for frames a client sends (a random
// masking key), false for a server's.
void ws_write_frame(Buf *out, int opcode, const void *payload, size_t len, bool mask);

// Appends a close frame with `code` and `reason` (truncated to fit 125 bytes).
void ws_write_close(Buf *out, int code, const char *reason, bool mask);

#endif
