/* hdr: writes header fields the way RFC 5322 and RFC 2047 want them, so
 * that a reader decodes exactly the string it was given: folding only
 * before whitespace that is already there, never before the first word,
 * lines under 78 octets where possible and never over 998; unstructured
 * text that needs it, and words that whitespace other than one space
 * joins, become encoded-words of whole UTF-8 characters (B when shorter,
 * Q otherwise) that carry their whitespace inside them.
 * Owns: folding and RFC 2047 encoding of header values.
 * Never: breaks a word (a word that cannot fit is encoded and split between
 * characters), drops or adds whitespace the decoder would see, or writes a
 * line break the caller gave it (callers refuse those first).
 * Rules: RFC 5322 2.2.3 and 3.2.2 (folding), RFC 2047 (encoded-words in
 * text and phrases), man/msgspool-receiver.5 (what goes on the wire);
 * proven by tests/roundtrip.py against Python's email package, Perl's
 * Email::MIME and libetpan's parser (which of them a display name cannot
 * reach exactly, and why: man/msgspool-receiver.5). */
#include "config.h"
#include "hdr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LINE 78		/* the line length RFC 5322 asks for */
#define EW_MAX 75	/* the longest encoded-word RFC 2047 allows */
#define HARD 990	/* past this a line folds wherever it can (998 with room) */

struct fold {
	struct util_buf *b;
	size_t col;	/* octets on the current line */
	int rc;
	bool forced;	/* folded where unfolding may not give back the same text */
};

static void put(struct fold *f, const char *s, size_t n)
{
	if (util_buf_add(f->b, s, n) < 0)
		f->rc = -1;
	f->col += n;
}

/* Ends a line; one longer than RFC 5322's 998 octets fails the field
 * (E2BIG) rather than reach a reader that may cut or refuse it. */
static void newline(struct fold *f)
{
	if (f->col > 998 && f->rc == 0) {
		f->rc = -1;
		errno = E2BIG;
	}
	put(f, "\r\n", 2);
	f->col = 0;
}

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Puts whitespace that is already in the value and then an item that
 * cannot be broken, folding before the run's last character when it is a
 * space: a reader may unfold "CRLF WSP..." into one space (Perl's
 * Email::Simple does), so a continuation line starts with exactly one
 * space and the rest of the run stays at the end of the line before. A run
 * that ends in a tab is not folded at all, unless the line would pass 998. */
static void put_ws_item(struct fold *f, const char *ws, size_t wn, const char *item, size_t in)
{
	bool foldable = wn > 0 && ws[wn - 1] == ' ';
	if (wn == 0 || f->col + wn + in <= LINE || (!foldable && f->col + wn + in <= HARD)) {
		put(f, ws, wn);
		put(f, item, in);
		return;
	}
	for (size_t i = 0; i + 1 < wn; i++) {
		if (f->col + 1 > HARD) /* only a run longer than a line folds inside */
			newline(f), f->forced = true;
		put(f, ws + i, 1);
	}
	if (f->col + 1 + in > LINE) {
		f->forced |= !foldable;
		newline(f);
	}
	put(f, ws + wn - 1, 1);
	put(f, item, in);
}

/* Characters a Q encoded-word may carry as they are, also in a phrase
 * (RFC 2047 5(3)). */
static bool q_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static size_t q_len(const unsigned char *p, size_t n)
{
	size_t l = 0;
	for (size_t i = 0; i < n; i++)
		l += (p[i] == ' ' || q_plain(p[i])) ? 1 : 3;
	return l;
}

static size_t utf8_len(const unsigned char *p, size_t left)
{
	size_t n = 1;
	while (n < left && (p[n] & 0xc0) == 0x80)
		n++;
	return n;
}

/* Encodes n octets of whole characters as one encoded-word. */
static void encode_word(struct util_buf *o, const unsigned char *p, size_t n, bool b64)
{
	static const char hex[] = "0123456789ABCDEF";
	static const char b64c[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	util_buf_adds(o, b64 ? "=?UTF-8?B?" : "=?UTF-8?Q?");
	for (size_t i = 0; b64 && i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
		char q[4] = {b64c[v >> 18], b64c[(v >> 12) & 63], i + 1 < n ? b64c[(v >> 6) & 63] : '=',
			     i + 2 < n ? b64c[v & 63] : '='};
		util_buf_add(o, q, 4);
	}
	for (size_t i = 0; !b64 && i < n; i++) {
		if (p[i] == ' ')
			util_buf_add(o, "_", 1);
		else if (q_plain(p[i]))
			util_buf_add(o, &p[i], 1);
		else {
			char h[3] = {'=', hex[p[i] >> 4], hex[p[i] & 15]};
			util_buf_add(o, h, 3);
		}
	}
	util_buf_adds(o, "?=");
}

static size_t ew_len(const unsigned char *p, size_t n, bool b64)
{
	return 12 + (b64 ? (n + 2) / 3 * 4 : q_len(p, n));
}

/* How many octets of whole characters from p fit in an encoded-word of at
 * most room octets; ends after a space when one is in it, so a reader that
 * shows each encoded-word apart never splits a word. */
static size_t chunk(const unsigned char *p, size_t left, bool b64, size_t room)
{
	size_t n = 0, after_space = 0;
	while (n < left) {
		size_t c = utf8_len(p + n, left - n);
		if (ew_len(p, n + c, b64) > room)
			break;
		n += c;
		if (p[n - 1] == ' ' || p[n - 1] == '\t')
			after_space = n;
	}
	if (n < left && after_space > 0)
		n = after_space;
	return n;
}

/* Writes text as encoded-words, the first after the literal whitespace
 * ws (which it may fold before), the others after a folding space of our
 * own, which decoders drop between encoded-words. */
static void put_encoded(struct fold *f, const char *ws, size_t wn, const unsigned char *p, size_t n)
{
	bool b64 = ew_len(p, n, true) < ew_len(p, n, false);
	bool first = true;
	struct util_buf w = {0};
	while (n > 0) {
		size_t sep = first ? wn : 1;
		size_t room = f->col + sep < LINE ? LINE - f->col - sep : 0;
		size_t k = chunk(p, n, b64, room > EW_MAX ? EW_MAX : room);
		bool fold = k == 0 && (sep > 0 || !first);
		if (k == 0) /* nothing fits here: a line of its own */
			k = chunk(p, n, b64, EW_MAX);
		if (k == 0)
			k = utf8_len(p, n);
		w.len = 0;
		encode_word(&w, p, k, b64);
		if (first)
			put_ws_item(f, ws, wn, w.data ? w.data : "", w.len);
		else {
			if (fold || f->col + 1 + w.len > LINE)
				newline(f);
			put(f, " ", 1);
			put(f, w.data ? w.data : "", w.len);
		}
		if (!w.data)
			f->rc = -1;
		p += k;
		n -= k;
		first = false;
	}
	util_buf_free(&w);
}

static bool needs_ew(const char *w, size_t n, size_t room)
{
	if (n > room)
		return true;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];
		if (c >= 0x7f || c < 0x20)
			return true;
		if (i + 1 < n && ((c == '=' && w[i + 1] == '?') || (c == '?' && w[i + 1] == '=')))
			return true;
	}
	return false;
}

/* The value as words: ws[i] is the whitespace before word i. */
static size_t next_word(const char *s, size_t *wsn, size_t *wn)
{
	size_t i = 0;
	while (s[i] && wsp(s[i]))
		i++;
	*wsn = i;
	while (s[i] && !wsp(s[i]))
		i++;
	*wn = i - *wsn;
	return i;
}

/* True when what follows is whitespace only, and some. */
static bool only_ws(const char *s)
{
	return *s && s[strspn(s, " \t")] == '\0';
}

/* A run of whitespace between two words that not every reader gives back
 * as it is: anything but one space. libetpan's decoder joins the words of
 * a field with one space; only inside an encoded-word does whitespace
 * reach Python, Perl and libetpan alike. */
static bool odd_run(const char *ws, size_t n)
{
	return !(n == 1 && ws[0] == ' ');
}

/* Whether the whitespace at s leads to another word and is odd. */
static bool odd_after(const char *s)
{
	size_t n = strspn(s, " \t");
	return n > 0 && s[n] && odd_run(s, n);
}

/* Unstructured text (RFC 5322 3.2.5): plain words as they are, joined by
 * single spaces; runs of words that need encoding, or that another run of
 * whitespace joins, as one encoded text that holds that whitespace;
 * leading and trailing whitespace inside an encoded-word (readers strip
 * it otherwise). */
static void put_unstructured(struct fold *f, const char *v)
{
	const char *p = v;
	bool start = true;
	while (*p) {
		size_t wsn, wn, used = next_word(p, &wsn, &wn);
		size_t room = !start ? LINE - 1 : f->col < LINE ? LINE - f->col : 0;
		bool lead = start && wsn > 0, trail = wn > 0 && only_ws(p + used);
		if (wn > 0 && !lead && !trail && !needs_ew(p + wsn, wn, room) && !odd_after(p + used)) {
			put_ws_item(f, p, wsn, p + wsn, wn);
			p += used;
			start = false;
			continue;
		}
		/* Take in the following words that need encoding too, or that
		 * odd whitespace joins, with the whitespace between them, and
		 * whitespace at the very end. */
		const char *seg = lead ? p : p + wsn, *end = trail ? p + strlen(p) : p + used;
		while (*end) {
			size_t w2, n2, u2 = next_word(end, &w2, &n2);
			if (n2 == 0 || only_ws(end + u2)) {
				end += strlen(end);
				break;
			}
			if (!needs_ew(end + w2, n2, LINE - 1) && !odd_run(end, w2) && !odd_after(end + u2))
				break;
			end += u2;
		}
		put_encoded(f, lead ? "" : p, lead ? 0 : wsn, (const unsigned char *)seg, (size_t)(end - seg));
		p = end;
		start = false;
	}
}

/* A word of a display name that must be an encoded-word: not printable
 * ASCII, or holding "=?" (which readers decode even inside quotes). */
static bool phrase_ew(const char *w, size_t n)
{
	size_t quoted = n; /* its length inside quotes, a backslash before " and \ */
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)w[i] >= 0x7f || (unsigned char)w[i] < 0x20 ||
		    (i + 1 < n && w[i] == '=' && w[i + 1] == '?'))
			return true;
		quoted += w[i] == '"' || w[i] == '\\';
	}
	return quoted > 900; /* too long for a quoted line of 998: encoded and split */
}

/* The octets the word at s takes inside quotes, up to the next whitespace
 * (a backslash before " and \), and the closing quote when it ends s. */
static size_t quoted_run(const char *s, size_t n)
{
	size_t k = 0, i = 0;
	for (; i < n && !wsp(s[i]); i++)
		k += 1 + (s[i] == '"' || s[i] == '\\');
	return k + (i == n);
}

/* A quoted-string of ASCII text, folded before its own whitespace when
 * the line gets long (RFC 5322 3.2.4: FWS inside quotes). */
static void put_quoted(struct fold *f, const char *s, size_t n)
{
	if (f->col + n + 3 > LINE && f->col > 1)
		newline(f), put(f, " ", 1);
	put(f, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		/* Before a lone space, so that unfolding into one space is exact;
		 * before any whitespace when the word after it would end past
		 * HARD (the words of a name joined by tabs, each under 900). */
		bool lone = s[i] == ' ' && i + 1 < n && !wsp(s[i + 1]);
		if (wsp(s[i]) && i + 1 < n &&
		    ((lone && f->col + 2 > LINE) || f->col + 2 + quoted_run(s + i + 1, n - i - 1) > HARD)) {
			f->forced |= !lone;
			newline(f);
		}
		if (s[i] == '"' || s[i] == '\\')
			put(f, "\\", 1);
		put(f, s + i, 1);
	}
	put(f, "\"", 1);
}

/* One word as a single encoded-word (unbroken, even over 75 octets: a
 * reader shows a space between encoded-words of a phrase), split only when
 * even a line of 998 could not hold it. */
static void put_phrase_ew(struct fold *f, const char *w, size_t n)
{
	const unsigned char *p = (const unsigned char *)w;
	bool b64 = ew_len(p, n, true) < ew_len(p, n, false);
	if (ew_len(p, n, b64) > 900) {
		put_encoded(f, "", 0, p, n);
		return;
	}
	struct util_buf e = {0};
	encode_word(&e, p, n, b64);
	if (f->col + e.len > LINE && f->col > 1)
		newline(f), put(f, " ", 1);
	put(f, e.data ? e.data : "", e.len);
	if (!e.data)
		f->rc = -1;
	util_buf_free(&e);
}

struct phrase {
	struct fold *f;
	struct util_buf q;	/* ASCII text waiting to become a quoted-string */
	bool have_q;
	size_t tokens;
};

/* Readers join the tokens of a phrase with one space each. */
static void token_gap(struct phrase *ph)
{
	if (ph->tokens++ == 0)
		return;
	if (ph->f->col + 2 > LINE)
		newline(ph->f);
	put(ph->f, " ", 1);
}

/* How n spaces next to an encoded word reach Python, Perl and libetpan
 * alike: Python shows one space for each whitespace outside quotes
 * (between tokens, or a run inside an encoded-word), Perl and libetpan
 * drop the whitespace between encoded-words and keep what is inside them.
 * So: j encoded-words of spaces alone beside the word, and inner spaces
 * inside the word's own (at its edge); Python counts gap (one when a
 * token comes before the run) + 2j + (inner > 0), the others the spaces
 * inside. Returns j. */
static size_t space_ews(size_t n, bool gap, size_t *inner)
{
	size_t m = n - gap, j = m / 2;
	*inner = m % 2 ? n - j : 0;
	return j;
}

static void add_spaces(struct util_buf *e, size_t n)
{
	while (n-- > 0)
		util_buf_add(e, " ", 1);
}

/* The buffer's text as the phrase's next encoded-word (a gap before it). */
static void put_buf_ew(struct phrase *ph, const struct util_buf *e)
{
	token_gap(ph);
	if (!e->data)
		ph->f->rc = -1;
	else
		put_phrase_ew(ph->f, e->data, e->len);
}

/* j encoded-words of spaces alone, n spaces in all (at least one each). */
static void put_space_ews(struct phrase *ph, size_t j, size_t n)
{
	struct util_buf e = {0};
	for (size_t i = 0; i < j; i++) {
		e.len = 0;
		add_spaces(&e, i + 1 < j ? 1 : n - (j - 1));
		put_buf_ew(ph, &e);
	}
	util_buf_free(&e);
}

/* The word w (wn octets, to encode) with a run of nb spaces before it
 * (gap: after another token) and na after it (the name's last), said
 * exactly to all three readers (space_ews). */
static void put_spaced_ew(struct phrase *ph, size_t nb, bool gap, const char *w, size_t wn, size_t na)
{
	size_t ib = 0, ia = 0, jb = nb ? space_ews(nb, gap, &ib) : 0, ja = na ? space_ews(na, false, &ia) : 0;
	put_space_ews(ph, jb, nb - ib);
	struct util_buf e = {0};
	add_spaces(&e, ib);
	util_buf_add(&e, w, wn);
	add_spaces(&e, ia);
	put_buf_ew(ph, &e);
	util_buf_free(&e);
	put_space_ews(ph, ja, na - ia);
}

/* Words of atext joined by single spaces: a phrase as it is. */
static bool plain_phrase(const char *s)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
	size_t n = strlen(s);
	if (n == 0 || n > 60 || s[0] == ' ' || s[n - 1] == ' ' || strstr(s, "  ") || strstr(s, "=?"))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == ' ' || strchr(atext, *p)))
			return false;
	return true;
}

static void flush_quoted(struct phrase *ph, bool even_empty)
{
	if (!ph->have_q && !even_empty)
		return;
	token_gap(ph);
	put_quoted(ph->f, ph->q.data ? ph->q.data : "", ph->q.len);
	ph->q.len = 0;
	ph->have_q = false;
}

static void add_quoted(struct phrase *ph, const char *s, size_t n)
{
	util_buf_add(&ph->q, s, n);
	ph->have_q = true;
}

/* Whether the word at w (wn octets) of name must be an encoded-word: one
 * phrase_ew says so, or, in a name whose whitespace is spaces alone, one
 * next to spaces that libetpan does not read from a quoted-string (it
 * joins the words of one with a space and drops what leads it): a run of
 * two or more, or spaces leading the name. */
static bool must_ew(const char *name, const char *w, size_t wn, bool spaces)
{
	if (phrase_ew(w, wn))
		return true;
	if (!spaces)
		return false;
	size_t at = (size_t)(w - name), before = 0;
	while (before < at && name[at - before - 1] == ' ')
		before++;
	return (before > 0 && before == at) || before >= 2 || strspn(w + wn, " ") >= 2;
}

/* A display name (RFC 5322 3.2.5 phrase) as tokens that readers join with
 * one space each: printable ASCII runs (their whitespace exactly) as
 * quoted-strings, other words as encoded-words, and a space of the name
 * next to an encoded-word becomes the one a reader puts back, and words to
 * encode joined by single spaces are one encoded-word. When the name's
 * whitespace is spaces alone, every run of them that a quoted-string
 * would not carry to libetpan (two or more, leading, trailing after an
 * encoded-word) is carried by encoded-words (put_spaced_ew), its words
 * encoded too: exact in Python, Perl and libetpan; a name of spaces alone
 * is encoded-words of spaces, and "" when Python's count needs one more.
 * A name with a tab is written for Python and Perl alone: Python reads a
 * tab only from a quoted-string, libetpan only from an encoded-word. A
 * run of spaces between two encoded-words is still carried by
 * encoded-words; whitespace with a tab between two cannot be said exactly
 * to both Python (which reads each whitespace run outside quotes, inside
 * an encoded-word too, as one space) and Perl (which drops whitespace
 * between encoded-words, also from a quoted-string between them); it is
 * kept in a quoted-string between them, as Python reads it
 * (man/msgspool-receiver.5 says which names cannot be said exactly). */
static void put_phrase(struct fold *f, const char *name)
{
	struct phrase ph = {.f = f};
	const char *p = name;
	bool spaces = !strchr(name, '\t');
	if (plain_phrase(name)) {
		put(f, name, strlen(name));
		return;
	}
	if (spaces && name[strspn(name, " ")] == '\0') {
		size_t n = strlen(name);
		put_space_ews(&ph, (n + 1) / 2, n - !(n % 2));
		if (n % 2 == 0)
			flush_quoted(&ph, true);
		util_buf_free(&ph.q);
		return;
	}
	bool prev_ew = false;
	for (;;) {
		size_t wsn = strspn(p, " \t"), wn = strcspn(p + wsn, " \t");
		const char *ws = p, *w = p + wsn;
		if (prev_ew && wsn > 0 && ws[0] == ' ')
			ws++, wsn--; /* the gap after the previous encoded-word */
		if (wn == 0) { /* the end: trailing whitespace */
			if (wsn > 0 || ws != p)
				add_quoted(&ph, ws, wsn), flush_quoted(&ph, true);
			else if (!ph.tokens || ph.have_q)
				flush_quoted(&ph, !ph.tokens);
			break;
		}
		bool ew = must_ew(name, w, wn, spaces);
		/* Words to encode that single spaces join go in one encoded-word:
		 * Perl drops the space between two (RFC 2047 6.2), Python keeps
		 * one; inside one, both read it. */
		while (ew && w[wn] == ' ' && w[wn + 1] && !wsp(w[wn + 1])) {
			size_t next = strcspn(w + wn + 1, " \t");
			if (!must_ew(name, w + wn + 1, next, spaces))
				break;
			wn += 1 + next;
		}
		size_t run = (size_t)(w - p), trail = strspn(w + wn, " ");
		if (!spaces || w[wn + trail] != '\0')
			trail = 0; /* spaces that end the name: inside encoded-words */
		if (!ew) {
			add_quoted(&ph, ws, wsn);
			add_quoted(&ph, w, wn);
		} else if (spaces && p == name && run > 0) {
			put_spaced_ew(&ph, run, false, w, wn, trail);
		} else if (prev_ew && run >= 2 && strspn(p, " ") == run && !ph.have_q) {
			/* Spaces alone between two encoded-words: inside encoded-words. */
			put_spaced_ew(&ph, run, true, w, wn, trail);
		} else {
			bool gap = wsn > 0 && ws[wsn - 1] == ' ';
			if (wsn > 0)
				add_quoted(&ph, ws, gap ? wsn - 1 : wsn);
			flush_quoted(&ph, gap);
			put_spaced_ew(&ph, 0, false, w, wn, trail);
		}
		prev_ew = ew;
		p = w + wn + (ew ? trail : 0);
	}
	util_buf_free(&ph.q);
}

static void start_field(struct fold *f, struct util_buf *b, const char *name)
{
	f->b = b;
	f->col = 0;
	f->rc = 0;
	f->forced = false;
	put(f, name, strlen(name));
	put(f, ": ", 2);
}

static int end_field(struct fold *f)
{
	newline(f);
	return f->rc;
}

int hdr_unstructured(struct util_buf *b, const char *name, const char *value)
{
	struct fold f;
	size_t start = b->len;
	start_field(&f, b, name);
	put_unstructured(&f, value);
	if (f.forced) {
		/* Tabs with no space to fold before, longer than a line: only
		 * encoded-words, whitespace inside, fold it exactly. */
		b->len = start;
		start_field(&f, b, name);
		put_encoded(&f, "", 0, (const unsigned char *)value, strlen(value));
	}
	return end_field(&f);
}

int hdr_structured(struct util_buf *b, const char *name, const char *value)
{
	struct fold f;
	start_field(&f, b, name);
	const char *p = value;
	bool start = true;
	while (*p) {
		size_t wsn, wn, used = next_word(p, &wsn, &wn);
		if (start && wsn) { /* never fold before the first word */
			put(&f, p, wsn + wn);
		} else {
			put_ws_item(&f, p, wsn, p + wsn, wn);
		}
		start = false;
		p += used;
	}
	return end_field(&f);
}

int hdr_mailbox(struct util_buf *b, const char *name, const char *display, const char *addr)
{
	struct fold f;
	start_field(&f, b, name);
	if (display && *display) {
		put_phrase(&f, display);
		struct util_buf a = {0};
		util_buf_printf(&a, "<%s>", addr);
		put_ws_item(&f, " ", 1, a.data ? a.data : "", a.len);
		if (!a.data)
			f.rc = -1;
		util_buf_free(&a);
	} else {
		put(&f, addr, strlen(addr));
	}
	return end_field(&f);
}

bool hdr_is_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x7f || (*p < 0x20 && *p != '\t'))
			return false;
	return true;
}
