/* ydoc_block: the literal blocks of a document's root mapping (the bodies:
 * `html: |` and its indented lines) read without libyaml, so a 10 MB body
 * costs a few instructions a byte, not libyaml's some 65 (its reader checks
 * and copies every character, its scanner copies the block a character at
 * a time). ydoc_parse gives libyaml the document with each such block's
 * lines emptied (line numbers and everything else kept) and puts the text
 * read here in their place.
 * Never: decides anything libyaml might decide otherwise. Only the plainest
 * form is read here: a key of letters, digits and "_" at column 0, ": |",
 * "|-" or "|+" and the line's end, a first line indented by spaces and then
 * text, every later line indented at least as far, empty (spaces and a
 * line feed) or at column 0 (which ends the block), a line feed after every
 * line, and UTF-8 that libyaml's reader accepts and whose characters are
 * no line breaks but the line feed. Anything else in such a block (a tab
 * or CR in the indentation, a line indented less but not to column 0, a
 * control character, NEL, U+2028, a BOM, bad UTF-8, an indentation
 * indicator, a comment after the "|") leaves the whole document to libyaml,
 * errors and all; ydoc_parse also checks that libyaml saw each block where
 * this reader did. tests/check_ydoc.c compares both readers on random
 * documents. Only ydoc.c calls it. */
#include "config.h"
#include "ydoc_block.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Bytes libyaml's reader takes in a scalar as themselves: printable ASCII
 * and the tab; 1 also for the bytes of longer UTF-8 sequences, which
 * utf8_ok checks. 0: a control character, CR or DEL. */
static bool ascii_ok(unsigned char c)
{
	return (c >= 0x20 && c < 0x7f) || c == '\t';
}

/* The length of the UTF-8 sequence at p (before end) when libyaml reads it
 * as one printable character other than a line break or BOM; 0 otherwise. */
static size_t utf8_ok(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0];
	size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
	if (c < 0xc2 || c > 0xf4 || (size_t)(end - p) < n)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	uint32_t u = n == 2 ? (uint32_t)(c & 0x1f) << 6 | (p[1] & 0x3f)
		   : n == 3 ? (uint32_t)(c & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
			    : (uint32_t)(c & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
				      (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
	static const uint32_t least[5] = {0, 0, 0x80, 0x800, 0x10000};
	if (u < least[n] || u > 0x10ffff || (u >= 0xd800 && u < 0xe000) || u < 0xa0 ||
	    u == 0x2028 || u == 0x2029 || u == 0xfeff || u == 0xfffe || u == 0xffff)
		return 0;
	return n;
}

/* s to end (a line without its line feed) is all characters libyaml's
 * reader takes inside a literal block without another meaning. */
static bool line_ok(const char *s, const char *end)
{
	const unsigned char *p = (const unsigned char *)s, *e = (const unsigned char *)end;
	while (p < e) {
		/* Eight bytes at a time while they are printable ASCII. */
		while (e - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
			uint64_t del = w ^ (0x7f * ones);
			if ((w & high) || ((w - 0x20 * ones) & high) || ((del - ones) & ~del & high))
				break;
			p += 8;
		}
		if (p == e)
			break;
		if (*p < 0x80) {
			if (!ascii_ok(*p))
				return false;
			p++;
			continue;
		}
		size_t n = utf8_ok(p, e);
		if (!n)
			return false;
		p += n;
	}
	return true;
}

/* The header of a block at the start of a line: KEY ": " spaces "|" and
 * "-" or "+" or nothing, spaces, line feed. Returns the length of the
 * key (0: not such a line), the chomping in *chomp ('|', '-', '+') and
 * where the next line starts in *next. *other is set when the line is a
 * key with a block or folded scalar in a form not read here. */
static size_t header(const char *p, const char *end, char *chomp, const char **next, bool *other)
{
	const char *k = p;
	while (k < end && ((*k | 32) >= 'a' && (*k | 32) <= 'z' ? true : (*k >= '0' && *k <= '9') || *k == '_'))
		k++;
	size_t klen = (size_t)(k - p);
	if (!klen || end - k < 2 || k[0] != ':' || k[1] != ' ')
		return 0;
	const char *q = k + 1;
	while (q < end && *q == ' ')
		q++;
	if (q == end || (*q != '|' && *q != '>'))
		return 0;
	*other = true;
	if (*q++ != '|')
		return 0;
	*chomp = q < end && (*q == '-' || *q == '+') ? *q++ : '|';
	while (q < end && *q == ' ')
		q++;
	if (q == end || *q != '\n' || klen >= YDOC_BLOCK_KEY)
		return 0;
	*other = false;
	*next = q + 1;
	return klen;
}

/* The block whose first line starts at p: its text into blk, its lines
 * counted in *lines; returns where it ends (the line at column 0 after it,
 * or end), NULL when it is not in the form read here. */
static const char *block(const char *p, const char *end, char chomp, struct ydoc_block *blk, size_t *lines)
{
	size_t indent = 0;
	while (p + indent < end && p[indent] == ' ')
		indent++;
	if (!indent || p + indent == end || p[indent] == '\n' || p[indent] == '\t' || p[indent] == '\r')
		return NULL;
	/* Grown as the lines come, and not zeroed (util_xmalloc is calloc):
	 * sized by the rest of the file, a file of many blocks would ask for
	 * (and clear) the file's size once for each. */
	size_t cap = 256;
	char *v = util_xrealloc(NULL, cap);
	size_t len = 0, content_end = 0;
	*lines = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			goto bad; /* the last line has no line feed */
		size_t k = 0;
		while (p + k < nl && k < indent && p[k] == ' ')
			k++;
		if (k == 0 && p < nl) {
			/* Column 0: the next key, a comment, "...". A tab, CR or
			 * non-ASCII there is libyaml's to judge. */
			if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f)
				goto bad;
			break;
		}
		if (k < indent && p + k < nl)
			goto bad; /* less indented but not at column 0, or a tab */
		if (len + (size_t)(nl - p) + 2 > cap) {
			cap = len + (size_t)(nl - p) + 2 > 2 * cap ? len + (size_t)(nl - p) + 2 : 2 * cap;
			v = util_xrealloc(v, cap);
		}
		if (p + k < nl) {
			if (!line_ok(p + k, nl))
				goto bad;
			memcpy(v + len, p + k, (size_t)(nl - p - (ptrdiff_t)k));
			len += (size_t)(nl - p - (ptrdiff_t)k);
			content_end = len;
		}
		v[len++] = '\n';
		(*lines)++;
		p = nl + 1;
	}
	blk->len = chomp == '+' ? len : chomp == '-' ? content_end : content_end + 1;
	v[blk->len] = '\0';
	blk->str = v;
	return p;
bad:
	free(v);
	return NULL;
}

void ydoc_blocks_free(struct ydoc_blocks *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->v[i].str);
	free(b->v);
	free(b->doc);
	memset(b, 0, sizeof *b);
}

size_t ydoc_blocks_take(const char *buf, size_t len, struct ydoc_blocks *b)
{
	memset(b, 0, sizeof *b);
	const char *p = buf, *end = buf + len;
	char *doc = NULL;
	size_t dlen = 0, line = 1, cap = 0;
	while (p < end) {
		char chomp;
		const char *next;
		bool other = false;
		size_t klen = header(p, end, &chomp, &next, &other);
		if (other)
			goto none;
		const char *nl = klen ? next - 1 : memchr(p, '\n', (size_t)(end - p));
		const char *after = nl ? nl + 1 : end;
		if (klen) {
			if (!doc) {
				/* The lines before the first block, as they are. */
				doc = util_xrealloc(NULL, len + 1); /* not cleared */
				memcpy(doc, buf, (size_t)(p - buf));
				dlen = (size_t)(p - buf);
			}
			if (b->n == cap) {
				cap = cap ? 2 * cap : 4;
				b->v = util_xrealloc(b->v, cap * sizeof *b->v);
			}
			struct ydoc_block *blk = &b->v[b->n];
			memset(blk, 0, sizeof *blk);
			size_t lines;
			const char *stop = block(next, end, chomp, blk, &lines);
			if (!stop)
				goto none;
			b->n++;
			memcpy(blk->key, p, klen);
			blk->key[klen] = '\0';
			blk->line = line;
			/* The header as it is, then the block's lines emptied. */
			memcpy(doc + dlen, p, (size_t)(next - p));
			dlen += (size_t)(next - p);
			memset(doc + dlen, '\n', lines);
			dlen += lines;
			line += 1 + lines;
			p = stop;
			continue;
		}
		if (doc) {
			memcpy(doc + dlen, p, (size_t)(after - p));
			dlen += (size_t)(after - p);
		}
		line++;
		p = after;
	}
	if (!b->n)
		goto none;
	b->doc = doc;
	b->doc_len = dlen;
	return b->n;
none:
	free(doc);
	doc = NULL;
	ydoc_blocks_free(b);
	return 0;
}
