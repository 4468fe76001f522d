/* Data-set metadata: names of the set, its features and classes, and the file read. */
#include <stdlib.h>
#include <string.h>

#include "datasets_impl.h"

bool rb__meta_set_name(char **slot, const char *s)
{
    char *copy = NULL;
    if (s) {
        size_t n = strlen(s) + 1;
        copy = malloc(n);
        if (!copy) {
            rb_error(RB_ERR_MEMORY, "out of memory for a data-set name");
            return false;
        }
        memcpy(copy, s, n);
    }
    free(*slot);
    *slot = copy;
    return true;
}

rb_dataset_meta *rb__meta_new(const char *name, const char *source, int n_features, int n_classes)
{
    rb_dataset_meta *m = calloc(1, sizeof *m);
    if (m) {
        m->n_features = n_features;
        m->n_classes = n_classes;
        m->feature_names = calloc((size_t)(n_features > 0 ? n_features : 1), sizeof(char *));
        m->class_names = n_classes > 0 ? calloc((size_t)n_classes, sizeof(char *)) : NULL;
    }
    if (!m || !m->feature_names || (n_classes > 0 && !m->class_names) ||
        !rb__meta_set_name(&m->name, name) || !rb__meta_set_name(&m->source, source)) {
        rb__meta_free(m);
        rb_error(RB_ERR_MEMORY, "out of memory for the metadata of %s", name ? name : "a data set");
        return NULL;
    }
    return m;
}

rb_dataset_meta *rb__meta_copy(const rb_dataset_meta *m)
{
    if (!m) return NULL;
    rb_dataset_meta *c = rb__meta_new(m->name, m->source, m->n_features, m->n_classes);
    bool ok = c && rb__meta_set_name(&c->target_name, m->target_name);
    for (int i = 0; ok && i < m->n_features; i++)
        ok = rb__meta_set_name(&c->feature_names[i], m->feature_names[i]);
    for (int i = 0; ok && m->class_names && i < m->n_classes; i++)
        ok = rb__meta_set_name(&c->class_names[i], m->class_names[i]);
    if (!ok) {
        rb__meta_free(c);
        return NULL;
    }
    return c;
}

void rb__meta_free(rb_dataset_meta *m)
{
    if (!m) return;
    for (int i = 0; m->feature_names && i < m->n_features; i++)
        free(m->feature_names[i]);
    for (int i = 0; m->class_names && i < m->n_classes; i++)
        free(m->class_names[i]);
    free(m->feature_names);
    free(m->class_names);
    free(m->name);
    free(m->source);
    free(m->target_name);
    free(m);
}
