/* Heap accounting and arenas: the bump allocators that own a tape's or scope's tensors. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "core.h"

/* Under AddressSanitizer, arena memory that is not handed out (released by rb_tape_end,
 * rb_scope_end or a scratch mark) is poisoned, so that reading a tensor of an ended tape is
 * reported at the read instead of returning whatever the next tape wrote there. */
#if defined(__SANITIZE_ADDRESS__)
#define RB__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RB__ASAN 1
#endif
#endif
#ifdef RB__ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n)   __asan_poison_memory_region((p), (n))
#define UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define POISON(p, n)   ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static atomic_llong heap_allocations;
static atomic_llong heap_frees;

static void count_allocation(void *p)
{
    if (p) atomic_fetch_add_explicit(&heap_allocations, 1, memory_order_relaxed);
}

void *rb__oom(const char *who, size_t size)
{
    if (size > (size_t)RB_MAX_BYTES)
        return rb__fail(RB_ERR_MEMORY, "%s: %zu bytes requested, more than the %lld-byte limit",
                        who, size, (long long)RB_MAX_BYTES);
    return rb__fail(RB_ERR_MEMORY, "%s: out of memory: %zu bytes requested", who, size);
}

void *rb__malloc(size_t size)
{
    void *p = size <= (size_t)RB_MAX_BYTES ? malloc(size ? size : 1) : NULL;
    count_allocation(p);
    return p ? p : rb__oom("rb__malloc", size);
}

void *rb__calloc(size_t count, size_t size)
{
    if (size && count > (size_t)RB_MAX_BYTES / size) return rb__oom("rb__calloc", SIZE_MAX);
    void *p = calloc(count ? count : 1, size ? size : 1);
    count_allocation(p);
    return p ? p : rb__oom("rb__calloc", count * size);
}

void *rb__realloc(void *old, size_t size)
{
    void *p = size <= (size_t)RB_MAX_BYTES ? realloc(old, size ? size : 1) : NULL;
    if (!old) count_allocation(p);
    return p ? p : rb__oom("rb__realloc", size);
}

/* Blocks from this size on are asked to live on 2 MB pages (Linux's transparent huge pages,
 * where the system leaves them to madvise): a shuffled minibatch reads rows scattered over a
 * whole data set, and with 4 KB pages nearly every row is a TLB miss, a page-table walk that
 * costs more again inside a virtual machine (gathering MNIST batches: 1.3x faster). */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)
#define HUGE_PAGE_FROM  ((size_t)8 << 20)

void *rb__aligned_alloc_for(size_t size, const char *who)
{
    if (size > (size_t)RB_MAX_BYTES) return rb__oom(who, size);
    size_t align = RB__ALIGN;
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(RB__ASAN)
    if (size >= HUGE_PAGE_FROM) align = HUGE_PAGE_BYTES;
#endif
    size_t rounded = (size + align - 1) / align * align;
    void *p = aligned_alloc(align, rounded ? rounded : align);
    count_allocation(p);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && align == HUGE_PAGE_BYTES) (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint */
#endif
    return p ? p : rb__oom(who, size);
}

void *rb__aligned_alloc(size_t size) { return rb__aligned_alloc_for(size, "rb__aligned_alloc"); }

void rb__free(void *p)
{
    if (!p) return;
    atomic_fetch_add_explicit(&heap_frees, 1, memory_order_relaxed);
    free(p);
}

/* ---- arenas ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t size; /* usable bytes after the header */
    size_t used;
    _Alignas(RB__ALIGN) unsigned char data[];
} arena_block;

struct rb__arena {
    arena_block *head;  /* block being filled; older blocks follow */
    arena_block *spare; /* blocks given back by rb__arena_release, reused before malloc */
    size_t used;        /* bytes handed out since the last reset */
    size_t capacity;    /* bytes in all blocks */
    size_t peak;
};

enum { ARENA_FIRST_BLOCK = 1 << 20 };

/* A block with nothing handed out yet: all of it poisoned. */
static arena_block *block_new(size_t size, const char *who)
{
    arena_block *b = rb__aligned_alloc_for(sizeof(arena_block) + size, who);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    POISON(b->data, size);
    return b;
}

rb__arena *rb__arena_new(void)
{
    rb__arena *a = rb__calloc(1, sizeof *a);
    return a;
}

static void free_blocks(arena_block *b)
{
    while (b) {
        arena_block *next = b->next;
        UNPOISON(b->data, b->size);
        rb__free(b);
        b = next;
    }
}

void rb__arena_free(rb__arena *a)
{
    if (!a) return;
    free_blocks(a->head);
    free_blocks(a->spare);
    rb__free(a);
}

/* A spare block with room for `size`, unlinked from the spare list, or NULL. */
static arena_block *take_spare(rb__arena *a, size_t size)
{
    for (arena_block **p = &a->spare; *p; p = &(*p)->next)
        if ((*p)->size >= size) {
            arena_block *b = *p;
            *p = b->next;
            b->used = 0;
            return b;
        }
    return NULL;
}

void *rb__arena_alloc(rb__arena *a, size_t size)
{
    return rb__arena_alloc_for(a, size, "rb__arena_alloc");
}

void *rb__arena_alloc_for(rb__arena *a, size_t size, const char *who)
{
    if (size > (size_t)RB_MAX_BYTES) return rb__oom(who, size);
    size_t rounded = (size + RB__ALIGN - 1) / RB__ALIGN * RB__ALIGN;
    if (rounded == 0) rounded = RB__ALIGN;
    arena_block *b = a->head;
    if (!b || b->size - b->used < rounded) {
        arena_block *nb = take_spare(a, rounded);
        if (!nb) {
            size_t want = b ? 2 * b->size : ARENA_FIRST_BLOCK;
            if (want < rounded) want = rounded;
            nb = block_new(want, who);
            if (!nb) return NULL;
            a->capacity += want;
        }
        nb->next = b;
        a->head = nb;
        b = nb;
    }
    void *p = b->data + b->used;
    UNPOISON(p, size);
    b->used += rounded;
    a->used += rounded;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

rb__arena_mark rb__arena_get_mark(const rb__arena *a)
{
    rb__arena_mark m = {NULL, 0, 0};
    if (a) {
        m.block = a->head;
        m.used = a->head ? a->head->used : 0;
        m.total = a->used;
    }
    return m;
}

void rb__arena_release(rb__arena *a, rb__arena_mark m)
{
    if (!a) return;
    while (a->head && a->head != m.block) {
        arena_block *b = a->head;
        a->head = b->next;
        b->next = a->spare;
        a->spare = b;
        POISON(b->data, b->size);
    }
    if (a->head) {
        POISON(a->head->data + m.used, a->head->size - m.used);
        a->head->used = m.used;
    }
    a->used = m.total;
}

void rb__arena_reset(rb__arena *a)
{
    int blocks = 0;
    for (arena_block *b = a->head; b; b = b->next)
        blocks++;
    for (arena_block *b = a->spare; b; b = b->next)
        blocks++;
    if (blocks == 1) {
        if (!a->head) {
            a->head = a->spare;
            a->spare = NULL;
        }
        a->head->used = 0;
        POISON(a->head->data, a->head->size);
    } else if (blocks > 1) {
        /* Replace the blocks by one as large as all of them, so that the next round of the
         * same work fits without allocating. */
        size_t total = a->peak > a->capacity ? a->peak : a->capacity;
        free_blocks(a->head);
        free_blocks(a->spare);
        a->head = a->spare = NULL;
        a->capacity = 0;
        arena_block *b = block_new(total, "rb__arena_reset");
        if (b) {
            a->head = b;
            a->capacity = total;
        }
    }
    a->used = 0;
}

size_t rb__arena_used(const rb__arena *a) { return a->used; }
size_t rb__arena_capacity(const rb__arena *a) { return a->capacity; }

/* ---- scratch ---- */

static _Thread_local rb__arena *scratch;

rb__arena *rb__scratch_arena(void)
{
    if (!scratch) scratch = rb__arena_new();
    return scratch;
}

void *rb__scratch(size_t size)
{
    rb__arena *a = rb__scratch_arena();
    return a ? rb__arena_alloc(a, size) : NULL;
}

/* ---- public statistics ---- */

void rb_memory_stats(rb_memory_stat *out)
{
    if (!out) return;
    memset(out, 0, sizeof *out);
    out->heap_allocations = atomic_load(&heap_allocations);
    out->heap_frees = atomic_load(&heap_frees);
    rb__arena *a = rb__current_arena();
    if (a) {
        out->arena_used = a->used;
        out->arena_capacity = a->capacity;
    }
}
