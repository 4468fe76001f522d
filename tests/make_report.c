/* Writes one study's report into the folder given (for the rendering test): an experiment of
 * three configurations over two seeds with faked histories, a sweep, a table, verdicts, a
 * model and an image grid. Prints the path of report.html. */
#include <math.h>
#include <stdlib.h>

#include <ruban.h>

/* Validation accuracy rising over the epochs towards 0.9 + lr / 10. */
static rb_history *fake_run(const rb_run *run)
{
    double lr = rb_config_get(run->config, "lr", 0.1);
    int epochs = run->epochs;
    rb_history *h = calloc(1, sizeof *h);
    rb_epoch_record *r = calloc((size_t)epochs, sizeof *r);
    if (!h || !r) return NULL;
    *h = (rb_history){
        .n = epochs, .epochs = r, .metric = RB_METRIC_ACCURACY, .has_validation = true};
    for (int k = 0; k < epochs; k++) {
        double v = (0.9 + lr / 10 + 0.003 * (double)run->seed) * (1 - 0.3 * exp(-k));
        r[k] = (rb_epoch_record){.epoch = k + 1,
                                 .loss = 1.0 / (k + 1),
                                 .metric = v + 0.02,
                                 .val_loss = 1.1 / (k + 1),
                                 .val_metric = v,
                                 .lr = lr,
                                 .seconds = 0.01};
    }
    return h;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_report FOLDER\n");
        return 2;
    }
    char *args[] = {argv[0], "--out", argv[1], "--seeds", "2", NULL};
    rb_study *s = rb_study_new(5, args,
                               (rb_study_info){.seance = "seance0",
                                               .name = "render",
                                               .title = "Rendering check",
                                               .question = "does the page show its parts?",
                                               .expectation = " 1. a table\n 2. curves",
                                               .limits = "faked histories",
                                               .epochs = 4,
                                               .quiet = true});
    rb_study_start(s);
    rb_experiment *e =
        rb_study_experiment(s, (rb_experiment_config){.name = "learning_rate"}, fake_run, NULL);
    rb_experiment_add_values(e, "lr", 3, (double[]){0.3, 0.1, 0.01});
    if (rb_experiment_run(e, &(rb_dataset){0}, NULL) != RB_OK) return 1;
    rb_experiment_plot_sweep(e, (rb_sweep_plot){.key = "lr", .logx = true});
    rb_table *t = rb_study_table(s, "Marker table", "row|value");
    rb_table_row(t, "render-row-1|%d", 1);
    rb_table_row(t, "render-row-2|%d", 2);
    rb_study_expect(s, "lr 0.3 beats lr 0.01", "lr 0.3", rb_experiment_measure(e, 0, 0), RB_HIGHER,
                    "lr 0.01", rb_experiment_measure(e, 2, 0));
    rb_model *m = rb_model_new(RB_F32, "tiny", RB_SHAPE(4));
    rb_model_add(m, RB_DENSE(.units = 3));
    rb_study_model(s, "tiny", m, RB_BY_HAND(4 * 3 + 3));
    rb_model_free(m);
    rb_tensor *images = rb_tensor_zeros(RB_F32, RB_SHAPE(4, 28, 28, 1));
    float *px = rb_tensor_f32(images);
    for (int i = 0; i < 4 * 28 * 28; i++)
        px[i] = (float)((i % 28) / 27.0);
    rb_study_images(s, "grid", images,
                    (rb_image_grid){.columns = 2,
                                    .title = "gradients",
                                    .row_labels = (const char *[]){"original", "rebuilt"},
                                    .n_row_labels = 2});
    rb_tensor_free(images);
    printf("%s/report.html\n", rb_study_dir(s));
    return rb_study_finish(s);
}
