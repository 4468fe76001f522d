/* The parameter store: variables in contiguous, aligned slabs shared by values, gradients and
 * optimizer state. */
#include <string.h>

#include "core.h"
#include "tape_impl.h"

/* Variables start on 64-byte boundaries so optimizer loops and GEMMs see aligned data. */
#define SLAB_ALIGN_ELEMS(esize) ((int64_t)(RB__ALIGN / (esize)))

typedef struct slab {
    char *data;
    int64_t cap; /* elements */
} slab;

typedef struct state_slab {
    char name[64];
    slab s;
    rb_tensor *flat;
} state_slab;

typedef struct attachment {
    void *obj;
    void (*free_fn)(void *);
} attachment;

struct rb_params {
    rb_dtype dtype;
    size_t esize;
    int n, cap;
    rb_tensor **vars;
    int64_t *offset; /* into the trainable or the frozen slab */
    int64_t train_used, frozen_used;
    slab values, grads, frozen;
    state_slab *states;
    int n_states;
    rb_tensor *flat_values, *flat_grads;
    attachment *attached;
    int n_attached;
    rb_rng rng;
    char **retired; /* slabs moved out of while a tape recorded (see grow) */
    int n_retired;
};

rb_params *rb_params_new(rb_dtype dtype)
{
    if (!rb__is_float(dtype))
        return rb__fail(RB_ERR_DTYPE, "rb_params_new: variables must be float32 or float64, not %s",
                        rb_dtype_name(dtype));
    rb_params *p = rb__calloc(1, sizeof *p);
    if (!p) return NULL;
    p->dtype = dtype;
    p->esize = rb_dtype_size(dtype);
    p->rng = rb_rng_make(0);
    return p;
}

static rb_tensor *new_header(rb_params *p, int ndim, const int64_t *shape, char *data)
{
    rb_tensor *t = rb__calloc(1, sizeof *t);
    if (!t) return NULL;
    t->dtype = p->dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++)
        t->shape[i] = shape[i];
    t->size = rb__contiguous_strides(ndim, shape, t->strides);
    t->flags = RB__CONTIGUOUS;
    t->version = &t->own_version;
    t->owner = RB__OWN_STORE;
    t->data = data;
    return t;
}

void rb_params_free(rb_params *p)
{
    if (!p) return;
    for (int i = p->n_attached - 1; i >= 0; i--)
        p->attached[i].free_fn(p->attached[i].obj);
    rb__free(p->attached);
    for (int i = 0; i < p->n; i++) {
        rb__free(p->vars[i]->var_grad);
        rb__free(p->vars[i]);
    }
    for (int i = 0; i < p->n_states; i++) {
        rb__free(p->states[i].s.data);
        rb__free(p->states[i].flat);
    }
    rb__free(p->states);
    rb__free(p->vars);
    rb__free(p->offset);
    rb__free(p->values.data);
    rb__free(p->grads.data);
    rb__free(p->frozen.data);
    rb__free(p->flat_values);
    rb__free(p->flat_grads);
    for (int i = 0; i < p->n_retired; i++)
        rb__free(p->retired[i]);
    rb__free(p->retired);
    rb__free(p);
}

/* Grow a slab to at least `need` elements (checked by the caller against RB_MAX_BYTES),
 * keeping its contents; zero the new part. Doubling stops at the limit, so it cannot wrap.
 * A store grows while a tape records when a layer is built at its first call: views of
 * variables the tape saved (a slice of a kernel) still point at the old memory, so it is kept,
 * values unchanged, until the store is freed. */
static bool grow(rb_params *p, slab *s, int64_t need, const char *who)
{
    if (need <= s->cap) return true;
    bool keep_old = s->data && rb__recording_tapes > 0;
    if (keep_old) {
        char **retired = rb__realloc(p->retired, sizeof *retired * (size_t)(p->n_retired + 1));
        if (!retired) return false;
        p->retired = retired;
    }
    size_t esize = p->esize;
    int64_t cap = s->cap ? s->cap : 1024, most = RB_MAX_BYTES / (int64_t)esize;
    while (cap < need)
        cap = cap > most / 2 ? most : 2 * cap;
    char *d = rb__aligned_alloc_for((size_t)cap * esize, who);
    if (!d) return false;
    memset(d, 0, (size_t)cap * esize);
    if (s->data) memcpy(d, s->data, (size_t)s->cap * esize);
    if (keep_old)
        p->retired[p->n_retired++] = s->data;
    else
        rb__free(s->data);
    s->data = d;
    s->cap = cap;
    return true;
}

/* Point every header at the (possibly moved) slabs and size the flat views. */
static void rebase(rb_params *p)
{
    for (int i = 0; i < p->n; i++) {
        rb_tensor *v = p->vars[i];
        if (v->flags & RB__TRAINABLE) {
            v->data = p->values.data + (size_t)p->offset[i] * p->esize;
            v->var_grad->data = p->grads.data + (size_t)p->offset[i] * p->esize;
        } else {
            v->data = p->frozen.data + (size_t)p->offset[i] * p->esize;
        }
    }
    rb_tensor *flats[2] = {p->flat_values, p->flat_grads};
    char *bases[2] = {p->values.data, p->grads.data};
    for (int k = 0; k < 2; k++)
        if (flats[k]) {
            flats[k]->data = bases[k];
            flats[k]->shape[0] = flats[k]->size = p->train_used;
        }
    for (int k = 0; k < p->n_states; k++) {
        p->states[k].flat->data = p->states[k].s.data;
        p->states[k].flat->shape[0] = p->states[k].flat->size = p->train_used;
    }
}

rb_tensor *rb_params_find(const rb_params *p, const char *name)
{
    if (!p || !name) return NULL;
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->vars[i]->name, name) == 0) return p->vars[i];
    return NULL;
}

rb_tensor *rb_params_add(rb_params *p, const char *name, int ndim, const int64_t *shape,
                         bool trainable)
{
    if (!p || !name) return rb__fail(RB_ERR_ARGUMENT, "rb_params_add: store or name is NULL");
    if (strlen(name) == 0 || strlen(name) > 63)
        return rb__fail(RB_ERR_ARGUMENT, "rb_params_add: name '%s' must have 1 to 63 characters",
                        name);
    if (rb_params_find(p, name))
        return rb__fail(RB_ERR_ARGUMENT, "rb_params_add: a variable named '%s' exists", name);
    if (ndim < 0 || ndim > RB_MAX_DIMS || (ndim > 0 && !shape))
        return rb__fail(RB_ERR_SHAPE, "rb_params_add: '%s': bad number of dimensions %d", name,
                        ndim);
    char who[96];
    snprintf(who, sizeof who, "rb_params_add: '%s'", name);
    int64_t size = rb_shape_count(RB_ERR_SHAPE, who, ndim, shape, p->esize);
    if (size < 0) return NULL;
    if (size == 0) {
        char s[RB__SHAPE_STR];
        return rb__fail(RB_ERR_SHAPE, "%s: shape %s has an empty axis", who,
                        rb__shape_str(s, ndim, shape));
    }
    if (p->n == p->cap) {
        if (p->cap > INT32_MAX / 2) return rb__fail(RB_ERR_ARGUMENT, "%s: too many variables", who);
        int cap = p->cap ? 2 * p->cap : 16;
        rb_tensor **vars = rb__realloc(p->vars, sizeof *vars * (size_t)cap);
        if (!vars) return NULL;
        p->vars = vars;
        int64_t *offset = rb__realloc(p->offset, sizeof *offset * (size_t)cap);
        if (!offset) return NULL;
        p->offset = offset;
        p->cap = cap;
    }
    int64_t align = SLAB_ALIGN_ELEMS(p->esize);
    int64_t *used = trainable ? &p->train_used : &p->frozen_used;
    /* Both terms are at most RB_MAX_BYTES / esize, so the sum fits; then it is checked. */
    int64_t off = (*used + align - 1) / align * align;
    int64_t need = off + size;
    char slab_who[128];
    snprintf(slab_who, sizeof slab_who, "%s: the store's %s slab", who,
             trainable ? "trainable" : "frozen");
    if (rb_shape_count(RB_ERR_SHAPE, slab_who, 1, &need, p->esize) < 0) return NULL;
    if (trainable) {
        if (!grow(p, &p->values, need, who) || !grow(p, &p->grads, need, who)) return NULL;
        for (int k = 0; k < p->n_states; k++)
            if (!grow(p, &p->states[k].s, need, who)) return NULL;
    } else if (!grow(p, &p->frozen, need, who)) {
        return NULL;
    }
    rb_tensor *v = new_header(p, ndim, shape, NULL);
    if (!v) return NULL;
    if (trainable) {
        v->var_grad = new_header(p, ndim, shape, NULL);
        if (!v->var_grad) {
            rb__free(v);
            return NULL;
        }
        snprintf(v->var_grad->name, sizeof v->var_grad->name, "grad(%.56s)", name);
        v->flags |= RB__VARIABLE | RB__TRAINABLE;
    } else {
        v->flags |= RB__VARIABLE;
    }
    snprintf(v->name, sizeof v->name, "%s", name);
    p->vars[p->n] = v;
    p->offset[p->n] = off;
    p->n++;
    *used = need;
    rebase(p);
    return v;
}

int rb_params_count(const rb_params *p) { return p ? p->n : 0; }
rb_dtype rb_params_dtype(const rb_params *p) { return p ? p->dtype : RB_F32; }

rb_tensor *rb_params_at(const rb_params *p, int i)
{
    if (!p || i < 0 || i >= p->n)
        return rb__fail(RB_ERR_ARGUMENT, "rb_params_at: index %d out of range (%d variables)", i,
                        p ? p->n : 0);
    return p->vars[i];
}

bool rb_params_is_trainable(const rb_tensor *v) { return v && (v->flags & RB__TRAINABLE); }

static int index_of(const rb_params *p, const rb_tensor *var)
{
    for (int i = 0; i < p->n; i++)
        if (p->vars[i] == var) return i;
    return -1;
}

rb_tensor *rb_params_grad(const rb_params *p, const rb_tensor *var)
{
    if (!p || !var) return rb__fail(RB_ERR_ARGUMENT, "rb_params_grad: NULL argument");
    int i = index_of(p, var);
    if (i < 0)
        return rb__fail(RB_ERR_NOT_FOUND,
                        "rb_params_grad: tensor %s is not a variable of this store", rb__shp(var));
    if (!var->var_grad)
        return rb__fail(RB_ERR_ARGUMENT, "rb_params_grad: '%s' is not trainable", var->name);
    return var->var_grad;
}

int64_t rb_params_size(const rb_params *p, bool trainable_only)
{
    int64_t n = 0;
    for (int i = 0; p && i < p->n; i++)
        if (!trainable_only || (p->vars[i]->flags & RB__TRAINABLE)) n += p->vars[i]->size;
    return n;
}

void rb_params_zero_grad(rb_params *p)
{
    if (!p || !p->grads.data) return;
    memset(p->grads.data, 0, (size_t)p->train_used * p->esize);
    for (int i = 0; i < p->n; i++)
        if (p->vars[i]->var_grad) rb__bump_version(p->vars[i]->var_grad);
}

static rb_tensor *flat_view(rb_params *p, char *data)
{
    int64_t n = p->train_used;
    rb_tensor *t = new_header(p, 1, &n, data);
    return t;
}

rb_tensor *rb_params_flat_values(rb_params *p)
{
    if (!p) return rb__fail(RB_ERR_ARGUMENT, "rb_params_flat_values: store is NULL");
    if (!p->flat_values) p->flat_values = flat_view(p, p->values.data);
    return p->flat_values;
}

rb_tensor *rb_params_flat_grads(rb_params *p)
{
    if (!p) return rb__fail(RB_ERR_ARGUMENT, "rb_params_flat_grads: store is NULL");
    if (!p->flat_grads) p->flat_grads = flat_view(p, p->grads.data);
    return p->flat_grads;
}

rb_tensor *rb_params_state(rb_params *p, const char *name)
{
    if (!p || !name) return rb__fail(RB_ERR_ARGUMENT, "rb_params_state: NULL argument");
    for (int k = 0; k < p->n_states; k++)
        if (strcmp(p->states[k].name, name) == 0) return p->states[k].flat;
    state_slab *states = rb__realloc(p->states, sizeof *states * (size_t)(p->n_states + 1));
    if (!states) return NULL;
    p->states = states;
    state_slab *s = &p->states[p->n_states];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    if (!grow(p, &s->s, p->values.cap > 0 ? p->values.cap : 1, "rb_params_state")) return NULL;
    s->flat = flat_view(p, s->s.data);
    if (!s->flat) {
        rb__free(s->s.data);
        return NULL;
    }
    snprintf(s->flat->name, sizeof s->flat->name, "%s", name);
    p->n_states++;
    return s->flat;
}

int64_t rb_params_offset(const rb_params *p, const rb_tensor *var)
{
    if (!p || !var) return -1;
    int i = index_of(p, var);
    if (i < 0 || !(var->flags & RB__TRAINABLE)) return -1;
    return p->offset[i];
}

void rb_params_touch(rb_params *p)
{
    for (int i = 0; p && i < p->n; i++)
        rb__bump_version(p->vars[i]);
}

rb_status rb_params_attach(rb_params *p, void *obj, void (*free_fn)(void *))
{
    if (!p || !obj || !free_fn) return rb_error(RB_ERR_ARGUMENT, "rb_params_attach: NULL argument");
    attachment *a = rb__realloc(p->attached, sizeof *a * (size_t)(p->n_attached + 1));
    if (!a) return rb_last_status();
    p->attached = a;
    p->attached[p->n_attached].obj = obj;
    p->attached[p->n_attached].free_fn = free_fn;
    p->n_attached++;
    return RB_OK;
}

void *rb_params_attachment(const rb_params *p, void (*free_fn)(void *))
{
    for (int i = 0; p && i < p->n_attached; i++)
        if (p->attached[i].free_fn == free_fn) return p->attached[i].obj;
    return NULL;
}

rb_rng *rb_params_rng(rb_params *p) { return p ? &p->rng : NULL; }

void rb_params_seed(rb_params *p, uint64_t seed)
{
    if (p) p->rng = rb_rng_make(seed);
}

rb_status rb_params_moving_average(rb_tensor *moving, const rb_tensor *value, double momentum)
{
    if (!moving || !value)
        return rb_error(RB_ERR_ARGUMENT, "rb_params_moving_average: tensor is NULL");
    if (moving->size != value->size)
        return rb_error(RB_ERR_SHAPE, "rb_params_moving_average: %s and %s differ in size",
                        rb__shp(moving), rb__shp(value));
    for (int64_t i = 0; i < moving->size; i++)
        rb__set_flat(moving, i,
                     momentum * rb__get_flat(moving, i) +
                         (1.0 - momentum) * rb__get_flat(value, i));
    rb__bump_version(moving);
    return RB_OK;
}
