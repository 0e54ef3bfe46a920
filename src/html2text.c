/* html2text: the plain-text alternative of an HTML body, in one pass over
 * the bytes: blocks separated by a blank line, <br> a line break, list
 * items "* item" (or "1. item"), links "text <url>", whitespace collapsed
 * outside <pre>, script, style, title, noscript and template dropped,
 * character references decoded (names from libxml2's HTML entity table).
 * No tree is built: a 1 MB page costs a few instructions a byte (libxml2's
 * parser and tree cost some 400 a byte, most of a large message's render),
 * and nesting depth costs nothing.
 * Owns: libxml2 (the only module that includes it; only its entity table).
 * Never: fetches anything, prints, recurses on the input, or fails on bad
 * HTML (an unknown or broken construct is text or is skipped; the worst
 * case is less text).
 * Rules: man/msgspool-receiver.5 (the text part), tests/check_mime.c. */
#include "config.h"
#include "html2text.h"
#include "util.h"

#include <errno.h>
#include <libxml/HTMLparser.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#define MAX_DEPTH 32	/* list levels laid out; deeper ones count as this */

struct out {
	struct util_buf b;
	int pending_nl;		/* line breaks owed before the next text */
	bool space;		/* a space is owed before the next text */
	bool start;		/* nothing written on this line yet */
	int pre;		/* inside <pre> */
	int depth;		/* nesting of lists, for indentation */
	int item[MAX_DEPTH + 1]; /* the item count of each list level, <0 unordered */
	char *href;		/* inside <a href>: its target */
	size_t href_len;
	struct util_buf link;	/* the link's text so far, up to strlen(href) + 1 */
};

/* Appends to the text: the capacity check inline, the NUL written once at
 * the end (most appends are a word of a few bytes). */
static void emit(struct out *o, const char *s, size_t n)
{
	if (o->b.len + n + 1 > o->b.cap && util_buf_reserve(&o->b, n) < 0)
		return;
	memcpy(o->b.data + o->b.len, s, n);
	o->b.len += n;
}

static void owe_break(struct out *o, int n)
{
	if (o->b.len == 0)
		return;
	if (n > o->pending_nl)
		o->pending_nl = n;
	o->space = false;
}

static void flush(struct out *o)
{
	if (o->pending_nl && o->b.len) {
		/* A line that already ended counts toward the owed breaks. */
		int have = o->b.data[o->b.len - 1] == '\n' ? 1 : 0;
		for (int i = have; i < o->pending_nl; i++)
			emit(o, "\n", 1);
		o->start = true;
		o->space = false;
	}
	o->pending_nl = 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* 1 for a space, 2 for the other whitespace HTML collapses. */
static const unsigned char ws_class[256] = {[' '] = 1, ['\t'] = 2, ['\n'] = 2, ['\r'] = 2, ['\f'] = 2};

/* Where a run of text that is its own collapsed form ends: at whitespace
 * other than a single space between two non-blank characters. Eight bytes
 * at a time: the first byte of a word at or below " " is found at once
 * (the test of each byte being less than 0x21 is exact for the lowest). */
static const char *plain_run(const char *s, const char *end)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	while (s < end) {
		const char *c = s;
		if (end - s >= 8) {
			uint64_t w;
			memcpy(&w, s, 8);
			uint64_t low = (w - 0x21 * ones) & ~w & highs;
			if (!low) {
				s += 8;
				continue;
			}
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			c = s + __builtin_ctzll(low) / 8;
#endif
		}
		unsigned char k = ws_class[(unsigned char)*c];
		if (k && (k == 2 || c + 1 == end || ws_class[(unsigned char)c[1]]))
			return c;
		s = c + 1;
	}
	return end;
}

/* Text as it appears (entities already decoded): whitespace collapsed
 * outside <pre>, and runs without whitespace copied at once. */
static void put_text_n(struct out *o, const char *s, size_t n)
{
	const char *end = s + n;
	if (o->href && o->link.len <= o->href_len)
		util_buf_add(&o->link, s, n);
	while (s < end) {
		if (!o->pre && is_space(*s)) {
			if (!o->start)
				o->space = true;
			s++;
			continue;
		}
		flush(o);
		if (o->space && !o->start)
			emit(o, " ", 1);
		o->space = false;
		/* A single space between words is its own collapsed form. */
		const char *run = s, *nl;
		if (!o->pre)
			s = plain_run(s, end);
		else
			s = (nl = memchr(s, '\n', (size_t)(end - s))) ? nl : end;
		if (s == run) /* a line break inside <pre> */
			s++;
		emit(o, run, (size_t)(s - run));
		o->start = s[-1] == '\n';
	}
}

static void put_text(struct out *o, const char *s)
{
	put_text_n(o, s, strlen(s));
}

/* The UTF-8 form of code point c (a bad one becomes U+FFFD); returns its length. */
static size_t utf8_put(unsigned long c, char *u)
{
	if (c == 0 || c > 0x10ffff || (c >= 0xd800 && c < 0xe000))
		c = 0xfffd;
	if (c < 0x80)
		return u[0] = (char)c, 1;
	if (c < 0x800)
		return u[0] = (char)(0xc0 | c >> 6), u[1] = (char)(0x80 | (c & 63)), 2;
	if (c < 0x10000)
		return u[0] = (char)(0xe0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 63)),
		       u[2] = (char)(0x80 | (c & 63)), 3;
	return u[0] = (char)(0xf0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 63)),
	       u[2] = (char)(0x80 | ((c >> 6) & 63)), u[3] = (char)(0x80 | (c & 63)), 4;
}

/* A character reference at *p ("&amp;", "&#8211;", "&#x2013;"): its UTF-8
 * in u and its length, *p moved past it; 0 (and *p kept) when it is not
 * one, so the "&" is text. */
static size_t entity(const char **p, const char *end, char u[4])
{
	const char *s = *p + 1;
	unsigned long c = 0;
	if (s < end && *s == '#') {
		bool hex = s + 1 < end && (s[1] == 'x' || s[1] == 'X');
		const char *d = s + (hex ? 2 : 1), *q = d;
		for (; q < end && q - d < 8 && (hex ? strchr("0123456789abcdefABCDEF", *q) : strchr("0123456789", *q)) && *q; q++)
			c = c * (hex ? 16 : 10) + (unsigned long)(*q <= '9' ? *q - '0' : (*q | 32) - 'a' + 10);
		if (q == d)
			return 0;
		*p = q < end && *q == ';' ? q + 1 : q;
		return utf8_put(c, u);
	}
	char name[33];
	size_t n = 0;
	while (s + n < end && n < 32 && ((s[n] | 32) >= 'a' && (s[n] | 32) <= 'z' ? true : s[n] >= '0' && s[n] <= '9'))
		n++;
	if (n == 0)
		return 0;
	memcpy(name, s, n);
	name[n] = '\0';
	const htmlEntityDesc *e = htmlEntityLookup((const xmlChar *)name);
	if (!e)
		return 0;
	*p = s + n < end && s[n] == ';' ? s + n + 1 : s + n;
	return utf8_put(e->value, u);
}

/* Text between tags: entities decoded, the rest in runs. */
static void text(struct out *o, const char *s, const char *end)
{
	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *stop = amp ? amp : end;
		const char *nul = memchr(s, '\0', (size_t)(stop - s));
		if (nul)
			stop = nul;
		put_text_n(o, s, (size_t)(stop - s));
		s = stop;
		if (s == end)
			break;
		char u[4];
		size_t n = *s == '&' ? entity(&s, end, u) : 0;
		if (n)
			put_text_n(o, u, n);
		else if (*s++ == '&')
			put_text_n(o, "&", 1);
	}
}

struct tag {
	char name[16];		/* lower case; longer names are cut (no element we know is) */
	bool end;
	char *href, *alt;	/* decoded, malloc'd, when present */
};

/* An attribute value with its entities decoded (and NULs dropped). */
static char *attr_value(const char *s, size_t n)
{
	struct util_buf v = {0};
	util_buf_reserve(&v, n);
	for (const char *p = s, *end = s + n; p < end;) {
		const char *run = p, *amp = memchr(p, '&', (size_t)(end - p)), *nul;
		p = amp ? amp : end;
		if ((nul = memchr(run, '\0', (size_t)(p - run))))
			p = nul;
		util_buf_add(&v, run, (size_t)(p - run));
		if (p == end)
			break;
		char u[4];
		size_t k = *p == '&' ? entity(&p, end, u) : 0;
		if (k)
			util_buf_add(&v, u, k);
		else if (*p++)
			util_buf_add(&v, "&", 1);
	}
	return util_buf_steal(&v);
}

/* The attributes of a tag, from p to its ">"; returns where the tag ends
 * (past the ">", or end). Quoted values may hold ">". */
static const char *attributes(struct tag *t, const char *p, const char *end)
{
	while (p < end && *p != '>') {
		if (is_space(*p) || *p == '/' || *p == '"' || *p == '\'' || *p == '=') {
			p++;
			continue;
		}
		const char *name = p;
		while (p < end && !is_space(*p) && *p != '>' && *p != '=' && *p != '/')
			p++;
		size_t nlen = (size_t)(p - name);
		while (p < end && is_space(*p))
			p++;
		const char *v = NULL;
		size_t vlen = 0;
		if (p < end && *p == '=') {
			for (p++; p < end && is_space(*p); p++)
				;
			char q = p < end && (*p == '"' || *p == '\'') ? *p++ : 0;
			v = p;
			const char *close = q ? memchr(p, q, (size_t)(end - p)) : NULL;
			if (q)
				p = close ? close : end;
			while (p < end && !q && !is_space(*p) && *p != '>')
				p++;
			vlen = (size_t)(p - v);
			if (q && p < end)
				p++;
		}
		char **slot = nlen == 4 && !strncasecmp(name, "href", 4) ? &t->href
			    : nlen == 3 && !strncasecmp(name, "alt", 3) ? &t->alt : NULL;
		if (slot && !*slot)
			*slot = attr_value(v ? v : "", vlen);
	}
	return p < end ? p + 1 : end;
}

/* A tag at p (p[0] == '<' and a letter or "/" and a letter follows):
 * fills t; returns where it ends. */
static const char *read_tag(struct tag *t, const char *p, const char *end)
{
	memset(t, 0, sizeof *t);
	p++;
	if (*p == '/') {
		t->end = true;
		p++;
	}
	size_t n = 0;
	for (; p < end && !is_space(*p) && *p != '>' && *p != '/'; p++)
		if (n < sizeof t->name - 1)
			t->name[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p | 32 : *p);
	return attributes(t, p, end);
}

/* What an element does to the layout. */
enum kind { K_INLINE, K_BR, K_LIST, K_LI, K_IMG, K_A, K_TR, K_CELL, K_HR, K_DEF, K_BLOCK, K_PRE, K_SKIP };

static enum kind kind_of(const char *name)
{
	static const struct {
		const char *name;
		enum kind kind;
	} kinds[] = {
		{"a", K_A}, {"br", K_BR}, {"p", K_BLOCK}, {"li", K_LI}, {"td", K_CELL}, {"tr", K_TR},
		{"div", K_BLOCK}, {"ul", K_LIST}, {"ol", K_LIST}, {"img", K_IMG}, {"th", K_CELL},
		{"hr", K_HR}, {"dt", K_DEF}, {"dd", K_DEF}, {"pre", K_PRE}, {"h1", K_BLOCK},
		{"h2", K_BLOCK}, {"h3", K_BLOCK}, {"h4", K_BLOCK}, {"h5", K_BLOCK}, {"h6", K_BLOCK},
		{"table", K_BLOCK}, {"blockquote", K_BLOCK}, {"section", K_BLOCK}, {"article", K_BLOCK},
		{"header", K_BLOCK}, {"footer", K_BLOCK}, {"address", K_BLOCK}, {"dl", K_BLOCK},
		{"form", K_BLOCK}, {"fieldset", K_BLOCK}, {"figure", K_BLOCK}, {"main", K_BLOCK},
		{"nav", K_BLOCK}, {"aside", K_BLOCK}, {"script", K_SKIP}, {"style", K_SKIP},
		{"title", K_SKIP}, {"noscript", K_SKIP}, {"template", K_SKIP}, {"textarea", K_SKIP}};
	/* Most tags are one or two letters: those are told apart at once. */
	if (name[0] && !name[1])
		return name[0] == 'a' ? K_A : name[0] == 'p' ? K_BLOCK : K_INLINE;
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		if (kinds[i].name[0] == name[0] && !strcmp(kinds[i].name, name))
			return kinds[i].kind;
	return K_INLINE;
}

/* Where the element t, whose content is dropped, ends: past "</name",
 * found case-insensitively (script and style hold "<" freely), or end. */
static const char *skip_content(const struct tag *t, const char *p, const char *end)
{
	size_t n = strlen(t->name);
	for (const char *q = p; (q = memchr(q, '<', (size_t)(end - q))); q++) {
		const char *after = q + 2 + n;
		if ((size_t)(end - q) >= n + 2 && q[1] == '/' && !strncasecmp(q + 2, t->name, n) &&
		    (after == end || !((*after | 32) >= 'a' && (*after | 32) <= 'z'))) {
			const char *gt = memchr(after, '>', (size_t)(end - after));
			return gt ? gt + 1 : end;
		}
	}
	return end;
}

static void list_item(struct out *o)
{
	owe_break(o, 1);
	flush(o);
	int level = o->depth < MAX_DEPTH ? o->depth : MAX_DEPTH;
	for (int i = 1; i < level; i++)
		emit(o, "  ", 2);
	char mark[16];
	if (o->item[level] >= 0)
		snprintf(mark, sizeof mark, "%d. ", ++o->item[level]);
	const char *m = o->item[level] >= 0 ? mark : "* ";
	emit(o, m, strlen(m));
	o->start = true; /* no space after the mark */
}

/* The end of a link: its target unless the text already is it; in-page
 * anchors and scripts are not shown. */
static void end_link(struct out *o)
{
	char *href = o->href;
	if (!href)
		return;
	bool same = o->link.len == o->href_len && (!o->link.len || !memcmp(o->link.data, href, o->link.len));
	o->href = NULL;
	if (*href && href[0] != '#' && !same && strncasecmp(href, "javascript:", 11) != 0) {
		put_text(o, " <");
		int pre = o->pre;
		o->pre = 1; /* keep the url exactly */
		put_text(o, href);
		o->pre = pre;
		put_text(o, ">");
	}
	free(href);
	o->link.len = 0;
}

static void list_tag(struct out *o, const struct tag *t)
{
	if (!t->end) {
		owe_break(o, o->depth ? 1 : 2);
		o->depth++;
		if (o->depth <= MAX_DEPTH)
			o->item[o->depth] = t->name[0] == 'o' ? 0 : -1;
	} else if (o->depth > 0) {
		o->depth--;
		owe_break(o, o->depth ? 1 : 2);
	}
}

/* What a tag does to the layout. */
static void layout(struct out *o, struct tag *t, enum kind k)
{
	switch (k) {
	case K_BR:
		flush(o);
		emit(o, "\n", 1);
		o->start = true;
		o->space = false;
		break;
	case K_LIST:
		list_tag(o, t);
		break;
	case K_LI:
		if (!t->end && o->depth > 0)
			list_item(o);
		else if (t->end && o->depth == 0)
			owe_break(o, 1);
		break;
	case K_IMG:
		if (!t->end && t->alt && *t->alt) {
			put_text(o, "[");
			put_text(o, t->alt);
			put_text(o, "]");
		}
		break;
	case K_A:
		end_link(o); /* links do not nest: a new one ends the last */
		if (!t->end && t->href) {
			o->href = t->href;
			o->href_len = strlen(t->href);
			t->href = NULL;
		}
		break;
	case K_TR:
	case K_DEF:
		owe_break(o, 1);
		break;
	case K_CELL:
		if (t->end || !o->start || o->b.len)
			o->space = true;
		break;
	case K_HR:
		owe_break(o, 2);
		flush(o);
		put_text(o, "----------");
		owe_break(o, 2);
		break;
	case K_PRE:
		owe_break(o, 2);
		if (!t->end)
			flush(o), o->pre++;
		else if (o->pre > 0)
			o->pre--;
		break;
	case K_BLOCK:
		owe_break(o, 2);
		break;
	default:
		break;
	}
}

/* Markup at p ("<"): a tag, a comment, a declaration; returns where it
 * ends, or p itself when the "<" is text. */
static const char *markup(struct out *o, const char *p, const char *end)
{
	const char *q = p + 1 < end && p[1] == '/' ? p + 2 : p + 1;
	if (q >= end)
		return p;
	if (p[1] == '!' || p[1] == '?') {
		if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
			const char *c = memmem(p + 4, (size_t)(end - p - 4), "-->", 3);
			return c ? c + 3 : end;
		}
		const char *gt = memchr(p, '>', (size_t)(end - p));
		return gt ? gt + 1 : end;
	}
	if (!((*q | 32) >= 'a' && (*q | 32) <= 'z'))
		return p;
	struct tag t;
	p = read_tag(&t, p, end);
	enum kind k = kind_of(t.name);
	if (!t.end && k == K_SKIP) {
		p = skip_content(&t, p, end);
	} else {
		layout(o, &t, k);
		if (!t.end && k == K_PRE && p < end && (*p == '\n' || *p == '\r'))
			p += p + 1 < end && p[0] == '\r' && p[1] == '\n' ? 2 : 1; /* HTML drops it */
	}
	free(t.href);
	free(t.alt);
	return p;
}

char *html2text(const char *html, size_t len)
{
	if (len > (size_t)INT32_MAX) {
		errno = EFBIG;
		return NULL;
	}
	struct out o = {.start = true};
	/* The text is about as long as the html: grown once, not many times. */
	if (util_buf_reserve(&o.b, len / 2 + 64) < 0)
		return NULL;
	const char *p = html, *end = html + len;
	while (p < end) {
		const char *lt = memchr(p, '<', (size_t)(end - p));
		text(&o, p, lt ? lt : end);
		if (!lt)
			break;
		const char *next = markup(&o, lt, end);
		if (next == lt) {
			put_text_n(&o, "<", 1);
			next = lt + 1;
		}
		p = next;
	}
	end_link(&o);
	util_buf_free(&o.link);
	/* Trim trailing blanks and end with exactly one newline. */
	while (o.b.len && strchr(" \n\t", o.b.data[o.b.len - 1]))
		o.b.len--;
	if (util_buf_add(&o.b, "\n", 1) < 0) {
		util_buf_free(&o.b);
		errno = ENOMEM;
		return NULL;
	}
	return util_buf_steal(&o.b);
}
