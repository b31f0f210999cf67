/*
 * Copyright (C) ngx_ai_release authors
 *
 * The plain-C core of ngx_ai_release: everything that needs no nginx.
 * Behaviour bundle manifests (libyaml), their canonical form and content
 * digest (SHA-256), validation, sticky-key hashing and weight parsing.
 * The nginx module, the ai-release command-line tool, the unit tests and
 * the fuzzers all use this very code.
 *
 * Memory: everything here is malloc()ed and owned by the bundle set that
 * created it; ai_release_set_free() releases all of it.
 */

#ifndef _AI_RELEASE_CORE_H_INCLUDED_
#define _AI_RELEASE_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>


#define AI_RELEASE_SHA256_LEN       32
#define AI_RELEASE_DIGEST_HEX_LEN   (sizeof("sha256:") - 1 + 64)
#define AI_RELEASE_DIGEST_SHORT_LEN (sizeof("sha256:") - 1 + 12)

/* weights are in 0.01% steps: 10000 == 100% */
#define AI_RELEASE_WEIGHT_SCALE     10000

#define AI_RELEASE_MAX_FILE_SIZE    (16 * 1024 * 1024)
#define AI_RELEASE_MAX_DEPTH        64
/* YAML nodes held at once while reading one manifest file */
#define AI_RELEASE_MAX_NODES        1000000


/* SHA-256 */

typedef struct {
    uint32_t        state[8];
    uint64_t        bytes;
    unsigned char   buf[64];
    size_t          buf_len;
} ai_release_sha256_ctx_t;

void ai_release_sha256_init(ai_release_sha256_ctx_t *ctx);
void ai_release_sha256_update(ai_release_sha256_ctx_t *ctx, const void *data,
    size_t len);
void ai_release_sha256_final(ai_release_sha256_ctx_t *ctx,
    unsigned char out[AI_RELEASE_SHA256_LEN]);
void ai_release_sha256(const void *data, size_t len,
    unsigned char out[AI_RELEASE_SHA256_LEN]);


/* errors: every problem found, each with file, line and column */

typedef struct {
    char           *file;       /* the manifest (or referenced file) */
    unsigned        line;       /* 1-based; 0 when unknown */
    unsigned        column;     /* 1-based; 0 when unknown */
    char           *message;    /* no trailing newline, no file prefix */
} ai_release_error_t;

/* at most this many errors are kept of one file (manifest or lock file) */
#define AI_RELEASE_ERRORS_MAX       50

typedef struct {
    ai_release_error_t  *items;
    size_t               n;
    size_t               cap;
    size_t               file_start;  /* the first error of the file read */
    size_t               dropped;     /* its errors beyond the cap */
    unsigned             capped:1;    /* between file_begin and file_end */
} ai_release_errors_t;

void ai_release_errors_init(ai_release_errors_t *errs);
void ai_release_errors_free(ai_release_errors_t *errs);
/*
 * printf-style; never fails (on ENOMEM the message is dropped, n grows).
 * Between ai_release_errors_file_begin() and _file_end() only the first
 * AI_RELEASE_ERRORS_MAX errors are kept, the rest are only counted.
 */
void ai_release_errors_add(ai_release_errors_t *errs, const char *file,
    unsigned line, unsigned column, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/*
 * The errors of one input file are capped: file_end() adds one last error
 * to file, "... and N more errors", when some were only counted.
 */
void ai_release_errors_file_begin(ai_release_errors_t *errs);
void ai_release_errors_file_end(ai_release_errors_t *errs, const char *file);
/* whether the next error would only be counted (not worth formatting) */
int ai_release_errors_full(const ai_release_errors_t *errs);
/* "FILE:LINE:COLUMN: MESSAGE" into buf, always NUL-terminated */
size_t ai_release_error_format(const ai_release_error_t *err, char *buf,
    size_t size);


/* a parsed YAML node (aliases and anchors are rejected, depth is bounded) */

typedef enum {
    AI_RELEASE_NODE_SCALAR = 0,
    AI_RELEASE_NODE_MAP,
    AI_RELEASE_NODE_SEQ
} ai_release_node_type_e;

typedef struct ai_release_node_s  ai_release_node_t;

struct ai_release_node_s {
    ai_release_node_type_e   type;
    unsigned                 line;      /* 1-based */
    unsigned                 column;    /* 1-based */
    char                    *value;     /* SCALAR: NUL-terminated text */
    size_t                   len;       /* SCALAR: length of value */
    unsigned                 quoted:1;  /* SCALAR: not plain (quoted or a
                                           block scalar) */
    unsigned                 literal:1; /* SCALAR: a params value that is
                                           JSON as written (schema) */
    size_t                   nitems;    /* MAP: pairs; SEQ: items */
    ai_release_node_t      **items;     /* MAP: k0,v0,k1,v1...; SEQ: items */
};

/* MAP lookup by key; NULL if absent */
ai_release_node_t *ai_release_node_get(const ai_release_node_t *map,
    const char *key);

/*
 * The canonical serialization of one node, as in the canonical form (see
 * ai_release_digest.c; no top-level key is left out): malloc()ed,
 * NUL-terminated, its length in *len.  NULL when out of memory.
 */
char *ai_release_node_canonical(const ai_release_node_t *node, size_t *len);


/* behaviour bundles */

typedef struct {
    char           *name;       /* as written, validated as an HTTP token */
    char           *value;      /* no CR, LF, NUL or other controls but HT */
} ai_release_header_t;

typedef struct {
    char           *key;        /* manifest key, e.g. "prompt.file" */
    char           *path;       /* as written in the manifest */
    char           *full_path;  /* resolved against the manifest's dir */
    size_t          size;
    unsigned char   sha256[AI_RELEASE_SHA256_LEN];
    unsigned        line;       /* where the manifest names it */
    unsigned        column;
} ai_release_file_t;

/* a manifest's output_contract (ai_release_contract.h) */
typedef struct ai_release_contract_s  ai_release_contract_t;

/*
 * A manifest's "pricing: {input_per_mtok: 2.50, output_per_mtok: 10}": the
 * price of a million input and of a million output tokens in the
 * configuration's one currency, a decimal of 0 to 9,999,999.999999 (at
 * most 7 digits before the point and 6 after it), kept as an integer of
 * millionths of the currency (micro-units), so that sums never drift
 */
typedef struct {
    uint64_t        input_per_mtok;
    uint64_t        output_per_mtok;
    unsigned        set:1;              /* the manifest has pricing */
} ai_release_pricing_t;

typedef struct {
    char                 *file;         /* manifest path as given */
    unsigned              line;         /* start of the YAML document */
    unsigned              column;
    unsigned              doc_index;    /* 0-based document in the file */

    char                 *name;
    char                 *version;
    char                 *id;           /* "name@version" */
    char                 *upstream;     /* upstream name or host:port */
    char                 *model;

    ai_release_header_t  *headers;      /* in manifest order */
    size_t                nheaders;

    ai_release_file_t    *files;        /* referenced files, sorted by key */
    size_t                nfiles;

    ai_release_node_t    *root;         /* the whole document (a MAP) */

    ai_release_contract_t *contract;    /* output_contract, or NULL */
    ai_release_pricing_t  pricing;

    char                 *canonical;    /* canonical form, NUL-terminated */
    size_t                canonical_len;

    unsigned char         digest[AI_RELEASE_SHA256_LEN];
    char                  digest_hex[AI_RELEASE_DIGEST_HEX_LEN + 1];
    char                  digest_short[AI_RELEASE_DIGEST_SHORT_LEN + 1];
} ai_release_bundle_t;


typedef struct ai_release_set_s  ai_release_set_t;

ai_release_set_t *ai_release_set_create(void);
void ai_release_set_free(ai_release_set_t *set);

/*
 * Loads every YAML document of one manifest file as a bundle.  Returns 0 on
 * success; on any problem adds every problem found to errs and returns -1,
 * and the set is left exactly as before the call (a file loads whole or
 * not at all).  A name@version already in the set is an error.
 */
int ai_release_set_load_file(ai_release_set_t *set, const char *path,
    ai_release_errors_t *errs);

/*
 * Expands a glob(3) pattern (a plain path is a pattern too) and loads every
 * match in sorted order; a pattern that matches nothing is an error.  All or
 * nothing: on any error the set is left as before the call.
 */
int ai_release_set_load_glob(ai_release_set_t *set, const char *pattern,
    ai_release_errors_t *errs);

/* the same, from memory (for fuzzers and tests); path names the buffer and
 * is the base for relative file references */
int ai_release_set_load_buffer(ai_release_set_t *set, const char *path,
    const char *data, size_t len, ai_release_errors_t *errs);

size_t ai_release_set_count(const ai_release_set_t *set);
ai_release_bundle_t *ai_release_set_get(const ai_release_set_t *set,
    size_t i);
/* O(1) average lookup by "name@version" */
ai_release_bundle_t *ai_release_set_find(const ai_release_set_t *set,
    const char *id, size_t len);


/* helpers the core's files share */

#define AI_RELEASE_QUOTE_MAX        128
#define AI_RELEASE_QUOTE_SIZE       (AI_RELEASE_QUOTE_MAX * 6 + 8)

/* "sha256:<64 hex>" <-> 32 bytes; parse: 0 or -1 */
int ai_release_digest_parse(const char *s, size_t len,
    unsigned char out[AI_RELEASE_SHA256_LEN]);
void ai_release_digest_format(const unsigned char digest[AI_RELEASE_SHA256_LEN],
    char out[AI_RELEASE_DIGEST_HEX_LEN + 1]);
/* a hex digit's value, or -1 */
int ai_release_hex_value(int c);

/* a value for an error message: escaped, at most AI_RELEASE_QUOTE_MAX bytes */
const char *ai_release_quote(const char *s, size_t len, char *buf);

/*
 * Reads a whole regular file of at most AI_RELEASE_MAX_FILE_SIZE bytes into
 * malloc()ed memory, NUL-terminated.  Returns 0; -1 with errno's value in
 * err; -2 when it is too large; -3 when it is not a regular file.
 */
int ai_release_read_file(const char *path, char **out, size_t *len,
    int *err);
/* why ai_release_read_file() failed: "not a regular file", ... */
const char *ai_release_read_error(int rc, int err);


/* validation helpers (also used by the module for its own directives) */

/* [A-Za-z0-9._-]+ */
int ai_release_valid_name(const char *s, size_t len);
/* RFC 9110 token */
int ai_release_valid_header_name(const char *s, size_t len);
/* no NUL, CR, LF nor any other control byte but HT */
int ai_release_valid_header_value(const char *s, size_t len);


/* weights and sticky hashing */

/*
 * "5%", "0.01%", "12.5%", "100%" -> 500, 1, 1250, 10000.  At most two
 * decimals, at most 100%.  Returns 0 on success, -1 on anything else.
 */
int ai_release_parse_weight(const char *s, size_t len, unsigned *weight);

/*
 * A directive's "key=value" parameter: 0 with the key's length and the
 * value, or -1 with "expected key=value" in err.
 */
int ai_release_param_split(const char *arg, size_t len, size_t *klen,
    const char **value, size_t *vlen, char *err, size_t errlen);

/*
 * A decimal of 1 to int_digits digits, then optionally "." and 1 to
 * decimals digits, times 10^decimals: "2.5" with 2 decimals is 250; no
 * sign, no exponent.  0, or -1 with *out unchanged.
 */
int ai_release_parse_decimal(const char *s, size_t len, unsigned decimals,
    unsigned int_digits, uint64_t *out);

#define AI_RELEASE_PRICE_SCALE      1000000     /* micro-units a unit */
#define AI_RELEASE_PRICE_INT_DIGITS 7
#define AI_RELEASE_PRICE_DECIMALS   6
#define AI_RELEASE_PRICE_MAX        9999999999999ULL
/* "9999999.999999" and a NUL */
#define AI_RELEASE_PRICE_TEXT_SIZE  16

/* "2.50" -> 2500000; 0, or -1 with nothing changed */
int ai_release_price_parse(const char *s, size_t len, uint64_t *micro);
/* 2500000 -> "2.5", 10000000 -> "10", 1 -> "0.000001"; the length */
size_t ai_release_price_format(uint64_t micro,
    char out[AI_RELEASE_PRICE_TEXT_SIZE]);

/*
 * The cost, in micro-units of the currency and rounded to the nearest, of
 * input_tokens and output_tokens at pricing: give it the window's sums of
 * tokens rather than adding up each answer's rounded cost.  UINT64_MAX
 * when it does not fit, or a price is above AI_RELEASE_PRICE_MAX; 0
 * without pricing (NULL or not set).
 */
uint64_t ai_release_cost_microunits(const ai_release_pricing_t *pricing,
    uint64_t input_tokens, uint64_t output_tokens);


/* MurmurHash3 x86_32 */
uint32_t ai_release_hash32(uint32_t seed, const void *data, size_t len);

/* maps a hash onto [0, AI_RELEASE_WEIGHT_SCALE) */
static inline unsigned
ai_release_hash_bucket(uint32_t hash)
{
    return (unsigned) (((uint64_t) hash * AI_RELEASE_WEIGHT_SCALE) >> 32);
}


/* outcomes, sliding windows and trip rules (the error budget) */

typedef enum {
    AI_RELEASE_OK = 0,
    AI_RELEASE_5XX,
    AI_RELEASE_CONNECT,
    AI_RELEASE_TIMEOUT,
    AI_RELEASE_INVALID,
    AI_RELEASE_429,
    AI_RELEASE_SLOW,
    AI_RELEASE_CONTRACT,    /* a good answer that broke its contract */
    AI_RELEASE_REJECTED,    /* refused at the edge: never an error */
    AI_RELEASE_NCLASSES
} ai_release_class_e;

/* window counters: one per class, then the total and the counted errors */
#define AI_RELEASE_CNT_TOTAL        AI_RELEASE_NCLASSES
#define AI_RELEASE_CNT_ERRORS       (AI_RELEASE_NCLASSES + 1)
#define AI_RELEASE_NCOUNTERS        (AI_RELEASE_NCLASSES + 2)

#define AI_RELEASE_WINDOW_BUCKETS   16

/*
 * The latency histogram is log-linear, as HDR histograms are.  A latency
 * of ms milliseconds is counted on a scale of 1.024 units per millisecond,
 * u = ceil(ms * 128 / 125), so that the decimal bounds 250 ms, 1 s, 3 s,
 * 7.5 s, 2 min, 4 min are bucket edges.  Every u up to 8 has a bucket of
 * its own (u = 1, which no whole millisecond gives, shares 0's); above,
 * each power of two is split into 8 linear sub-buckets, up to
 * u = 2^18 - 2^14 (240 s); the last bucket holds anything slower.  A bucket
 * holds the integer milliseconds (ai_release_latency_le_ms(i - 1),
 * ..._le_ms(i)]: one value each below 16 ms, and never wider than 1/8 of
 * its lower bound.  128 buckets: 1 KiB, a slab chunk of its own.
 */
#define AI_RELEASE_LATENCY_SUB_BITS 3
#define AI_RELEASE_LATENCY_SUB      (1 << AI_RELEASE_LATENCY_SUB_BITS)
#define AI_RELEASE_LATENCY_TOP_BITS 18
/* u <= 8, then 8 for each power of two from 2^3 to 2^17, the last infinite */
#define AI_RELEASE_LATENCY_BUCKETS                                           \
    ((AI_RELEASE_LATENCY_TOP_BITS - AI_RELEASE_LATENCY_SUB_BITS + 1)         \
     * AI_RELEASE_LATENCY_SUB)
/* the bytes of a histogram */
#define AI_RELEASE_LATENCY_SIZE                                              \
    (AI_RELEASE_LATENCY_BUCKETS * sizeof(uint64_t))
/* the bounds the status gives (Prometheus le, JSON le_ms), +Inf after */
#define AI_RELEASE_LATENCY_EXPORTS  21

#define AI_RELEASE_DEFAULT_ERRORS                                            \
    ((1u << AI_RELEASE_5XX) | (1u << AI_RELEASE_CONNECT)                     \
     | (1u << AI_RELEASE_TIMEOUT) | (1u << AI_RELEASE_INVALID))

const char *ai_release_class_name(unsigned cls);
/* returns the class or -1 */
int ai_release_class_parse(const char *s, size_t len);

/*
 * A sliding window of AI_RELEASE_WINDOW_BUCKETS buckets.  Every cell packs
 * the bucket's epoch (now / width) in its high 32 bits and the count in its
 * low 32 bits, so that adding is one compare-and-swap that also retires a
 * stale bucket: exact under concurrency (several nginx workers on shared
 * memory), with no lock.
 */
typedef struct {
    uint64_t        width_ms;
    uint64_t        cell[AI_RELEASE_WINDOW_BUCKETS][AI_RELEASE_NCOUNTERS];
} ai_release_window_t;

void ai_release_window_init(ai_release_window_t *w, uint64_t window_ms);
void ai_release_window_add(ai_release_window_t *w, unsigned counter,
    uint64_t now_ms);
/* an outcome: its class, the total and, for an error, the errors */
void ai_release_window_count(ai_release_window_t *w, unsigned cls, int error,
    uint64_t now_ms);
void ai_release_window_sum(const ai_release_window_t *w, uint64_t now_ms,
    uint64_t out[AI_RELEASE_NCOUNTERS]);
/* the sum of one counter */
uint64_t ai_release_window_get(const ai_release_window_t *w,
    unsigned counter, uint64_t now_ms);
void ai_release_window_reset(ai_release_window_t *w);
/* one cell: one more in the bucket of epoch; its count in epoch's window */
void ai_release_window_cell_inc(uint64_t *cell, uint32_t epoch);
uint64_t ai_release_window_cell(uint64_t v, uint32_t epoch);

/* the bucket of a latency: a few integer operations, no search */
unsigned ai_release_latency_bucket(uint64_t ms);
/* the largest latency bucket i holds; UINT64_MAX for the last */
uint64_t ai_release_latency_le_ms(unsigned i);
/*
 * The q-quantile (0 < q <= 1) of a histogram (AI_RELEASE_LATENCY_BUCKETS
 * counts), interpolated within its bucket: it differs from the latency of
 * that rank by less than 1/8 of it; 0 for an empty histogram
 */
double ai_release_latency_quantile(const uint64_t *counts, double q);
/*
 * The same for any histogram of n buckets whose bucket i holds the
 * integers (le(i - 1), le(i)], the first from 0, the last unbounded
 */
double ai_release_quantile(const uint64_t *counts, unsigned n,
    uint64_t (*le)(unsigned i), double q);
/*
 * The fixed bounds the status exports, in ms, each the le_ms of a bucket
 * (so their cumulative counts are exact): 1 ms to 240 s, then +Inf
 */
extern const uint64_t  ai_release_latency_export_ms[AI_RELEASE_LATENCY_EXPORTS];

/* 64-bit atomics on shared memory (compiler builtins) */
static inline uint64_t
ai_release_atomic_add(uint64_t *p, uint64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t
ai_release_atomic_load(const uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void
ai_release_atomic_store(uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELAXED);
}


#define AI_RELEASE_MARGIN_OFF       ((unsigned) -1)

typedef struct {
    unsigned        enabled;          /* "trip off" clears it */
    unsigned        error_rate;       /* 0.01% steps, 1..10000 */
    uint64_t        min_requests;
    uint64_t        min_errors;       /* no rate rule trips on fewer */
    uint64_t        window_ms;
    uint64_t        consecutive;      /* 0: rule off */
    uint64_t        cooldown_ms;
    uint64_t        max_cooldown_ms;
    uint64_t        probes;
    uint64_t        probe_timeout_ms; /* a half-open round without all its
                                         verdicts starts again after this */
    unsigned        canary_margin;    /* 0.01% steps, or _MARGIN_OFF */
    unsigned        recover_manual;
    unsigned        errors_mask;      /* classes that count */
    uint64_t        slow_ms;          /* 0: no "slow" class */
    unsigned        correction_rate;  /* reviewer feedback, 0.01% steps;
                                         0: rule off */
    uint64_t        min_feedback;     /* it judges no fewer answers */
} ai_release_trip_conf_t;

typedef enum {
    AI_RELEASE_TRIP_NONE = 0,
    AI_RELEASE_TRIP_RATE,
    AI_RELEASE_TRIP_CONSECUTIVE,
    AI_RELEASE_TRIP_MARGIN
} ai_release_trip_e;

void ai_release_trip_defaults(ai_release_trip_conf_t *conf);

/*
 * One "key=value" parameter of the trip directive (or "off").  Returns 0,
 * or -1 with a message in err.
 */
int ai_release_trip_parse(ai_release_trip_conf_t *conf, const char *arg,
    size_t len, char *err, size_t errlen);

/* "500ms", "30s", "10m", "1h", "1d" -> milliseconds; 0 or -1 */
int ai_release_parse_duration(const char *s, size_t len, uint64_t *ms);

/*
 * Whether a closed breaker trips, given the bundle's window total and
 * counted errors, its run of consecutive errors and, for a canary, the
 * stable bundle's window total and errors (stable == NULL otherwise).
 * The canary_margin rule trips only when the lower confidence bound of
 * canary - stable (ai_release_margin_bounds()) exceeds the margin.
 */
ai_release_trip_e ai_release_trip_check(const ai_release_trip_conf_t *conf,
    uint64_t total, uint64_t errors, uint64_t consecutive,
    const uint64_t *stable);

/*
 * The canary_margin rule's confidence: one-sided 95% (z of the normal
 * distribution's 0.95 quantile) for each score bound below; README.md,
 * "How much evidence a trip needs", gives the simulated figures for 95%
 * and 99% that chose it.
 */
#define AI_RELEASE_MARGIN_Z         1.644854

/* the evidence of the canary_margin rule, as fractions */
typedef struct {
    double          canary_lower;     /* Wilson lower bound, canary's rate */
    double          stable_upper;     /* Wilson upper bound, stable's rate */
    double          diff_lower;       /* Newcombe's lower bound of canary
                                         minus stable */
} ai_release_margin_t;

void ai_release_margin_bounds(uint64_t total, uint64_t errors,
    uint64_t stable_total, uint64_t stable_errors, ai_release_margin_t *mb);

/* the cooldown after a failed probe: doubled, at most max_cooldown */
uint64_t ai_release_next_cooldown(const ai_release_trip_conf_t *conf,
    uint64_t cooldown_ms);


/* eval gates (ai_release_gate.c) */

typedef enum {
    AI_RELEASE_GATE_PASS = 0,     /* every gate holds */
    AI_RELEASE_GATE_NONE,         /* the bundle has no eval section */
    AI_RELEASE_GATE_FAIL,         /* a gate, the report, digest, set or age */
    AI_RELEASE_GATE_ERROR         /* the eval section itself is malformed */
} ai_release_gate_e;

/* a report may have finished this many seconds in the future (clock skew) */
#define AI_RELEASE_CLOCK_SKEW       300

/*
 * Checks a bundle's eval section against its report (jansson).  The report
 * path is relative to the manifest's directory, or, when report_dir is not
 * NULL, looked up as report_dir/basename(report).  now is the time max_age
 * is measured from.  Every failure adds one error to errs whose message is
 * the detail only, for callers to prefix with the bundle and its role, e.g.
 * "pass_rate 0.91 < 0.95 (evals/support-drafts-4.json)"; errors of a
 * malformed eval section (AI_RELEASE_GATE_ERROR) carry the manifest's file,
 * line and column.
 */
ai_release_gate_e ai_release_gate_check(const ai_release_bundle_t *b,
    const char *report_dir, long long now, ai_release_errors_t *errs);

/*
 * The same checks on a report already in memory (the file-based check
 * reads the report and calls this very code): report_name is the file its
 * errors name (NULL: eval.report as written).
 */
ai_release_gate_e ai_release_gate_check_report(const ai_release_bundle_t *b,
    const char *report_json, size_t len, const char *report_name,
    long long now, ai_release_errors_t *errs);

/*
 * Checks only the eval section, without reading the report (for linting):
 * AI_RELEASE_GATE_NONE without one, AI_RELEASE_GATE_PASS when it is well
 * formed, AI_RELEASE_GATE_ERROR with its problems (file:line:column) in errs.
 */
ai_release_gate_e ai_release_gate_validate(const ai_release_bundle_t *b,
    ai_release_errors_t *errs);


/* the lock file of immutable versions (ai_release_lock.c) */

typedef struct ai_release_lock_s  ai_release_lock_t;

/* NULL on error, with the problems (file:line) in errs */
ai_release_lock_t *ai_release_lock_load(const char *path,
    ai_release_errors_t *errs);
/* the same, from memory; name is the lock's path in messages */
ai_release_lock_t *ai_release_lock_load_buffer(const char *name,
    const char *data, size_t len, ai_release_errors_t *errs);
void ai_release_lock_free(ai_release_lock_t *lock);

typedef enum {
    AI_RELEASE_LOCK_OK = 0,
    AI_RELEASE_LOCK_CHANGED,      /* the digest differs from the lock's */
    AI_RELEASE_LOCK_MISSING       /* name@version is not in the lock */
} ai_release_lock_e;

/*
 * Compares a bundle with the lock; on a difference adds one error naming
 * what changed (the manifest keys and referenced files whose hashes differ)
 * and how to fix it.
 */
ai_release_lock_e ai_release_lock_check(const ai_release_lock_t *lock,
    const ai_release_bundle_t *b, ai_release_errors_t *errs);

/* writes the lock of the bundles, sorted by name@version; 0 or -1 */
int ai_release_lock_write(FILE *out, ai_release_bundle_t **bundles,
    size_t n);

/*
 * The parts of a bundle a lock records: one per top-level manifest key of
 * the canonical form (kind "key", the SHA-256 of the canonical
 * serialization of its value), then one per referenced file (kind "file",
 * the SHA-256 of its bytes, path as written in the manifest), each sorted
 * bytewise by name.  The strings point into the bundle.  0, or -1 when
 * out of memory.
 */
typedef struct {
    const char     *kind;         /* "key" or "file" */
    const char     *name;         /* "model", "prompt.file", ... */
    const char     *path;         /* file: as in the manifest; else NULL */
    char            sha256[AI_RELEASE_DIGEST_HEX_LEN + 1];  /* "sha256:.." */
} ai_release_part_t;

int ai_release_bundle_parts(const ai_release_bundle_t *b,
    ai_release_part_t **parts, size_t *n);
void ai_release_parts_free(ai_release_part_t *parts, size_t n);


/* the control API (ai_release_api.c) */

/*
 * The body of a POST to the control API: empty or only blanks (SP, HT,
 * CR, LF) when need_bundle is 0, else a JSON object; with need_bundle its
 * "bundle" must be a string of 1 to bundle_size - 1 bytes, copied
 * NUL-terminated into bundle (the caller looks it up).  Returns 0, or -1
 * with a message in err (always NUL-terminated when err_size > 0).
 */
int ai_release_api_body_parse(const char *body, size_t len, int need_bundle,
    char *bundle, size_t bundle_size, char *err, size_t err_size);

/*
 * The headers that keep other sites out (a browser sets them; a cross-site
 * form cannot choose them).  Each takes a header's value as nginx keeps it
 * (leading and trailing blanks removed) and returns 1 or 0.
 *
 * ai_release_api_json_type(): a Content-Type of "application/json" in any
 * case, alone or followed by blanks and/or ";" and parameters.
 *
 * ai_release_api_fetch_site_ok(): a Sec-Fetch-Site of "same-origin" or
 * "none" (the user typed the address); "same-site", "cross-site" and
 * anything else are 0.
 *
 * ai_release_api_same_origin(): an Origin of the request's own origin:
 * the scheme of the connection (https is 0 or 1), the host of the Host
 * header (case-insensitive, an IPv6 literal in brackets) and the same
 * port, a missing port being the scheme's default.  "null", a path, a
 * list of origins, a Host that is missing (hlen 0) or malformed are 0.
 */
int ai_release_api_json_type(const char *value, size_t len);
int ai_release_api_fetch_site_ok(const char *value, size_t len);
int ai_release_api_same_origin(const char *origin, size_t olen, int https,
    const char *host, size_t hlen);

/*
 * The bearer token of "ai_release_api token_file=": the file's bytes with
 * the trailing CR and LF removed (*len is made shorter) must be
 * AI_RELEASE_API_TOKEN_MIN to AI_RELEASE_API_TOKEN_MAX bytes of visible
 * ASCII (0x21 to 0x7e, what base64 or hex gives).  0, or -1 with a
 * message in err that never quotes the token.
 */
#define AI_RELEASE_API_TOKEN_MIN    16
#define AI_RELEASE_API_TOKEN_MAX    1024

int ai_release_api_token_check(const char *buf, size_t *len, char *err,
    size_t err_size);

/*
 * An Authorization header's value against the token: 1 when it is
 * "Bearer" (any case), blanks, then exactly the token.  The comparison
 * takes the same time wherever the bytes differ.
 */
int ai_release_api_bearer_ok(const char *value, size_t len,
    const char *token, size_t tlen);

/*
 * 1 when a and b hold the same bytes: every byte up to the longer length
 * is looked at, with no early exit, and the lengths are compared in the
 * same sum, so the time says nothing about where they differ.
 */
int ai_release_equal_ct(const void *a, size_t alen, const void *b,
    size_t blen);


/* the state file (ai_release_state.c): decisions kept across restarts */

#define AI_RELEASE_STATE_V            1
#define AI_RELEASE_STATE_NOVR         3     /* rollback, pin, trip */
#define AI_RELEASE_STATE_NREASONS     8     /* none, rate, consecutive,
                                               margin, probe, manual,
                                               drift, correction_rate */
#define AI_RELEASE_STATE_MAX_ENTRIES  100000
#define AI_RELEASE_STATE_BY_LEN       40

typedef struct {
    char            workflow[129];
    char            bundle[258];          /* name@version */
    unsigned char   digest[AI_RELEASE_SHA256_LEN];

    /* an open breaker */
    int             open;
    unsigned        reason;               /* ai_release_state_reason_name */
    uint64_t        trips;
    uint64_t        cooldown_ms;
    long long       since;                /* unix time it opened */
    long long       open_until_ms;        /* unix ms its cooldown ends */

    struct {
        int         set;
        long long   at;                   /* unix time */
        char        by[AI_RELEASE_STATE_BY_LEN];
    } ovr[AI_RELEASE_STATE_NOVR];
} ai_release_state_entry_t;

typedef struct {
    ai_release_state_entry_t  *entries;   /* malloc()ed */
    size_t                     n;
} ai_release_state_t;

/* 0, or -1 with a message in err; the same reading rules as manifests */
int ai_release_state_load(const char *path, ai_release_state_t *st,
    char *err, size_t errlen);
int ai_release_state_parse(const char *data, size_t len,
    ai_release_state_t *st, char *err, size_t errlen);
void ai_release_state_free(ai_release_state_t *st);
/* JSON text, malloc()ed, its length in *len; NULL when out of memory */
char *ai_release_state_format(const ai_release_state_t *st, long long now,
    size_t *len);
const char *ai_release_state_override_name(unsigned k);
const char *ai_release_state_reason_name(unsigned reason);


#endif /* _AI_RELEASE_CORE_H_INCLUDED_ */
