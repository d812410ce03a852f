/* scenarios.h — each scenario sets up its connections, runs the measured loop on r->base and
 * leaves its figures in r. Returns 0, or -1 when it could not start (message printed). */
#ifndef CPB_SCENARIOS_H
#define CPB_SCENARIOS_H

#include "run.h"

int scenario_requests(struct run *r); /* heartbeat, read, select, raw */
int scenario_lifecycle(struct run *r);
int scenario_wakeup(struct run *r);
int scenario_claim(struct run *r);
/* fill prints its own report. */
int scenario_fill(struct event_base *base, const struct args *a);

#endif
