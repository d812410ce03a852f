/* config_helpers.h — shared by the test_config_*.c files: a fake environment, a temp YAML file
 * per test, and the fixture that resets both. Linked in as config_helpers.c. */
#ifndef TEST_CONFIG_HELPERS_H
#define TEST_CONFIG_HELPERS_H

#include <stddef.h>

#include "config.h"

/* The fake environment handed to config_load_env()/config_from_args() as getenv_fn. The last
 * setting of a name wins; the strings are borrowed, so pass literals. */
void env_clear(void);
void env_set(const char *name, const char *value);
const char *fake_getenv(const char *name);

/* The path of the current test's temp YAML file ("" when none); the file is removed by the
 * next write_yaml() or by config_test_teardown(). */
extern char tmp_path[64];

/* Writes `text` to a fresh temp file and returns its path (tmp_path). */
const char *write_yaml(const char *text);

/* Loads `text` over the defaults; returns rc and leaves the message in err. */
int load_text(struct cp_config *cfg, const char *text, char *err, size_t errlen);

/* cmocka setup/teardown for every config test. */
int config_test_setup(void **state);
int config_test_teardown(void **state);

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (strstr((hay), (needle)) == NULL)                                                       \
            fail_msg("expected \"%s\" in \"%s\"", (needle), (hay));                                \
    } while (0)

/* A refused YAML document and substrings its message must contain. */
struct bad_case {
    const char *yaml;
    const char *expect[3]; /* substrings of the message */
};

#endif
