/* memory_order.c — ordered agent sets of the in-memory backend: skip lists keyed by agent_id,
 * so that agent_list walks agents already in the order storage.h asks for instead of sorting
 * every agent on every call.
 *
 * Two kinds of set use it: mem.order (every agent) and, per capability, mem_name.agents (the
 * agents having that capability). The sets never own their nodes: each agent owns one block
 * holding its node in mem.order and one node per capability (mem_agent.nodes), allocated before
 * a registration changes anything, so inserting cannot fail. A node is found for removal by its
 * agent's id (agent ids are unique within a set).
 *
 * Level of a node: 1 + k with probability 3/4 * (1/4)^k (p = 1/4): about 1.33 links a node and
 * ~log4(n) levels, at most MEM_ORDER_LEVELS. */
#include <stdlib.h>
#include <string.h>

#include "memory_internal.h"

static uint32_t random_level(struct mem *m)
{
    /* xorshift64*: cheap, and levels need no cryptographic quality (ids are not secret, and a
     * client cannot see or choose the levels). */
    uint64_t x = m->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    m->rng = x;
    uint64_t r = x * 0x2545F4914F6CDD1DULL;
    uint32_t level = 1;
    while (level < MEM_ORDER_LEVELS && (r & 3) == 0) {
        level++;
        r >>= 2;
    }
    return level;
}

static size_t node_size(uint32_t level)
{
    return sizeof(struct mem_onode) + (size_t)level * sizeof(struct mem_onode *);
}

struct mem_onode *mem_order_nodes(struct mem *m, uint32_t count)
{
    /* Draw the levels twice from the same generator state: once to size the block, once to lay
     * it out (no array of levels to allocate). */
    uint64_t rng = m->rng;
    size_t bytes = 0;
    for (uint32_t i = 0; i < count; i++)
        bytes += node_size(random_level(m));
    char *block = malloc(bytes ? bytes : 1);
    if (!block) return NULL;
    m->rng = rng;
    char *p = block;
    for (uint32_t i = 0; i < count; i++) {
        struct mem_onode *nd = (struct mem_onode *)p;
        nd->agent = NULL;
        nd->level = random_level(m);
        for (uint32_t l = 0; l < nd->level; l++)
            nd->next[l] = NULL;
        p += node_size(nd->level);
    }
    return (struct mem_onode *)block;
}

struct mem_onode *mem_order_next_node(struct mem_onode *nd)
{
    return (struct mem_onode *)((char *)nd + node_size(nd->level));
}

/* For each level, the forward array whose link at that level precedes `id`. */
static void find(struct mem_order *o, const char *id, struct mem_onode **prev[])
{
    struct mem_onode **fwd = o->head;
    for (uint32_t l = o->level; l-- > 0;) {
        while (fwd[l] && strcmp(fwd[l]->agent->id->s, id) < 0)
            fwd = fwd[l]->next;
        prev[l] = fwd;
    }
}

void mem_order_insert(struct mem_order *o, struct mem_onode *nd)
{
    struct mem_onode **prev[MEM_ORDER_LEVELS];
    find(o, nd->agent->id->s, prev);
    for (uint32_t l = o->level; l < nd->level; l++)
        prev[l] = o->head;
    if (nd->level > o->level) o->level = nd->level;
    for (uint32_t l = 0; l < nd->level; l++) {
        nd->next[l] = prev[l][l];
        prev[l][l] = nd;
    }
    o->n++;
}

void mem_order_remove(struct mem_order *o, const struct mem_agent *a)
{
    struct mem_onode **prev[MEM_ORDER_LEVELS];
    find(o, a->id->s, prev);
    struct mem_onode *nd = o->level ? prev[0][0] : NULL;
    if (!nd || nd->agent != a) return; /* not a member: nothing to do */
    for (uint32_t l = 0; l < nd->level; l++)
        prev[l][l] = nd->next[l];
    while (o->level > 0 && !o->head[o->level - 1])
        o->level--;
    o->n--;
}

const struct mem_onode *mem_order_after(const struct mem_order *o, const char *after)
{
    if (!after) return o->head[0];
    struct mem_onode *const *fwd = o->head;
    for (uint32_t l = o->level; l-- > 0;) {
        while (fwd[l] && strcmp(fwd[l]->agent->id->s, after) <= 0)
            fwd = fwd[l]->next;
    }
    return fwd[0];
}
