/* Recurrent layers: SimpleRNN, LSTM and GRU cells written with ops, unrolled over time on the
 * tape, optionally in both directions. The inputs' projection x W + b is one product for all
 * time steps (time-major rows); each step then adds h U and applies the gates. */
#include <stdlib.h>
#include <string.h>

#include "layer_impl.h"

/* Per direction: kernel, bias, recurrent kernel (roles tell rb_layer_kernel, rb_layer_bias,
 * the penalties and the constraints which is which). */
enum { VAR_RNN_BIAS = 1, VAR_RECURRENT = 2, VARS_PER_DIRECTION = 3 };

static int gates(const rb_layer *l)
{
    return l->spec.kind == RB_LAYER_LSTM ? 4 : l->spec.kind == RB_LAYER_GRU ? 3 : 1;
}

static rb_tensor *var(const rb_layer *l, int direction, int which)
{
    return l->vars[direction * VARS_PER_DIRECTION + which];
}

/* ---- building ---- */

static bool rnn_build(rb_layer *l, rb_params *p)
{
    if (l->spec.units < 1)
        return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .units >= 1 (got %lld)",
                              (long long)l->spec.units);
    if (l->in_ndim != 2)
        return rb__layer_fail(l, RB_ERR_SHAPE, "expects per-sample sequences (T, F), got %d axes",
                              l->in_ndim);
    int64_t u = l->spec.units, f = l->in_shape[1], g = gates(l) * u;
    int64_t width = l->spec.bidirectional ? 2 * u : u;
    if (l->spec.return_sequences) {
        l->out_ndim = 2;
        l->out_shape[0] = l->in_shape[0];
        l->out_shape[1] = width;
    } else {
        l->out_ndim = 1;
        l->out_shape[0] = width;
    }
    if (l->spec.kind == RB_LAYER_SIMPLE_RNN && l->spec.activation == RB_ACT_NONE)
        l->spec.activation = RB_ACT_TANH;
    rb_init_spec recurrent = l->spec.recurrent_init;
    if (recurrent.kind == RB_INIT_DEFAULT) recurrent.kind = RB_INIT_ORTHOGONAL;
    rb_init_spec bias = l->spec.bias_init;
    if (bias.kind == RB_INIT_DEFAULT) bias.kind = RB_INIT_ZEROS;
    for (int d = 0; d < (l->spec.bidirectional ? 2 : 1); d++) {
        const char *prefix = d ? "backward_" : "";
        char k[40], r[40], b[40];
        snprintf(k, sizeof k, "%skernel", prefix);
        snprintf(r, sizeof r, "%srecurrent_kernel", prefix);
        snprintf(b, sizeof b, "%sbias", prefix);
        if (!rb__layer_weight(l, p, k, 2, (int64_t[]){f, g}, l->spec.kernel_init, ROLE_KERNEL))
            return false;
        rb_tensor *bt = rb__layer_weight(l, p, b, 1, &g, bias, ROLE_BIAS);
        if (!bt) return false;
        /* LSTM: the forget gate starts open (Jozefowicz et al. 2015; Keras's unit_forget_bias). */
        if (l->spec.kind == RB_LAYER_LSTM && l->spec.bias_init.kind == RB_INIT_DEFAULT)
            for (int64_t i = u; i < 2 * u; i++)
                rb_tensor_set(bt, (int64_t[]){i}, 1.0);
        /* Orthogonal per gate block, as Keras does: each (u, u) block of the recurrent kernel. */
        rb_tensor *rk =
            rb__layer_weight(l, p, r, 2, (int64_t[]){u, g}, (rb_init_spec){.kind = RB_INIT_ZEROS},
                             ROLE_RECURRENT_KERNEL);
        if (!rk) return false;
        rb_scope *scope = rb_scope_begin();
        for (int gi = 0; gi < gates(l); gi++) {
            rb_tensor *block = rb_tensor_empty(rb_tensor_dtype(rk), RB_SHAPE(u, u));
            if (!block || rb_init_fill(block, recurrent, &l->rng) != RB_OK) {
                rb_scope_end(scope);
                return false;
            }
            for (int64_t i = 0; i < u; i++)
                for (int64_t j = 0; j < u; j++)
                    rb_tensor_set(rk, (int64_t[]){i, gi * u + j},
                                  rb_tensor_get(block, (int64_t[]){i, j}));
        }
        rb_scope_end(scope);
    }
    return true;
}

/* ---- one step ---- */

/* Columns [k u, (k + 1) u) of z (N, G u). */
static rb_tensor *gate(rb_tensor *z, int k, int64_t u)
{
    int64_t n = rb_tensor_dim(z, 0);
    return rb_slice(z, (int64_t[]){0, k * u}, (int64_t[]){n, (k + 1) * u}, NULL);
}

/* The next state from xw = x_t W + b (N, G u) and the state. */
static rb_tensor *step(const rb_layer *l, int d, rb_tensor *xw, rb_rnn_state s, rb_rnn_state *next)
{
    int64_t u = l->spec.units;
    rb_tensor *rk = var(l, d, VAR_RECURRENT);
    switch (l->spec.kind) {
    case RB_LAYER_LSTM: {
        rb_tensor *z = rb_add(xw, rb_matmul(s.h, rk));
        rb_tensor *i = rb_sigmoid(gate(z, 0, u)), *f = rb_sigmoid(gate(z, 1, u));
        rb_tensor *c_new = rb_tanh(gate(z, 2, u)), *o = rb_sigmoid(gate(z, 3, u));
        next->c = rb_add(rb_mul(f, s.c), rb_mul(i, c_new));
        next->h = rb_mul(o, rb_tanh(next->c));
        break;
    }
    case RB_LAYER_GRU: {
        /* z and r from x and h; the candidate sees r * h before its product (Cho et al.). */
        int64_t n = rb_tensor_dim(rk, 0);
        rb_tensor *u_zr = rb_slice(rk, (int64_t[]){0, 0}, (int64_t[]){n, 2 * u}, NULL);
        rb_tensor *u_h = rb_slice(rk, (int64_t[]){0, 2 * u}, (int64_t[]){n, 3 * u}, NULL);
        rb_tensor *zr = rb_sigmoid(rb_add(gate(xw, 0, 2 * u), rb_matmul(s.h, u_zr)));
        rb_tensor *z = gate(zr, 0, u), *r = gate(zr, 1, u);
        rb_tensor *cand = rb_tanh(rb_add(gate(xw, 2, u), rb_matmul(rb_mul(r, s.h), u_h)));
        /* h' = z h + (1 - z) cand = cand + z (h - cand) */
        next->h = rb_add(cand, rb_mul(z, rb_sub(s.h, cand)));
        next->c = NULL;
        break;
    }
    default: {
        rb_tensor *z = rb_add(xw, rb_matmul(s.h, rk));
        next->h = rb__layer_activate(l, z);
        next->c = NULL;
        break;
    }
    }
    return next->h;
}

static rb_rnn_state zeros_state(const rb_layer *l, int64_t n)
{
    rb_rnn_state s = {rb_tensor_zeros(l->dtype, RB_SHAPE(n, l->spec.units)), NULL};
    if (l->spec.kind == RB_LAYER_LSTM) s.c = rb_tensor_zeros(l->dtype, RB_SHAPE(n, l->spec.units));
    return s;
}

static bool is_recurrent(const rb_layer *l)
{
    if (l && (l->spec.kind == RB_LAYER_SIMPLE_RNN || l->spec.kind == RB_LAYER_LSTM ||
              l->spec.kind == RB_LAYER_GRU))
        return true;
    rb_error(RB_ERR_ARGUMENT, "rb_rnn: layer '%s' is not recurrent", l ? l->name : "(null)");
    return false;
}

static bool state_fits(const rb_layer *l, const rb_rnn_state *s, int64_t n)
{
    rb_tensor *parts[2] = {s->h, s->c};
    for (int k = 0; k < (l->spec.kind == RB_LAYER_LSTM ? 2 : 1); k++) {
        rb_tensor *t = parts[k];
        if (!t || rb_tensor_ndim(t) != 2 || rb_tensor_dim(t, 0) != n ||
            rb_tensor_dim(t, 1) != l->spec.units)
            return rb__layer_fail(l, RB_ERR_SHAPE, "state %s must be (%lld, %lld)%s", k ? "c" : "h",
                                  (long long)n, (long long)l->spec.units, t ? "" : ", got none");
    }
    return true;
}

rb_tensor *rb_rnn_cell(rb_layer *l, rb_tensor *x, const rb_rnn_state *state, rb_rnn_state *next)
{
    if (!x || !next || !is_recurrent(l)) {
        if (rb_last_status() == RB_OK) rb_error(RB_ERR_ARGUMENT, "rb_rnn_cell: NULL argument");
        return NULL;
    }
    if (!l->built) {
        rb__layer_fail(
            l, RB_ERR_STATE,
            "rb_rnn_cell: not built yet: give its input shape (T, F) when making it, or call it on a whole sequence first");
        return NULL;
    }
    if (rb_tensor_ndim(x) != 2 || rb_tensor_dim(x, 1) != l->in_shape[1]) {
        rb__layer_fail(l, RB_ERR_SHAPE, "a cell step takes x_t (N, %lld)",
                       (long long)l->in_shape[1]);
        return NULL;
    }
    int64_t n = rb_tensor_dim(x, 0);
    rb_rnn_state s = state ? *state : zeros_state(l, n);
    if (!state_fits(l, &s, n)) return NULL;
    return step(l, 0, rb_linear(x, var(l, 0, VAR_KERNEL), var(l, 0, VAR_RNN_BIAS)), s, next);
}

/* ---- unrolled over time ---- */

/* One direction over the time-major projection xw (T N, G u): the states after each step, in
 * time order (a backward pass fills hs from the end). */
static bool run_direction(const rb_layer *l, int d, rb_tensor *xw, int64_t t_len, int64_t n,
                          rb_rnn_state s, rb_tensor **hs, rb_rnn_state *last)
{
    int64_t g = gates(l) * l->spec.units;
    for (int64_t k = 0; k < t_len; k++) {
        int64_t t = d ? t_len - 1 - k : k;
        rb_tensor *xw_t = rb_slice(xw, (int64_t[]){t * n, 0}, (int64_t[]){(t + 1) * n, g}, NULL);
        rb_rnn_state next;
        if (!step(l, d, xw_t, s, &next)) return false;
        hs[t] = next.h;
        s = next;
    }
    *last = s;
    return true;
}

/* Time steps in reverse order: blocks of n rows of a time-major (T n, k) tensor. */
static rb_tensor *reverse_time(rb_tensor *rows, int64_t t_len, int64_t n)
{
    int64_t k = rb_tensor_dim(rows, 1);
    rb_tensor *order = rb_tensor_arange(RB_I64, (double)(t_len - 1), -1, -1);
    rb_tensor *blocks = rb_gather(rb_reshape(rows, RB_SHAPE(t_len, n, k)), order, 0);
    return rb_reshape(blocks, RB_SHAPE(t_len * n, k));
}

/* LSTM through the fused sequence op (ops/rnn.c): the layer's output for one direction. */
static rb_tensor *lstm_fused(const rb_layer *l, int d, rb_tensor *xw, int64_t t_len, int64_t n,
                             rb_rnn_state s0)
{
    int64_t u = l->spec.units;
    if (d) xw = reverse_time(xw, t_len, n);
    rb_tensor *hs = rb_lstm_sequence(xw, var(l, d, VAR_RECURRENT), s0.h, s0.c, t_len);
    if (!l->spec.return_sequences) /* the state after the last step read */
        return rb_slice(hs, (int64_t[]){(t_len - 1) * n, 0}, (int64_t[]){t_len * n, u}, NULL);
    if (d) hs = reverse_time(hs, t_len, n);
    return rb_contiguous(rb_transpose(rb_reshape(hs, RB_SHAPE(t_len, n, u)), 0, 1));
}

/* One direction step by step: every state (N, T, u), or the last one read (t = T - 1
 * forwards, t = 0 backwards). The states go into `steps` when given, else into an array of
 * the sequence's length made here (no limit on T). */
static rb_tensor *unrolled(const rb_layer *l, int d, rb_tensor *xw, int64_t t_len, int64_t n,
                           rb_rnn_state start, rb_tensor **steps, rb_rnn_state *last)
{
    if (!xw) return NULL;
    rb_tensor **hs = steps ? steps : malloc(sizeof *hs * (size_t)t_len);
    if (!hs) {
        rb__layer_fail(l, RB_ERR_MEMORY, "out of memory for the states of %lld steps",
                       (long long)t_len);
        return NULL;
    }
    rb_tensor *out = NULL;
    if (run_direction(l, d, xw, t_len, n, start, hs, last))
        out = l->spec.return_sequences ? rb_stack((int)t_len, hs, 1) : hs[d ? 0 : t_len - 1];
    if (hs != steps) free(hs);
    return out;
}

rb_tensor *rb_rnn_forward(rb_layer *l, rb_tensor *x, const rb_rnn_state *initial,
                          rb_rnn_state *final, rb_tensor **steps)
{
    if (!x || !is_recurrent(l)) {
        if (rb_last_status() == RB_OK) rb_error(RB_ERR_ARGUMENT, "rb_rnn_forward: x is NULL");
        return NULL;
    }
    if (!rb__layer_build_at_first_call(l, x)) return NULL;
    if (rb_tensor_ndim(x) != 3 || rb_tensor_dim(x, 2) != l->in_shape[1]) {
        char got[96];
        rb__layer_fail(l, RB_ERR_SHAPE, "expects sequences (N, T, %lld), got %s",
                       (long long)l->in_shape[1], rb_tensor_shape_string(x, got, sizeof got));
        return NULL;
    }
    int64_t n = rb_tensor_dim(x, 0), t_len = rb_tensor_dim(x, 1), f = rb_tensor_dim(x, 2);
    rb_rnn_state s0 = initial ? *initial : zeros_state(l, n);
    if (!state_fits(l, &s0, n)) return NULL;
    /* Time-major rows: step t's inputs are the contiguous rows [t N, (t + 1) N). */
    rb_tensor *rows = rb_reshape(rb_contiguous(rb_transpose(x, 0, 1)), RB_SHAPE(t_len * n, f));
    int dirs = l->spec.bidirectional ? 2 : 1;
    rb_tensor *outputs[2] = {NULL, NULL};
    for (int d = 0; d < dirs; d++) {
        rb_tensor *xw = rb_linear(rows, var(l, d, VAR_KERNEL), var(l, d, VAR_RNN_BIAS));
        rb_rnn_state last;
        rb_rnn_state start = d == 0 ? s0 : zeros_state(l, n);
        /* The fused LSTM whenever nobody asks for the per-step tensors or the final cell. */
        if (l->spec.kind == RB_LAYER_LSTM && !final && !steps)
            outputs[d] = lstm_fused(l, d, xw, t_len, n, start);
        else
            outputs[d] = unrolled(l, d, xw, t_len, n, start, d == 0 ? steps : NULL, &last);
        if (!outputs[d]) return NULL;
        if (d == 0 && final) *final = last;
    }
    if (dirs == 1) return outputs[0];
    return rb_concat(2, outputs, -1);
}

static rb_tensor *rnn_forward(rb_layer *l, rb_tensor *x)
{
    return rb_rnn_forward(l, x, NULL, NULL, NULL);
}

const layer_class rb__simple_rnn_class = {"SimpleRNN", "simple_rnn", rnn_build, rnn_forward};
const layer_class rb__lstm_class = {"LSTM", "lstm", rnn_build, rnn_forward};
const layer_class rb__gru_class = {"GRU", "gru", rnn_build, rnn_forward};
