/* The thread-local owner stack (tapes and scopes) and scopes themselves. */
#include "core.h"
#include "tape_impl.h"

typedef struct owner_entry {
    rb__arena *arena;
    const void *who;
} owner_entry;

static _Thread_local owner_entry owners[RB__MAX_OWNERS];
static _Thread_local int n_owners;

rb__arena *rb__current_arena(void) { return n_owners ? owners[n_owners - 1].arena : NULL; }

rb_status rb__owner_push(rb__arena *arena, const void *who)
{
    if (n_owners == RB__MAX_OWNERS)
        return rb_error(RB_ERR_STATE, "too many nested tapes and scopes (at most %d)",
                        RB__MAX_OWNERS);
    owners[n_owners].arena = arena;
    owners[n_owners].who = who;
    n_owners++;
    return RB_OK;
}

bool rb__owner_is_top(const void *who) { return n_owners && owners[n_owners - 1].who == who; }

void rb__owner_pop(const void *who)
{
    if (rb__owner_is_top(who)) n_owners--;
}

/* ---- scopes ---- */

struct rb_scope {
    rb__arena *arena;     /* where its tensors go */
    rb__arena *own_arena; /* NULL when borrowing an enclosing tape's arena */
    struct rb_scope *next_free;
};

/* A few finished scopes are kept with their memory so evaluation loops do not allocate. */
static _Thread_local rb_scope *free_scopes;
static _Thread_local int n_free_scopes;

rb_scope *rb_scope_begin(void)
{
    rb_scope *s = free_scopes;
    if (s) {
        free_scopes = s->next_free;
        n_free_scopes--;
    } else {
        s = rb__calloc(1, sizeof *s);
        if (!s) return NULL;
    }
    rb__arena *tape_arena = rb__innermost_tape_arena();
    if (tape_arena) {
        s->arena = tape_arena;
    } else {
        if (!s->own_arena) s->own_arena = rb__arena_new();
        if (!s->own_arena) {
            rb__free(s);
            return NULL;
        }
        s->arena = s->own_arena;
    }
    if (rb__owner_push(s->arena, s) != RB_OK) {
        rb__arena_free(s->own_arena);
        rb__free(s);
        return NULL;
    }
    return s;
}

void rb_scope_end(rb_scope *s)
{
    if (!s) return;
    if (!rb__owner_is_top(s)) {
        rb_error(
            RB_ERR_STATE,
            "rb_scope_end: the scope is not the innermost owner; end the tapes and scopes begun inside it first");
        return;
    }
    rb__owner_pop(s);
    if (s->arena == s->own_arena) rb__arena_reset(s->own_arena);
    s->arena = NULL;
    if (n_free_scopes < 4) {
        s->next_free = free_scopes;
        free_scopes = s;
        n_free_scopes++;
    } else {
        rb__arena_free(s->own_arena);
        rb__free(s);
    }
}
