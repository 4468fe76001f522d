/* ruban/error.h - the one error mechanism.
 *
 * A failing call records the first error (status and message) in a thread-local record and
 * returns NULL (ops) or a status (loaders, tape calls). Ops given a NULL input return NULL at
 * once, so a composed expression needs one check at the end:
 *
 *     rb_tensor *y = rb_relu(rb_matmul(x, w));
 *     if (!y) fprintf(stderr, "%s\n", rb_last_error());   // e.g. the matmul's shape message
 *
 * The library never exits or aborts on user input. rb_error_clear() starts afresh.
 */
#ifndef RUBAN_ERROR_H
#define RUBAN_ERROR_H

#include "ruban/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* X-macro of statuses: name, description. */
#define RB_STATUS_LIST(X)                                                                          \
    X(RB_OK, "ok")                                                                                 \
    X(RB_ERR_SHAPE, "shape mismatch")                                                              \
    X(RB_ERR_AXIS, "bad axis")                                                                     \
    X(RB_ERR_DTYPE, "wrong dtype")                                                                 \
    X(RB_ERR_ARGUMENT, "invalid argument")                                                         \
    X(RB_ERR_EMPTY, "empty tensor")                                                                \
    X(RB_ERR_MEMORY, "out of memory")                                                              \
    X(RB_ERR_IO, "input/output error")                                                             \
    X(RB_ERR_FORMAT, "malformed file")                                                             \
    X(RB_ERR_NONFINITE, "non-finite value")                                                        \
    X(RB_ERR_STATE, "invalid state")                                                               \
    X(RB_ERR_NOT_FOUND, "not found")

typedef enum rb_status {
#define RB__STATUS_ENUM(name, text) name,
    RB_STATUS_LIST(RB__STATUS_ENUM)
#undef RB__STATUS_ENUM
        RB_STATUS_COUNT
} rb_status;

/* Short description of a status ("shape mismatch"). */
RB_API const char *rb_status_string(rb_status status);
/* Name of a status ("RB_ERR_SHAPE"). */
RB_API const char *rb_status_name(rb_status status);

/* Status of the first error since the last clear, RB_OK if none. */
RB_API rb_status rb_last_status(void);
/* Message of the first error since the last clear, "" if none. Valid until the next clear. */
RB_API const char *rb_last_error(void);
/* Forget the recorded error (this thread only). */
RB_API void rb_error_clear(void);

/* Called at every error raised, after the record is updated (even when an earlier error is
 * kept as the first). A program may print and exit here; the library itself never does. */
typedef void (*rb_error_handler)(rb_status status, const char *message, void *user_data);
/* Install a handler for this process (NULL removes it); returns the previous one. */
RB_API rb_error_handler rb_set_error_handler(rb_error_handler handler, void *user_data);

/* Raise an error from user code (custom ops, loaders): records it as the library would.
 * Returns the status, for `return rb_error(...)`. */
RB_API rb_status rb_error(rb_status status, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif
#endif
