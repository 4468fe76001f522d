/* Inverted dropout as one op: y = x * m, m = 1 / (1 - rate) where a uniform draw u >= rate,
 * else 0. The draws come from the generator's Philox stream exactly as
 * rb_mul(x, rb_mul_scalar(rb_greater_equal(rb_tensor_uniform(..., 0, 1, rng), rate), s)) takes
 * them (same values, same stream position afterwards, the same bits out), but the tape keeps
 * one bit per element (the composition kept four tensors of x's size per dropout), and
 * backward multiplies by it. Each element's draw depends on (key, counter, index) alone.
 *
 * The op is linear in x with a fixed mask, so under an outer tape its backward is the same op
 * (same attributes: the draws made again) applied to the gradient, for second derivatives. */
#include "op_impl.h"
#include "parallel.h"
#include "tape_impl.h"

enum { AT_KEY = 0, AT_COUNTER = 1 };
enum { AT_RATE = 0 };

static rb_tensor *dropout_with(rb_tensor *x, const rb_attrs *at)
{
    return rb__apply(RB__OP_dropout, 1, &x, at, x->dtype, x->ndim, x->shape);
}

rb_tensor *rb_dropout(rb_tensor *x, double rate, rb_rng *rng)
{
    if (!rb__check_inputs("dropout", 1, &x) || !rb__check_float("dropout", x)) return NULL;
    if (!(rate >= 0 && rate < 1))
        return rb__fail(RB_ERR_ARGUMENT, "rb_dropout: rate %g must be in [0, 1)", rate);
    uint64_t key, counter;
    rb__rng_reserve(rng, x->dtype, x->size, &key, &counter);
    rb_attrs at = {.i = {(int64_t)key, (int64_t)counter}, .f = {rate}};
    return dropout_with(x, &at);
}

typedef struct dropout_plan {
    const void *x;
    void *y;
    uint8_t *mask; /* bit k % 8 of byte k / 8: element k kept (NULL: not kept) */
    uint64_t key, counter;
    double rate;
    rb_dtype dtype;
    int64_t size;
    bool backward; /* x holds the gradient, y the input's gradient, mask the kept bits */
} dropout_plan;

/* Uniforms computed per pass: a multiple of Philox's 4 and 2 values per block and of the 8
 * elements of a mask byte, so a byte is never shared by two threads. */
enum { DRAWS = 256 };

#define DROPOUT_RANGE(T)                                                                           \
    static void dropout_range_##T(const dropout_plan *p, int64_t begin, int64_t end)             \
    {                                                                                              \
        const T *x = p->x;                                                                         \
        T *y = p->y;                                                                               \
        const T rate = (T)p->rate, kept = (T)(1.0 / (1.0 - p->rate)), dropped = 0;                 \
        double u[DRAWS];                                                                           \
        for (int64_t k0 = begin; k0 < end; k0 += DRAWS) {                                          \
            int64_t n = end - k0 < DRAWS ? end - k0 : DRAWS;                                       \
            rb__rng_uniforms(p->key, p->counter, p->dtype, k0, k0 + n, u);                         \
            for (int64_t k = 0; k < n; k++) {                                                      \
                T draw = (T)u[k], xv = x[k0 + k];                                                  \
                y[k0 + k] = xv * (draw >= rate ? kept : dropped);                                  \
            }                                                                                      \
            if (p->mask)                                                                           \
                for (int64_t b = 0; b < (n + 7) / 8; b++) {                                        \
                    unsigned byte = 0;                                                             \
                    for (int64_t j = 0; j < 8 && 8 * b + j < n; j++)                               \
                        byte |= (unsigned)((T)u[8 * b + j] >= rate) << j;                          \
                    p->mask[k0 / 8 + b] = (uint8_t)byte;                                           \
                }                                                                                  \
        }                                                                                          \
    }
DROPOUT_RANGE(float)
DROPOUT_RANGE(double)

/* dx = g * m from the kept bits (g and dx contiguous). */
#define DROPOUT_BACK(T)                                                                            \
    static void dropout_back_##T(const dropout_plan *p, int64_t begin, int64_t end)              \
    {                                                                                              \
        const T *g = p->x;                                                                         \
        T *dx = p->y;                                                                              \
        const T kept = (T)(1.0 / (1.0 - p->rate)), dropped = 0;                                    \
        /* begin is a multiple of 8: whole bytes, eight lanes each (one AVX2 vector) */           \
        int64_t k = begin;                                                                         \
        for (; k + 8 <= end; k += 8) {                                                             \
            const int32_t byte = p->mask[k / 8];                                                   \
            for (int j = 0; j < 8; j++) {                                                          \
                T gv = g[k + j];                                                                   \
                dx[k + j] = gv * ((byte >> j) & 1 ? kept : dropped);                               \
            }                                                                                      \
        }                                                                                          \
        for (; k < end; k++) {                                                                     \
            T gv = g[k];                                                                           \
            dx[k] = gv * ((p->mask[k / 8] >> (k % 8)) & 1 ? kept : dropped);                       \
        }                                                                                          \
    }
DROPOUT_BACK(float)
DROPOUT_BACK(double)

/* Chunks [begin, end) of DRAWS elements each (the last one shorter): the forward kernel, or
 * the backward one when the plan is a backward's. */
static void dropout_chunks(void *arg, int64_t begin, int64_t end)
{
    const dropout_plan *p = arg;
    int64_t first = begin * DRAWS, last = end * DRAWS < p->size ? end * DRAWS : p->size;
    bool f32 = p->dtype == RB_F32;
    if (p->backward)
        (f32 ? dropout_back_float : dropout_back_double)(p, first, last);
    else
        (f32 ? dropout_range_float : dropout_range_double)(p, first, last);
}

rb_status rb__fwd_dropout(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    rb_tensor *mask = NULL;
    if (n->recorded) {
        mask = rb__tensor_new(RB_U8, 1, (int64_t[]){(x->size + 7) / 8}, "dropout");
        if (!mask) return rb_last_status();
        rb_node_save(n, 0, mask);
    }
    dropout_plan p = {x->data,
                      n->out->data,
                      mask ? mask->data : NULL,
                      (uint64_t)n->attrs.i[AT_KEY],
                      (uint64_t)n->attrs.i[AT_COUNTER],
                      n->attrs.f[AT_RATE],
                      x->dtype,
                      x->size,
                      false};
    /* Chunks start on multiples of DRAWS, so a Philox block never straddles two threads' work
     * (each element's draw depends on its index alone either way). */
    rb__parallel_for((x->size + DRAWS - 1) / DRAWS, RB__GRAIN / DRAWS + 1, dropout_chunks, &p);
    return RB_OK;
}

void rb__bwd_dropout(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *mask = rb_node_saved(n, 0);
    if (rb__grad_create_graph(ctx) || !mask || mask->dtype != RB_U8 ||
        mask->size != (g->size + 7) / 8) {
        rb_grad_add(ctx, n, 0, dropout_with(g, &n->attrs)); /* recorded: the draws made again */
        return;
    }
    rb_tensor *gc = rb__contiguous(g);
    rb_tensor *dx = rb__tensor_new(g->dtype, g->ndim, g->shape, "dropout");
    if (!gc || !dx) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    dropout_plan p = {gc->data, dx->data, mask->data, 0, 0, n->attrs.f[AT_RATE],
                      g->dtype,   g->size,  true};
    rb__parallel_for((g->size + DRAWS - 1) / DRAWS, RB__GRAIN / DRAWS + 1, dropout_chunks, &p);
    rb_grad_add(ctx, n, 0, dx);
}
