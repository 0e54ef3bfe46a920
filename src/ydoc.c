/* ydoc: YAML documents as trees, read and written with libyaml: the only
 * file that knows libyaml. It must never let a hostile file cost more than
 * its limits allow (depth, nodes, keys per mapping, linear duplicate-key
 * check), never accept anchors, aliases or unknown tags, and never write
 * what would read back as something else. Rules: ydoc.h, SECURITY.md. */
#include "config.h"
#include "ydoc.h"
#include "ydoc_block.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static struct ydoc_node *node_new(enum ydoc_kind k)
{
	struct ydoc_node *n = util_xmalloc(sizeof *n);
	n->kind = k;
	return n;
}

void ydoc_free(struct ydoc_node *n)
{
	if (!n)
		return;
	size_t count = n->kind == YDOC_MAP ? 2 * n->n : n->n;
	for (size_t i = 0; i < count; i++)
		ydoc_free(n->items[i]);
	free(n->items);
	free(n->str);
	free(n);
}

static void add_item(struct ydoc_node *n, struct ydoc_node *item)
{
	size_t count = n->kind == YDOC_MAP ? 2 * n->n : n->n;
	if (count + 2 > n->cap) {
		size_t cap = n->cap ? 2 * n->cap : 8;
		struct ydoc_node **p = realloc(n->items, cap * sizeof *p);
		if (!p) {
			fputs("msgspool: out of memory\n", stderr);
			abort();
		}
		n->items = p;
		n->cap = cap;
	}
	n->items[count] = item;
}

struct ydoc_node *ydoc_scalar(const char *s)
{
	struct ydoc_node *n = node_new(YDOC_SCALAR);
	n->len = strlen(s);
	n->str = util_xmalloc(n->len + 1);
	memcpy(n->str, s, n->len);
	return n;
}

struct ydoc_node *ydoc_string(const char *s)
{
	struct ydoc_node *n = ydoc_scalar(s);
	n->quoted = true;
	return n;
}

struct ydoc_node *ydoc_intval(long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%lld", v);
	return ydoc_scalar(tmp);
}

struct ydoc_node *ydoc_map(void)
{
	return node_new(YDOC_MAP);
}

struct ydoc_node *ydoc_seq(void)
{
	return node_new(YDOC_SEQ);
}

struct ydoc_node *ydoc_clone(const struct ydoc_node *n)
{
	struct ydoc_node *c = node_new(n->kind);
	c->line = n->line;
	c->quoted = n->quoted;
	if (n->kind == YDOC_SCALAR) {
		c->len = n->len;
		c->str = util_xmalloc(n->len + 1);
		memcpy(c->str, n->str, n->len);
		return c;
	}
	for (size_t i = 0; i < n->n; i++) {
		if (n->kind == YDOC_SEQ) {
			ydoc_push(c, ydoc_clone(n->items[i]));
			continue;
		}
		add_item(c, ydoc_clone(n->items[2 * i]));
		c->items[2 * c->n + 1] = ydoc_clone(n->items[2 * i + 1]);
		c->n++;
	}
	return c;
}

const char *ydoc_key(const struct ydoc_node *map, size_t i)
{
	return map->items[2 * i]->str;
}

struct ydoc_node *ydoc_val(const struct ydoc_node *map, size_t i)
{
	return map->items[2 * i + 1];
}

struct ydoc_node *ydoc_get(const struct ydoc_node *map, const char *key)
{
	if (!map || map->kind != YDOC_MAP)
		return NULL;
	for (size_t i = 0; i < map->n; i++)
		if (strcmp(map->items[2 * i]->str, key) == 0)
			return map->items[2 * i + 1];
	return NULL;
}

const char *ydoc_get_str(const struct ydoc_node *map, const char *key)
{
	const struct ydoc_node *n = ydoc_get(map, key);
	return n && n->kind == YDOC_SCALAR && !ydoc_is_null(n) ? n->str : NULL;
}

void ydoc_set(struct ydoc_node *map, const char *key, struct ydoc_node *value)
{
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->items[2 * i]->str, key) == 0) {
			ydoc_free(map->items[2 * i + 1]);
			map->items[2 * i + 1] = value;
			map->edited |= i < map->parsed_n;
			return;
		}
	}
	add_item(map, ydoc_scalar(key));
	map->items[2 * map->n + 1] = value;
	map->n++;
}

void ydoc_del(struct ydoc_node *map, const char *key)
{
	for (size_t i = 0; i < map->n; i++) {
		if (strcmp(map->items[2 * i]->str, key) == 0) {
			map->edited |= i < map->parsed_n;
			if (i < map->parsed_n)
				map->parsed_n--;
			ydoc_free(map->items[2 * i]);
			ydoc_free(map->items[2 * i + 1]);
			memmove(&map->items[2 * i], &map->items[2 * i + 2],
				(2 * (map->n - i - 1)) * sizeof *map->items);
			map->n--;
			return;
		}
	}
}

/* A new map of copies of MAP's entries whose keys are not among KEYS: what
 * a view shows after the fields it knows. */
struct ydoc_node *ydoc_map_without(const struct ydoc_node *map, const char *const *keys, size_t nkeys)
{
	struct ydoc_node *rest = ydoc_map();
	for (size_t k = 0; k < map->n; k++) {
		const char *key = ydoc_key(map, k);
		bool skip = false;
		for (size_t j = 0; j < nkeys; j++)
			skip |= !strcmp(key, keys[j]);
		if (!skip)
			ydoc_set(rest, key, ydoc_clone(ydoc_val(map, k)));
	}
	return rest;
}

void ydoc_push(struct ydoc_node *seq, struct ydoc_node *item)
{
	add_item(seq, item);
	seq->n++;
}

/* ---- parsing ---- */

static _Thread_local size_t key_compares;

size_t ydoc_key_compares(void)
{
	return key_compares;
}

struct parse_state {
	yaml_parser_t parser;
	const struct ydoc_limits *lim;
	size_t nodes;
	struct ydoc_error *err;
	long first_key_column;	/* of the root mapping's first key; -1 before */
};

static int fail(struct parse_state *st, int line, const char *fmt, const char *arg)
{
	st->err->line = line;
	snprintf(st->err->msg, sizeof st->err->msg, fmt, arg ? arg : "");
	return -1;
}

static int next_event(struct parse_state *st, yaml_event_t *ev)
{
	if (!yaml_parser_parse(&st->parser, ev)) {
		const char *p = st->parser.problem ? st->parser.problem : "invalid YAML";
		int line = (int)st->parser.problem_mark.line + 1;
		char msg[200];
		if (st->parser.error == YAML_READER_ERROR) {
			/* libyaml's reader checks every byte (sequences, overlongs,
			 * surrogates, range, control characters): ours would only
			 * repeat it. It knows the offset, not the line. */
			line = 0;
			bool utf8 = strstr(p, "UTF-8") || strstr(p, "Unicode");
			snprintf(msg, sizeof msg, "%s%s at byte %zu%s", utf8 ? "invalid UTF-8 (" : "", p,
				 st->parser.problem_offset, utf8 ? ")" : "");
			return fail(st, line, "%s", msg);
		}
		snprintf(msg, sizeof msg, "%s%s%s", st->parser.context ? st->parser.context : "",
			 st->parser.context ? ": " : "", p);
		return fail(st, line, "%s", msg);
	}
	return 0;
}

static bool core_tag(const yaml_char_t *tag)
{
	if (!tag)
		return true;
	const char *t = (const char *)tag;
	return !strcmp(t, "tag:yaml.org,2002:str") || !strcmp(t, "tag:yaml.org,2002:int") ||
	       !strcmp(t, "tag:yaml.org,2002:map") || !strcmp(t, "tag:yaml.org,2002:seq") ||
	       !strcmp(t, "tag:yaml.org,2002:bool") || !strcmp(t, "tag:yaml.org,2002:null");
}

static int parse_node(struct parse_state *st, yaml_event_t *ev, size_t depth, struct ydoc_node **out);

/* The keys of one mapping being parsed, as an open-addressing table of
 * pair indexes: the duplicate check costs about one comparison per key
 * (it was a scan of the pairs so far, quadratic in a hostile file). */
struct keyset {
	size_t *slot;	/* pair index + 1; 0: empty */
	size_t cap;	/* a power of two, more than twice the keys */
};

static size_t *keyset_probe(const struct keyset *ks, const struct ydoc_node *map, const struct ydoc_node *key)
{
	/* By strcmp, as ydoc_get finds keys (a "\0" in a quoted key ends it). */
	size_t i = util_fnv1a(UTIL_FNV_INIT, key->str) & (ks->cap - 1);
	while (ks->slot[i]) {
		const struct ydoc_node *k = map->items[2 * (ks->slot[i] - 1)];
		key_compares++;
		if (!strcmp(k->str, key->str))
			break;
		i = (i + 1) & (ks->cap - 1);
	}
	return &ks->slot[i];
}

/* The slot for key: taken (a duplicate) or the free one to fill. */
static size_t *keyset_find(struct keyset *ks, const struct ydoc_node *map, const struct ydoc_node *key)
{
	if ((map->n + 1) * 2 >= ks->cap) {
		struct keyset bigger = {util_xmalloc((ks->cap ? ks->cap * 2 : 16) * sizeof *ks->slot),
					ks->cap ? ks->cap * 2 : 16};
		for (size_t k = 0; k < map->n; k++)
			*keyset_probe(&bigger, map, map->items[2 * k]) = k + 1;
		free(ks->slot);
		*ks = bigger;
	}
	return keyset_probe(ks, map, key);
}

static int parse_pairs(struct parse_state *st, struct ydoc_node *n, size_t depth, struct keyset *ks);

static int parse_children(struct parse_state *st, struct ydoc_node *n, size_t depth)
{
	struct keyset ks = {NULL, 0};
	int rc = parse_pairs(st, n, depth, &ks);
	free(ks.slot);
	return rc;
}

static int parse_pairs(struct parse_state *st, struct ydoc_node *n, size_t depth, struct keyset *ks)
{
	size_t max_keys = st->lim->max_keys ? st->lim->max_keys : YDOC_MAX_KEYS;
	for (;;) {
		yaml_event_t ev;
		if (next_event(st, &ev) < 0)
			return -1;
		if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&ev);
			return 0;
		}
		struct ydoc_node *child;
		int line = (int)ev.start_mark.line + 1;
		if (depth == 0 && n->kind == YDOC_MAP && n->n == 0)
			st->first_key_column = (long)ev.start_mark.column;
		int rc = parse_node(st, &ev, depth + 1, &child);
		yaml_event_delete(&ev);
		if (rc < 0)
			return -1;
		if (n->kind == YDOC_SEQ) {
			ydoc_push(n, child);
			continue;
		}
		if (child->kind != YDOC_SCALAR) {
			ydoc_free(child);
			return fail(st, line, "keys must be plain strings%s", NULL);
		}
		if (!child->quoted && child->len == 0) {
			/* `? ` or `: v`: a null key, which no writer could
			 * write back as the same data. */
			ydoc_free(child);
			return fail(st, line, "empty key%s", NULL);
		}
		if (n->n >= max_keys) {
			ydoc_free(child);
			return fail(st, line, "a mapping with more keys than the limit%s", NULL);
		}
		size_t *slot = keyset_find(ks, n, child);
		if (*slot) {
			int r = fail(st, line, "duplicate key '%s'", child->str);
			ydoc_free(child);
			return r;
		}
		yaml_event_t vev;
		if (next_event(st, &vev) < 0) {
			ydoc_free(child);
			return -1;
		}
		struct ydoc_node *val;
		rc = parse_node(st, &vev, depth + 1, &val);
		yaml_event_delete(&vev);
		if (rc < 0) {
			ydoc_free(child);
			return -1;
		}
		add_item(n, child);
		n->items[2 * n->n + 1] = val;
		*slot = ++n->n;
	}
}

static int parse_node(struct parse_state *st, yaml_event_t *ev, size_t depth, struct ydoc_node **out)
{
	int line = (int)ev->start_mark.line + 1;
	if (++st->nodes > st->lim->max_nodes)
		return fail(st, line, "too many nodes%s", NULL);
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		return fail(st, line, "aliases are not allowed%s", NULL);
	case YAML_SCALAR_EVENT: {
		if (ev->data.scalar.anchor)
			return fail(st, line, "anchors are not allowed%s", NULL);
		if (!core_tag(ev->data.scalar.tag))
			return fail(st, line, "tag %s is not allowed", (const char *)ev->data.scalar.tag);
		struct ydoc_node *n = node_new(YDOC_SCALAR);
		n->line = line;
		n->len = ev->data.scalar.length;
		if (memchr(ev->data.scalar.value, '\0', n->len)) {
			free(n);
			return fail(st, line, "NUL characters are not allowed%s", NULL);
		}
		if (ev->data.scalar.value[n->len] == '\0') {
			/* libyaml's own NUL-terminated copy (malloc'd): take it over
			 * rather than copy every scalar, the bodies included. */
			n->str = (char *)ev->data.scalar.value;
			ev->data.scalar.value = NULL;
		} else {
			n->str = util_xmalloc(n->len + 1);
			memcpy(n->str, ev->data.scalar.value, n->len);
		}
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
			    (ev->data.scalar.tag && !strcmp((const char *)ev->data.scalar.tag,
							    "tag:yaml.org,2002:str"));
		*out = n;
		return 0;
	}
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		bool seq = ev->type == YAML_SEQUENCE_START_EVENT;
		const yaml_char_t *anchor = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
		const yaml_char_t *tag = seq ? ev->data.sequence_start.tag : ev->data.mapping_start.tag;
		if (anchor)
			return fail(st, line, "anchors are not allowed%s", NULL);
		if (!core_tag(tag))
			return fail(st, line, "tag %s is not allowed", (const char *)tag);
		if (depth >= st->lim->max_depth)
			return fail(st, line, "nesting deeper than the limit%s", NULL);
		struct ydoc_node *n = node_new(seq ? YDOC_SEQ : YDOC_MAP);
		n->line = line;
		if (parse_children(st, n, depth) < 0) {
			ydoc_free(n);
			return -1;
		}
		*out = n;
		return 0;
	}
	default:
		return fail(st, line, "unexpected YAML event%s", NULL);
	}
}

static const struct ydoc_limits default_limits = {64, 1000000, YDOC_MAX_KEYS};

static int parse_doc(const char *buf, size_t len, const struct ydoc_limits *lim,
		     struct ydoc_node **out, struct ydoc_error *err)
{
	struct parse_state st = {.lim = lim ? lim : &default_limits, .err = err, .first_key_column = -1};
	err->line = 0;
	err->msg[0] = '\0';
	*out = NULL;
	if (!yaml_parser_initialize(&st.parser))
		return fail(&st, 0, "out of memory%s", NULL);
	yaml_parser_set_input_string(&st.parser, (const unsigned char *)buf, len);
	yaml_parser_set_encoding(&st.parser, YAML_UTF8_ENCODING);

	int rc = -1;
	yaml_event_t ev;
	struct ydoc_node *root = NULL;
	if (next_event(&st, &ev) < 0)
		goto done;
	yaml_event_delete(&ev); /* STREAM_START */
	if (next_event(&st, &ev) < 0)
		goto done;
	if (ev.type == YAML_STREAM_END_EVENT) {
		yaml_event_delete(&ev);
		fail(&st, 1, "empty document%s", NULL);
		goto done;
	}
	yaml_event_delete(&ev); /* DOCUMENT_START */
	if (next_event(&st, &ev) < 0)
		goto done;
	bool block_map = ev.type == YAML_MAPPING_START_EVENT &&
			 ev.data.mapping_start.style == YAML_BLOCK_MAPPING_STYLE;
	rc = parse_node(&st, &ev, 0, &root);
	yaml_event_delete(&ev);
	if (rc < 0)
		goto done;
	rc = -1;
	if (next_event(&st, &ev) < 0) /* DOCUMENT_END */
		goto done;
	/* Lines appended at column 0 continue the root mapping only if it is a
	 * block mapping whose keys start there, and nothing closed the
	 * document ("..."), and the last line is complete. */
	if (root->kind == YDOC_MAP) {
		root->parsed_n = root->n;
		root->appendable = block_map && st.first_key_column == 0 &&
				   ev.data.document_end.implicit && len > 0 && buf[len - 1] == '\n';
	}
	yaml_event_delete(&ev);
	if (next_event(&st, &ev) < 0)
		goto done;
	if (ev.type != YAML_STREAM_END_EVENT) {
		fail(&st, (int)ev.start_mark.line + 1, "more than one document%s", NULL);
		yaml_event_delete(&ev);
		goto done;
	}
	yaml_event_delete(&ev);
	*out = root;
	root = NULL;
	rc = 0;
done:
	ydoc_free(root);
	yaml_parser_delete(&st.parser);
	return rc;
}

static _Thread_local bool blocks_off;

void ydoc_read_blocks(bool on)
{
	blocks_off = !on;
}

/* Puts the blocks read without libyaml in place of what libyaml read where
 * they were: for each, the root's value of its key must be the scalar of
 * a literal block on the key's line that holds only line feeds (the lines
 * emptied). -1 when one is not: libyaml saw the document otherwise. The
 * blocks and the root's pairs are both in the order of their lines: one
 * walk over the two (a file of 10,000 blocks costs 10,000 steps, not
 * 10,000 for each). */
static int put_blocks(struct ydoc_node *root, struct ydoc_blocks *b)
{
	if (root->kind != YDOC_MAP)
		return -1;
	struct ydoc_node **val = util_xmalloc(b->n * sizeof *val);
	size_t k = 0;
	int rc = 0;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		int line = (int)b->v[i].line;
		while (k < root->n && (root->items[2 * k]->line < line ||
				       (root->items[2 * k]->line == line && strcmp(ydoc_key(root, k), b->v[i].key)))) {
			key_compares++;
			k++;
		}
		struct ydoc_node *v = k < root->n && root->items[2 * k]->line == line ? ydoc_val(root, k) : NULL;
		if (!v || v->kind != YDOC_SCALAR || !v->quoted || v->line != line || strspn(v->str, "\n") != v->len)
			rc = -1;
		val[i] = v;
	}
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		free(val[i]->str);
		val[i]->str = b->v[i].str;
		val[i]->len = b->v[i].len;
		b->v[i].str = NULL;
	}
	free(val);
	return rc;
}

int ydoc_parse(const char *buf, size_t len, const struct ydoc_limits *lim,
	       struct ydoc_node **out, struct ydoc_error *err)
{
	struct ydoc_blocks b;
	if (!blocks_off && ydoc_blocks_take(buf, len, &b)) {
		int rc = parse_doc(b.doc, b.doc_len, lim, out, err);
		if (rc == 0 && put_blocks(*out, &b) < 0) {
			ydoc_free(*out);
			*out = NULL;
			rc = -1;
		}
		ydoc_blocks_free(&b);
		if (rc == 0)
			return 0;
		/* An error (or a block libyaml saw otherwise): libyaml on the
		 * document itself says what and where. */
	}
	return parse_doc(buf, len, lim, out, err);
}

/* ---- emitting ---- */

static int buf_writer(void *data, unsigned char *p, size_t n)
{
	return util_buf_add(data, p, n) == 0;
}

static int emit_node(yaml_emitter_t *em, const struct ydoc_node *n)
{
	yaml_event_t ev;
	switch (n->kind) {
	case YDOC_SCALAR: {
		yaml_scalar_style_t style = YAML_ANY_SCALAR_STYLE;
		bool plain_ok = true;
		if (n->quoted) {
			/* A string that would read back as something else must be quoted. */
			plain_ok = ydoc_plain_reads_back(n);
			if (memchr(n->str, '\n', n->len))
				style = YAML_LITERAL_SCALAR_STYLE;
			else if (!plain_ok)
				style = YAML_DOUBLE_QUOTED_SCALAR_STYLE;
		}
		if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)n->str, (int)n->len,
						  plain_ok, 1, style))
			return -1;
		return yaml_emitter_emit(em, &ev) ? 0 : -1;
	}
	case YDOC_SEQ:
	case YDOC_MAP: {
		bool seq = n->kind == YDOC_SEQ;
		/* Empty collections read best in flow style: [] and {}. */
		int ok = seq ? yaml_sequence_start_event_initialize(&ev, NULL, NULL, 1,
				n->n ? YAML_BLOCK_SEQUENCE_STYLE : YAML_FLOW_SEQUENCE_STYLE)
			     : yaml_mapping_start_event_initialize(&ev, NULL, NULL, 1,
				n->n ? YAML_BLOCK_MAPPING_STYLE : YAML_FLOW_MAPPING_STYLE);
		if (!ok || !yaml_emitter_emit(em, &ev))
			return -1;
		size_t count = seq ? n->n : 2 * n->n;
		for (size_t i = 0; i < count; i++)
			if (emit_node(em, n->items[i]) < 0)
				return -1;
		ok = seq ? yaml_sequence_end_event_initialize(&ev) : yaml_mapping_end_event_initialize(&ev);
		if (!ok || !yaml_emitter_emit(em, &ev))
			return -1;
		return 0;
	}
	}
	return -1;
}

int ydoc_emit(const struct ydoc_node *root, struct util_buf *out)
{
	yaml_emitter_t em;
	yaml_event_t ev;
	int rc = -1;
	if (!yaml_emitter_initialize(&em))
		return -1;
	yaml_emitter_set_output(&em, buf_writer, out);
	yaml_emitter_set_unicode(&em, 1);
	yaml_emitter_set_width(&em, 100);
	yaml_emitter_set_indent(&em, 2);
	yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING);
	if (!yaml_emitter_emit(&em, &ev))
		goto done;
	yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto done;
	if (emit_node(&em, root) < 0)
		goto done;
	yaml_document_end_event_initialize(&ev, 1);
	if (!yaml_emitter_emit(&em, &ev))
		goto done;
	yaml_stream_end_event_initialize(&ev);
	if (!yaml_emitter_emit(&em, &ev))
		goto done;
	if (!yaml_emitter_flush(&em))
		goto done;
	rc = 0;
done:
	if (rc < 0)
		errno = EINVAL;
	yaml_emitter_delete(&em);
	return rc;
}
