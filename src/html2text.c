/* html2text: the plain-text alternative of an HTML body. Walks libxml2's
 * HTML tree and lays out text: blocks separated by a blank line, <br> a
 * line break, list items "* item" (or "1. item"), links "text <url>",
 * whitespace collapsed outside <pre>, script and style dropped, entities
 * decoded by the parser.
 * Owns: libxml2 (the only module that includes it).
 * Never: fetches anything (HTML_PARSE_NONET), prints, or fails on bad HTML
 * (the parser recovers; the worst case is less text).
 * Rules: man/msgspool-receiver.5 (the text part), tests/check_mime.c. */
#include "config.h"
#include "html2text.h"
#include "util.h"

#include <errno.h>
#include <libxml/HTMLparser.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

struct out {
	struct util_buf b;
	int pending_nl;		/* line breaks owed before the next text */
	bool space;		/* a space is owed before the next text */
	bool start;		/* nothing written on this line yet */
	int pre;		/* inside <pre> */
	int depth;		/* nesting of lists, for indentation */
};

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
			util_buf_add(&o->b, "\n", 1);
		o->start = true;
		o->space = false;
	}
	o->pending_nl = 0;
}

static void put_text(struct out *o, const char *s)
{
	for (; *s; s++) {
		char c = *s;
		if (!o->pre && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f')) {
			if (!o->start)
				o->space = true;
			continue;
		}
		flush(o);
		if (o->space && !o->start)
			util_buf_add(&o->b, " ", 1);
		o->space = false;
		util_buf_add(&o->b, &c, 1);
		o->start = c == '\n';
	}
}

static bool is(const xmlNode *n, const char *name)
{
	return n->name && !strcasecmp((const char *)n->name, name);
}

static bool is_block(const xmlNode *n)
{
	static const char *const blocks[] = {
		"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "table", "blockquote",
		"pre", "hr", "section", "article", "header", "footer", "address", "dl", "form",
		"fieldset", "figure", "main", "nav", "aside"};
	for (size_t i = 0; i < sizeof blocks / sizeof *blocks; i++)
		if (is(n, blocks[i]))
			return true;
	return false;
}

static char *node_text(const xmlNode *n)
{
	xmlChar *c = xmlNodeGetContent((xmlNode *)n);
	char *s = util_strdup(c ? (const char *)c : "");
	xmlFree(c);
	return s;
}

static void walk(struct out *o, const xmlNode *n);

static void walk_children(struct out *o, const xmlNode *n)
{
	for (const xmlNode *c = n->children; c; c = c->next)
		walk(o, c);
}

static void walk_list(struct out *o, const xmlNode *n, bool ordered)
{
	int k = 0;
	owe_break(o, o->depth ? 1 : 2);
	o->depth++;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE || !is(c, "li")) {
			walk(o, c);
			continue;
		}
		owe_break(o, 1);
		flush(o);
		for (int i = 1; i < o->depth; i++)
			util_buf_adds(&o->b, "  ");
		char mark[16];
		snprintf(mark, sizeof mark, ordered ? "%d. " : "* ", ++k);
		util_buf_adds(&o->b, mark);
		o->start = true; /* no space after the mark */
		walk_children(o, c);
	}
	o->depth--;
	owe_break(o, o->depth ? 1 : 2);
}

static void walk_img(struct out *o, const xmlNode *n)
{
	xmlChar *alt = xmlGetProp((xmlNode *)n, (const xmlChar *)"alt");
	if (alt && *alt) {
		put_text(o, "[");
		put_text(o, (const char *)alt);
		put_text(o, "]");
	}
	xmlFree(alt);
}

static void walk_link(struct out *o, const xmlNode *n)
{
	xmlChar *href = xmlGetProp((xmlNode *)n, (const xmlChar *)"href");
	char *text = node_text(n);
	walk_children(o, n);
	/* Show the target unless the text already is it; skip in-page anchors. */
	if (href && *href && href[0] != '#' && strcmp((const char *)href, text) != 0 &&
	    strncasecmp((const char *)href, "javascript:", 11) != 0) {
		put_text(o, " <");
		bool pre = o->pre;
		o->pre = 1; /* keep the url exactly */
		put_text(o, (const char *)href);
		o->pre = pre;
		put_text(o, ">");
	}
	free(text);
	xmlFree(href);
}

static void walk(struct out *o, const xmlNode *n)
{
	if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
		if (n->content)
			put_text(o, (const char *)n->content);
		return;
	}
	if (n->type != XML_ELEMENT_NODE) {
		if (n->type == XML_DOCUMENT_NODE || n->type == XML_HTML_DOCUMENT_NODE)
			walk_children(o, n);
		return;
	}
	if (is(n, "script") || is(n, "style") || is(n, "head") || is(n, "title") ||
	    is(n, "noscript") || is(n, "template"))
		return;
	if (is(n, "br")) {
		flush(o);
		util_buf_add(&o->b, "\n", 1);
		o->start = true;
		o->space = false;
		return;
	}
	if (is(n, "ul") || is(n, "ol")) {
		walk_list(o, n, is(n, "ol"));
		return;
	}
	if (is(n, "img")) {
		walk_img(o, n);
		return;
	}
	if (is(n, "a")) {
		walk_link(o, n);
		return;
	}
	if (is(n, "tr")) {
		owe_break(o, 1);
		walk_children(o, n);
		owe_break(o, 1);
		return;
	}
	if (is(n, "td") || is(n, "th")) {
		if (!o->start || o->b.len)
			o->space = true;
		walk_children(o, n);
		o->space = true;
		return;
	}
	if (is(n, "hr")) {
		owe_break(o, 2);
		flush(o);
		put_text(o, "----------");
		owe_break(o, 2);
		return;
	}
	bool block = is_block(n);
	if (block)
		owe_break(o, 2);
	if (is(n, "pre")) {
		flush(o);
		o->pre++;
	}
	walk_children(o, n);
	if (is(n, "pre"))
		o->pre--;
	if (block)
		owe_break(o, 2);
	else if (is(n, "li") || is(n, "dt") || is(n, "dd"))
		owe_break(o, 1);
}

char *html2text(const char *html, size_t len)
{
	if (len > (size_t)INT32_MAX) {
		errno = EFBIG;
		return NULL;
	}
	htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
					HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
						HTML_PARSE_NONET);
	struct out o = {.start = true};
	if (doc)
		walk(&o, (xmlNode *)doc);
	xmlFreeDoc(doc);
	/* Trim trailing blanks and end with exactly one newline. */
	while (o.b.len && strchr(" \n\t", o.b.data[o.b.len - 1]))
		o.b.len--;
	util_buf_add(&o.b, "\n", 1);
	return util_buf_steal(&o.b);
}
