/* router.c -- the route table: (method, pattern) -> value, matched per SPEC §3.
 *
 * A segment trie. Each node has up to three kinds of children:
 *
 *        node
 *         |-- literal edges: pc_map "users" -> node, "files" -> node, ...
 *         |-- param:  one node for every "{name}" (names do not matter)
 *         `-- wild:   one leaf node for a final "*"
 *
 * A node where a pattern ends holds a struct pattern: the canonical text as
 * first added, its param names, and a small method table sorted by name.
 *
 * Matching decodes the request path once into match->scratch with
 * pc_path_decode (path.h: one decoded segment after another, each ended by
 * a NUL; the SDK matcher decodes the same way). Then a
 * depth-first walk tries literal, then param, then wild at every level and
 * backtracks when a branch dead-ends or its pattern lacks the method. The
 * trie is a tree, so each node is visited at most once per match: the cost
 * is bounded by the path and the trie, and a literal level costs one hash
 * lookup however many siblings it has. Nothing is allocated while matching. */
#include "router.h"
#include "names.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "path.h"
#include "xalloc.h"

#define GW_ALLOW_MAX 64 /* distinct methods collected for a 405 Allow list */

/* ------------------------------------------------------------------ types */

/* A child's kind is the kind of its pattern segment (pc_seg_kind). */
enum node_kind {
    NODE_LITERAL = PC_SEG_LITERAL,
    NODE_PARAM = PC_SEG_PARAM,
    NODE_WILD = PC_SEG_WILD,
    NODE_ROOT,
};

struct method_entry {
    char name[PC_METHOD_MAX + 1];
    void *value;
};

struct pattern {
    char *text;    /* canonical text, as first added */
    size_t nnames; /* {params}, plus "*" when the last is a wildcard */
    struct {
        const char *name; /* points into text (or the literal "*") */
        size_t len;
    } names[PC_PATTERN_MAX_PARAMS + 1];
    size_t nmethods;
    size_t cap;
    struct method_entry *methods; /* sorted by name */
};

struct node {
    enum node_kind kind;
    pc_map *literals; /* decoded segment -> struct node *; NULL until needed */
    struct node *param;
    struct node *wild;
    struct pattern *pat; /* NULL unless a pattern ends here */
};

struct gw_router {
    struct node root;
    size_t count; /* (method, pattern) entries */
};

/* ------------------------------------------------------------ allocation */

/* The gateway aborts on allocation failure (STYLE.md): sizes are bounded by
 * the pattern and method limits checked before we get here. */
static pc_map *xmap_new(void)
{
    pc_map *m = pc_map_new();
    pc_check(m != NULL);
    return m;
}

/* ---------------------------------------------------- pattern segments */

/* The child of n for a pattern segment, or NULL. */
static struct node *child_for(const struct node *n, const char *seg, size_t len)
{
    switch (pc_seg_kind(seg, len)) {
    case PC_SEG_WILD:
        return n->wild;
    case PC_SEG_PARAM:
        return n->param;
    case PC_SEG_LITERAL:
        return n->literals ? pc_map_get(n->literals, seg, len) : NULL;
    }
    pc_panic("bad segment kind");
}

/* The node where a validated pattern ends, or NULL. */
static struct node *find_node(const gw_router *r, const char *pattern, size_t plen)
{
    const struct node *n = &r->root;
    const char *p = pattern, *end = pattern + plen, *seg;
    size_t len;

    while (n != NULL && pc_path_next(&p, end, &seg, &len)) n = child_for(n, seg, len);
    return (struct node *)n;
}

/* ---------------------------------------------------------------- nodes */

static bool node_is_empty(const struct node *n)
{
    return n->pat == NULL && n->param == NULL && n->wild == NULL &&
           (n->literals == NULL || pc_map_count(n->literals) == 0);
}

static void pattern_free(struct pattern *p)
{
    if (p == NULL) return;
    free(p->methods);
    free(p->text);
    free(p);
}

/* Frees the children of n, and n itself unless it is the root. */
static void node_free(struct node *n)
{
    if (n->literals != NULL) {
        size_t pos = 0;
        const char *key;
        size_t klen;
        void *val;
        while (pc_map_next(n->literals, &pos, &key, &klen, &val)) node_free(val);
        pc_map_free(n->literals);
        n->literals = NULL;
    }
    if (n->param != NULL) node_free(n->param);
    if (n->wild != NULL) node_free(n->wild);
    pattern_free(n->pat);
    n->param = n->wild = NULL;
    n->pat = NULL;
    if (n->kind != NODE_ROOT) free(n);
}

/* The child of n for a pattern segment, created when missing. */
static struct node *child_get_or_add(struct node *n, const char *seg, size_t len)
{
    struct node *c = child_for(n, seg, len);
    if (c != NULL) return c;
    c = pc_xcalloc(1, sizeof(*c));
    c->kind = (enum node_kind)pc_seg_kind(seg, len);
    switch (c->kind) {
    case NODE_WILD:
        n->wild = c;
        break;
    case NODE_PARAM:
        n->param = c;
        break;
    case NODE_LITERAL:
        if (n->literals == NULL) n->literals = xmap_new();
        pc_check(pc_map_put(n->literals, seg, len, c) == 0);
        break;
    default:
        pc_panic("bad node kind %d", (int)c->kind);
    }
    return c;
}

/* Detaches the (empty) child c of n reached by seg, and frees it. */
static void child_remove(struct node *n, struct node *c, const char *seg, size_t len)
{
    switch (c->kind) {
    case NODE_WILD:
        n->wild = NULL;
        break;
    case NODE_PARAM:
        n->param = NULL;
        break;
    case NODE_LITERAL:
        pc_map_del(n->literals, seg, len);
        if (pc_map_count(n->literals) == 0) {
            pc_map_free(n->literals);
            n->literals = NULL;
        }
        break;
    default:
        pc_panic("bad node kind %d", (int)c->kind);
    }
    node_free(c);
}

/* -------------------------------------------------------------- patterns */

/* A new pattern record for validated text, with its param names. */
static struct pattern *pattern_new(const char *text, size_t len)
{
    struct pattern *p = pc_xcalloc(1, sizeof(*p));
    const char *s, *seg, *end;
    size_t slen;

    p->text = pc_xcalloc(len + 1, 1);
    memcpy(p->text, text, len);
    s = p->text;
    end = p->text + len;
    while (pc_path_next(&s, end, &seg, &slen)) {
        switch (pc_seg_kind(seg, slen)) {
        case PC_SEG_PARAM:
            p->names[p->nnames].name = seg + 1;
            p->names[p->nnames].len = slen - 2;
            p->nnames++;
            break;
        case PC_SEG_WILD:
            p->names[p->nnames].name = "*";
            p->names[p->nnames].len = 1;
            p->nnames++;
            break;
        default:
            break;
        }
    }
    return p;
}

/* Index of method in p's table, or of where it would be inserted (*found
 * tells which). Tables hold a handful of methods: a linear scan is fine. */
static size_t method_index(const struct pattern *p, const char *method, bool *found)
{
    size_t i;
    for (i = 0; i < p->nmethods; i++) {
        int c = strcmp(p->methods[i].name, method);
        if (c >= 0) {
            *found = (c == 0);
            return i;
        }
    }
    *found = false;
    return i;
}

/* The entry for method in p, or NULL. */
static const struct method_entry *method_find(const struct pattern *p, const char *method)
{
    bool found;
    size_t i = method_index(p, method, &found);
    return found ? &p->methods[i] : NULL;
}

/* ------------------------------------------------------------ public API */

/* Creates an empty router. Aborts when out of memory. */
gw_router *gw_router_new(void)
{
    gw_router *r = pc_xcalloc(1, sizeof(*r));
    r->root.kind = NODE_ROOT;
    return r;
}

/* Frees the router and its trie; values are the caller's. NULL is fine. */
void gw_router_free(gw_router *r)
{
    if (r == NULL) return;
    node_free(&r->root);
    free(r);
}

/* Number of (method, pattern) entries. */
size_t gw_router_count(const gw_router *r) { return r->count; }

/* Adds (method, pattern) -> value; see router.h for the return values. */
int gw_router_add(gw_router *r, const char *method, const char *pattern, void *value,
                  void **existing)
{
    if (method == NULL || pattern == NULL) return -1;
    size_t mlen = strlen(method), plen = strlen(pattern);
    if (!pc_method_is_valid(method, mlen) || !pc_pattern_is_valid(pattern, plen)) return -1;

    struct node *n = &r->root;
    const char *p = pattern, *end = pattern + plen, *seg;
    size_t len;
    while (pc_path_next(&p, end, &seg, &len)) n = child_get_or_add(n, seg, len);

    if (n->pat == NULL) n->pat = pattern_new(pattern, plen);
    struct pattern *pt = n->pat;

    bool found;
    size_t i = method_index(pt, method, &found);
    if (found) {
        if (existing != NULL) *existing = pt->methods[i].value;
        return 1;
    }
    if (pt->nmethods == pt->cap) {
        size_t cap = pt->cap ? pt->cap * 2 : 4;
        pt->methods = pc_xrealloc(pt->methods, cap * sizeof(pt->methods[0]));
        pt->cap = cap;
    }
    memmove(&pt->methods[i + 1], &pt->methods[i], (pt->nmethods - i) * sizeof(pt->methods[0]));
    memcpy(pt->methods[i].name, method, mlen + 1);
    pt->methods[i].value = value;
    pt->nmethods++;
    r->count++;
    return 0;
}

/* Value of exactly (method, pattern), param names ignored; NULL if absent. */
void *gw_router_get(const gw_router *r, const char *method, const char *pattern)
{
    if (method == NULL || pattern == NULL) return NULL;
    size_t mlen = strlen(method), plen = strlen(pattern);
    if (!pc_method_is_valid(method, mlen) || !pc_pattern_is_valid(pattern, plen)) return NULL;
    const struct node *n = find_node(r, pattern, plen);
    if (n == NULL || n->pat == NULL) return NULL;
    const struct method_entry *e = method_find(n->pat, method);
    return e ? e->value : NULL;
}

/* Removes method from the pattern ending below n at the rest p..end, and
 * prunes children left empty on the way back up. Recursion depth is the
 * pattern's segment count (at most PC_PATTERN_MAX / 2). */
static void *remove_below(gw_router *r, struct node *n, const char *p, const char *end,
                          const char *method)
{
    const char *seg;
    size_t len;

    if (!pc_path_next(&p, end, &seg, &len)) {
        if (n->pat == NULL) return NULL;
        bool found;
        size_t i = method_index(n->pat, method, &found);
        if (!found) return NULL;
        struct pattern *pt = n->pat;
        void *v = pt->methods[i].value;
        memmove(&pt->methods[i], &pt->methods[i + 1],
                (pt->nmethods - i - 1) * sizeof(pt->methods[0]));
        pt->nmethods--;
        r->count--;
        if (pt->nmethods == 0) {
            pattern_free(pt);
            n->pat = NULL;
        }
        return v;
    }

    struct node *c = child_for(n, seg, len);
    if (c == NULL) return NULL;
    void *v = remove_below(r, c, p, end, method);
    if (node_is_empty(c)) child_remove(n, c, seg, len);
    return v;
}

/* Removes (method, pattern); returns its value or NULL. */
void *gw_router_remove(gw_router *r, const char *method, const char *pattern)
{
    if (method == NULL || pattern == NULL) return NULL;
    size_t mlen = strlen(method), plen = strlen(pattern);
    if (!pc_method_is_valid(method, mlen) || !pc_pattern_is_valid(pattern, plen)) return NULL;
    return remove_below(r, &r->root, pattern, pattern + plen, method);
}

/* --------------------------------------------------------------- matching */

struct match_ctx {
    const char *method;
    char *segs;   /* m->scratch: decoded segments, NUL-ended */
    size_t total; /* bytes used in segs, NULs included */
    struct gw_match *m;
    bool matched_path; /* some pattern matched the path */
    size_t nallow;
    const char *allow[GW_ALLOW_MAX]; /* router-owned method names */
};

/* Adds the methods of a pattern that matched the path without the request's
 * method to the Allow set (unique; beyond GW_ALLOW_MAX they are dropped). */
static void allow_add(struct match_ctx *c, const struct pattern *p)
{
    for (size_t i = 0; i < p->nmethods; i++) {
        const char *name = p->methods[i].name;
        size_t k;
        for (k = 0; k < c->nallow; k++)
            if (strcmp(c->allow[k], name) == 0) break;
        if (k == c->nallow && c->nallow < GW_ALLOW_MAX) c->allow[c->nallow++] = name;
    }
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Writes the sorted Allow list (the methods announced) into m->allow.
 * A list that would not fit stops at the last method that does. */
static void allow_format(struct match_ctx *c)
{
    qsort(c->allow, c->nallow, sizeof(c->allow[0]), cmp_str);

    char *out = c->m->allow;
    size_t cap = sizeof(c->m->allow), o = 0;
    out[0] = '\0';
    for (size_t k = 0; k < c->nallow; k++) {
        size_t n = strlen(c->allow[k]);
        size_t need = (o ? 2 : 0) + n;
        if (o + need >= cap) break;
        if (o) {
            out[o++] = ',';
            out[o++] = ' ';
        }
        memcpy(out + o, c->allow[k], n);
        o += n;
        out[o] = '\0';
    }
}

/* The entry of p that serves method best (pc_method_rank: exact, then GET
 * for HEAD, then "*"), or NULL. */
static const struct method_entry *method_best(const struct pattern *p, const char *method)
{
    const struct method_entry *best = NULL;
    int best_rank = 3;

    for (size_t i = 0; i < p->nmethods && best_rank > 0; i++) {
        int rank = pc_method_rank(p->methods[i].name, method);
        if (rank >= 0 && rank < best_rank) {
            best = &p->methods[i];
            best_rank = rank;
        }
    }
    return best;
}

/* n is where the path ends (params[0..np) are captured). Succeeds when its
 * pattern has a route that serves the method. */
static bool try_pattern(struct match_ctx *c, const struct node *n, size_t np)
{
    const struct pattern *p = n->pat;
    const struct method_entry *e;

    if (p == NULL) return false;
    c->matched_path = true;
    e = method_best(p, c->method);
    if (e == NULL) {
        allow_add(c, p);
        return false;
    }

    struct gw_match *m = c->m;
    m->value = e->value;
    m->pattern = p->text;
    m->nparams = np;
    for (size_t i = 0; i < np && i < p->nnames; i++) {
        m->params[i].name = p->names[i].name;
        m->params[i].name_len = p->names[i].len;
    }
    return true;
}

/* A '*' child of the node reached with the segments at offset off left:
 * captures them joined with '/' (the NULs are rewritten only on success,
 * which ends the match). */
static bool try_wild(struct match_ctx *c, const struct node *w, size_t off, size_t np)
{
    size_t len = pc_path_rest_len(off, c->total);
    struct gw_param *prm = &c->m->params[np];

    prm->value = c->segs + off;
    prm->value_len = len;
    if (len == 0) prm->value = "";
    if (!try_pattern(c, w, np + 1)) return false;
    pc_path_rest_join(c->segs, off, c->total);
    return true;
}

/* Depth-first match of the segment at offset off in c->segs below n, with
 * np params captured so far. Literal, then {param}, then '*'. */
static bool match_node(struct match_ctx *c, const struct node *n, size_t off, size_t np)
{
    const char *seg;
    size_t len, next = off;

    if (!pc_path_decoded_next(c->segs, c->total, &next, &seg, &len)) {
        if (try_pattern(c, n, np)) return true;
        return n->wild != NULL && try_wild(c, n->wild, off, np);
    }

    if (n->literals != NULL) {
        const struct node *child = pc_map_get(n->literals, seg, len);
        if (child != NULL && match_node(c, child, next, np)) return true;
    }
    if (n->param != NULL && len > 0 && np < PC_PATTERN_MAX_PARAMS) {
        c->m->params[np].value = seg;
        c->m->params[np].value_len = len;
        if (match_node(c, n->param, next, np + 1)) return true;
    }
    return n->wild != NULL && try_wild(c, n->wild, off, np);
}

/* Matches a request; see router.h. */
int gw_router_match(const gw_router *r, const char *method, const char *path, size_t path_len,
                    struct gw_match *m)
{
    struct match_ctx c;

    m->value = NULL;
    m->pattern = NULL;
    m->nparams = 0;
    m->allow[0] = '\0';

    c.method = method ? method : "";
    c.segs = m->scratch;
    c.m = m;
    c.matched_path = false;
    c.nallow = 0;

    size_t nsegs;
    if (path == NULL || pc_path_decode(path, path_len, c.segs, &c.total, &nsegs) != PC_PATH_OK)
        return GW_MATCH_BAD_PATH;
    if (match_node(&c, &r->root, 0, 0)) return GW_MATCH_OK;
    m->nparams = 0;
    if (!c.matched_path) return GW_MATCH_NOT_FOUND;
    allow_format(&c);
    return GW_MATCH_NO_METHOD;
}

/* ---------------------------------------------------------------- listing */

static void foreach_node(const struct node *n,
                         void (*fn)(void *, const char *, const char *, void *), void *ctx)
{
    if (n->pat != NULL)
        for (size_t i = 0; i < n->pat->nmethods; i++)
            fn(ctx, n->pat->methods[i].name, n->pat->text, n->pat->methods[i].value);
    if (n->literals != NULL) {
        size_t pos = 0;
        const char *key;
        size_t klen;
        void *val;
        while (pc_map_next(n->literals, &pos, &key, &klen, &val)) foreach_node(val, fn, ctx);
    }
    if (n->param != NULL) foreach_node(n->param, fn, ctx);
    if (n->wild != NULL) foreach_node(n->wild, fn, ctx);
}

/* Calls fn for every (method, pattern, value); fn must not change r. */
void gw_router_foreach(const gw_router *r,
                       void (*fn)(void *ctx, const char *method, const char *pattern, void *value),
                       void *ctx)
{
    foreach_node(&r->root, fn, ctx);
}
