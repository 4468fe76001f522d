/* Inverted dropout as one op: y = x * m, m = 1 / (1 - rate) where a uniform draw u >= rate,
 * else 0. The draws come from the generator's Philox stream exactly as
 * rb_mul(x, rb_mul_scalar(rb_greater_equal(rb_tensor_uniform(..., 0, 1, rng), rate), s)) takes
 * them (same values, same stream position afterwards, the same bits out), but neither the draws
 * nor the mask are stored: each element's draw is recomputed from (key, counter, index), in
 * forward and again in backward. The composition held four tensors of x's size per dropout.
 *
 * The op is linear in x with a fixed mask, so its backward is the same op (same attributes)
 * applied to the gradient: recorded on an outer tape, that gives second derivatives too. */
#include "op_impl.h"
#include "parallel.h"

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
    uint64_t key, counter;
    double rate;
    rb_dtype dtype;
    int64_t size;
} dropout_plan;

enum { DRAWS = 256 }; /* uniforms computed per pass (a multiple of Philox's 4 and 2 per block) */

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
        }                                                                                          \
    }
DROPOUT_RANGE(float)
DROPOUT_RANGE(double)

/* Chunks [begin, end) of DRAWS elements each (the last one shorter). */
static void dropout_chunks(void *arg, int64_t begin, int64_t end)
{
    const dropout_plan *p = arg;
    int64_t first = begin * DRAWS, last = end * DRAWS < p->size ? end * DRAWS : p->size;
    if (p->dtype == RB_F32)
        dropout_range_float(p, first, last);
    else
        dropout_range_double(p, first, last);
}

rb_status rb__fwd_dropout(rb_node *n)
{
    rb_tensor *x = rb__contiguous(n->in[0]);
    if (!x) return rb_last_status();
    dropout_plan p = {x->data,
                      n->out->data,
                      (uint64_t)n->attrs.i[AT_KEY],
                      (uint64_t)n->attrs.i[AT_COUNTER],
                      n->attrs.f[AT_RATE],
                      x->dtype,
                      x->size};
    /* Chunks start on multiples of DRAWS, so a Philox block never straddles two threads' work
     * (each element's draw depends on its index alone either way). */
    rb__parallel_for((x->size + DRAWS - 1) / DRAWS, RB__GRAIN / DRAWS + 1, dropout_chunks, &p);
    return RB_OK;
}

void rb__bwd_dropout(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_grad_add(ctx, n, 0, dropout_with(g, &n->attrs));
}
