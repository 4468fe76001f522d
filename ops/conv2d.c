/* The fused 2-D convolution: patches and product are formed chunk by chunk of images, so that
 * each chunk's patch matrix stays in cache for its GEMM (on Zen 3 this doubles or triples the
 * products' speed for the skinny shapes of convolution layers) and the tape never stores the
 * patches. Chunks go to threads; within a chunk BLIS runs on one thread.
 *
 * Backward (first order) redoes each chunk's patches for the weight gradient and scatters the
 * patch gradients back with col2im. The weight gradient is summed per fixed group of chunks,
 * then over groups in order: bit-identical at any thread count. Under an outer tape the
 * backward is expressed with im2col, matmul and col2im, all differentiable. */
#include <stdatomic.h>
#include <string.h>

#include "conv_direct.h"
#include "gemm.h"
#include "op_impl.h"
#include "parallel.h"
#include "window.h"

/* About this many bytes of patches per chunk: well within a core's share of cache. */
enum { CHUNK_BYTES = 1 << 20, MAX_GROUPS = 16 };
/* Input channels below which the forward pass uses the direct kernel (see direct_pays). */
enum { DIRECT_MAX_CIN = 8 };

enum { AT_CHUNK = 10, AT_EPI = 11 };

typedef struct conv_plan {
    rb_tensor *x, *w, *bias, *y; /* y: forward output */
    rb_tensor *dy, *dx;          /* backward */
    char *dw_groups;             /* MAX_GROUPS partial weight gradients (K x Cout each) */
    char *db_groups;             /* and bias gradients (Cout each), or NULL */
    const rb_tensor *mask_y;     /* backward through the ReLU epilogue: dY where y > 0 */
    rb__geom g;
    int64_t N, C, Cout, K, rows; /* rows per image: Ho * Wo */
    int64_t chunk, n_chunks, n_groups;
    size_t es;
    bool relu;
    bool direct;          /* the direct forward kernel (conv_direct.c) */
    float *wpack, *bpack; /* the kernel and bias packed for it */
    atomic_bool failed;   /* a worker ran out of scratch memory */
} conv_plan;

static int64_t chunk_images(const rb__geom *g, int64_t K, size_t es)
{
    int64_t per_image = g->Ho * g->Wo * K * (int64_t)es;
    int64_t c = CHUNK_BYTES / (per_image ? per_image : 1);
    return c < 1 ? 1 : c;
}

static rb__mat mat(void *data, int64_t rows, int64_t cols)
{
    rb__mat m = {data, rows, cols, cols, 1};
    return m;
}

/* With few input channels a patch row is a handful of bytes and im2col spends its time on
 * bookkeeping; the transposed layout (one row per kernel tap, one column per output position)
 * is built from runs of whole image rows instead. */
static bool transposed_patches(const conv_plan *p) { return p->C <= 4; }

#define PATCHES_T(T)                                                                               \
    static void patches_t_##T(const conv_plan *p, int64_t n0, int64_t n1, T *out)                  \
    {                                                                                              \
        const rb__geom *g = &p->g;                                                                 \
        const int64_t C = p->C, M = (n1 - n0) * p->rows;                                           \
        const T *x = p->x->data;                                                                   \
        const int64_t step = g->sw * C;                                                            \
        for (int i = 0; i < g->kh; i++)                                                            \
            for (int j = 0; j < g->kw; j++) {                                                      \
                int64_t shift = (int64_t)j * g->dw - g->pl;                                        \
                /* Output columns whose tap falls inside the image: [lo, hi). */                   \
                int64_t lo = shift >= 0 ? 0 : (-shift + g->sw - 1) / g->sw;                        \
                int64_t hi = g->W - 1 - shift < 0 ? 0 : (g->W - 1 - shift) / g->sw + 1;            \
                if (hi > g->Wo) hi = g->Wo;                                                        \
                if (lo > hi) lo = hi;                                                              \
                for (int64_t c = 0; c < C; c++) {                                                  \
                    T *dst = out + (((int64_t)i * g->kw + j) * C + c) * M;                         \
                    for (int64_t n = n0; n < n1; n++)                                              \
                        for (int64_t oh = 0; oh < g->Ho; oh++, dst += g->Wo) {                     \
                            int64_t y = oh * g->sh + (int64_t)i * g->dh - g->pt;                   \
                            if (y < 0 || y >= g->H) {                                              \
                                for (int64_t ow = 0; ow < g->Wo; ow++)                             \
                                    dst[ow] = 0;                                                   \
                                continue;                                                          \
                            }                                                                      \
                            const T *row = x + ((n * g->H + y) * g->W + shift) * C + c;            \
                            for (int64_t ow = 0; ow < lo; ow++)                                    \
                                dst[ow] = 0;                                                       \
                            if (step == 1) /* unit stride, one channel: a run of the row */        \
                                memcpy(dst + lo, row + lo, sizeof(T) * (size_t)(hi - lo));         \
                            else                                                                   \
                                for (int64_t ow = lo; ow < hi; ow++)                               \
                                    dst[ow] = row[ow * step];                                      \
                            for (int64_t ow = hi; ow < g->Wo; ow++)                                \
                                dst[ow] = 0;                                                       \
                        }                                                                          \
                }                                                                                  \
            }                                                                                      \
    }
PATCHES_T(float)
PATCHES_T(double)

/* The patches of images [n0, n1) in scratch memory (released by the caller's mark), as an
 * (m, K) matrix: row-major, or column-major when transposed_patches(p). */
static char *patches(const conv_plan *p, int64_t n0, int64_t n1, rb__mat *a)
{
    int64_t m = (n1 - n0) * p->rows;
    char *cols = rb__scratch((size_t)(m * p->K) * p->es);
    if (!cols) {
        atomic_store((atomic_bool *)&p->failed, true);
        return NULL;
    }
    if (transposed_patches(p)) {
        if (p->x->dtype == RB_F32)
            patches_t_float(p, n0, n1, (float *)cols);
        else
            patches_t_double(p, n0, n1, (double *)cols);
        *a = (rb__mat){cols, m, p->K, 1, m};
    } else {
        rb__patch_plan pp = {p->x->data, cols, p->g, p->C, p->x->dtype, 0.0, n0 * p->g.Ho};
        rb__im2col_rows(&pp, n0 * p->g.Ho, n1 * p->g.Ho);
        *a = (rb__mat){cols, m, p->K, p->K, 1};
    }
    return cols;
}

/* The direct kernel on images [n0, n1): through a zero-padded copy when the window pads. */
static void direct_chunk(const conv_plan *p, int64_t n0, int64_t n1)
{
    const rb__geom *g = &p->g;
    int64_t Hp = g->H + g->pt + g->pb, Wp = g->W + g->pl + g->pr;
    const float *x = (const float *)p->x->data + n0 * g->H * g->W * p->C;
    if (Hp != g->H || Wp != g->W) {
        float *pad = rb__scratch(sizeof(float) * (size_t)((n1 - n0) * Hp * Wp * p->C));
        if (!pad) {
            atomic_store((atomic_bool *)&p->failed, true);
            return;
        }
        rb__direct_conv_pad(x, n1 - n0, g->H, g->W, p->C, g->pt, g->pl, Hp, Wp, pad);
        x = pad;
    }
    rb__direct_conv d = {.x = x,
                         .w = p->wpack,
                         .bias = p->bpack,
                         .y = p->y->data,
                         .first = n0,
                         .Hp = Hp,
                         .Wp = Wp,
                         .C = p->C,
                         .Ho = g->Ho,
                         .Wo = g->Wo,
                         .Cout = p->Cout,
                         .CoutP = rb__direct_conv_packed_cols(p->Cout),
                         .kh = g->kh,
                         .kw = g->kw,
                         .relu = p->relu};
    rb__direct_conv_rows(&d, n0 * g->Ho, n1 * g->Ho);
}

static void forward_chunks(void *arg, int64_t begin, int64_t end)
{
    const conv_plan *p = arg;
    rb__arena *scratch = rb__scratch_arena();
    for (int64_t c = begin; c < end; c++) {
        int64_t n0 = c * p->chunk, n1 = n0 + p->chunk < p->N ? n0 + p->chunk : p->N;
        if (p->direct) {
            rb__arena_mark mark = rb__arena_get_mark(scratch);
            direct_chunk(p, n0, n1);
            rb__arena_release(scratch, mark);
            continue;
        }
        int64_t m = (n1 - n0) * p->rows;
        rb__arena_mark mark = rb__arena_get_mark(scratch);
        rb__mat a;
        char *cols = patches(p, n0, n1, &a);
        char *y = (char *)p->y->data + (size_t)(n0 * p->rows * p->Cout) * p->es;
        if (cols) {
            if (p->bias) /* seed the rows with the bias, accumulate the product onto it */
                for (int64_t r = 0; r < m; r++)
                    memcpy(y + (size_t)(r * p->Cout) * p->es, p->bias->data,
                           (size_t)p->Cout * p->es);
            rb__gemm_serial(p->x->dtype, a, false, mat(p->w->data, p->K, p->Cout), false,
                            mat(y, m, p->Cout), 1.0, p->bias ? 1.0 : 0.0);
            if (p->relu) { /* the epilogue, while the chunk is in cache */
                int64_t count = m * p->Cout;
                if (p->x->dtype == RB_F32)
                    for (float *v = (float *)y, *e = v + count; v < e; v++)
                        *v = *v > 0 ? *v : 0;
                else
                    for (double *v = (double *)y, *e = v + count; v < e; v++)
                        *v = *v > 0 ? *v : 0;
            }
        }
        rb__arena_release(scratch, mark);
    }
}

/* Groups of chunks: each group's chunks run in order on one thread, so that its partial
 * weight gradient is a fixed sum. */
static void group_range(const conv_plan *p, int64_t group, int64_t *c0, int64_t *c1)
{
    *c0 = p->n_chunks * group / p->n_groups;
    *c1 = p->n_chunks * (group + 1) / p->n_groups;
}

/* The chunk's output gradient as the products need it: through the ReLU epilogue's mask (a
 * masked copy in scratch memory, while the chunk is in cache), with its column sums added to
 * the group's bias gradient db (NULL: none). Returns dY, or NULL when out of scratch memory. */
#define CHUNK_DY(T)                                                                                \
    static T *chunk_dy_##T(const conv_plan *p, int64_t first, int64_t m, T *db)                    \
    {                                                                                              \
        const int64_t Cout = p->Cout, count = m * Cout;                                            \
        T *dy = (T *)p->dy->data + first;                                                          \
        if (p->mask_y) {                                                                           \
            const T *y = (const T *)p->mask_y->data + first;                                       \
            T *masked = rb__scratch(sizeof(T) * (size_t)count);                                    \
            if (!masked) return NULL;                                                              \
            for (int64_t i = 0; i < count; i++) {                                                  \
                T d = dy[i];                                                                       \
                masked[i] = y[i] > 0 ? d : 0;                                                      \
            }                                                                                      \
            dy = masked;                                                                           \
        }                                                                                          \
        if (db)                                                                                    \
            for (int64_t r = 0; r < m; r++)                                                        \
                for (int64_t co = 0; co < Cout; co++)                                              \
                    db[co] += dy[r * Cout + co];                                                   \
        return dy;                                                                                 \
    }
CHUNK_DY(float)
CHUNK_DY(double)

static void backward_groups(void *arg, int64_t begin, int64_t end)
{
    const conv_plan *p = arg;
    rb__arena *scratch = rb__scratch_arena();
    rb_dtype dt = p->x->dtype;
    for (int64_t grp = begin; grp < end; grp++) {
        int64_t c0, c1;
        group_range(p, grp, &c0, &c1);
        char *dw = p->dw_groups ? p->dw_groups + (size_t)(grp * p->K * p->Cout) * p->es : NULL;
        char *db = p->db_groups ? p->db_groups + (size_t)(grp * p->Cout) * p->es : NULL;
        if (db) memset(db, 0, (size_t)p->Cout * p->es);
        for (int64_t c = c0; c < c1; c++) {
            int64_t n0 = c * p->chunk, n1 = n0 + p->chunk < p->N ? n0 + p->chunk : p->N;
            int64_t m = (n1 - n0) * p->rows;
            rb__arena_mark mark = rb__arena_get_mark(scratch);
            char *dy = dt == RB_F32
                           ? (char *)chunk_dy_float(p, n0 * p->rows * p->Cout, m, (float *)db)
                           : (char *)chunk_dy_double(p, n0 * p->rows * p->Cout, m, (double *)db);
            if (!dy) {
                atomic_store((atomic_bool *)&p->failed, true);
                rb__arena_release(scratch, mark);
                continue;
            }
            if (dw) { /* dW += cols^T dY */
                rb__mat a;
                if (patches(p, n0, n1, &a))
                    rb__gemm_serial(dt, a, true, mat(dy, m, p->Cout), false, mat(dw, p->K, p->Cout),
                                    1.0, c == c0 ? 0.0 : 1.0);
            }
            if (p->dx) { /* dcols = dY W^T, scattered back into the chunk's images */
                char *dcols = rb__scratch((size_t)(m * p->K) * p->es);
                if (!dcols) atomic_store((atomic_bool *)&p->failed, true);
                if (dcols) {
                    rb__gemm_serial(dt, mat(dy, m, p->Cout), false, mat(p->w->data, p->K, p->Cout),
                                    true, mat(dcols, m, p->K), 1.0, 0.0);
                    char *img = (char *)p->dx->data + (size_t)(n0 * p->g.H * p->g.W * p->C) * p->es;
                    memset(img, 0, (size_t)((n1 - n0) * p->g.H * p->g.W * p->C) * p->es);
                    rb__patch_plan pp = {p->dx->data, dcols, p->g, p->C, dt, 0.0, n0};
                    rb__col2im_images(&pp, n0, n1);
                }
            }
            rb__arena_release(scratch, mark);
        }
    }
}

/* The direct kernel handles float32 with unit strides and dilations. It wins in the forward
 * pass when the input has few channels: a patch row is then shorter than a vector and the
 * patch matrix costs more to build than to multiply (Zen 3: LeNet's 1->6 and 6->16 layers,
 * 1.6-1.8x). With 16 input channels (ResNet) patches + GEMM measured faster, and so did they
 * for the input gradient (a convolution of the output gradient with the flipped kernel). */
static bool direct_pays(const conv_plan *p, rb_dtype dtype)
{
    const rb__geom *g = &p->g;
    if (dtype != RB_F32 || g->sh != 1 || g->sw != 1 || g->dh != 1 || g->dw != 1) return false;
    return p->C < DIRECT_MAX_CIN;
}

static conv_plan plan_of(const rb_node *n)
{
    conv_plan p = {0};
    p.x = rb__contiguous(n->in[0]);
    p.w = rb__contiguous(n->in[1]);
    p.bias = n->n_in > 2 ? rb__contiguous(n->in[2]) : NULL;
    p.N = n->in[0]->shape[0];
    p.C = n->in[0]->shape[3];
    p.Cout = n->in[1]->shape[3];
    p.K = n->in[1]->size / p.Cout;
    p.es = rb_dtype_size(n->in[0]->dtype);
    p.g = rb__window_of_attrs(&n->attrs, n->out->shape[1], n->out->shape[2]);
    p.rows = p.g.Ho * p.g.Wo;
    p.chunk = n->attrs.i[AT_CHUNK];
    p.n_chunks = (p.N + p.chunk - 1) / p.chunk;
    p.n_groups = p.n_chunks < MAX_GROUPS ? p.n_chunks : MAX_GROUPS;
    p.relu = n->attrs.i[AT_EPI] == RB_EPILOGUE_RELU;
    p.direct = direct_pays(&p, n->in[0]->dtype);
    return p;
}

/* Pack the kernel and bias for the direct path; false when out of memory. */
static bool pack_direct(conv_plan *p)
{
    int64_t taps = (int64_t)p->g.kh * p->g.kw, cols = rb__direct_conv_packed_cols(p->Cout);
    p->wpack = rb__scratch(sizeof(float) * (size_t)(taps * p->C * cols));
    p->bpack = p->bias ? rb__scratch(sizeof(float) * (size_t)cols) : NULL;
    if (!p->wpack || (p->bias && !p->bpack)) return false;
    rb__direct_conv_pack(p->w->data, taps, p->C, p->Cout, p->wpack);
    if (p->bias) {
        memset(p->bpack, 0, sizeof(float) * (size_t)cols);
        memcpy(p->bpack, p->bias->data, sizeof(float) * (size_t)p->Cout);
    }
    return true;
}

rb_status rb__fwd_conv2d(rb_node *n)
{
    conv_plan p = plan_of(n);
    if (!p.x || !p.w || (n->n_in > 2 && !p.bias)) return rb_last_status();
    p.y = n->out;
    if (p.direct && !pack_direct(&p)) return rb_last_status();
    rb__parallel_tasks(p.n_chunks, forward_chunks, &p);
    if (atomic_load(&p.failed))
        return rb_error(RB_ERR_MEMORY, "conv2d: out of scratch memory for %lld images",
                        (long long)p.chunk);
    return RB_OK;
}

/* Public ops only, for an outer tape: dW = patches^T dY, dX = col2im(dY W^T). */
static void conv2d_backward_graph(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    rb_tensor *x = n->in[0], *w = n->in[1];
    conv_plan p = plan_of(n);
    rb_window2d win = {.stride = {p.g.sh, p.g.sw},
                       .dilation = {p.g.dh, p.g.dw},
                       .padding = RB_PAD_EXPLICIT,
                       .pad = {p.g.pt, p.g.pb, p.g.pl, p.g.pr}};
    int64_t M = p.N * p.rows;
    rb_tensor *gy = rb_reshape(g, RB_SHAPE(M, p.Cout));
    rb_tensor *w2 = rb_reshape(w, RB_SHAPE(p.K, p.Cout));
    if (rb_grad_needed(ctx, n, 1)) {
        rb_tensor *cols = rb_reshape(rb_im2col(x, p.g.kh, p.g.kw, win, 0.0), RB_SHAPE(M, p.K));
        rb_grad_add(ctx, n, 1,
                    rb_reshape(rb_matmul(rb_transpose(cols, 0, 1), gy), w->ndim, w->shape));
    }
    if (rb_grad_needed(ctx, n, 0)) {
        rb_tensor *dcols = rb_matmul(gy, rb_transpose(w2, 0, 1));
        dcols = rb_reshape(dcols, 6, (int64_t[]){p.N, p.g.Ho, p.g.Wo, p.g.kh, p.g.kw, p.C});
        rb_grad_add(ctx, n, 0, rb_col2im(dcols, p.g.H, p.g.W, win));
    }
    if (n->n_in > 2 && rb_grad_needed(ctx, n, 2))
        rb_grad_add(ctx, n, 2, rb_sum(gy, RB_AXES(0), false));
}

/* The groups' partial gradients (count values each), summed in order into out. */
static void sum_groups(const conv_plan *p, const char *groups, int64_t count, rb_tensor *out)
{
    memcpy(out->data, groups, (size_t)count * p->es);
    for (int64_t grp = 1; grp < p->n_groups; grp++) {
        if (out->dtype == RB_F32) {
            const float *src = (const float *)groups + grp * count;
            float *dst = out->data;
            for (int64_t i = 0; i < count; i++)
                dst[i] += src[i];
        } else {
            const double *src = (const double *)groups + grp * count;
            double *dst = out->data;
            for (int64_t i = 0; i < count; i++)
                dst[i] += src[i];
        }
    }
}

void rb__bwd_conv2d(rb_grad_ctx *ctx, const rb_node *n, rb_tensor *g)
{
    bool relu = n->attrs.i[AT_EPI] == RB_EPILOGUE_RELU;
    if (rb__grad_create_graph(ctx)) {
        /* Through the ReLU epilogue: the gradient where the output is positive. */
        if (relu && !(g = rb__relu_mask(g, n->out))) {
            rb_grad_add(ctx, n, 0, NULL);
            return;
        }
        conv2d_backward_graph(ctx, n, g);
        return;
    }
    conv_plan p = plan_of(n);
    p.dy = rb__contiguous(g);
    p.mask_y = relu ? n->out : NULL; /* the mask and the bias gradient, chunk by chunk */
    bool need_x = rb_grad_needed(ctx, n, 0), need_w = rb_grad_needed(ctx, n, 1);
    bool need_b = n->n_in > 2 && rb_grad_needed(ctx, n, 2);
    if (!p.x || !p.w || !p.dy) {
        rb_grad_add(ctx, n, 0, NULL);
        return;
    }
    rb_tensor *dw = NULL, *db = NULL;
    if (need_x) p.dx = rb__tensor_new(p.x->dtype, 4, p.x->shape, "conv2d");
    if (need_w) {
        dw = rb__tensor_new(p.w->dtype, p.w->ndim, p.w->shape, "conv2d");
        p.dw_groups = rb__scratch((size_t)(p.n_groups * p.K * p.Cout) * p.es);
    }
    if (need_b) {
        db = rb__tensor_new(p.w->dtype, 1, &p.Cout, "conv2d");
        p.db_groups = rb__scratch((size_t)(p.n_groups * p.Cout) * p.es);
    }
    if ((need_x && !p.dx) || (need_w && (!dw || !p.dw_groups)) ||
        (need_b && (!db || !p.db_groups))) {
        rb_grad_add(ctx, n, need_x ? 0 : 1, NULL);
        return;
    }
    rb__parallel_tasks(p.n_groups, backward_groups, &p);
    if (atomic_load(&p.failed)) { /* scratch memory ran out in a worker */
        rb_error(RB_ERR_MEMORY, "conv2d backward: out of scratch memory for %lld images",
                 (long long)p.chunk);
        rb_grad_add(ctx, n, need_x ? 0 : 1, NULL);
        return;
    }
    if (need_w) {
        sum_groups(&p, p.dw_groups, p.K * p.Cout, dw);
        rb_grad_add(ctx, n, 1, dw);
    }
    if (need_x) rb_grad_add(ctx, n, 0, p.dx);
    if (need_b) {
        sum_groups(&p, p.db_groups, p.Cout, db);
        rb_grad_add(ctx, n, 2, db);
    }
}

/* The fused op for one group (see rb_conv2d): x (N, H, W, C), w (kh, kw, C, Cout), bias or
 * NULL, a resolved geometry. */
rb_tensor *rb__conv2d_fused(rb_tensor *x, rb_tensor *w, rb_tensor *bias, const rb__geom *g,
                            rb_epilogue epi)
{
    rb_attrs at = {0};
    rb__window_to_attrs(g, &at, 0.0);
    at.i[AT_EPI] = epi;
    int64_t K = w->size / w->shape[3];
    at.i[AT_CHUNK] = chunk_images(g, K, rb_dtype_size(x->dtype));
    rb_tensor *in[3] = {x, w, bias};
    int64_t shape[4] = {x->shape[0], g->Ho, g->Wo, w->shape[3]};
    return rb__apply(RB__OP_conv2d, bias ? 3 : 2, in, &at, x->dtype, 4, shape);
}
