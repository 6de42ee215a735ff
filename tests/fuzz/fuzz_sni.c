/* fuzz_sni.c - server names as a client sends them: normalisation and lookup
 * in an index over exact names and wildcards. Checks that "no SNI" never
 * matches and that a match is consistent with sni_pattern_covers on the
 * normalised name. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sni.h"

static const char *const names[] = {
    "example.com", "*.example.com", "a.b.example.com", "*.b.example.com", "*",
    "xn--bcher-kva.example", "*.0.0.1", "10.0.0.1", "a*.x.com", "foo.*.x.com",
};
#define NNAMES (sizeof names / sizeof names[0])

static struct sni_index *ix;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char norm[SNI_MAX_NAME + 1];
    int n, id;

    if (ix == NULL) {
        struct sni_builder *b = sni_builder_new();
        for (size_t i = 0; b != NULL && i < NNAMES; i++)
            sni_builder_add(b, names[i], strlen(names[i]), (int)i);
        ix = sni_builder_finish(b);
        if (ix == NULL)
            abort();
    }
    n = sni_normalize((const char *)data, size, norm);
    id = sni_index_lookup(ix, (const char *)data, size);
    if (n < 0 && id >= 0)
        abort(); /* "no SNI" never matches */
    /* sni_pattern_covers reads C strings: judge only names without a NUL byte
     * (a NUL inside a label is an ordinary byte for the index, as for DNS). */
    if (id >= 0 && memchr(norm, '\0', (size_t)n) == NULL && !sni_pattern_covers(names[id], norm))
        abort(); /* the index answered a set whose name does not cover it */
    return 0;
}
