/* Residual blocks (He et al. 2015 and the pre-activation variant of 2016): two 3x3
 * convolutions and a shortcut, projected by a 1x1 convolution when the shape changes. */
#include "layer_impl.h"

enum { CONV1, BN1, CONV2, BN2, PROJ, PROJ_BN };

static rb_layer *child_at(const rb_layer *l, int which)
{
    /* Children are created in the enum's order, skipping those a placement does not use. */
    static const int none = -1;
    int index[6] = {none, none, none, none, none, none}, k = 0;
    bool bn = l->spec.bn != RB_BN_NONE, after = l->spec.bn == RB_BN_AFTER_CONV;
    bool proj = l->n_children > (bn ? 4 : 2);
    index[CONV1] = k++;
    if (bn) index[BN1] = k++;
    index[CONV2] = k++;
    if (bn) index[BN2] = k++;
    if (proj) index[PROJ] = k++;
    if (proj && after) index[PROJ_BN] = k++;
    return index[which] == none ? NULL : l->children[index[which]];
}

static bool residual_build(rb_layer *l, rb_params *p)
{
    if (l->spec.units < 1) return rb__layer_fail(l, RB_ERR_ARGUMENT, "needs .units >= 1 filters");
    if (l->in_ndim != 3)
        return rb__layer_fail(l, RB_ERR_SHAPE, "expects per-sample images (H, W, C)");
    if (l->spec.activation == RB_ACT_NONE) l->spec.activation = RB_ACT_RELU;
    int k = l->spec.kernel[0] ? l->spec.kernel[0] : 3, stride = l->spec.window.stride[0];
    stride = stride ? stride : 1;
    bool bn = l->spec.bn != RB_BN_NONE, after = l->spec.bn == RB_BN_AFTER_CONV;
    int64_t f = l->spec.units;
    rb_layer_spec conv = {.kind = RB_LAYER_CONV2D,
                          .units = f,
                          .kernel = {k, k},
                          .window = {.stride = {stride, stride}, .padding = RB_PAD_SAME},
                          .no_bias = after,
                          .kernel_init = l->spec.kernel_init,
                          .l2 = l->spec.l2,
                          .l1 = l->spec.l1,
                          .max_norm = l->spec.max_norm};
    rb_layer_spec norm = {
        .kind = RB_LAYER_BATCH_NORM, .momentum = l->spec.momentum, .epsilon = l->spec.epsilon};
    /* Normalisations followed by the activation carry it (fused into their pass). */
    rb_layer_spec norm_act = norm;
    norm_act.activation = l->spec.activation;
    norm_act.alpha = l->spec.alpha;
    int64_t shape[3];
    /* Pre-activation normalises the block's input; the others normalise conv outputs. */
    rb_layer *c1 = rb__layer_child(l, p, "conv1", conv, 3, l->in_shape);
    if (!c1) return false;
    rb_layer_output_shape(c1, shape);
    if (bn && !rb__layer_child(l, p, "bn1", norm_act, 3, after ? shape : l->in_shape)) return false;
    conv.window.stride[0] = conv.window.stride[1] = 1;
    rb_layer *c2 = rb__layer_child(l, p, "conv2", conv, 3, shape);
    if (!c2 || (bn && !rb__layer_child(l, p, "bn2", after ? norm : norm_act, 3, shape)))
        return false;
    if (stride != 1 || l->in_shape[2] != f) {
        rb_layer_spec proj = conv;
        proj.kernel[0] = proj.kernel[1] = 1;
        proj.window.stride[0] = proj.window.stride[1] = stride;
        if (!rb__layer_child(l, p, "proj", proj, 3, l->in_shape)) return false;
        if (after && !rb__layer_child(l, p, "proj_bn", norm, 3, shape)) return false;
    }
    l->out_ndim = 3;
    for (int i = 0; i < 3; i++)
        l->out_shape[i] = shape[i];
    return true;
}

static rb_tensor *act(const rb_layer *l, rb_tensor *x) { return rb__layer_activate(l, x); }

static rb_tensor *residual_forward(rb_layer *l, rb_tensor *x)
{
    rb_layer *bn1 = child_at(l, BN1), *bn2 = child_at(l, BN2), *proj = child_at(l, PROJ);
    rb_layer *proj_bn = child_at(l, PROJ_BN);
    rb_tensor *shortcut = proj ? rb_layer_forward(proj, x) : x;
    if (proj_bn) shortcut = rb_layer_forward(proj_bn, shortcut);
    rb_tensor *h;
    /* The BN children apply the activation where it follows them. */
    if (l->spec.bn == RB_BN_BEFORE_CONV) {
        h = rb_layer_forward(child_at(l, CONV1), rb_layer_forward(bn1, x));
        h = rb_layer_forward(child_at(l, CONV2), rb_layer_forward(bn2, h));
        return rb_add(h, shortcut);
    }
    h = rb_layer_forward(child_at(l, CONV1), x);
    h = bn1 ? rb_layer_forward(bn1, h) : act(l, h);
    h = rb_layer_forward(child_at(l, CONV2), h);
    if (bn2) h = rb_layer_forward(bn2, h);
    return act(l, rb_add(h, shortcut));
}

const layer_class rb__residual_class = {"ResidualBlock", "residual_block", residual_build,
                                        residual_forward};
