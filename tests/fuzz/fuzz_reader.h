/*
 * fuzz_reader.h: hiredis's reply reader for the harnesses that feed it
 * bytes (fuzz_redis_reply.c, fuzz_cluster_slots.c), with arrays capped.
 *
 * hiredis allocates an array of the length the reply declares before any
 * element arrives ("*709551615" asks for gigabytes): that is hiredis
 * trusting its server, as readstated trusts its Redis, and not our parsing,
 * so arrays longer than FUZZ_READER_MAX_ELEMENTS make the reader fail (as
 * on out of memory) instead of exhausting the fuzzer's memory. One
 * definition per harness binary (static functions).
 */
#ifndef RS_FUZZ_READER_H
#define RS_FUZZ_READER_H

#include <hiredis/hiredis.h>
#include <stdlib.h>

#define FUZZ_READER_MAX_ELEMENTS 4096

#if HIREDIS_MAJOR >= 1
typedef size_t fuzz_reader_nelem;
#else
typedef int fuzz_reader_nelem;
#endif

static redisReplyObjectFunctions fuzz_reader_fns;
static void *(*fuzz_reader_create_array)(const redisReadTask *, fuzz_reader_nelem);

static void *fuzz_reader_capped_array(const redisReadTask *task, fuzz_reader_nelem elements)
{
    return elements > FUZZ_READER_MAX_ELEMENTS ? NULL
                                               : fuzz_reader_create_array(task, elements);
}

/* A reader whose arrays are capped (free with redisReaderFree). */
static redisReader *fuzz_reader_new(void)
{
    if (fuzz_reader_create_array == NULL) {
        redisReader *plain = redisReaderCreate();
        if (plain == NULL)
            abort();
        fuzz_reader_fns = *plain->fn;
        redisReaderFree(plain);
        fuzz_reader_create_array = fuzz_reader_fns.createArray;
        fuzz_reader_fns.createArray = fuzz_reader_capped_array;
    }
    return redisReaderCreateWithFunctions(&fuzz_reader_fns);
}

#endif /* RS_FUZZ_READER_H */
