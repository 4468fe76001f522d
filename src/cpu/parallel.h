/* Parallel loops over index ranges. The partition of work never changes a result: kernels
 * either write disjoint outputs or reduce over fixed blocks (see rb__block_count). */
#ifndef RUBAN_SRC_PARALLEL_H
#define RUBAN_SRC_PARALLEL_H

#include <stdint.h>

#include "ruban/runtime.h"

/* Below this many elements per thread a loop stays on one thread: forking costs more. */
#define RB__GRAIN 32768

typedef rb_range_fn rb__range_fn;

/* Threads for the next loop (initialises the runtime on first use): rb_num_threads_now(). */
int rb__threads(void);
/* The thread setting's init (from the runtime's) and the cores the process may use. */
void rb__threads_init(void);
int rb__cores(void);
/* Threads that leave alone the `others` cores (a fraction) other processes keep busy, out of
 * `cores`, for a setting of `want`: at least 1. */
int rb__threads_fit(double others, int cores, int want);
/* Run fn over [0, n) split in contiguous chunks of at least `grain` items across threads. */
#define rb__parallel_for rb_parallel_for
/* Run fn(ctx, i, i + 1) for each task i in [0, n), handed to the threads one at a time as they
 * come free: for a few heavy tasks (chunks of images, blocks of a product), where a thread that
 * starts late or runs slower than its sibling would otherwise leave the other waiting at the
 * end. At one thread: fn(ctx, 0, n). */
void rb__parallel_tasks(int64_t n, rb__range_fn fn, void *ctx);

#endif
