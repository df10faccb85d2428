/*
 * rs_ring.h: the fleet's slot table (DESIGN.md "The fleet"): which
 * readstated node owns each of the 16384 slots (rs_slot.h: the slots Redis
 * Cluster uses, CRC16 of the {<user_id>} hash tag), and a generation that
 * rises with every change. I/O-free: the text form below in and out.
 *
 * In Redis it is one hash, readstates:ring, that operators can read with
 * redis-cli HGETALL:
 *
 *   generation  a canonical decimal >= 1
 *   nodes       node entries separated by one space: <node_id>=<host>:<port>
 *               (node_id: 1-64 of [A-Za-z0-9_.-], unique; the address others
 *               reach the node at, its --advertise)
 *   ranges      range entries separated by one space, in slot order:
 *               <first>-<last>=<node index>   (index into nodes, from 0)
 *
 * A ring is valid when every slot from 0 to 16383 belongs to exactly one
 * range and every node index exists. It is changed only through the
 * compare-and-set script rs_ring_cas_script:
 *
 *   EVAL <script> 1 readstates:ring <expected generation> <nodes> <ranges>
 *     -> the new generation (expected + 1), published on the channel
 *        readstates:ring; or the error "STALE_RING <current>" when the
 *        stored generation is not the expected one (0: no ring yet)
 */
#ifndef RS_RING_H
#define RS_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rs_slot.h"

#define RS_RING_KEY       "readstates:ring"
#define RS_RING_ID_MAX    64
#define RS_RING_HOST_MAX  256
#define RS_RING_NODES_MAX 1024
#define RS_RING_NO_NODE   0xffffu

typedef struct rs_ring_node {
    char id[RS_RING_ID_MAX + 1];
    char host[RS_RING_HOST_MAX];
    int port;
} rs_ring_node;

typedef struct rs_ring {
    uint64_t generation;
    size_t nnodes;
    rs_ring_node nodes[RS_RING_NODES_MAX];
    uint16_t owner[RS_SLOTS]; /* node index, or RS_RING_NO_NODE */
} rs_ring;

/* Parse the three fields (NUL-terminated). Returns 0, or -1 with err set
 * (the ring is then unusable). A parsed ring is valid (see above). */
int rs_ring_parse(rs_ring *r, const char *generation, const char *nodes, const char *ranges,
                  char *err, size_t errlen);

/* Every slot owned, every index a node, ids unique and well formed. Returns
 * 0, or -1 with err set. */
int rs_ring_validate(const rs_ring *r, char *err, size_t errlen);

/* The nodes and ranges fields of r into buf. Return the length written, or
 * -1 when buf is too small. */
int rs_ring_format_nodes(const rs_ring *r, char *buf, size_t size);
int rs_ring_format_ranges(const rs_ring *r, char *buf, size_t size);

/* Add a node (id=host:port text, as in nodes). Returns its index, or -1
 * (err set: malformed, duplicate id, too many). */
int rs_ring_add_node(rs_ring *r, const char *entry, char *err, size_t errlen);

/* Give the slots to the ring's nodes in equal contiguous ranges, in node
 * order (node i gets slots [i*16384/n, (i+1)*16384/n)). */
void rs_ring_split_even(rs_ring *r);

/* The node owning user_id's slot (NULL when unassigned). */
const rs_ring_node *rs_ring_owner(const rs_ring *r, uint64_t user_id);

/* The node index with this id, or -1. */
int rs_ring_find(const rs_ring *r, const char *id);

/* The compare-and-set script (see above). */
extern const char rs_ring_cas_script[];

#endif /* RS_RING_H */
