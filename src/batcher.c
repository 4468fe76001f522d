/* Minibatches: rows gathered into buffers the batcher owns, so a training loop allocates
 * nothing per step. */
#include <string.h>

#include "core.h"
#include "parallel.h"

struct rb_batcher {
    rb_tensor *x, *y;   /* the data set (not owned) */
    rb_tensor *xb, *yb; /* reused batch buffers */
    int64_t n, batch, pos;
    int64_t *order;
    bool shuffle;
    rb_rng rng;
};

static rb_tensor *batch_buffer(const rb_tensor *src, int64_t batch)
{
    int64_t shape[RB_MAX_DIMS];
    memcpy(shape, src->shape, sizeof shape);
    shape[0] = batch;
    /* Heap-owned whatever owner is active: it lives as long as the batcher. */
    rb_tensor *t = rb__aligned_alloc(sizeof(rb_tensor));
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->dtype = src->dtype;
    t->ndim = src->ndim;
    memcpy(t->shape, shape, sizeof shape);
    t->size = rb__contiguous_strides(t->ndim, t->shape, t->strides);
    t->flags = RB__CONTIGUOUS;
    t->version = &t->own_version;
    t->owner = RB__OWN_STORE; /* freed by rb_batcher_free, not by the user */
    t->data = rb__aligned_alloc((size_t)t->size * rb_dtype_size(t->dtype));
    if (!t->data) {
        rb__free(t);
        return NULL;
    }
    return t;
}

static void free_buffer(rb_tensor *t)
{
    if (!t) return;
    rb__free(t->data);
    rb__free(t);
}

rb_batcher *rb_batcher_new(rb_tensor *x, rb_tensor *y, int64_t batch_size, bool shuffle,
                           uint64_t seed)
{
    if (!x) return rb__fail(RB_ERR_ARGUMENT, "rb_batcher_new: x is NULL");
    if (x->ndim < 1 || x->shape[0] < 1)
        return rb__fail(RB_ERR_EMPTY, "rb_batcher_new: x %s has no rows", rb__shp(x));
    if (y && (y->ndim < 1 || y->shape[0] != x->shape[0]))
        return rb__fail(RB_ERR_SHAPE, "rb_batcher_new: x %s and y %s differ in rows", rb__shp(x),
                        rb__shp(y));
    if (batch_size < 1)
        return rb__fail(RB_ERR_ARGUMENT, "rb_batcher_new: batch size %lld < 1",
                        (long long)batch_size);
    rb_batcher *b = rb__calloc(1, sizeof *b);
    if (!b) return NULL;
    b->x = x;
    b->y = y;
    b->n = x->shape[0];
    b->batch = batch_size < b->n ? batch_size : b->n;
    b->shuffle = shuffle;
    b->rng = rb_rng_make(seed);
    b->order = rb__malloc(sizeof(int64_t) * (size_t)b->n);
    b->xb = batch_buffer(x, b->batch);
    b->yb = y ? batch_buffer(y, b->batch) : NULL;
    if (!b->order || !b->xb || (y && !b->yb)) {
        rb_batcher_free(b);
        return NULL;
    }
    for (int64_t i = 0; i < b->n; i++)
        b->order[i] = i;
    if (shuffle) rb_rng_shuffle(&b->rng, b->order, b->n);
    return b;
}

typedef struct gather_rows {
    const rb_tensor *src;
    rb_tensor *dst;
    const int64_t *rows;
} gather_rows;

static void copy_rows(void *arg, int64_t begin, int64_t end)
{
    const gather_rows *g = arg;
    size_t row = (size_t)(g->src->size / g->src->shape[0]) * rb_dtype_size(g->src->dtype);
    bool contiguous = g->src->flags & RB__CONTIGUOUS;
    for (int64_t i = begin; i < end; i++) {
        if (contiguous) {
            memcpy((char *)g->dst->data + (size_t)i * row,
                   (const char *)g->src->data + (size_t)g->rows[i] * row, row);
        } else {
            int64_t per = g->src->size / g->src->shape[0];
            for (int64_t k = 0; k < per; k++)
                rb__set_flat(g->dst, i * per + k, rb__get_flat(g->src, g->rows[i] * per + k));
        }
    }
}

static void gather(const rb_tensor *src, rb_tensor *dst, const int64_t *rows, int64_t count)
{
    /* The last batch may be smaller: the buffer's header shrinks, its memory stays. */
    dst->shape[0] = count;
    dst->size = rb__contiguous_strides(dst->ndim, dst->shape, dst->strides);
    gather_rows g = {src, dst, rows};
    rb__parallel_for(count, 64, copy_rows, &g);
    rb__bump_version(dst);
}

bool rb_batcher_next(rb_batcher *b, rb_tensor **xb, rb_tensor **yb)
{
    if (!b) return false;
    if (b->pos >= b->n) {
        b->pos = 0;
        if (b->shuffle) rb_rng_shuffle(&b->rng, b->order, b->n);
        return false;
    }
    int64_t count = b->n - b->pos < b->batch ? b->n - b->pos : b->batch;
    gather(b->x, b->xb, b->order + b->pos, count);
    if (b->y) gather(b->y, b->yb, b->order + b->pos, count);
    b->pos += count;
    if (xb) *xb = b->xb;
    if (yb) *yb = b->yb;
    return true;
}

int64_t rb_batcher_num_batches(const rb_batcher *b)
{
    return b ? (b->n + b->batch - 1) / b->batch : 0;
}

void rb_batcher_free(rb_batcher *b)
{
    if (!b) return;
    free_buffer(b->xb);
    free_buffer(b->yb);
    rb__free(b->order);
    rb__free(b);
}
