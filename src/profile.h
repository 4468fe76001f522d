/* Hooks of the per-op profiler (src/profile.c). */
#ifndef RUBAN_SRC_PROFILE_H
#define RUBAN_SRC_PROFILE_H

#include "core.h"

extern bool rb__profiling;
void rb__profile_add(const rb_op_def *def, double seconds, bool backward);

#endif
