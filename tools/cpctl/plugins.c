/* plugins.c — `cpctl plugins`: what the server loaded (GET /plugins). */
#include <stdio.h>
#include <string.h>

#include "cpctl.h"

static const char plugins_usage[] =
    "usage: cpctl plugins\n"
    "\n"
    "  The plugins the server loaded: storage, selection strategies (* marks the default)\n"
    "  and probe types, with the ABI each was built for, its file and the names of its\n"
    "  options (never their values).\n";

static const char *const headers[] = {"KIND", "NAME", "VERSION", "ABI", "OPTIONS", "PATH"};
#define COLS (sizeof headers / sizeof headers[0])

int cpctl_plugins(struct cpctl *ctl, int argc, char **argv)
{
    if (cpctl_wants_help(argc, argv)) {
        fputs(plugins_usage, stdout);
        return EXIT_OK;
    }
    if (argc > 1) return cpctl_usage_error("plugins ", "plugins takes no arguments");
    struct cpc_plugin_list *l = NULL;
    int err = cp_client_plugins(ctl->client, &l);
    if (err) return cpctl_fail(ctl, err, "plugins");
    if (ctl->json) {
        cpctl_print_json(l->json);
    } else {
        struct table *t = table_new(COLS, headers);
        for (size_t i = 0; i < l->n; i++) {
            const struct cpc_plugin *p = &l->plugins[i];
            char name[160], opts[256];
            snprintf(name, sizeof name, "%s%s", p->name, p->is_default ? " *" : "");
            const char *cells[COLS] = {p->kind,
                                       name,
                                       p->version,
                                       p->abi_version,
                                       fmt_list(p->options, p->n_options, opts, sizeof opts),
                                       p->path};
            table_row(t, cells);
        }
        table_print(t);
        table_free(t);
    }
    cp_client_plugin_list_free(l);
    return EXIT_OK;
}
