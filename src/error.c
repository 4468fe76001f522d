/* The thread-local error record and the process-wide handler (ruban/error.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core.h"

#define RB__MESSAGE_SIZE 1024

static _Thread_local rb_status last_status = RB_OK;
static _Thread_local char last_message[RB__MESSAGE_SIZE];
/* Errors raised on this thread, recorded or not (the record keeps only the first). */
static _Thread_local uint64_t error_count;

/* Set once by the program, read at each error: no lock needed for the single-pointer swap. */
static rb_error_handler error_handler = NULL;
static void *error_handler_data = NULL;

const char *rb_status_string(rb_status status)
{
    switch (status) {
#define RB__STATUS_TEXT(name, text)                                                                \
    case name: return text;
        RB_STATUS_LIST(RB__STATUS_TEXT)
#undef RB__STATUS_TEXT
    default: return "unknown status";
    }
}

const char *rb_status_name(rb_status status)
{
    switch (status) {
#define RB__STATUS_NAME(name, text)                                                                \
    case name: return #name;
        RB_STATUS_LIST(RB__STATUS_NAME)
#undef RB__STATUS_NAME
    default: return "RB_UNKNOWN";
    }
}

rb_status rb_last_status(void) { return last_status; }

uint64_t rb__error_count(void) { return error_count; }

const char *rb_last_error(void) { return last_status == RB_OK ? "" : last_message; }

void rb_error_clear(void)
{
    last_status = RB_OK;
    last_message[0] = '\0';
}

rb_error_handler rb_set_error_handler(rb_error_handler handler, void *user_data)
{
    rb_error_handler previous = error_handler;
    error_handler = handler;
    error_handler_data = user_data;
    return previous;
}

rb_status rb__verror(rb_status status, const char *fmt, va_list ap)
{
    char message[RB__MESSAGE_SIZE];
    vsnprintf(message, sizeof message, fmt, ap);
    error_count++;
    /* Keep the first error: later ones are usually consequences of it. */
    if (last_status == RB_OK) {
        last_status = status;
        memcpy(last_message, message, sizeof message);
    }
    if (error_handler) error_handler(status, message, error_handler_data);
    return status;
}

rb_status rb_error(rb_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rb__verror(status, fmt, ap);
    va_end(ap);
    return status;
}

void *rb__fail(rb_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rb__verror(status, fmt, ap);
    va_end(ap);
    return NULL;
}
