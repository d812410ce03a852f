/* config_helpers.c — the fake environment, temp YAML files and fixture of config_helpers.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config_helpers.h"

/* ---- fake environment, injected through getenv_fn ---- */

static const char *env_pairs[32][2];
static size_t n_env;

void env_clear(void)
{
    n_env = 0;
}

void env_set(const char *name, const char *value)
{
    assert_true(n_env < sizeof env_pairs / sizeof *env_pairs);
    env_pairs[n_env][0] = name;
    env_pairs[n_env][1] = value;
    n_env++;
}

const char *fake_getenv(const char *name)
{
    for (size_t i = n_env; i-- > 0;) /* the last setting wins */
        if (strcmp(env_pairs[i][0], name) == 0) return env_pairs[i][1];
    return NULL;
}

/* ---- temp files ---- */

char tmp_path[64];

const char *write_yaml(const char *text)
{
    if (tmp_path[0]) unlink(tmp_path); /* the previous one of this test */
    strcpy(tmp_path, "/tmp/cpd-test-config-XXXXXX.yaml");
    int fd = mkstemps(tmp_path, 5);
    assert_true(fd >= 0);
    size_t n = strlen(text);
    assert_int_equal(write(fd, text, n), (ssize_t)n);
    close(fd);
    return tmp_path;
}

int config_test_setup(void **state)
{
    (void)state;
    env_clear();
    tmp_path[0] = '\0';
    return 0;
}

int config_test_teardown(void **state)
{
    (void)state;
    if (tmp_path[0]) unlink(tmp_path);
    return 0;
}

int load_text(struct cp_config *cfg, const char *text, char *err, size_t errlen)
{
    config_defaults(cfg);
    err[0] = '\0';
    return config_load_yaml(cfg, write_yaml(text), err, errlen);
}
