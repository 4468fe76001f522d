/* The LSTM recurrence as one op over a whole sequence, as cuDNN does it: the input projection
 * x W + b is computed before (one large product), each step then needs one product h U and a
 * fused pass over the gates; backward runs the recurrence in reverse with one product per
 * step and gets the recurrent weights' gradient from one large product over all steps.
 *
 *   xw (T N, 4u) time-major rows (step t: rows [t N, (t+1) N)), gates i, f, g, o (Keras's
 *   order); U (u, 4u); h0, c0 (N, u)  ->  H (T N, u), the hidden state after each step. */
#include <string.h>

/* The gate functions' polynomials become fused multiply-adds where the CPU has them (the ISO C
 * mode the library is compiled in turns contraction off); a third less time per gate. */
#pragma GCC optimize("fp-contract=fast")

#include "rnn_impl.h"

#define ROW_GRAIN(u) RB__RNN_ROW_GRAIN(4 * (u))

enum { AT_STEPS = 0 };
enum { SAVED_GATES = 0, SAVED_CELLS = 1 };

rb_tensor *rb_lstm_sequence(rb_tensor *xw, rb_tensor *u, rb_tensor *h0, rb_tensor *c0,
                            int64_t steps)
{
    rb_tensor *in[4] = {xw, u, h0, c0};
    if (!rb__check_inputs("lstm_sequence", 4, in) || !rb__check_float("lstm_sequence", xw))
        return NULL;
    for (int k = 1; k < 4; k++)
        if (!rb__check_same_dtype("lstm_sequence", xw, in[k])) return NULL;
    int64_t units = u->ndim == 2 ? u->shape[0] : -1;
    int64_t n = h0->ndim == 2 ? h0->shape[0] : -1;
    if (steps < 1 || units < 1 || n < 1 || xw->ndim != 2 || u->shape[1] != 4 * units ||
        xw->shape[0] != steps * n || xw->shape[1] != 4 * units || h0->shape[1] != units ||
        c0->ndim != 2 || c0->shape[0] != n || c0->shape[1] != units)
        return rb__fail(
            RB_ERR_SHAPE,
            "rb_lstm_sequence: expects xw (T N, 4u), U (u, 4u), h0 and c0 (N, u) with T = %lld steps; got xw %s, U %s, h0 %s, c0 %s",
            (long long)steps, rb__shp(xw), rb__shp(u), rb__shp(h0), rb__shp(c0));
    rb_attrs at = {.i = {steps}};
    return rb__apply(RB__OP_lstm_sequence, 4, in, &at, xw->dtype, 2, (int64_t[]){steps * n, units});
}

/* One step's arrays, shared by the row loops (split across threads by rows). */
typedef struct step_args {
    void *z;            /* h U, then the gate activations (N, 4u) */
    const void *x;      /* the step's input projection (N, 4u) */
    const void *c_prev; /* (N, u) */
    void *c, *h;        /* (N, u) */
    int64_t u;
} step_args;

/* Gate activations in place over one step's Z (N, 4u), then the cell and hidden states. The
 * per-row functions take restrict parameters (GCC honours restrict there) so they vectorise. */
#define LSTM_STEP(T, SIGMOID, TANH)                                                                \
    static void lstm_row_##T(T *restrict zi, T *restrict zf, T *restrict zg, T *restrict zo,       \
                             const T *restrict x, const T *restrict cp, T *restrict c,             \
                             T *restrict h, int64_t u)                                             \
    {                                                                                              \
        for (int64_t j = 0; j < u; j++) {                                                          \
            T i = SIGMOID(zi[j] + x[j]), f = SIGMOID(zf[j] + x[u + j]);                            \
            T g = TANH(zg[j] + x[2 * u + j]), o = SIGMOID(zo[j] + x[3 * u + j]);                   \
            zi[j] = i;                                                                             \
            zf[j] = f;                                                                             \
            zg[j] = g;                                                                             \
            zo[j] = o;                                                                             \
            T cv = f * cp[j] + i * g;                                                              \
            c[j] = cv;                                                                             \
            h[j] = o * TANH(cv);                                                                   \
        }                                                                                          \
    }                                                                                              \
    static void lstm_rows_##T(void *arg, int64_t begin, int64_t end)                               \
    {                                                                                              \
        const step_args *a = arg;                                                                  \
        int64_t u = a->u;                                                                          \
        for (int64_t r = begin; r < end; r++) {                                                    \
            T *zr = (T *)a->z + r * 4 * u;                                                         \
            lstm_row_##T(zr, zr + u, zr + 2 * u, zr + 3 * u, (const T *)a->x + r * 4 * u,          \
                         (const T *)a->c_prev + r * u, (T *)a->c + r * u, (T *)a->h + r * u, u);   \
        }                                                                                          \
    }
LSTM_STEP(float, rb__sigmoid_f32, rb__tanh_f32)
LSTM_STEP(double, rb__sigmoid_f64, tanh)

#define mat rb__mat_rows

rb_status rb__fwd_lstm_sequence(rb_node *nd)
{
    rb_tensor *xw = rb__contiguous(nd->in[0]), *u = rb__contiguous(nd->in[1]);
    rb_tensor *h0 = rb__contiguous(nd->in[2]), *c0 = rb__contiguous(nd->in[3]);
    if (!xw || !u || !h0 || !c0) return rb_last_status();
    rb_tensor *out = nd->out;
    int64_t steps = nd->attrs.i[AT_STEPS], units = u->shape[0], n = h0->shape[0];
    rb_dtype dt = out->dtype;
    size_t es = rb_dtype_size(dt);
    /* Gate activations and cell states of every step: kept for backward when recorded. */
    rb_tensor *gates =
        nd->recorded ? rb__tensor_new(dt, 2, (int64_t[]){steps * n, 4 * units}, "lstm_sequence")
                     : rb__tensor_scratch(dt, 2, (int64_t[]){steps * n, 4 * units});
    rb_tensor *cells = nd->recorded
                           ? rb__tensor_new(dt, 2, (int64_t[]){steps * n, units}, "lstm_sequence")
                           : rb__tensor_scratch(dt, 2, (int64_t[]){steps * n, units});
    if (!gates || !cells) return rb_last_status();
    for (int64_t t = 0; t < steps; t++) {
        size_t gate_at = (size_t)(t * n * 4 * units) * es;
        const void *h_prev = t ? (char *)out->data + (size_t)((t - 1) * n * units) * es : h0->data;
        step_args a = {(char *)gates->data + gate_at,
                       (const char *)xw->data + gate_at,
                       t ? (char *)cells->data + (size_t)((t - 1) * n * units) * es : c0->data,
                       (char *)cells->data + (size_t)(t * n * units) * es,
                       (char *)out->data + (size_t)(t * n * units) * es,
                       units};
        rb__gemm(dt, mat((void *)h_prev, n, units), false, mat(u->data, units, 4 * units), false,
                 mat(a.z, n, 4 * units), 1.0, 0.0);
        /* Rows in parallel: each row's gates are independent (results do not depend on it). */
        rb__parallel_for(n, ROW_GRAIN(units), dt == RB_F32 ? lstm_rows_float : lstm_rows_double,
                         &a);
    }
    if (nd->recorded) {
        rb_node_save(nd, SAVED_GATES, gates);
        rb_node_save(nd, SAVED_CELLS, cells);
    }
    return RB_OK;
}

typedef struct back_args {
    const void *dh_up, *dh_rec, *gates, *c, *c_prev;
    void *dc, *dz;
    int64_t u;
} back_args;

/* One reverse step: from dh (upstream + recurrent) and the saved gates, the gradients of the
 * gate pre-activations dz (N, 4u) and the carried cell gradient dc_next (updated in place). */
#define LSTM_BACK(T, TANH)                                                                         \
    static void lstm_back_row_##T(                                                                 \
        const T *restrict gate, const T *restrict up, const T *restrict rec, const T *restrict c,  \
        const T *restrict cp, T *restrict dcn, T *restrict dz, int64_t u)                          \
    {                                                                                              \
        for (int64_t j = 0; j < u; j++) {                                                          \
            T i = gate[j], f = gate[u + j], g = gate[2 * u + j], o = gate[3 * u + j];              \
            T dh = up[j] + rec[j], tc = TANH(c[j]);                                                \
            T dc = dh * o * ((T)1 - tc * tc) + dcn[j];                                             \
            dz[j] = dc * g * i * ((T)1 - i);                                                       \
            dz[u + j] = dc * cp[j] * f * ((T)1 - f);                                               \
            dz[2 * u + j] = dc * i * ((T)1 - g * g);                                               \
            dz[3 * u + j] = dh * tc * o * ((T)1 - o);                                              \
            dcn[j] = dc * f;                                                                       \
        }                                                                                          \
    }                                                                                              \
    static void lstm_back_rows_##T(void *arg, int64_t begin, int64_t end)                          \
    {                                                                                              \
        const back_args *a = arg;                                                                  \
        int64_t u = a->u;                                                                          \
        for (int64_t r = begin; r < end; r++)                                                      \
            lstm_back_row_##T((const T *)a->gates + r * 4 * u, (const T *)a->dh_up + r * u,        \
                              (const T *)a->dh_rec + r * u, (const T *)a->c + r * u,               \
                              (const T *)a->c_prev + r * u, (T *)a->dc + r * u,                    \
                              (T *)a->dz + r * 4 * u, u);                                          \
    }
LSTM_BACK(float, rb__tanh_f32)
LSTM_BACK(double, tanh)

/* A failed backward: the gradient call fails with the error already raised (rb_grad_add
 * takes a NULL gradient as the failure of the op that should have made it). */
static void fail(rb_grad_ctx *ctx, const rb_node *nd) { rb_grad_add(ctx, nd, 0, NULL); }

/* The step count and the saved gates and cells agree with the inputs: a record that does not
 * (corrupted, or made by another version) is refused rather than read out of bounds. */
static bool record_fits(const rb_node *nd, bool saved)
{
    const rb_tensor *xw = nd->in[0], *u = nd->in[1], *h0 = nd->in[2];
    int64_t steps = nd->attrs.i[AT_STEPS], units = u->shape[0], n = h0->shape[0];
    bool ok = steps >= 1 && n >= 1 && xw->shape[0] % n == 0 && xw->shape[0] / n == steps;
    const rb_tensor *gates = nd->saved[SAVED_GATES], *cells = nd->saved[SAVED_CELLS];
    if (ok && saved)
        ok = gates && cells && gates->ndim == 2 && gates->shape[0] == xw->shape[0] &&
             gates->shape[1] == 4 * units && cells->ndim == 2 && cells->shape[0] == xw->shape[0] &&
             cells->shape[1] == units && (gates->flags & cells->flags & RB__CONTIGUOUS);
    if (!ok)
        rb_error(
            RB_ERR_STATE,
            "rb_lstm_sequence: backward: the record of %lld steps over xw %s, h0 %s has saved gates %s and cells %s that do not match",
            (long long)steps, rb__shp(xw), rb__shp(h0), rb__shp(gates), rb__shp(cells));
    return ok;
}

/* The second-order path: the same backward written with public ops on a recomputed forward,
 * so that an outer tape records it. Per step: the gates i, f, g, o, the cell, the hidden state
 * and the gate gradient dz, in scratch memory (any number of steps). */
typedef struct lstm_graph {
    rb_tensor *xw, *u, *h0, *c0;
    int64_t steps, units, n;
    rb_tensor **h, **c, **dz, *(*gate)[4];
} lstm_graph;

static void graph_forward(lstm_graph *s)
{
    int64_t n = s->n, units = s->units;
    rb_tensor *h_prev = s->h0, *c_prev = s->c0;
    for (int64_t t = 0; t < s->steps; t++) {
        rb_tensor *xw_t =
            rb_slice(s->xw, (int64_t[]){t * n, 0}, (int64_t[]){(t + 1) * n, 4 * units}, NULL);
        rb_tensor *z = rb_add(xw_t, rb_matmul(h_prev, s->u));
        rb_tensor **gate = s->gate[t];
        for (int k = 0; k < 4; k++) {
            rb_tensor *zk =
                rb_slice(z, (int64_t[]){0, k * units}, (int64_t[]){n, (k + 1) * units}, NULL);
            gate[k] = k == 2 ? rb_tanh(zk) : rb_sigmoid(zk);
        }
        s->c[t] = rb_add(rb_mul(gate[1], c_prev), rb_mul(gate[0], gate[2]));
        s->h[t] = rb_mul(gate[3], rb_tanh(s->c[t]));
        h_prev = s->h[t];
        c_prev = s->c[t];
    }
}

/* Step t backward: dz_t from the output gradient g, updating the gradients carried to the
 * previous step's hidden state and cell (NULL after the last step). */
static void graph_step_back(lstm_graph *s, int64_t t, rb_tensor *g, rb_tensor **dh_next,
                            rb_tensor **dc_next)
{
    int64_t n = s->n;
    rb_tensor *dh = rb_slice(g, (int64_t[]){t * n, 0}, (int64_t[]){(t + 1) * n, s->units}, NULL);
    if (*dh_next) dh = rb_add(dh, *dh_next);
    rb_tensor *i = s->gate[t][0], *f = s->gate[t][1], *gg = s->gate[t][2], *o = s->gate[t][3];
    rb_tensor *tc = rb_tanh(s->c[t]);
    rb_tensor *one = rb_tensor_ones(g->dtype, RB_SHAPE(1));
    rb_tensor *dc = rb_mul(rb_mul(dh, o), rb_sub(one, rb_square(tc)));
    if (*dc_next) dc = rb_add(dc, *dc_next);
    rb_tensor *cp = t ? s->c[t - 1] : s->c0;
    rb_tensor *parts[4] = {rb_mul(rb_mul(dc, gg), rb_mul(i, rb_sub(one, i))),
                           rb_mul(rb_mul(dc, cp), rb_mul(f, rb_sub(one, f))),
                           rb_mul(rb_mul(dc, i), rb_sub(one, rb_square(gg))),
                           rb_mul(rb_mul(dh, tc), rb_mul(o, rb_sub(one, o)))};
    s->dz[t] = rb_concat(4, parts, 1);
    *dc_next = rb_mul(dc, f);
    *dh_next = rb_matmul(s->dz[t], rb_transpose(s->u, 0, 1));
}

static void lstm_backward_graph(rb_grad_ctx *ctx, const rb_node *nd, rb_tensor *g)
{
    lstm_graph s = {nd->in[0],
                    nd->in[1],
                    nd->in[2],
                    nd->in[3],
                    nd->attrs.i[AT_STEPS],
                    nd->in[1]->shape[0],
                    nd->in[2]->shape[0],
                    NULL,
                    NULL,
                    NULL,
                    NULL};
    s.h = rb__scratch(sizeof(rb_tensor *) * (size_t)s.steps * 7);
    if (!s.h) {
        fail(ctx, nd);
        return;
    }
    s.c = s.h + s.steps;
    s.dz = s.c + s.steps;
    s.gate = (rb_tensor * (*)[4])(s.dz + s.steps);
    graph_forward(&s);
    rb_tensor *dh_next = NULL, *dc_next = NULL, *du = NULL;
    for (int64_t t = s.steps - 1; t >= 0; t--) {
        graph_step_back(&s, t, g, &dh_next, &dc_next);
        /* dU = sum_t h_(t-1)^T dz_t */
        rb_tensor *du_t = rb_matmul(rb_transpose(t ? s.h[t - 1] : s.h0, 0, 1), s.dz[t]);
        du = du ? rb_add(du, du_t) : du_t;
    }
    if (rb_grad_needed(ctx, nd, 0)) rb_grad_add(ctx, nd, 0, rb_concat((int)s.steps, s.dz, 0));
    if (rb_grad_needed(ctx, nd, 1)) rb_grad_add(ctx, nd, 1, du);
    if (rb_grad_needed(ctx, nd, 2)) rb_grad_add(ctx, nd, 2, dh_next);
    if (rb_grad_needed(ctx, nd, 3)) rb_grad_add(ctx, nd, 3, dc_next);
}

void rb__bwd_lstm_sequence(rb_grad_ctx *ctx, const rb_node *nd, rb_tensor *g)
{
    if (!record_fits(nd, !rb__grad_create_graph(ctx))) {
        fail(ctx, nd);
        return;
    }
    if (rb__grad_create_graph(ctx)) {
        lstm_backward_graph(ctx, nd, g);
        return;
    }
    rb_tensor *u = rb__contiguous(nd->in[1]), *c0 = rb__contiguous(nd->in[3]);
    rb_tensor *h0 = rb__contiguous(nd->in[2]), *dh_all = rb__contiguous(g);
    rb_tensor *gates = rb_node_saved(nd, SAVED_GATES), *cells = rb_node_saved(nd, SAVED_CELLS);
    rb_tensor *hs = nd->out;
    int64_t steps = nd->attrs.i[AT_STEPS], units = nd->in[1]->shape[0], n = nd->in[2]->shape[0];
    rb_dtype dt = g->dtype;
    size_t es = rb_dtype_size(dt);
    rb_tensor *dz = rb__tensor_new(dt, 2, (int64_t[]){steps * n, 4 * units}, "lstm_sequence");
    rb_tensor *dh_rec = rb__tensor_new(dt, 2, (int64_t[]){n, units}, "lstm_sequence");
    rb_tensor *dc = rb__tensor_new(dt, 2, (int64_t[]){n, units}, "lstm_sequence");
    /* U^T once, row-major: BLIS's small-product path is slow on a transposed operand. */
    rb_tensor *ut = rb__tensor_new(dt, 2, (int64_t[]){4 * units, units}, "lstm_sequence");
    if (!u || !c0 || !h0 || !dh_all || !dz || !dh_rec || !dc || !ut) {
        fail(ctx, nd);
        return;
    }
    rb_tensor u_view = *u;
    u_view.shape[0] = 4 * units;
    u_view.shape[1] = units;
    u_view.strides[0] = 1;
    u_view.strides[1] = 4 * units;
    rb__tensor_update_contiguous(&u_view);
    rb__copy_strided(ut, &u_view);
    rb__fill(dh_rec, 0.0);
    rb__fill(dc, 0.0);
    for (int64_t t = steps - 1; t >= 0; t--) {
        size_t row = (size_t)(t * n);
        back_args a = {(char *)dh_all->data + row * (size_t)units * es,
                       dh_rec->data,
                       (char *)gates->data + row * (size_t)(4 * units) * es,
                       (char *)cells->data + row * (size_t)units * es,
                       t ? (char *)cells->data + (row - (size_t)n) * (size_t)units * es
                         : (char *)c0->data,
                       dc->data,
                       (char *)dz->data + row * (size_t)(4 * units) * es,
                       units};
        rb__parallel_for(n, ROW_GRAIN(units),
                         dt == RB_F32 ? lstm_back_rows_float : lstm_back_rows_double, &a);
        /* The gradient reaching h_(t-1): dz_t U^T. */
        rb__gemm(dt, mat(a.dz, n, 4 * units), false, mat(ut->data, 4 * units, units), false,
                 mat(dh_rec->data, n, units), 1.0, 0.0);
    }
    rb_grad_add(ctx, nd, 0, dz);
    if (rb_grad_needed(ctx, nd, 1)) {
        /* dU = sum_t h_(t-1)^T dz_t: h0 with step 0, then H's first T-1 steps with the rest. */
        rb_tensor *dz0 = rb__tensor_view(dz, 2, (int64_t[]){n, 4 * units}, dz->strides, 0);
        rb__grad_add_gemm(ctx, nd, 1, h0, true, dz0, false);
        if (steps > 1) {
            rb_tensor *h_first =
                rb__tensor_view(hs, 2, (int64_t[]){(steps - 1) * n, units}, hs->strides, 0);
            rb_tensor *dz_rest = rb__tensor_view(dz, 2, (int64_t[]){(steps - 1) * n, 4 * units},
                                                 dz->strides, n * 4 * units);
            rb__grad_add_gemm(ctx, nd, 1, h_first, true, dz_rest, false);
        }
    }
    rb_grad_add(ctx, nd, 2, dh_rec);
    rb_grad_add(ctx, nd, 3, dc);
}
