/* Lecture notes - the perceptron trained by gradient descent: one neuron, price = w x + b, fitted
 * with the mean squared error to Boston housing's average number of rooms per dwelling (RM, x)
 * and median price (MEDV, in $1000s). The same neuron is trained by full-batch gradient descent
 * (one step per epoch on all 506 districts), stochastic gradient descent (one district per
 * step) and minibatches of 32, with the same step size, and each method's path is drawn over
 * the loss surface MSE(w, b). The surface is a paraboloid whose minimum is the least-squares
 * line (solved in closed form as the reference); its shape depends on the scale of x, which a
 * last run shows on raw RM.
 * The question, the expectation stated before running and the limits of the comparison are
 * the strings below; the program prints them, checks each expectation against what it
 * measures and writes everything into results/notes/perceptron/report.html.
 * --help lists the flags (--lr, --lr-raw, --batch, --seeds, --quick ...).
 */
#include "../common.h"

static const char question[] =
    "how do full-batch gradient descent, stochastic gradient descent and minibatches reach the\n"
    "least-squares line, and why does the scale of the input matter?";
static const char expectation[] =
    " 1. With RM standardised the loss surface is a round bowl (its curvature is 2 along w and\n"
    "    along b): full-batch descent walks straight to the least-squares solution, one step per\n"
    "    epoch, and after the epochs sits on it (MSE within 0.1% of the optimum).\n"
    " 2. In one epoch SGD makes 506 steps and full-batch descent one: after the first epoch SGD\n"
    "    is far closer to the line (lower MSE).\n"
    " 3. With the same constant step, SGD never settles: each step follows one district's\n"
    "    gradient, so it jitters around the solution and its MSE over the last 10 epochs stays\n"
    "    well above the optimum; minibatches of 32 average most of the noise away and land in\n"
    "    between (excess over the optimum: SGD > minibatch > full batch).\n"
    " 4. On raw RM (mean 6.3 rooms, standard deviation 0.7) the bowl becomes a long, narrow valley\n"
    "    (curvatures ~80 across and ~0.02 along): the step must stay below 2 / 80 to converge,\n"
    "    and at such a step full-batch descent reaches the valley floor at once, then crawls\n"
    "    along it: after the same epochs it is still far from the solution (more than 10% above\n"
    "    the optimal MSE).";
static const char limits[] =
    "one feature and one neuron: the loss surface is exactly quadratic, which deep networks'\n"
    "surfaces are not; all 506 districts are used for training (the question is optimisation, not\n"
    "generalisation; the notes' other programs hold data out); one constant step size per run, no\n"
    "momentum and no decay (a decaying step would let SGD settle); paths are drawn for the first\n"
    "seed, step by step in the first epoch and then once per epoch; the spread over seeds comes\n"
    "from the shuffling alone (full-batch descent does not depend on it).";

enum { MAX_CONFIGS = 4, MAX_SEEDS = 16, MAX_EPOCHS = 1000, MAX_POINTS = 4000 };

/* What the runs record beyond rb_fit's history. */
typedef struct record {
    double mean_x, mean_y, mean_xx, mean_xy, mean_yy; /* moments: MSE(w, b) in closed form */
    double mse[MAX_CONFIGS][MAX_SEEDS][MAX_EPOCHS];   /* at each epoch's end */
    double path_w[MAX_CONFIGS][MAX_POINTS], path_b[MAX_CONFIGS][MAX_POINTS];
    int points[MAX_CONFIGS];
} record;

/* Mean squared error of the line w x + b, from the moments of the data. */
static double mse_of(const record *r, double w, double b)
{
    return w * w * r->mean_xx + b * b + r->mean_yy + 2 * w * b * r->mean_x - 2 * w * r->mean_xy -
           2 * b * r->mean_y;
}

static void moments(record *r, const rb_dataset *d)
{
    const float *x = rb_tensor_f32(d->x), *y = rb_tensor_f32(d->y);
    int64_t n = rb_dataset_rows(d);
    *r = (record){0};
    for (int64_t i = 0; i < n; i++) {
        r->mean_x += x[i] / (double)n;
        r->mean_y += y[i] / (double)n;
        r->mean_xx += (double)x[i] * x[i] / (double)n;
        r->mean_xy += (double)x[i] * y[i] / (double)n;
        r->mean_yy += (double)y[i] * y[i] / (double)n;
    }
}

/* A progress hook that passes events on and records where (w, b) is: after each step of the
 * first epoch, then at each epoch's end. */
typedef struct tracker {
    rb_progress_hook inner;
    rb_layer *neuron;
    record *r;
    int config, seed;
} tracker;

static void track(tracker *t, double *w, double *b)
{
    *w = rb_tensor_get(rb_layer_kernel(t->neuron), (int64_t[]){0, 0});
    *b = rb_tensor_get(rb_layer_bias(t->neuron), (int64_t[]){0});
    int *n = &t->r->points[t->config];
    if (t->seed == 0 && *n < MAX_POINTS) {
        t->r->path_w[t->config][*n] = *w;
        t->r->path_b[t->config][*n] = *b;
        (*n)++;
    }
}

static void on_step(void *ctx, const rb_progress_event *event)
{
    tracker *t = ctx;
    rb_progress_report(t->inner, event);
    double w, b;
    if (!event->epoch_end && event->epoch == 1) track(t, &w, &b);
    if (!event->epoch_end || event->epoch > MAX_EPOCHS) return;
    w = rb_tensor_get(rb_layer_kernel(t->neuron), (int64_t[]){0, 0});
    b = rb_tensor_get(rb_layer_bias(t->neuron), (int64_t[]){0});
    if (event->epoch > 1) track(t, &w, &b);
    t->r->mse[t->config][t->seed][event->epoch - 1] = mse_of(t->r, w, b);
}

/* One neuron starting at w = b = 0, trained with a constant step on batches of `batch` rows
 * (0: all of them). */
static rb_history *train_neuron(const rb_run *run)
{
    rb_model *m = rb_model_new(RB_F32, "perceptron", RB_SHAPE(1));
    rb_layer *neuron =
        rb_model_add(m, RB_DENSE(.units = 1, .kernel_init = {.kind = RB_INIT_ZEROS}));
    int64_t batch = (int64_t)rb_config_get(run->config, "batch", 0);
    rb_optimizer *opt =
        rb_sgd_new(rb_model_params(m), (rb_sgd_config){.lr = rb_config_get(run->config, "lr", 0)});
    tracker t = {run->progress, neuron, run->user_data, run->index,
                 run->repeat < MAX_SEEDS ? run->repeat : MAX_SEEDS - 1};
    if (run->repeat == 0) t.r->points[run->index] = 0;
    double w, b;
    track(&t, &w, &b); /* the starting point */
    rb_history *h =
        rb_fit(rb_trainable_of_model(m), opt, run->train,
               (rb_fit_config){.epochs = run->epochs < MAX_EPOCHS ? run->epochs : MAX_EPOCHS,
                               .batch_size = batch ? batch : rb_dataset_rows(run->train),
                               .seed = run->seed,
                               .loss = RB_LOSS_MSE,
                               .progress = {on_step, &t}});
    rb_optimizer_free(opt);
    rb_model_free(m);
    return h;
}

/* A measure over the seeds of a configuration: the MSE at the end of epochs first..last
 * (1-based), averaged over those epochs, minus `minus` (the optimum, for the excess). */
static rb_measure mse_at(const rb_experiment *e, const record *r, int config, int first, int last,
                         double minus)
{
    double v[MAX_SEEDS];
    int n = rb_experiment_runs(e, config) < MAX_SEEDS ? rb_experiment_runs(e, config) : MAX_SEEDS;
    for (int s = 0; s < n; s++) {
        v[s] = 0;
        for (int k = first; k <= last; k++)
            v[s] += (r->mse[config][s][k - 1] - minus) / (last - first + 1);
    }
    return rb_measure_of(n, v, false);
}

/* The loss surface on a grid covering the paths and the optimum, with a margin. */
static void surface_of(const record *r, int n_paths, const int *configs, double w_opt, double b_opt,
                       rb_surface *g, double *gx, double *gy, double *gz, int size)
{
    double lo[2] = {w_opt, b_opt}, hi[2] = {w_opt, b_opt};
    for (int p = 0; p < n_paths; p++)
        for (int k = 0; k < r->points[configs[p]]; k++) {
            double v[2] = {r->path_w[configs[p]][k], r->path_b[configs[p]][k]};
            for (int a = 0; a < 2; a++) {
                lo[a] = fmin(lo[a], v[a]);
                hi[a] = fmax(hi[a], v[a]);
            }
        }
    for (int a = 0; a < 2; a++) {
        double margin = 0.15 * (hi[a] - lo[a]) + 0.5;
        lo[a] -= margin;
        hi[a] += margin;
    }
    for (int i = 0; i < size; i++) {
        gx[i] = lo[0] + (hi[0] - lo[0]) * i / (size - 1);
        gy[i] = lo[1] + (hi[1] - lo[1]) * i / (size - 1);
    }
    for (int j = 0; j < size; j++)
        for (int i = 0; i < size; i++)
            gz[j * size + i] = mse_of(r, gx[i], gy[j]);
    *g = (rb_surface){.nx = size,
                      .ny = size,
                      .x = gx,
                      .y = gy,
                      .z = gz,
                      .levels = 12,
                      .logz = true,
                      .zlabel = "MSE ($1000s squared)"};
}

int main(int argc, char **argv)
{
    rb_set_error_handler(exit_on_error, NULL);
    rb_study *s = rb_study_new(argc, argv,
                               (rb_study_info){.seance = "notes",
                                               .name = "perceptron",
                                               .title = "The perceptron by gradient descent",
                                               .question = question,
                                               .expectation = expectation,
                                               .limits = limits,
                                               .epochs = 100,
                                               .quick_epochs = 60,
                                               .seeds = 5});
    double lr = rb_study_double(s, "lr", 0.05, "step size of the three methods (standardised RM)");
    double lr_raw = rb_study_double(s, "lr-raw", 0.02, "step size on raw RM");
    int batch = rb_study_int(s, "batch", 32, "minibatch size");
    rb_study_start(s);

    /* The data: RM, standardised, and the price. */
    rb_dataset boston;
    rb_sklearn_load("boston", NULL, &boston);
    int64_t n = rb_dataset_rows(&boston);
    int rm = 0;
    while (rm < boston.meta->n_features && strcmp(boston.meta->feature_names[rm], "RM") != 0)
        rm++;
    float *raw_x = malloc(sizeof(float) * (size_t)n), *std_x = malloc(sizeof(float) * (size_t)n);
    const float *all_x = rb_tensor_f32(boston.x);
    double mean = 0, var = 0;
    for (int64_t i = 0; i < n; i++)
        mean += (raw_x[i] = all_x[i * boston.meta->n_features + rm]) / (double)n;
    for (int64_t i = 0; i < n; i++)
        var += (raw_x[i] - mean) * (raw_x[i] - mean) / (double)n;
    for (int64_t i = 0; i < n; i++)
        std_x[i] = (float)((raw_x[i] - mean) / sqrt(var));
    rb_dataset raw = {rb_tensor_from_data(RB_F32, RB_SHAPE(n, 1), raw_x), boston.y, NULL};
    rb_dataset standard = {rb_tensor_from_data(RB_F32, RB_SHAPE(n, 1), std_x), boston.y, NULL};
    rb_study_say(s,
                 "%s: %lld districts; RM has mean %.3f and standard deviation %.3f rooms; the "
                 "price (MEDV) is in $1000s.",
                 boston.meta->source, (long long)n, mean, sqrt(var));
    rb_model *m = rb_model_new(RB_F32, "perceptron", RB_SHAPE(1));
    rb_model_add(m, RB_DENSE(.units = 1));
    rb_study_model(s, "one neuron, one input", m, RB_BY_HAND(1 * 1 + 1));
    rb_model_free(m);

    /* The reference: least squares in closed form. */
    static record r_std, r_raw;
    moments(&r_std, &standard);
    moments(&r_raw, &raw);
    rb_tensor *w, *b;
    rb_linear_regression(standard.x, standard.y, 0.0, &w, &b);
    double w_opt = rb_tensor_get(w, (int64_t[]){0, 0}), b_opt = rb_tensor_get(b, (int64_t[]){0});
    rb_tensor_free(w);
    rb_tensor_free(b);
    double best = mse_of(&r_std, w_opt, b_opt);
    double w_raw = w_opt / sqrt(var), b_raw = b_opt - w_opt * mean / sqrt(var);
    rb_study_say(s,
                 "Least squares: price = %.3f x standardised RM + %.3f, i.e. **price = %.2f RM "
                 "%c %.2f** ($1000s); its MSE, the lowest any line reaches, is %.3f.",
                 w_opt, b_opt, w_raw, b_raw < 0 ? '-' : '+', fabs(b_raw), best);
    /* The raw surface's curvatures: the Hessian of MSE(w, b) is 2 [[E x^2, E x], [E x, 1]]. */
    double tr = 2 * (r_raw.mean_xx + 1), det = 4 * (r_raw.mean_xx - r_raw.mean_x * r_raw.mean_x);
    double big = tr / 2 + sqrt(tr * tr / 4 - det), small = det / big;

    /* 1-3. The three methods on standardised RM, the same step size. */
    rb_experiment *methods = rb_study_experiment(
        s, (rb_experiment_config){.name = "methods", .seeds = rb_study_quick(s) ? 3 : 0},
        train_neuron, &r_std);
    const char *keys[2] = {"batch", "lr"};
    char name[3][64];
    snprintf(name[0], sizeof name[0], "full batch (%lld rows), lr %g", (long long)n, lr);
    snprintf(name[1], sizeof name[1], "SGD (1 row), lr %g", lr);
    snprintf(name[2], sizeof name[2], "minibatch (%d rows), lr %g", batch, lr);
    double batches[3] = {0, 1, batch};
    for (int c = 0; c < 3; c++)
        rb_experiment_add(methods, name[c], 2, keys, (double[]){batches[c], lr});
    rb_experiment_add_baseline(methods, "least squares", best);
    rb_experiment_run(methods, &standard, NULL);
    int epochs = rb_experiment_history(methods, 0, 0)->n, tail = epochs > 10 ? epochs - 9 : 1;

    char columns[160];
    snprintf(columns, sizeof columns,
             "method|steps per epoch|MSE after epoch 1|final MSE|excess over least squares, "
             "epochs %d-%d",
             tail, epochs);
    rb_table *t = rb_study_table(s,
                                 "Where each method ends (MSE at each epoch's end, $1000s "
                                 "squared; mean ± sd over seeds)",
                                 columns);
    rb_measure excess[3];
    for (int c = 0; c < 3; c++) {
        char first[64], last[64], above[64];
        excess[c] = mse_at(methods, &r_std, c, tail, epochs, best);
        rb_measure_format(first, sizeof first, mse_at(methods, &r_std, c, 1, 1, 0));
        rb_measure_format(last, sizeof last, mse_at(methods, &r_std, c, epochs, epochs, 0));
        rb_measure_format(above, sizeof above, excess[c]);
        rb_table_row(
            t, "%s|%lld|%s|%s|%s", name[c],
            (long long)(batches[c] ? (n + (int64_t)batches[c] - 1) / (int64_t)batches[c] : 1),
            first, last, above);
    }
    double gd_final = mse_at(methods, &r_std, 0, epochs, epochs, 0).mean;
    rb_study_check(s, "full-batch descent ends on the least-squares solution (within 0.1%)",
                   gd_final < 1.001 * best, "final MSE %.4f, optimum %.4f (%.4f%% above)", gd_final,
                   best, 100 * (gd_final / best - 1));
    rb_study_expect(s, "after one epoch SGD is far closer to the line than full-batch descent",
                    "SGD", mse_at(methods, &r_std, 1, 1, 1, 0), RB_LOWER, "full batch",
                    mse_at(methods, &r_std, 0, 1, 1, 0));
    rb_study_expect(s, "with a constant step SGD jitters: its excess stays above a minibatch's",
                    "SGD", excess[1], RB_HIGHER, "minibatch", excess[2]);
    rb_study_expect(s, "minibatches end above full-batch descent, which has no noise", "minibatch",
                    excess[2], RB_HIGHER, "full batch", excess[0]);

    /* The paths over the surface, and the loss along them. */
    static double gx[81], gy[81], gz[81 * 81];
    rb_surface g;
    surface_of(&r_std, 3, (int[]){0, 1, 2}, w_opt, b_opt, &g, gx, gy, gz, 81);
    rb_series paths[4];
    for (int c = 0; c < 3; c++)
        paths[c] = (rb_series){.label = name[c],
                               .n = r_std.points[c],
                               .x = r_std.path_w[c],
                               .y = r_std.path_b[c],
                               .color = c + 1};
    paths[3] = (rb_series){
        .label = "least squares", .n = 1, .x = &w_opt, .y = &b_opt, .points = true, .color = 16};
    rb_study_surface(s, "paths",
                     (rb_plot){.title = "Loss surface over (w, b), standardised RM, and each "
                                        "method's path (first seed)",
                               .xlabel = "w (price per standard deviation of RM)",
                               .ylabel = "b (price at the mean RM)"},
                     g, 4, paths);

    /* The fitted lines over the data, in rooms and $1000s. */
    double xs[2] = {3.5, 9}, lines[4][2];
    rb_series over[5] = {{.label = "districts", .n = (int)n, .points = true, .color = 8}};
    float *price = rb_tensor_f32(boston.y);
    double *px = malloc(sizeof(double) * (size_t)n), *py = malloc(sizeof(double) * (size_t)n);
    for (int64_t i = 0; i < n; i++)
        px[i] = raw_x[i], py[i] = price[i];
    over[0].x = px, over[0].y = py;
    for (int c = 0; c < 4; c++) {
        int k = c < 3 ? r_std.points[c] - 1 : 0;
        double cw = c < 3 ? r_std.path_w[c][k] : w_opt, cb = c < 3 ? r_std.path_b[c][k] : b_opt;
        for (int e = 0; e < 2; e++)
            lines[c][e] = cw * (xs[e] - mean) / sqrt(var) + cb;
        over[c + 1] = (rb_series){.label = c < 3 ? name[c] : "least squares",
                                  .n = 2,
                                  .x = xs,
                                  .y = lines[c],
                                  .color = c < 3 ? c + 1 : 16,
                                  .dashed = c == 3};
    }
    rb_study_plot(s, "lines",
                  (rb_plot){.title = "Boston housing: the fitted lines over the districts",
                            .xlabel = "RM (average rooms per dwelling)",
                            .ylabel = "MEDV (median price, $1000s)"},
                  5, over);

    /* 4. Raw RM: the same descent in a narrow valley. */
    rb_study_say(s,
                 "On raw RM the surface's curvatures (eigenvalues of the Hessian 2 [[E x², E x], "
                 "[E x, 1]]) are %.1f and %.4f: a valley %.0f times steeper across than along. "
                 "Full-batch descent converges only for steps below 2 / %.1f = %.4f.",
                 big, small, big / small, big, 2 / big);
    rb_experiment *valley = rb_study_experiment(
        s, (rb_experiment_config){.name = "raw_rm", .seeds = 1}, train_neuron, &r_raw);
    char raw_name[64];
    snprintf(raw_name, sizeof raw_name, "full batch on raw RM, lr %g", lr_raw);
    rb_experiment_add(valley, raw_name, 2, keys, (double[]){0, lr_raw});
    rb_experiment_add_baseline(valley, "least squares", best);
    rb_experiment_run(valley, &raw, NULL);
    int raw_epochs = rb_experiment_history(valley, 0, 0)->n;
    double raw_final = r_raw.mse[0][0][raw_epochs - 1];
    int k = r_raw.points[0] - 1;
    rb_study_check(s, "on raw RM the same budget leaves full-batch descent far from the solution",
                   raw_final > 1.1 * best,
                   "after %d epochs at lr %g: w = %.3f, b = %.3f, MSE %.3f, %.0f%% above the "
                   "optimum (w = %.3f, b = %.3f)",
                   raw_epochs, lr_raw, r_raw.path_w[0][k], r_raw.path_b[0][k], raw_final,
                   100 * (raw_final / best - 1), w_raw, b_raw);
    /* The standardised run's path, mapped back to raw units, crosses the same valley. */
    static double mapped_w[MAX_POINTS], mapped_b[MAX_POINTS];
    for (int p = 0; p < r_std.points[0]; p++) {
        mapped_w[p] = r_std.path_w[0][p] / sqrt(var);
        mapped_b[p] = r_std.path_b[0][p] - r_std.path_w[0][p] * mean / sqrt(var);
    }
    r_raw.points[1] = 0;
    surface_of(&r_raw, 1, (int[]){0}, w_raw, b_raw, &g, gx, gy, gz, 81);
    rb_series raw_paths[3] = {
        {.label = raw_name,
         .n = r_raw.points[0],
         .x = r_raw.path_w[0],
         .y = r_raw.path_b[0],
         .color = 1},
        {.label = "full batch on standardised RM, in raw units",
         .n = r_std.points[0],
         .x = mapped_w,
         .y = mapped_b,
         .color = 3,
         .dashed = true},
        {.label = "least squares", .n = 1, .x = &w_raw, .y = &b_raw, .points = true, .color = 16}};
    rb_study_surface(s, "valley",
                     (rb_plot){.title = "Loss surface over (w, b) on raw RM: a narrow valley",
                               .xlabel = "w ($1000s per room)",
                               .ylabel = "b ($1000s)"},
                     g, 3, raw_paths);

    free(px);
    free(py);
    free(raw_x);
    free(std_x);
    rb_tensor_free(raw.x);
    rb_tensor_free(standard.x);
    rb_dataset_free(&boston);
    return rb_study_finish(s);
}
