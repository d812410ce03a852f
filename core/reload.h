/* reload.h — applying a new configuration to a running cpd (SIGHUP). */
#ifndef CORE_RELOAD_H
#define CORE_RELOAD_H

struct cp_core;

/* Build the configuration again from argv, the file and the environment; apply the run-time
 * keys to core->cfg in place and tell the modules that cache values; log what changed and what
 * needs a restart. On any error the running configuration stays, with one error line. */
void core_reload(struct cp_core *core, int argc, char **argv);

#endif
