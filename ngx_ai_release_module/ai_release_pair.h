/*
 * Copyright (C) ngx_ai_release authors
 *
 * Shadow pairs, the part that needs no nginx: what one answer of a
 * mirrored request says (a side), and the comparison of stable's side with
 * the shadow's, counted in an aggregate that lives in shared memory and is
 * changed with atomic operations only.  Used by the module
 * (ngx_http_ai_release_shadow.c) and the unit tests.
 */

#ifndef _AI_RELEASE_PAIR_H_INCLUDED_
#define _AI_RELEASE_PAIR_H_INCLUDED_


#include "ai_release_core.h"


/*
 * A ratio's histogram: four buckets per power of two, each centred on a
 * power of 2^(1/4) from 1/16 to 2^(15/4) (32 buckets, ratio 1 in bucket
 * 17), one below and one above; bucket i (1..32) holds ratios in
 * [2^((i - 17.5) / 4), 2^((i - 16.5) / 4)).
 */
#define AI_RELEASE_PAIR_RATIO_BUCKETS  34
#define AI_RELEASE_PAIR_RATIO_LOW      (-16)      /* quarters of log2 */

/* the geometric mean's sum: log2(ratio) in millionths */
#define AI_RELEASE_PAIR_LOG_SCALE      1000000.0


typedef enum {
    AI_RELEASE_PAIR_BOTH_KEPT = 0,
    AI_RELEASE_PAIR_STABLE_BROKE,
    AI_RELEASE_PAIR_SHADOW_BROKE,
    AI_RELEASE_PAIR_BOTH_BROKE,
    AI_RELEASE_PAIR_UNCHECKED,
    AI_RELEASE_PAIR_NCONTRACT
} ai_release_pair_contract_e;

typedef enum {
    AI_RELEASE_PAIR_TOOLS_BOTH = 0,
    AI_RELEASE_PAIR_TOOLS_NEITHER,
    AI_RELEASE_PAIR_TOOLS_STABLE_ONLY,
    AI_RELEASE_PAIR_TOOLS_SHADOW_ONLY,
    AI_RELEASE_PAIR_NTOOLS
} ai_release_pair_tools_e;

/* why a mirrored request was not compared */
typedef enum {
    AI_RELEASE_UNPAIRED_NOT_STABLE = 0,
    AI_RELEASE_UNPAIRED_STABLE_FAILED,
    AI_RELEASE_UNPAIRED_SHADOW_FAILED,
    AI_RELEASE_UNPAIRED_UNREAD,
    AI_RELEASE_PAIR_NUNPAIRED
} ai_release_unpaired_e;

typedef enum {
    AI_RELEASE_PAIR_TOKENS = 0,
    AI_RELEASE_PAIR_TEXT,
    AI_RELEASE_PAIR_NMEASURES
} ai_release_pair_measure_e;


/* one answer of the pair */
typedef struct {
    unsigned                 ok:1;         /* a complete 2xx answer */
    unsigned                 read:1;       /* its signals were read */
    unsigned                 has_tokens:1;
    int                      contract;     /* -1 none, 0 kept, 1 broke */
    uint64_t                 output_tokens;
    uint64_t                 text_bytes;
    uint64_t                 tool_calls;
    int                      ending;       /* ai_release_ending_e */
} ai_release_pair_side_t;


typedef struct {
    uint64_t                 count;
    int64_t                  log_sum;      /* AI_RELEASE_PAIR_LOG_SCALE */
    uint64_t                 buckets[AI_RELEASE_PAIR_RATIO_BUCKETS];
} ai_release_pair_ratio_t;


/* in shared memory: every field changed with atomic operations */
typedef struct {
    uint64_t                 compared;
    uint64_t                 contract[AI_RELEASE_PAIR_NCONTRACT];
    uint64_t                 ending_same;
    uint64_t                 ending_different;
    uint64_t                 tools[AI_RELEASE_PAIR_NTOOLS];
    uint64_t                 unpaired[AI_RELEASE_PAIR_NUNPAIRED];
    ai_release_pair_ratio_t  ratio[AI_RELEASE_PAIR_NMEASURES];
} ai_release_pair_agg_t;


/* the two sides of a mirrored request; stable_served: stable served it */
void ai_release_pair_count(ai_release_pair_agg_t *agg, int stable_served,
    const ai_release_pair_side_t *stable, const ai_release_pair_side_t *shadow);

/* the bucket of a ratio num / den (den > 0) */
int ai_release_pair_bucket(uint64_t num, uint64_t den);
/* the upper bound of bucket i (i < AI_RELEASE_PAIR_RATIO_BUCKETS - 1) */
double ai_release_pair_bucket_le(int i);
/* a quantile of a ratio's buckets, or -1 when it has none */
double ai_release_pair_quantile(const uint64_t *buckets, double q);
double ai_release_pair_geomean(uint64_t count, int64_t log_sum);

const char *ai_release_pair_contract_name(int v);
const char *ai_release_pair_tools_name(int v);
const char *ai_release_unpaired_name(int v);
const char *ai_release_pair_measure_name(int v);


#endif /* _AI_RELEASE_PAIR_H_INCLUDED_ */
