// The checks every GraphQL document passes before the federation engine sees it (size,
// parse, limits, the spec's schema-free rules: graphql.h), judged once per document text.
// Later requests with the same text cost a hash lookup. The verdicts kept are bounded in
// bytes, least recently used first out, so hostile documents cannot grow the guard.
#ifndef KINDRED_GUARD_VERDICTS_H
#define KINDRED_GUARD_VERDICTS_H

#include <stddef.h>

#include "buf.h"
#include "graphql.h"

typedef struct Verdict {
    const GqlDocument *document;  // the document when it may run; NULL when refused
    int status;                   // 413 for a document over the size limit, else 0
    const char *code;             // when refused: the errors' code
    const char *errors;           // when refused: the JSON array of GraphQL errors
    size_t errors_len;
} Verdict;

typedef struct Verdicts Verdicts;

// Keeps verdicts up to `budget_bytes` (documents, their trees and errors counted).
Verdicts *verdicts_new(const GqlLimits *limits, size_t max_query_bytes, size_t budget_bytes);

// The verdict on `query` (valid until the next verdicts_judge call).
const Verdict *verdicts_judge(Verdicts *verdicts, const char *query, size_t len);

size_t verdicts_count(const Verdicts *verdicts);
void verdicts_free(Verdicts *verdicts);

#endif
