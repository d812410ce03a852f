/* fuzz_config.c — libFuzzer target for the YAML configuration: each input is a cpd.yaml,
 * loaded as cpd loads --config (libyaml, every key and value check, tokens), then validated
 * across keys. The file is a memfd, read through /proc/self/fd. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        log_set_level(CP_LOG_ERROR);
        fd = memfd_create("cpd-fuzz-config", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    struct cp_config cfg;
    char err[512];
    config_defaults(&cfg);
    if (config_load_yaml(&cfg, path, err, sizeof err) == 0) config_validate(&cfg, err, sizeof err);
    config_free(&cfg);
    return 0;
}
