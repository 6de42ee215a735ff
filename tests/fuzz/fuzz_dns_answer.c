/* fuzz_dns_answer.c - libFuzzer target for the propagation check's answer
 * parsing (dns_txt_answer_check_wire): arbitrary DNS wire messages, bounded
 * to the 64 KiB a TCP answer can hold. The first byte picks the expected
 * value's length so that matches, near misses and long values are exercised. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dns_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char value_src[] = "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo"
                                    "LPsIwTo7o8BoG0-vjCyGQGBWSVIPxI-i_X336eUOQZo";
    char value[sizeof value_src];
    char desc[240];
    size_t vlen;

    if (size < 1 || size > 65536)
        return 0;
    vlen = data[0] % sizeof value_src;
    memcpy(value, value_src, vlen);
    value[vlen] = '\0';
    (void)dns_txt_answer_check_wire(data + 1, size - 1, value, desc, sizeof desc);
    if (strlen(desc) >= sizeof desc)
        __builtin_trap();
    return 0;
}
