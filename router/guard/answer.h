// What the guard answers: GraphQL error bodies in the GraphQL-over-HTTP shape, and the
// engine's JSON answers made whole (the Node edge's router/edge/answer.mjs).
#ifndef KINDRED_GUARD_ANSWER_H
#define KINDRED_GUARD_ANSWER_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

// {"message":message,"extensions":{"code":code}}
void error_object(Buf *out, const char *message, const char *code);

// {"errors":[error_object]}
void error_body(Buf *out, const char *message, const char *code);

// The engine's answer `text` as the client gets it: each error's code in the subgraphs'
// vocabulary (INTERNAL_SERVER_ERROR where it has none), and an error added when `data` is
// null or absent and there is none. Returns false when `text` is to be passed on as it is
// (the common answer, data and no errors, is never parsed; neither is text that is not a
// JSON object); true with the answer to send written to `out`.
bool complete_answer(const char *text, size_t len, Buf *out);

#endif
