/* check_ydoc: the YAML tree: limits on hostile input, types, round trips. */
#include "config.h"
#include "unit.h"
#include "ydoc.h"
#include "ydoc_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct ydoc_node *parse_ok(const char *s)
{
	struct ydoc_node *n;
	struct ydoc_error e;
	int rc = ydoc_parse(s, strlen(s), NULL, &n, &e);
	ck_assert_msg(rc == 0, "parse of [%s]: got error line %d '%s', want success", s, e.line, e.msg);
	return n;
}

static const struct {
	const char *yaml;
	const char *want;	/* substring of the error */
	int line;
} refused[] = {
	{"a: &x 1\nb: *x\n", "anchors are not allowed", 1},
	{"a: [1, 2]\nb: *x\n", "", 2},
	{"a: 1\na: 2\n", "duplicate key 'a'", 2},
	{"? [a]\n: 1\n", "keys must be plain strings", 1},
	{"s:\n- ?\n- b\n", "empty key", 2},	/* a null key: found by fuzzing */
	{"a: {? : 1}\n", "empty key", 1},
	{"a: !!python/object x\n", "tag tag:yaml.org,2002:python/object is not allowed", 1},
	{"a: 1\n---\nb: 2\n", "more than one document", 2},
	{"", "empty document", 1},
	{"a: \"\xc3\x28\"\n", "invalid UTF-8", 0},
	{"a: \xc0\x80\n", "invalid UTF-8", 0},		/* overlong NUL */
	{"a: \xed\xa0\x80\n", "invalid UTF-8", 0},	/* a surrogate */
	{"a: \xf4\x90\x80\x80\n", "invalid UTF-8", 0},	/* past U+10FFFF */
	{"a: b\xe2\x82", "invalid UTF-8", 0},		/* cut short at the end */
	{"a: \xff\n", "invalid UTF-8", 0},
	{"a: \"x\x01y\"\n", "control characters are not allowed", 0},
	{"a: [\n", "", 2},
};

START_TEST(test_refused)
{
	struct ydoc_node *n;
	struct ydoc_error e;
	int rc = ydoc_parse(refused[_i].yaml, strlen(refused[_i].yaml), NULL, &n, &e);
	ck_assert_msg(rc == -1, "[%s]: got success, want an error", refused[_i].yaml);
	ck_assert_msg(strstr(e.msg, refused[_i].want), "[%s]: got '%s', want '%s'", refused[_i].yaml,
		      e.msg, refused[_i].want);
	ck_assert_msg(e.line == refused[_i].line, "[%s]: got line %d, want %d", refused[_i].yaml, e.line,
		      refused[_i].line);
}
END_TEST

START_TEST(test_depth_limit)
{
	char buf[400];
	struct ydoc_limits lim = {10, 1000, YDOC_MAX_KEYS};
	struct ydoc_node *n;
	struct ydoc_error e;
	strcpy(buf, "a: ");
	for (int i = 0; i < 20; i++)
		strcat(buf, "[");
	for (int i = 0; i < 20; i++)
		strcat(buf, "]");
	ck_assert_int_eq(ydoc_parse(buf, strlen(buf), &lim, &n, &e), -1);
	ck_assert_msg(strstr(e.msg, "nesting"), "got '%s', want a nesting error", e.msg);
}
END_TEST

START_TEST(test_node_limit)
{
	struct ydoc_limits lim = {10, 5, YDOC_MAX_KEYS};
	struct ydoc_node *n;
	struct ydoc_error e;
	const char *s = "[1, 2, 3, 4, 5, 6, 7]";
	ck_assert_int_eq(ydoc_parse(s, strlen(s), &lim, &n, &e), -1);
	ck_assert_msg(strstr(e.msg, "too many nodes"), "got '%s'", e.msg);
}
END_TEST

START_TEST(test_types)
{
	struct ydoc_node *n = parse_ok("i: 42\ns: '42'\nb: true\nq: \"true\"\nz: ~\nt: text\n");
	long long v;
	bool b;
	ck_assert_int_eq(ydoc_to_int(ydoc_get(n, "i"), &v), 0);
	ck_assert_int_eq(v, 42);
	ck_assert_int_eq(ydoc_to_int(ydoc_get(n, "s"), &v), -1);
	ck_assert(ydoc_is_string(ydoc_get(n, "s")));
	ck_assert_int_eq(ydoc_to_bool(ydoc_get(n, "b"), &b), 0);
	ck_assert(b);
	ck_assert(ydoc_is_string(ydoc_get(n, "q")));
	ck_assert(ydoc_is_null(ydoc_get(n, "z")));
	ck_assert(ydoc_is_string(ydoc_get(n, "t")));
	ck_assert_int_eq(ydoc_get(n, "t")->line, 6);
	ydoc_free(n);
}
END_TEST

/* What a plain scalar WORD reads as: 1 true, 0 false, -1 not a bool; and
 * whether it is null. */
static int word_bool(const char *word, bool *null)
{
	char doc[64];
	snprintf(doc, sizeof doc, "k: %s\n", word);
	struct ydoc_node *n = parse_ok(doc);
	const struct ydoc_node *k = ydoc_get(n, "k");
	bool b;
	int r = ydoc_to_bool(k, &b) == 0 ? b : -1;
	*null = ydoc_is_null(k);
	ydoc_free(n);
	return r;
}

/* Every spelling of YAML 1.1's booleans and nulls, and words of nearby
 * lengths that are neither (the look-ups skip by length first). */
START_TEST(test_bool_null_words)
{
	static const char *yes[] = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
	static const char *no[] = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
	static const char *nul[] = {"~", "null", "Null", "NULL"};
	static const char *neither[] = {"o", "n", "t", "nul", "nulls", "truer", "yess", "offf", "falsey", "~~", "0"};
	bool null;
	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		ck_assert_msg(word_bool(yes[i], &null) == 1, "[%s] is not true", yes[i]);
		ck_assert_msg(word_bool(no[i], &null) == 0, "[%s] is not false", no[i]);
	}
	for (size_t i = 0; i < sizeof nul / sizeof *nul; i++)
		ck_assert_msg(word_bool(nul[i], &null) == -1 && null, "[%s] is not null", nul[i]);
	for (size_t i = 0; i < sizeof neither / sizeof *neither; i++)
		ck_assert_msg(word_bool(neither[i], &null) == -1 && !null, "[%s] taken for a bool or null", neither[i]);
}
END_TEST

/* Strings that look like other types must come back as strings. */
START_TEST(test_roundtrip_types)
{
	const char *vals[] = {"42", "true", "no", "~", "", "3.14", "2026-01-01", "a: b", "- x",
			      "line1\nline2\n", "trailing  \n", " lead", "Øving «3»", "#hash"};
	for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
		struct ydoc_node *m = ydoc_map();
		ydoc_set(m, "k", ydoc_string(vals[i]));
		struct util_buf out = {0};
		ck_assert_int_eq(ydoc_emit(m, &out), 0);
		struct ydoc_node *back = parse_ok(util_buf_cstr(&out));
		const struct ydoc_node *k = ydoc_get(back, "k");
		ck_assert_msg(k && ydoc_is_string(k) && !strcmp(k->str, vals[i]),
			      "value [%s]: emitted [%s], read back [%s]", vals[i], out.data, k ? k->str : "(none)");
		ydoc_free(m);
		ydoc_free(back);
		util_buf_free(&out);
	}
}
END_TEST

START_TEST(test_literal_blocks)
{
	struct ydoc_node *m = ydoc_map();
	ydoc_set(m, "text", ydoc_string("Hello,\nthis is a body.\n"));
	struct util_buf out = {0};
	ck_assert_int_eq(ydoc_emit(m, &out), 0);
	ck_assert_msg(strstr(out.data, "text: |\n  Hello,\n  this is a body.\n"), "got [%s], want a literal block",
		      out.data);
	ydoc_free(m);
	util_buf_free(&out);
}
END_TEST

/* A producer's file with many keys costs work linear in them (the
 * duplicate-key check was quadratic: 50,000 keys cost minutes of CPU), and
 * a mapping over the limit is refused. */
static char *many_keys(size_t n, size_t *len)
{
	struct util_buf b = {0};
	util_buf_adds(&b, "msgspool: 1\n");
	for (size_t i = 0; i < n; i++)
		util_buf_printf(&b, "k%zu: v\n", i);
	*len = b.len;
	return util_buf_steal(&b);
}

START_TEST(test_many_keys_linear)
{
	size_t len, n = 9000;
	char *src = many_keys(n, &len);
	struct ydoc_node *doc;
	struct ydoc_error e;
	size_t before = ydoc_key_compares();
	ck_assert_int_eq(ydoc_parse(src, len, NULL, &doc, &e), 0);
	size_t work = ydoc_key_compares() - before;
	ck_assert_msg(work < 4 * n, "%zu key comparisons for %zu keys", work, n);
	ydoc_free(doc);
	free(src);
	src = many_keys(50000, &len);
	before = ydoc_key_compares();
	ck_assert_int_eq(ydoc_parse(src, len, NULL, &doc, &e), -1);
	ck_assert_msg(strstr(e.msg, "more keys"), "%s", e.msg);
	ck_assert_msg(ydoc_key_compares() - before < 4 * 50000, "%zu comparisons", ydoc_key_compares() - before);
	free(src);
	/* The same with every value a literal block, which ydoc_block.c reads
	 * and ydoc puts in place (this was a scan of the keys per block). */
	struct util_buf b = {0};
	for (size_t i = 0; i < n; i++)
		util_buf_printf(&b, "k%zu: |\n  body %zu\n", i, i);
	before = ydoc_key_compares();
	ck_assert_int_eq(ydoc_parse(b.data, b.len, NULL, &doc, &e), 0);
	work = ydoc_key_compares() - before;
	ck_assert_msg(work < 4 * n, "%zu key comparisons for %zu blocks", work, n);
	ck_assert_str_eq(ydoc_get_str(doc, "k8999"), "body 8999\n");
	ydoc_free(doc);
	util_buf_free(&b);
}
END_TEST

START_TEST(test_set_keeps_order)
{
	struct ydoc_node *n = parse_ok("a: 1\nb: 2\nc: 3\n");
	ydoc_set(n, "b", ydoc_scalar("20"));
	ydoc_set(n, "d", ydoc_scalar("4"));
	ydoc_del(n, "a");
	struct util_buf out = {0};
	ck_assert_int_eq(ydoc_emit(n, &out), 0);
	ck_assert_str_eq(out.data, "b: 20\nc: 3\nd: 4\n");
	ydoc_free(n);
	util_buf_free(&out);
}
END_TEST

START_TEST(test_clone)
{
	struct ydoc_node *n = parse_ok("a: 1\nb: [x, {c: d}]\ne: {f: g, h: [1, 2]}\n");
	struct ydoc_node *c = ydoc_clone(n);
	struct util_buf x = {0}, y = {0};
	ck_assert_int_eq(ydoc_emit(n, &x), 0);
	ck_assert_int_eq(ydoc_emit(c, &y), 0);
	ck_assert_str_eq(x.data, y.data);
	ydoc_free(n);
	ydoc_free(c);
	util_buf_free(&x);
	util_buf_free(&y);
}
END_TEST

/* The pairs a delivery appends are written without libyaml when they are
 * simple; the bytes must be exactly what libyaml's emitter writes for them
 * (plain where that reads back the same, else double-quoted), and other
 * shapes must still come out (through the emitter). */
START_TEST(test_appended_like_emitter)
{
	static const char src[] = "a: 1\ntext: |\n  body\n";
	struct ydoc_node *cases[8];
	size_t nc = 0;
	struct ydoc_node *m = ydoc_map(), *la = ydoc_map();
	ydoc_set(m, "sending_success_count", ydoc_intval(12));
	ydoc_set(m, "sent_at", ydoc_string("2026-11-29T01:05:41Z"));
	ydoc_set(la, "at", ydoc_string("2026-11-29T01:05:41Z"));
	ydoc_set(la, "outcome", ydoc_string("sent"));
	ydoc_set(la, "smtp_code", ydoc_intval(250));
	ydoc_set(m, "last_attempt", la);
	cases[nc++] = m;
	m = ydoc_map();
	ydoc_set(m, "yes_word", ydoc_string("yes"));	/* reads as a boolean plain */
	ydoc_set(m, "nul", ydoc_string("null"));
	ydoc_set(m, "num", ydoc_string("42"));
	ydoc_set(m, "dotted", ydoc_string("v1.2-rc+3:x"));
	ydoc_set(m, "raw", ydoc_scalar("plain_word"));
	cases[nc++] = m;
	m = ydoc_map();					/* fall back: a space, a sequence */
	ydoc_set(m, "error", ydoc_string("451 try later"));
	struct ydoc_node *seq = ydoc_seq();
	ydoc_push(seq, ydoc_string("x"));
	ydoc_set(m, "errors", seq);
	cases[nc++] = m;
	m = ydoc_map();
	ydoc_set(m, "k", ydoc_string("-dash")); /* a leading dash is not simple */
	ydoc_set(m, "e", ydoc_map());		 /* nor an empty mapping */
	cases[nc++] = m;
	for (size_t i = 0; i < nc; i++) {
		struct ydoc_node *doc = parse_ok(src);
		ck_assert(doc->appendable);
		for (size_t j = 0; j < cases[i]->n; j++)
			ydoc_set(doc, ydoc_key(cases[i], j), ydoc_clone(ydoc_val(cases[i], j)));
		struct util_buf fast = {0}, want = {0};
		ck_assert_int_eq(ydoc_emit_appended(doc, src, strlen(src), &fast), 0);
		util_buf_adds(&want, src);
		ck_assert_int_eq(ydoc_emit(cases[i], &want), 0);
		ck_assert_msg(!strcmp(fast.data, want.data), "case %zu:\n%s--- the emitter writes ---\n%s", i,
			      fast.data, want.data);
		util_buf_free(&fast);
		util_buf_free(&want);
		ydoc_free(doc);
		ydoc_free(cases[i]);
	}
}
END_TEST

/* The root's literal blocks read without libyaml (ydoc_block.c) give what
 * libyaml gives: the same tree, lines, styles and errors, on random
 * documents made of the pieces where the two could differ (indentation,
 * tabs, CR, chomping, indicators, comments, column 0, control characters,
 * line breaks other than LF, bad UTF-8, a missing last line feed). */
static bool same_tree(const struct ydoc_node *a, const struct ydoc_node *b)
{
	if (a->kind != b->kind || a->n != b->n || a->line != b->line || a->quoted != b->quoted)
		return false;
	if (a->kind == YDOC_SCALAR)
		return a->len == b->len && !memcmp(a->str, b->str, a->len + 1);
	size_t count = a->kind == YDOC_MAP ? 2 * a->n : a->n;
	for (size_t i = 0; i < count; i++)
		if (!same_tree(a->items[i], b->items[i]))
			return false;
	return a->parsed_n == b->parsed_n && a->appendable == b->appendable;
}

static void random_doc(struct util_buf *d, unsigned *seed)
{
	/* The first CLEAN of each are in the form the block reader reads. */
	static const char *lines[] = {"a: 1\n", "subject: \"x\"\n", "# c\n", "n: ~\n", "...\n", "\n",
				      "s: \"two\n", "end\"\n", "l: [1,\n", "2]\n", "---\n", "t: \thi\n", "  x: 2\n"};
	static const char *keys[] = {"text", "html", "b", "a", "t_2", "text"};
	static const char *heads[] = {"|", "|-", "|+", "|  ", "|2", "|-1", "| # c", ">", "|\r", "-|"};
	static const char *bits[] = {"a", "word", " ", "  ", "#", ": ", "- ", "\xc3\xa9", "'", "\"", "|",
				     "abcdefghijklmnop", "\xf0\x9f\x98\x80", "\xc2\xa0", "\t",
				     "\r", "\xc2\x85", "\xe2\x80\xa8", "\xef\xbb\xbf", "\xc3\x28", "\xff",
				     "\x01", "\x7f", "\xed\xa0\x80", "\xef\xbf\xbe", "\xe0\x80\xaf"};
	bool clean = rand_r(seed) % 2;
#define PICK(v, c) v[rand_r(seed) % (clean ? (c) : sizeof v / sizeof *v)]
	d->len = 0;
	int parts = 1 + rand_r(seed) % 4;
	for (int i = 0; i < parts; i++) {
		if (rand_r(seed) % 3 == 0) {
			util_buf_adds(d, PICK(lines, 6));
			continue;
		}
		util_buf_printf(d, "%s:%s%s\n", PICK(keys, 6), rand_r(seed) % 4 ? " " : "  ", PICK(heads, 4));
		int n = rand_r(seed) % 6, indent = 1 + rand_r(seed) % 3;
		for (int l = 0; l < n; l++) {
			int sp = clean && rand_r(seed) % 4 ? indent + (rand_r(seed) % 5 == 0) : rand_r(seed) % 5;
			for (int k = 0; k < sp; k++)
				util_buf_adds(d, " ");
			int w = rand_r(seed) % 4;
			for (int k = 0; k < w; k++)
				util_buf_adds(d, rand_r(seed) % 3 ? PICK(bits, 14) : "text");
			util_buf_adds(d, "\n");
		}
	}
	if (d->len && rand_r(seed) % 8 == 0)
		d->len--; /* no last line feed */
	util_buf_cstr(d);
#undef PICK
}

/* SEED and NDOC in the environment run other or more documents. */
START_TEST(test_blocks_like_libyaml)
{
	unsigned seed = getenv("SEED") ? (unsigned)atoi(getenv("SEED")) : 20261130;
	struct util_buf d = {0};
	size_t fast = 0;
	for (int i = 0; i < (getenv("NDOC") ? atoi(getenv("NDOC")) : 100000); i++) {
		random_doc(&d, &seed);
		struct ydoc_node *a = NULL, *b = NULL;
		struct ydoc_error ea, eb;
		ydoc_read_blocks(true);
		int ra = ydoc_parse(d.data, d.len, NULL, &a, &ea);
		ydoc_read_blocks(false);
		int rb = ydoc_parse(d.data, d.len, NULL, &b, &eb);
		ydoc_read_blocks(true);
		ck_assert_msg(ra == rb, "[%s]: %d with the block reader, %d without", d.data, ra, rb);
		if (ra == 0)
			ck_assert_msg(same_tree(a, b), "[%s]: another tree with the block reader", d.data);
		else
			ck_assert_msg(ea.line == eb.line && !strcmp(ea.msg, eb.msg), "[%s]: %d %s, want %d %s",
				      d.data, ea.line, ea.msg, eb.line, eb.msg);
		struct ydoc_blocks blk;
		fast += ra == 0 && ydoc_blocks_take(d.data, d.len, &blk);
		ydoc_blocks_free(&blk);
		ydoc_free(a);
		ydoc_free(b);
	}
	ck_assert_msg(fast > 1000, "only %zu documents with blocks parsed", fast);
	util_buf_free(&d);
}
END_TEST

Suite *suite_ydoc(void)
{
	Suite *s = suite_create("ydoc");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_refused, 0, sizeof refused / sizeof *refused);
	tcase_add_test(tc, test_depth_limit);
	tcase_add_test(tc, test_node_limit);
	tcase_add_test(tc, test_types);
	tcase_add_test(tc, test_bool_null_words);
	tcase_add_test(tc, test_roundtrip_types);
	tcase_add_test(tc, test_literal_blocks);
	tcase_add_test(tc, test_set_keeps_order);
	tcase_add_test(tc, test_clone);
	tcase_add_test(tc, test_appended_like_emitter);
	tcase_add_test(tc, test_many_keys_linear);
	tcase_add_test(tc, test_blocks_like_libyaml);
	/* 100,000 documents through both readers: a few seconds, over Check's
	 * default of 4 under ASan on a busy machine. */
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}
