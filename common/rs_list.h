/*
 * rs_list.h: the intrusive doubly linked list every part uses for its
 * open objects (connections, watches): a head pointer and two link fields
 * in the node, named by the caller, so one node can sit on several lists.
 *
 *   RS_DLIST_PUSH(head, node, prev, next)     insert at the front
 *   RS_DLIST_REMOVE(head, node, prev, next)   unlink (links cleared)
 *
 * Both are O(1) and allocate nothing. head is an lvalue (s->conns,
 * wu->head); prev and next are the field names (prev/next, uprev/unext).
 */
#ifndef RS_LIST_H
#define RS_LIST_H

#include <stddef.h>

#define RS_DLIST_PUSH(head, node, prevf, nextf)                                                \
    do {                                                                                       \
        (node)->prevf = NULL;                                                                  \
        (node)->nextf = (head);                                                                \
        if ((head) != NULL)                                                                    \
            (head)->prevf = (node);                                                            \
        (head) = (node);                                                                       \
    } while (0)

#define RS_DLIST_REMOVE(head, node, prevf, nextf)                                              \
    do {                                                                                       \
        if ((node)->prevf != NULL)                                                             \
            (node)->prevf->nextf = (node)->nextf;                                              \
        else                                                                                   \
            (head) = (node)->nextf;                                                            \
        if ((node)->nextf != NULL)                                                             \
            (node)->nextf->prevf = (node)->prevf;                                              \
        (node)->prevf = (node)->nextf = NULL;                                                  \
    } while (0)

#endif /* RS_LIST_H */
