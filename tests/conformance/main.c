/* main.c — cp-storage-conformance: run every storage.h rule against a storage plugin .so.
 *
 *   cp-storage-conformance path/to/backend.so [key=value ...] [--filter=GLOB]
 *
 * key=value pairs become the plugin's options (as `storage.options` in cpd.yaml would); the
 * `prefix` option, when given, is extended per test ("<prefix>t<N>:") so that every test starts
 * from an empty key space on a shared backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: cp-storage-conformance BACKEND.so [key=value ...] [--filter=GLOB]\n"
               "  Runs the storage conformance suite against a storage plugin.\n"
               "  key=value   plugin options, e.g. url=redis://127.0.0.1:6390 prefix=cpconf:\n"
               "              (prefix is extended per test: <prefix>t<N>:)\n"
               "  --filter=G  run only the tests whose name matches the glob G\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    char **options = calloc((size_t)argc, sizeof *options);
    if (!options) return 1;
    int n_options = 0;
    for (int i = 2; i < argc; i++) {
        if (strncmp(argv[i], "--filter=", 9) == 0) {
            cmocka_set_test_filter(argv[i] + 9);
        } else if (strchr(argv[i], '=') && argv[i][0] != '=') {
            options[n_options++] = argv[i];
        } else {
            fprintf(stderr, "cp-storage-conformance: '%s' is not key=value\n", argv[i]);
            usage(stderr);
            free(options);
            return 2;
        }
    }
    cx_configure(argv[1], options, n_options);

    struct {
        const struct CMUnitTest *tests;
        size_t n;
    } groups[] = {
        {conformance_agent_tests, conformance_agent_count},
        {conformance_task_tests, conformance_task_count},
        {conformance_claim_tests, conformance_claim_count},
        {conformance_transition_tests, conformance_transition_count},
        {conformance_reap_tests, conformance_reap_count},
        {conformance_stats_tests, conformance_stats_count},
        {conformance_random_tests, conformance_random_count},
        {conformance_before_tests, conformance_before_count},
        {conformance_lease_tests, conformance_lease_count},
        {conformance_admin_tests, conformance_admin_count},
        {conformance_status_tests, conformance_status_count},
        {conformance_next_tests, conformance_next_count},
        {conformance_quota_tests, conformance_quota_count},
        {conformance_tenant_tests, conformance_tenant_count},
        {conformance_affinity_tests, conformance_affinity_count},
    };
    size_t total = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        total += groups[g].n;
    struct CMUnitTest *all = calloc(total, sizeof *all);
    if (!all) {
        free(options);
        return 1;
    }
    size_t k = 0;
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
        for (size_t i = 0; i < groups[g].n; i++)
            all[k++] = groups[g].tests[i];
    int failed = _cmocka_run_group_tests("storage_conformance", all, total, NULL, NULL);
    cx_finish();
    free(all);
    free(options);
    return failed ? 1 : 0;
}
