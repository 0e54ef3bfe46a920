/* ydoc_append: writing a parsed document back as its source bytes plus the
 * pairs added since, the simple ones without libyaml's emitter (a delivery
 * appends a few per receiver). It must write only what reads back as the
 * same data, and falls back to ydoc_emit for anything else. Rules: ydoc.h
 * (ydoc_emit_appended), BENCHMARKS.md for why. */
#include "config.h"
#include "ydoc.h"

/* Characters a scalar may hold and still be written without libyaml:
 * nothing to quote or escape inside double quotes, nothing that means
 * anything to YAML in a plain scalar that starts with a letter or digit,
 * or a Message-ID in its angle brackets ('<' is no indicator, '@' and '>'
 * mean nothing after the first character). */
static bool simple_chars(const struct ydoc_node *n)
{
	if (n->kind != YDOC_SCALAR || n->len == 0 || n->len > 200)
		return false;
	bool angle = n->len > 2 && n->str[0] == '<' && n->str[n->len - 1] == '>';
	for (size_t i = angle; i < n->len - angle; i++) {
		unsigned char c = (unsigned char)n->str[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
		if (!alnum && !(i > 0 && (c == '_' || c == '-' || c == '.' || c == ':' || c == '+' || (angle && c == '@'))))
			return false;
	}
	return true;
}

/* The pairs a delivery appends (counts, timestamps, an outcome word, the
 * last attempt as a small mapping), written as ydoc_emit would write them:
 * plain when that reads back as the same, else in double quotes; -1 for
 * anything else (sequences, empty collections, other characters), which
 * ydoc_emit then writes. Saves an emitter (its 48 KB of buffers) per
 * receiver. */
static int emit_simple(const struct ydoc_node *map, int indent, struct util_buf *out)
{
	if (map->kind != YDOC_MAP || map->n == 0 || indent > 8)
		return -1;
	bool bad = false;
	for (size_t i = 0; i < map->n; i++) {
		const struct ydoc_node *k = map->items[2 * i], *v = map->items[2 * i + 1];
		if (!simple_chars(k) || !ydoc_plain_reads_back(k))
			return -1;
		for (int j = 0; j < indent; j++)
			bad |= util_buf_putc(out, ' ') < 0;
		bad |= util_buf_add(out, k->str, k->len) < 0;
		if (v->kind == YDOC_MAP) {
			bad |= util_buf_add(out, ":\n", 2) < 0;
			if (emit_simple(v, indent + 2, out) < 0)
				return -1;
			continue;
		}
		if (!simple_chars(v))
			return -1;
		bool plain = !v->quoted || ydoc_plain_reads_back(v);
		bad |= util_buf_add(out, plain ? ": " : ": \"", plain ? 2 : 3) < 0;
		bad |= util_buf_add(out, v->str, v->len) < 0;
		bad |= util_buf_add(out, plain ? "\n" : "\"\n", plain ? 1 : 2) < 0;
	}
	return bad ? -1 : 0;
}

int ydoc_emit_appended(const struct ydoc_node *root, const char *src, size_t len,
		       struct util_buf *out)
{
	if (root->kind != YDOC_MAP || !root->appendable || root->edited || root->parsed_n > root->n)
		return ydoc_emit(root, out);
	if (util_buf_add(out, src, len) < 0)
		return -1;
	if (root->n == root->parsed_n)
		return 0;
	/* The added pairs, emitted as a mapping of their own: a block mapping
	 * at column 0 without document markers, which is what the source's
	 * mapping continues with. */
	struct ydoc_node tail = {.kind = YDOC_MAP, .n = root->n - root->parsed_n,
				 .items = root->items + 2 * root->parsed_n};
	size_t mark = out->len;
	if (emit_simple(&tail, 0, out) == 0)
		return 0;
	out->len = mark;
	if (out->data)
		out->data[mark] = '\0';
	return ydoc_emit(&tail, out);
}
