/* ydoc_value: what a scalar of a ydoc tree means (null, a boolean, an
 * integer, a string) by YAML 1.1's plain words, and whether two trees are
 * the same value. It never reads or writes YAML (ydoc.c does) and must
 * agree with what libyaml's emitter writes plain: a string that would read
 * back as another type is never said to be plain. Rules: ydoc.h. */
#include "config.h"
#include "ydoc_value.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ydoc_is_null(const struct ydoc_node *n)
{
	if (!n)
		return true;
	if (n->kind != YDOC_SCALAR || n->quoted)
		return false;
	if (n->len == 0)
		return true;
	/* Most scalars are text of other lengths: no string compare for them. */
	if (n->len != 1 && n->len != 4)
		return false;
	return !strcmp(n->str, "~") || !strcmp(n->str, "null") || !strcmp(n->str, "Null") ||
	       !strcmp(n->str, "NULL");
}

int ydoc_to_bool(const struct ydoc_node *n, bool *out)
{
	/* The words below are 2 to 5 bytes long; every plain scalar asks. */
	if (!n || n->kind != YDOC_SCALAR || n->quoted || n->len < 2 || n->len > 5)
		return -1;
	static const char *t[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
	static const char *f[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		if (!strcmp(n->str, t[i])) {
			*out = true;
			return 0;
		}
		if (!strcmp(n->str, f[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}

int ydoc_to_int(const struct ydoc_node *n, long long *out)
{
	if (!n || n->kind != YDOC_SCALAR || n->quoted || n->len == 0 || n->len > 20)
		return -1;
	const char *s = n->str;
	if (*s == '+' || *s == '-')
		s++;
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	char *end;
	long long v = strtoll(n->str, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static bool looks_numeric(const char *s)
{
	/* Conservative: anything YAML 1.1 or 1.2 might read as a number. */
	if (*s == '+' || *s == '-' || *s == '.')
		s++;
	return (*s >= '0' && *s <= '9') || !strcasecmp(s, "inf") || !strcasecmp(s, "nan");
}

/* A scalar's text, written plain, would read back as this same string. */
bool ydoc_plain_reads_back(const struct ydoc_node *n)
{
	struct ydoc_node probe = *n;
	probe.quoted = false;
	return n->len > 0 && ydoc_is_string(&probe) && !looks_numeric(n->str);
}

bool ydoc_is_string(const struct ydoc_node *n)
{
	if (!n || n->kind != YDOC_SCALAR)
		return false;
	if (n->quoted)
		return true;
	bool b;
	long long i;
	if (ydoc_is_null(n) || ydoc_to_bool(n, &b) == 0 || ydoc_to_int(n, &i) == 0)
		return false;
	return true;
}

bool ydoc_equal(const struct ydoc_node *a, const struct ydoc_node *b)
{
	if (a->kind != b->kind || a->n != b->n)
		return false;
	if (a->kind == YDOC_SCALAR && ydoc_is_null(a))
		return ydoc_is_null(b); /* ~, null and nothing at all are one value */
	if (a->kind == YDOC_SCALAR)
		return a->len == b->len && !memcmp(a->str, b->str, a->len) &&
		       ydoc_is_string(a) == ydoc_is_string(b) && ydoc_is_null(a) == ydoc_is_null(b);
	size_t count = a->kind == YDOC_MAP ? 2 * a->n : a->n;
	for (size_t i = 0; i < count; i++)
		if (!ydoc_equal(a->items[i], b->items[i]))
			return false;
	return true;
}
