/* ydoc: the one module that knows libyaml. It turns a YAML document into a
 * small tree (scalars, sequences, mappings, each with its source line) under
 * limits suited to untrusted input, and writes a tree back out with bodies as
 * literal blocks. Receiver, configuration and compose files all use it. */
#ifndef MSGSPOOL_YDOC_H
#define MSGSPOOL_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include "util.h"
#include "ydoc_value.h"

struct ydoc_limits {
	size_t max_depth;	/* nesting of sequences and mappings */
	size_t max_nodes;
	size_t max_keys;	/* pairs in one mapping; 0: YDOC_MAX_KEYS */
};
#define YDOC_MAX_KEYS 10000

/* Key comparisons the duplicate-key check made in this thread so far: the
 * tests' measure that parsing stays linear in the number of keys. */
size_t ydoc_key_compares(void);

#define YDOC_ERRLEN 256
struct ydoc_error {
	int line;
	char msg[YDOC_ERRLEN];
};

/* Parses exactly one document. Anchors, aliases, tags other than the core
 * ones, duplicate keys, non-scalar keys and invalid UTF-8 are refused. */
int ydoc_parse(const char *buf, size_t len, const struct ydoc_limits *lim,
	       struct ydoc_node **out, struct ydoc_error *err);
/* Whether ydoc_parse reads the root's literal blocks itself (the default)
 * or leaves all to libyaml, in this thread: the tests compare the two. */
void ydoc_read_blocks(bool on);
void ydoc_free(struct ydoc_node *n);
struct ydoc_node *ydoc_clone(const struct ydoc_node *n);

struct ydoc_node *ydoc_scalar(const char *s);
/* A scalar that stays a string when read back (e.g. "42", "yes"). */
struct ydoc_node *ydoc_string(const char *s);
struct ydoc_node *ydoc_map(void);
struct ydoc_node *ydoc_seq(void);
struct ydoc_node *ydoc_intval(long long v);

/* Map access by key; NULL when absent. */
struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key);
/* The text of a scalar value that is not null; NULL when absent, null or
 * not a scalar (a producer may have written a list where text belongs). */
const char *ydoc_get_str(const struct ydoc_node *map, const char *key);
/* Sets key to value (taking ownership), replacing an existing value in place
 * so key order is kept; appends new keys. */
void ydoc_set(struct ydoc_node *map, const char *key, struct ydoc_node *value);
void ydoc_del(struct ydoc_node *map, const char *key);
/* A new map of copies of MAP's entries whose keys are not among KEYS. */
struct ydoc_node *ydoc_map_without(const struct ydoc_node *map, const char *const *keys, size_t nkeys);
void ydoc_push(struct ydoc_node *seq, struct ydoc_node *item);
const char *ydoc_key(const struct ydoc_node *map, size_t i);
struct ydoc_node *ydoc_val(const struct ydoc_node *map, size_t i);
/* The scalar values (ydoc_is_null, ydoc_to_int, ...) are in ydoc_value.h. */

int ydoc_emit(const struct ydoc_node *root, struct util_buf *out);
/* Writes `root`, parsed from `src`, as the source bytes followed by the
 * pairs added since the parse: no re-encoding of what did not change (the
 * bodies), comments and layout kept. Falls back to ydoc_emit when the
 * source cannot take appended lines or a source pair was replaced or
 * deleted. The caller guarantees that no node under a source pair was
 * changed in place (ydoc cannot see that). */
int ydoc_emit_appended(const struct ydoc_node *root, const char *src, size_t len,
		       struct util_buf *out);

#endif
