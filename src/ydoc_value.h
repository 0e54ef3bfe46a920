/* ydoc_value: the ydoc tree's node, and what a scalar means (null, a
 * boolean, an integer, a string) by YAML 1.1's plain words: below ydoc.c,
 * which reads and writes the trees (ydoc.h includes this). */
#ifndef MSGSPOOL_YDOC_VALUE_H
#define MSGSPOOL_YDOC_VALUE_H

#include <stdbool.h>
#include <stddef.h>

enum ydoc_kind { YDOC_SCALAR, YDOC_SEQ, YDOC_MAP };

struct ydoc_node {
	enum ydoc_kind kind;
	int line;		/* 1-based source line; 0 when built in memory */
	bool quoted;		/* scalar was quoted or a block: always a string */
	char *str;		/* scalar text, NUL-terminated */
	size_t len;
	size_t n;		/* seq: items; map: pairs */
	size_t cap;
	struct ydoc_node **items; /* seq: items[i]; map: items[2i] key, items[2i+1] value */
	/* Root of a parsed document only: what ydoc_emit_appended needs. */
	size_t parsed_n;	/* pairs the source had */
	bool appendable;	/* block mapping at column 0, implicit end, ends in a newline */
	bool edited;		/* a source pair was replaced or deleted since */
};

/* Plain scalars that YAML reads as null, a boolean or a number. */
bool ydoc_is_null(const struct ydoc_node *n);
int ydoc_to_bool(const struct ydoc_node *n, bool *out);
int ydoc_to_int(const struct ydoc_node *n, long long *out);
/* A plain (unquoted) scalar with this text reads back as the same string. */
bool ydoc_plain_reads_back(const struct ydoc_node *n);
/* A scalar that is a string (not null, a number or a boolean unless quoted). */
bool ydoc_is_string(const struct ydoc_node *n);
/* Same data: equal strings of the same YAML type in the same shape,
 * whatever the style they were written in. */
bool ydoc_equal(const struct ydoc_node *a, const struct ydoc_node *b);

#endif
