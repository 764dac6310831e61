// The verdict cache (verdicts.h): one verdict per document text, the size limit before
// any parse, and the byte budget that bounds what is remembered.
#include "check.h"
#include "verdicts.h"

static const GqlLimits LIMITS = {
    .max_tokens = 4000,
    .max_depth = 12,
    .max_aliases = 30,
    .max_directives = 5,
    .max_introspection_depth = 15,
    .max_introspection_lists = 2,
};

static const Verdict *judge(Verdicts *v, const char *query) { return verdicts_judge(v, query, strlen(query)); }

int main(void) {
    Verdicts *v = verdicts_new(&LIMITS, 64, 1 << 20);

    const Verdict *sound = judge(v, "{ me { id } }");
    CHECK(sound->document != NULL && sound->errors == NULL && sound->status == 0);
    CHECK(judge(v, "{ me { id } }") == sound);  // judged once, then remembered
    CHECK(verdicts_count(v) == 1);

    const Verdict *broken = judge(v, "{ me { id }");
    CHECK(broken->document == NULL);
    CHECK_STR(broken->code, "GRAPHQL_PARSE_FAILED");
    CHECK(strstr(broken->errors, "Syntax Error") != NULL && broken->errors[0] == '[');

    const Verdict *cycle = judge(v, "{ ...A } fragment A on Query { ...A }");
    CHECK(cycle->document == NULL);
    CHECK_STR(cycle->code, "GRAPHQL_VALIDATION_FAILED");

    // Over the size limit: refused by its length alone, and nothing of it kept.
    char big[100];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    const Verdict *too_large = judge(v, big);
    CHECK(too_large->status == 413);
    CHECK_STR(too_large->code, "PAYLOAD_TOO_LARGE");
    CHECK(verdicts_count(v) == 3);
    verdicts_free(v);

    // A small budget: the least recently used verdicts go, the one just judged stays.
    v = verdicts_new(&LIMITS, 64, 64 * 1024);
    char query[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(query, sizeof query, "{ field%d }", i);
        CHECK(judge(v, query)->document != NULL);
    }
    CHECK(verdicts_count(v) > 0 && verdicts_count(v) < 1000);
    const Verdict *last = judge(v, query);
    CHECK(judge(v, query) == last && last->document != NULL);
    verdicts_free(v);
    return check_finish("verdicts");
}
