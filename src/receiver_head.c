/* receiver_head: a second reader of receiver files, for listings only. It
 * reads the list's columns (send_to, subject, user, context_type, created,
 * sent_at and the two counts) from files of the plain block shape that
 * msgspool and common producers write, without building a tree: the full
 * parse of every body was most of a cold listing's cost. It must never
 * accept a file receiver_parse refuses, nor give a column another value
 * than the full parse gives: whatever it does not know for certain (flow
 * collections, anchors, tags, comments, folded or multi-line scalars, a tab
 * or CR outside a body, a line break other than LF, a byte that is not
 * printable UTF-8, deep nesting, a header map) makes it answer "not sure"
 * and the caller parses the file whole, which also names what is wrong.
 * Every byte is still looked at (a bad byte in a body makes the file bad).
 * It writes nothing and knows no path. The format: spool-layout/README.md;
 * tests/check_receiver.c holds it against receiver_parse on hostile and
 * mutated files. */
#include "config.h"
#include "receiver.h"
#include "addr.h"

#include <stdint.h>
#include <string.h>

#define MAX_DEPTH 8
#define MAX_KEYS 64	/* per mapping; more: not sure */
#define MAX_NODES 4096
#define MAX_KEY 200

enum vkind { V_NULL, V_PLAIN, V_QUOTED, V_BLOCK, V_MAP, V_SEQ };

/* A value of the root mapping: its kind and, for a scalar on one line,
 * its source text (plain: trimmed; quoted: between the quotes). */
struct val {
	enum vkind kind;
	char quote;
	const char *s;
	size_t n;
};

struct top {
	const char *key;
	size_t klen;
	struct val v;
};

struct hp {
	const char *buf, *end;
	const char *p;		/* start of the next line to read */
	size_t nodes;
	struct top top[MAX_KEYS];
	size_t ntop;
};

/* Every byte printable UTF-8 as libyaml wants it, with no line break but
 * LF (no CR, NEL, U+2028/9) and no byte order mark or C1 control. */
#ifdef __SSE2__
#include <emmintrin.h>
/* How many of the 16 bytes at p, from the first, are printable ASCII
 * (0x20 to 0x7e), as most of a body is. */
static size_t plain_run(const unsigned char *p)
{
	__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i ok = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8(0x1f)), _mm_cmplt_epi8(x, _mm_set1_epi8(0x7f)));
	unsigned bad = ~(unsigned)_mm_movemask_epi8(ok) & 0xffff;
	return bad ? (size_t)__builtin_ctz(bad) : 16;
}
#define RUN 16
#else
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
/* The same 8 bytes at a time: a byte below 0x20, DEL or above 0x7f sets
 * its high bit in the mask (a borrow may set later ones, never earlier). */
static size_t plain_run(const unsigned char *p)
{
	uint64_t w, d;
	memcpy(&w, p, 8);
	d = w ^ (0x7f * ONES);
	uint64_t m = (w | ((w - 0x20 * ONES) & ~w) | ((d - ONES) & ~d)) & HIGHS;
	if (!m)
		return 8;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(m) >> 3;
#else
	return 0;
#endif
}
#define RUN 8
#endif

static bool plain_bytes(const unsigned char *p, const unsigned char *e)
{
	while (p < e) {
		if (e - p >= RUN) {
			size_t run = plain_run(p);
			p += run;
			if (run == RUN)
				continue;
		}
		unsigned c = *p;
		if (c >= 0xc2 && c <= 0xdf && e - p >= 2 && (p[1] & 0xc0) == 0x80) {
			if (c == 0xc2 && p[1] < 0xa0)
				return false; /* C1 controls, NEL among them */
			p += 2; /* U+00A0 to U+07FF: all printable */
			continue;
		}
		if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\t') {
			p++;
			continue;
		}
		size_t k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : 0;
		if (!k || !util_utf8_valid((const char *)p, (size_t)(e - p) < k + 1 ? (size_t)(e - p) : k + 1) ||
		    (size_t)(e - p) < k + 1)
			return false;
		unsigned cp = c & (0x3fu >> k);
		for (size_t i = 1; i <= k; i++)
			cp = (cp << 6) | (p[i] & 0x3f);
		if (cp < 0xa0 || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff || (cp >= 0xfffe && cp <= 0xffff))
			return false;
		p += k + 1;
	}
	return true;
}

static const char *eol_of(const struct hp *h, const char *p)
{
	const char *nl = memchr(p, '\n', (size_t)(h->end - p));
	return nl ? nl : h->end;
}

static const char *next_line(const struct hp *h, const char *eol)
{
	return eol < h->end ? eol + 1 : h->end;
}

static size_t indent_of(const char *p, const char *eol)
{
	const char *q = p;
	while (q < eol && *q == ' ')
		q++;
	return (size_t)(q - p);
}

/* Skips lines of spaces only; h->p is then a line with text, or the end. */
static void skip_blank(struct hp *h)
{
	while (h->p < h->end) {
		const char *eol = eol_of(h, h->p);
		if (indent_of(h->p, eol) != (size_t)(eol - h->p))
			return;
		h->p = next_line(h, eol);
	}
}

static bool is_item(const char *p, const char *eol)
{
	return *p == '-' && (p + 1 == eol || p[1] == ' ');
}

/* A plain key [A-Za-z_][A-Za-z0-9_-]* then ':' and a space or the end of
 * the line; its length, or 0. */
static size_t key_len(const char *p, const char *eol)
{
	const char *q = p;
	if (q < eol && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || *q == '_'))
		for (q++; q < eol && ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') ||
				      (*q >= '0' && *q <= '9') || *q == '_' || *q == '-'); q++)
			;
	size_t n = (size_t)(q - p);
	if (!n || n > MAX_KEY || q == eol || *q != ':' || (q + 1 < eol && q[1] != ' '))
		return 0;
	return n;
}

static int hexval(const char *s, size_t n, unsigned *out)
{
	unsigned v = 0;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0)
			return -1;
		v = v * 16 + (unsigned)d;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* One escape of a double-quoted scalar at s (s[0] is the backslash, n
 * bytes left) into tmp: its length there, *used the bytes it took; -1 when
 * not sure (one it does not know, a NUL, a surrogate). */
static long escape(const char *s, size_t n, char *tmp, size_t *used)
{
	static const char simple[] = "\\\"/nt", value[] = "\\\"/\n\t";
	unsigned cp;
	if (n < 2)
		return -1;
	const char *e = strchr(simple, s[1]);
	size_t hex = s[1] == 'x' ? 2 : s[1] == 'u' ? 4 : s[1] == 'U' ? 8 : 0;
	if (e && *e) {
		tmp[0] = value[e - simple];
		*used = 2;
		return 1;
	}
	if (!hex || 2 + hex > n || hexval(s + 2, hex, &cp) < 0 || !cp || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*used = 2 + hex;
	return (long)put_utf8(tmp, cp);
}

/* The text of a quoted scalar s[0..n) into out (at most cap bytes; NULL:
 * only checked); -1 when not sure (an escape it does not know, a tab, too
 * long). Runs without an escape are copied whole. */
static long unquote(char quote, const char *s, size_t n, char *out, size_t cap)
{
	char tmp[4];
	size_t o = 0;
	for (size_t i = 0; i < n;) {
		const char *from = s + i;
		size_t k = 0, used;
		while (i + k < n && s[i + k] != quote && s[i + k] != '\t' && (quote == '\'' || s[i + k] != '\\'))
			k++;
		used = k;
		if (!k && s[i] == '\t') {
			return -1;
		} else if (!k && quote == '\'') {
			k = 1; /* '' is one quote (close_quote found the pair) */
			used = 2;
		} else if (!k) {
			long l = escape(s + i, n - i, tmp, &used);
			if (l < 0)
				return -1;
			k = (size_t)l;
			from = tmp;
		}
		if (o + k > cap)
			return -1;
		if (out)
			memcpy(out + o, from, k);
		o += k;
		i += used;
	}
	return (long)o;
}

/* The closing quote of a scalar opened at s[0] on this line: its
 * position, or NULL (it goes on to another line: not sure). */
static const char *close_quote(const char *s, const char *eol)
{
	for (const char *q = s + 1; q < eol; q++) {
		if (*s == '"' && *q == '\\') {
			q++;
			continue;
		}
		if (*q == *s) {
			if (*s == '\'' && q + 1 < eol && q[1] == '\'') {
				q++;
				continue;
			}
			return q;
		}
	}
	return NULL;
}

/* A literal block (`|`, `|-`, `|+`) whose header ends at eol, its lines
 * indented deeper than `parent`: consumed whole. */
static int block(struct hp *h, const char *s, const char *eol, size_t parent)
{
	s++;
	if (s < eol && (*s == '-' || *s == '+'))
		s++;
	if (indent_of(s, eol) != (size_t)(eol - s))
		return -1; /* an indentation digit or a comment */
	size_t n = 0;
	const char *p = next_line(h, eol);
	while (p < h->end) {
		const char *le = eol_of(h, p);
		size_t ind = indent_of(p, le);
		if (ind == (size_t)(le - p)) {
			if (!n && le > p)
				return -1; /* a leading line of spaces: libyaml's rules on its width */
			p = next_line(h, le);
			continue;
		}
		if (p[ind] == '\t' && (!n || ind < n))
			return -1; /* a tab where libyaml wants indentation */
		if (!n) {
			if (ind <= parent)
				return -1; /* an empty block */
			n = ind;
		}
		if (ind < n)
			break;
		p = next_line(h, le);
	}
	if (!n)
		return -1;
	h->p = p;
	return 0;
}

/* After an entry of a collection whose entries start at column col: skips
 * blank lines; 1 when the next line is at col (its end in *eol), 0 at the
 * end of the file or of the collection, -1 when not sure. */
static int next_entry(struct hp *h, size_t col, const char **eol)
{
	skip_blank(h);
	if (h->p == h->end)
		return 0;
	*eol = eol_of(h, h->p);
	size_t ind = indent_of(h->p, *eol);
	if (ind > col || h->p[ind] == '\t')
		return -1;
	return ind == col;
}

static int value_after(struct hp *h, const char *s, const char *eol, size_t col, size_t depth, bool in_map,
		       struct val *v);

static int map_at(struct hp *h, const char *k, size_t col, size_t depth);

/* A sequence whose items' dashes are at column col; h->p is the first. */
static int seq_at(struct hp *h, size_t col, size_t depth)
{
	if (depth > MAX_DEPTH)
		return -1;
	for (;;) {
		const char *eol = eol_of(h, h->p);
		const char *s = h->p + col + 1;
		struct val v;
		if (++h->nodes > MAX_NODES)
			return -1;
		while (s < eol && *s == ' ')
			s++;
		size_t kl = key_len(s, eol);
		if (kl) {
			if (map_at(h, s, (size_t)(s - h->p), depth + 1) < 0)
				return -1;
		} else if (value_after(h, s, eol, col, depth, false, &v) < 0) {
			return -1;
		}
		int more = next_entry(h, col, &eol);
		if (more <= 0 || !is_item(h->p + col, eol))
			return more;
	}
}

/* The value of a key (in_map) or an item that ends its line at s: null, or
 * a block collection on the lines below (a sequence may stand at the key's
 * own column). */
static int nested(struct hp *h, size_t col, size_t depth, bool in_map, struct val *v)
{
	skip_blank(h);
	v->kind = V_NULL;
	if (h->p == h->end)
		return 0;
	const char *eol = eol_of(h, h->p);
	size_t ind = indent_of(h->p, eol);
	if (h->p[ind] == '\t')
		return -1;
	if (ind > col || (in_map && ind == col && is_item(h->p + ind, eol))) {
		if (is_item(h->p + ind, eol)) {
			v->kind = V_SEQ;
			return seq_at(h, ind, depth + 1);
		}
		v->kind = V_MAP;
		return key_len(h->p + ind, eol) ? map_at(h, h->p + ind, ind, depth + 1) : -1;
	}
	return 0;
}

/* A value that starts at s, on a line that ends at eol, of a key or an
 * item at column col; consumes its lines. */
static int value_after(struct hp *h, const char *s, const char *eol, size_t col, size_t depth, bool in_map,
		       struct val *v)
{
	*v = (struct val){.kind = V_PLAIN, .s = s};
	h->p = next_line(h, eol);
	if (s == eol)
		return nested(h, col, depth, in_map, v);
	if (*s == '|') {
		v->kind = V_BLOCK;
		return block(h, s, eol, col);
	}
	if (*s == '"' || *s == '\'') {
		const char *q = close_quote(s, eol);
		if (!q || indent_of(q + 1, eol) != (size_t)(eol - q - 1) ||
		    unquote(*s, s + 1, (size_t)(q - s - 1), NULL, SIZE_MAX) < 0)
			return -1;
		*v = (struct val){.kind = V_QUOTED, .quote = *s, .s = s + 1, .n = (size_t)(q - s - 1)};
		return 0;
	}
	if (strchr("-?:,[]{}#&*!|>%@`\t", *s))
		return -1;
	const char *e = eol;
	while (e > s && e[-1] == ' ')
		e--;
	for (const char *q = s; q < e; q++)
		if (*q == '\t' || (*q == '#' && q[-1] == ' ') || (*q == ':' && (q + 1 == e || q[1] == ' ')))
			return -1;
	v->n = (size_t)(e - s);
	return 0;
}

/* A block mapping whose keys are at column col, the first at k. */
static int map_at(struct hp *h, const char *k, size_t col, size_t depth)
{
	const char *keys[MAX_KEYS];
	size_t lens[MAX_KEYS], nk = 0;
	if (depth > MAX_DEPTH)
		return -1;
	for (;;) {
		const char *eol = eol_of(h, k);
		size_t kl = key_len(k, eol);
		struct val v;
		if (!kl || nk == MAX_KEYS || (h->nodes += 2) > MAX_NODES)
			return -1;
		for (size_t i = 0; i < nk; i++)
			if (lens[i] == kl && !memcmp(keys[i], k, kl))
				return -1; /* a duplicate key: bad, and the full parse says so */
		keys[nk] = k;
		lens[nk++] = kl;
		const char *s = k + kl + 1;
		while (s < eol && *s == ' ')
			s++;
		if (value_after(h, s, eol, col, depth, true, &v) < 0)
			return -1;
		if (!depth)
			h->top[h->ntop++] = (struct top){k, kl, v};
		int more = next_entry(h, col, &eol);
		if (more <= 0)
			return more;
		if (!depth && eol - h->p == 3 && !memcmp(h->p, "...", 3)) {
			/* The document's end (libyaml writes it after a |+ block):
			 * only blank lines may follow, no second document. */
			h->p = next_line(h, eol);
			skip_blank(h);
			return h->p == h->end ? 0 : -1;
		}
		k = h->p + col;
	}
}

#define GET(h, lit) get(h, lit, sizeof lit - 1)
static const struct val *get(const struct hp *h, const char *key, size_t n)
{
	for (size_t i = 0; i < h->ntop; i++)
		if (h->top[i].klen == n && h->top[i].key[0] == key[0] && !memcmp(h->top[i].key, key, n))
			return &h->top[i].v;
	return NULL;
}

/* A plain scalar as ydoc sees it, to ask ydoc's own rules (null, string,
 * integer). */
static struct ydoc_node probe(const struct val *v, char *buf)
{
	memcpy(buf, v->s, v->n);
	buf[v->n] = '\0';
	return (struct ydoc_node){.kind = YDOC_SCALAR, .str = buf, .len = v->n};
}

/* The text of a one-line key (what ydoc_get_str gives) into buf, as
 * check_lines checks it: 1 with *out set (NULL for null), 0 not sure. */
static int line_value(const struct val *v, const char *key, char *buf, const char **out)
{
	*out = NULL;
	if (!v || v->kind == V_NULL)
		return 1;
	if (v->kind == V_PLAIN) {
		if (v->n > 998)
			return 0;
		struct ydoc_node n = probe(v, buf);
		if (ydoc_is_null(&n))
			return 1;
		if (!ydoc_is_string(&n) && strcmp(key, "user"))
			return 0;
		*out = buf;
		return !util_has_crlf(buf);
	}
	if (v->kind != V_QUOTED)
		return 0;
	long len = unquote(v->quote, v->s, v->n, buf, 998);
	if (len < 0)
		return 0;
	buf[len] = '\0';
	*out = buf;
	return memchr(buf, '\0', (size_t)len) == NULL && !util_has_crlf(buf);
}

#define K(s) {s, sizeof s - 1}
static const struct {
	const char *k;
	size_t n;
} line_keys[] = {K("send_to"), K("subject"), K("user"), K("context_type"), K("language"), K("message"),
		 K("message_type"), K("from"), K("reply_to"), K("created"), K("sent_at"), K("send_after"),
		 K("expires_at"), K("priority")};
#define NLINE (sizeof line_keys / sizeof *line_keys)

/* The columns and every check of receiver_parse, on the root's values. */
static int columns(const struct hp *h, struct receiver_head *out, time_t mtime)
{
	const char *s[NLINE];
	char *buf = out->store;
	for (size_t i = 0; i < NLINE; i++, buf += 999)
		if (!line_value(get(h, line_keys[i].k, line_keys[i].n), line_keys[i].k, buf, &s[i]))
			return 0;
	const struct val *v = GET(h, "msgspool");
	if (!v || v->kind != V_PLAIN || v->n != 1 || v->s[0] != '1' || GET(h, "headers"))
		return 0;
	if (!s[0] || !receiver_address_valid(s[0]) || !s[1])
		return 0;
	if ((s[5] && !spool_id_valid(s[5])) || (s[6] && strcmp(s[6], "email")) || (s[8] && !addr_valid(s[8], true)))
		return 0;
	if (s[13] && strcmp(s[13], "high") && strcmp(s[13], "normal") && strcmp(s[13], "low"))
		return 0;
	time_t t[4] = {mtime, 0, 0, 0};
	for (size_t i = 0; i < 4; i++)
		if (s[9 + i] && util_time_parse(s[9 + i], &t[i]) < 0)
			return 0;
	bool body = false;
	char tmp[32];
	for (int i = 0; i < 2; i++) {
		v = i ? GET(h, "html") : GET(h, "text");
		struct ydoc_node n = v && v->kind == V_PLAIN && v->n < sizeof tmp ? probe(v, tmp) : (struct ydoc_node){0};
		if (v && v->kind == V_PLAIN && v->n < sizeof tmp && ydoc_is_null(&n))
			continue;
		if (v && (v->kind == V_MAP || v->kind == V_SEQ || (v->kind == V_PLAIN && v->n < sizeof tmp && !ydoc_is_string(&n))))
			return 0;
		body |= v && v->kind != V_NULL;
	}
	long long cnt[2] = {0, 0};
	for (int i = 0; i < 2; i++) {
		v = i ? GET(h, "sending_success_count") : GET(h, "sending_failed_count");
		if (!v)
			continue;
		struct ydoc_node n = v->kind == V_PLAIN && v->n < sizeof tmp ? probe(v, tmp) : (struct ydoc_node){0};
		if (v->kind != V_PLAIN || v->n >= sizeof tmp || ydoc_to_int(&n, &cnt[i]) < 0 || cnt[i] < 0 ||
		    cnt[i] > 1000000000)
			return 0;
	}
	const struct val *e = GET(h, "errors"), *la = GET(h, "last_attempt");
	if ((e && e->kind != V_NULL && e->kind != V_SEQ) || (la && la->kind != V_NULL && la->kind != V_MAP) || !body)
		return 0;
	struct receiver *r = &out->r;
	memset(r, 0, sizeof *r);
	*r = (struct receiver){.send_to = s[0], .subject = s[1], .user = s[2], .context_type = s[3],
			       .created = t[0], .sent_at = t[1], .failed_count = cnt[0], .success_count = cnt[1]};
	return 1;
}

int receiver_head(struct receiver_head *out, const char *data, size_t len, time_t mtime)
{
	struct hp h = {.buf = data, .end = data + len, .p = data};
	if (!plain_bytes((const unsigned char *)data, (const unsigned char *)data + len))
		return 0;
	skip_blank(&h);
	if (h.p == h.end || indent_of(h.p, eol_of(&h, h.p)) != 0)
		return 0;
	if (map_at(&h, h.p, 0, 0) < 0 || h.p != h.end)
		return 0;
	return columns(&h, out, mtime);
}
