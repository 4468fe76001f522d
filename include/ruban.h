/* ruban.h - a C11 deep-learning engine: tensors, a gradient tape, differentiable ops, layers
 * and optimizers. This umbrella header includes every module; each module header stands on
 * its own.
 *
 *     #include <ruban.h>
 *     rb_tape *tape = rb_tape_begin(RB_TAPE_DEFAULT);
 *     rb_tensor *loss = rb_softmax_cross_entropy(model(params, x), y);
 *     rb_tape_gradient_params(tape, loss, params);
 *     rb_tape_end(tape);
 *     rb_optimizer_step(opt);
 */
#ifndef RUBAN_H
#define RUBAN_H

#include "ruban/version.h"
#include "ruban/base.h"
#include "ruban/error.h"
#include "ruban/runtime.h"
#include "ruban/tensor.h"
#include "ruban/random.h"
#include "ruban/ops.h"
#include "ruban/conv.h"
#include "ruban/tape.h"
#include "ruban/op_def.h"
#include "ruban/gradcheck.h"
#include "ruban/params.h"
#include "ruban/nn.h"
#include "ruban/layers.h"
#include "ruban/model.h"
#include "ruban/optim.h"
#include "ruban/schedule.h"
#include "ruban/checkpoint.h"
#include "ruban/files.h"
#include "ruban/data.h"
#include "ruban/progress.h"
#include "ruban/fit.h"
#include "ruban/image.h"
#include "ruban/datasets.h"
#include "ruban/preprocess.h"
#include "ruban/augment.h"
#include "ruban/plot.h"
#include "ruban/measure.h"
#include "ruban/experiment.h"
#include "ruban/study.h"
#include "ruban/linalg.h"
#include "ruban/dist.h"

#endif
