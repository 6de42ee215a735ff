/*
 * fuzz_acme.c - arbitrary bytes into every ACME JSON parser (directory,
 * account, order, authorization, problem, renewalInfo). The first byte picks
 * the parser; the rest is the document. Any input must give 0 or -1 with the
 * error set, never a crash or a leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "acme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ac_error e;
    const char *doc;
    size_t len;

    if (size < 1)
        return 0;
    doc = (const char *)data + 1;
    len = size - 1;
    switch (data[0] % 6) {
    case 0: {
        struct acme_directory d;
        if (acme_directory_parse(doc, len, &d, &e) == 0)
            acme_directory_clear(&d);
        break;
    }
    case 1:
        (void)acme_account_parse(doc, len, &e);
        break;
    case 2: {
        struct acme_order_doc o;
        if (acme_order_parse(doc, len, &o, &e) == 0)
            acme_order_doc_clear(&o);
        break;
    }
    case 3: {
        struct acme_authz_doc a;
        if (acme_authz_parse(doc, len, &a, &e) == 0)
            acme_authz_doc_clear(&a);
        break;
    }
    case 4:
        acme_problem_parse(doc, len, 400, -1, "fuzz", &e);
        if (strlen(e.message) >= sizeof e.message)
            __builtin_trap();
        break;
    default: {
        struct acme_renewal_info ri;
        if (acme_renewal_info_parse(doc, len, &ri, &e) == 0)
            acme_renewal_info_free(&ri);
        break;
    }
    }
    return 0;
}
