/*
 * methods.c: the lookups into the method table (methods.h): by
 * Request.call_case for every request, by name for the HTTP port. The
 * rows themselves are in methods.h; rs_methods[] is built in dispatch.c,
 * where the handlers they name are.
 */
#include "methods.h"

#include <string.h>

#include "readstates.pb-c.h"

/* The metric slots may not move (the dashboard and the tests index by
 * them): new rows go after Auth. */
_Static_assert(RS_METHOD_PING == 0 && RS_METHOD_ACK == 1 && RS_METHOD_SET == 2 &&
                   RS_METHOD_BULK_ACK == 3 && RS_METHOD_ADD_MENTIONS == 4 &&
                   RS_METHOD_GET == 5 && RS_METHOD_DELETE == 6 && RS_METHOD_WATCH == 7 &&
                   RS_METHOD_AUTH == 8,
               "rs_method values are metric slots: append rows, do not reorder");
_Static_assert(RS_METHOD_MAX <= 256, "rs_method_by_call holds uint8_t");

#define RS_METHOD_CASE_CHECK_(id, ...)                                                         \
    _Static_assert(READSTATES__V1__REQUEST__CALL_##id > 0 &&                                   \
                       READSTATES__V1__REQUEST__CALL_##id < RS_METHOD_CALL_CASES,              \
                   "Request." #id ": raise RS_METHOD_CALL_CASES");
RS_METHOD_TABLE(RS_METHOD_CASE_CHECK_)
#undef RS_METHOD_CASE_CHECK_

const uint8_t rs_method_by_call[RS_METHOD_CALL_CASES] = {
#define RS_METHOD_BY_CALL_(id, ...)                                                            \
    [READSTATES__V1__REQUEST__CALL_##id] = RS_METHOD_##id ^ RS_METHOD_INVALID,
    RS_METHOD_TABLE(RS_METHOD_BY_CALL_)
#undef RS_METHOD_BY_CALL_
};

const rs_method_def *rs_method_find(const char *name)
{
    for (int m = 0; m < RS_METHOD_INVALID; m++)
        if (strcmp(rs_methods[m].name, name) == 0)
            return &rs_methods[m];
    return NULL;
}
