
/*
 * Copyright (C) ngx_ai_release authors
 *
 * The difference of two bundles, component by component
 * (ai_release_diff.c): what "ai-release diff" prints and what the module
 * logs and keeps in its release record at every configuration load.
 */

#ifndef _AI_RELEASE_DIFF_H_INCLUDED_
#define _AI_RELEASE_DIFF_H_INCLUDED_


#include "ai_release_core.h"


/* the bytes of one value shown at most: longer ones end in "..." */
#define AI_RELEASE_DIFF_VALUE_MAX   40

/* the bytes of a dotted path shown at most */
#define AI_RELEASE_DIFF_PATH_MAX    96


/*
 * What differs between two bundles in what the digest covers (see
 * ai_release_digest.c): every top-level key but "eval" and "labels", and
 * the bytes of every referenced file.  "name" and "version" are the
 * bundles' identity, which ai_release_diff_ids() gives, and are not
 * components.  Components are named in bytewise order of their dotted
 * path, separated by ", ":
 *
 *   model gpt-x -> gpt-y            a value changed
 *   retrieval.top_k 8 -> 12         a key of a mapping, key by key
 *   params.seed (none) -> 7         added; "7 -> (none)" when removed
 *   prompt.file changed             a referenced file's bytes changed
 *   prompt.file a.txt -> b.txt      it names another file
 *
 * A value longer than AI_RELEASE_DIFF_VALUE_MAX bytes is cut at a UTF-8
 * character boundary and ends in "..."; control bytes are escaped.  A
 * mapping or sequence shows as [a,b] or {k:v}.  Unchanged components say
 * nothing: two bundles of the same digest give "".
 *
 * Writes into buf, always NUL-terminated when size > 0, and never more
 * than size bytes: when the text does not fit, the components that do are
 * followed by "...".  Meant for configuration time: it sorts the keys of
 * each mapping in memory of its own (malloc) and frees it; when that
 * fails, a mapping that differs is named whole ("retrieval changed").
 * Returns the number of components that differ (also those left out for
 * room).
 */
size_t ai_release_diff(const ai_release_bundle_t *old,
    const ai_release_bundle_t *new, char *buf, size_t size);

/*
 * The identities: "x@4 -> @5" (same name), "x@4 -> y@1", or "x@4" when
 * both are the same name@version.  NUL-terminated, cut to size.
 */
void ai_release_diff_ids(const ai_release_bundle_t *old,
    const ai_release_bundle_t *new, char *buf, size_t size);


#endif /* _AI_RELEASE_DIFF_H_INCLUDED_ */
