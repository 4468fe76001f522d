/* Hooks of the per-op profiler (ops/profile.c). */
#ifndef RUBAN_SRC_PROFILE_H
#define RUBAN_SRC_PROFILE_H

#include "core.h"

extern bool rb__profiling;
/* Returns the start time of a top-level op, or a negative value for an op running inside
 * another op or backward rule (its time belongs to that one). Pair with rb__profile_end. */
double rb__profile_begin(void);
void rb__profile_end(const rb_node *node, double start, bool backward);

#endif
