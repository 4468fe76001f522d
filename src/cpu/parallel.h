/* Parallel loops over index ranges. The partition of work never changes a result: kernels
 * either write disjoint outputs or reduce over fixed blocks (see rb__block_count). */
#ifndef RUBAN_SRC_PARALLEL_H
#define RUBAN_SRC_PARALLEL_H

#include <stdint.h>

/* Below this many elements per thread a loop stays on one thread: forking costs more. */
#define RB__GRAIN 32768

typedef void (*rb__range_fn)(void *ctx, int64_t begin, int64_t end);

/* Thread count for ruban's loops (initialises the runtime on first use). */
int rb__threads(void);
/* Run fn over [0, n) split in contiguous chunks of at least `grain` items across threads. */
void rb__parallel_for(int64_t n, int64_t grain, rb__range_fn fn, void *ctx);

#endif
