/*
 * fuzz_config.c - libFuzzer target: the input is written to a temp file and
 * loaded with config_load (pre-pass, libcyaml, expansion, merge, validation);
 * a successful load is also printed. No crash, no leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    struct config *cfg = NULL;
    struct config_diags d = {0};
    FILE *f;

    if (path[0] == '\0')
        snprintf(path, sizeof path, "/tmp/fuzz_config_%d.yml", (int)getpid());
    f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    if (config_load(path, &cfg, &d) == 0) {
        FILE *null = fopen("/dev/null", "w");

        if (null != NULL) {
            config_print(cfg, null);
            fclose(null);
        }
        config_free(cfg);
    }
    config_diags_free(&d);
    return 0;
}
