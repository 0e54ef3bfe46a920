/* mime: receiver -> RFC 5322 message, and the check that a message can
 * follow SMTP's DATA as it is.
 * Owns: the header fields msgspool writes, the MIME structure (parts,
 * boundary, transfer encodings), the safe list of custom headers.
 * Never: writes a line break inside a header value, an 8-bit byte where the
 * transport did not say it may go, or a line a lone "." would end.
 * Rules: man/msgspool-receiver.5 (what goes on the wire), RFC 5322, 2045-2047. */
#include "config.h"
#include "mime.h"
#include "addr.h"
#include "hdr.h"
#include "html2text.h"
#include "msgid.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static const char hex_upper[] = "0123456789ABCDEF";

/* Custom headers a receiver may set, and whether each is structured
 * (written as it is, ASCII only) or unstructured text (RFC 2047 where
 * needed); X- headers are unstructured. */
static const struct {
	const char *name;
	bool structured;
} safe_headers[] = {
	{"List-Unsubscribe", true}, {"List-Unsubscribe-Post", true}, {"List-Id", true},
	{"List-Help", true}, {"List-Archive", true}, {"Auto-Submitted", true}, {"Precedence", true},
	{"In-Reply-To", true}, {"References", true}, {"Keywords", false}, {"Comments", false},
	{"Organization", false}, {"Importance", true}, {"X-Auto-Response-Suppress", true}};

/* Index in safe_headers, -1 for an X- header, -2 when not allowed. */
static int header_kind(const char *name)
{
	for (size_t i = 0; i < sizeof safe_headers / sizeof *safe_headers; i++)
		if (!strcasecmp(name, safe_headers[i].name))
			return (int)i;
	/* X- headers carry no routing meaning; a few well-known ones do harm. */
	if (!strncasecmp(name, "X-", 2) && strcasecmp(name, "X-Original-To") &&
	    strcasecmp(name, "X-Envelope-To") && strcasecmp(name, "X-Envelope-From"))
		return -1;
	return -2;
}

bool mime_header_allowed(const char *name)
{
	return header_kind(name) != -2;
}

static int fail(char *err, size_t errsz, const char *fmt, const char *arg)
{
	snprintf(err, errsz, fmt, arg);
	errno = EINVAL;
	return -1;
}

/* Whether hdr.c can write a structured value: it folds only between
 * words, so a word too long for a line (998 octets) cannot go. */
static bool structured_fits(const char *name, const char *value)
{
	struct util_buf b = {0};
	errno = 0;
	bool fits = hdr_structured(&b, name, value) == 0 || errno != E2BIG;
	util_buf_free(&b);
	return fits;
}

/* The custom headers: each allowed, none twice (in any case), a name a
 * line can hold, structured values ASCII. */
static int check_headers(const struct receiver *r, char *err, size_t errsz)
{
	for (size_t i = 0; r->headers && i < r->headers->n; i++) {
		const char *name = ydoc_key(r->headers, i);
		const struct ydoc_node *v = ydoc_val(r->headers, i);
		int k = header_kind(name);
		if (k == -2)
			return fail(err, errsz, "headers: %s is not in the list of headers a receiver may set", name);
		if (strlen(name) > 76)
			return fail(err, errsz, "headers: the name %.40s... is longer than a header line allows", name);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(name, ydoc_key(r->headers, j)))
				return fail(err, errsz, "headers: %s is given twice (header names ignore case)", name);
		if (k >= 0 && safe_headers[k].structured && !hdr_is_ascii(v->str))
			return fail(err, errsz, "headers: %s is a structured header and must be printable ASCII", name);
		if (k >= 0 && safe_headers[k].structured && !structured_fits(name, v->str))
			return fail(err, errsz, "headers: the value of %s has a word longer than a line allows", name);
	}
	return 0;
}

/* "from: '...' is not a valid mailbox: reason". */
static int parse_field(const char *key, const char *value, bool name, struct addr *a, char *err, size_t errsz)
{
	char why[200];
	if (addr_parse(value, name, a, why, sizeof why) == 0)
		return 0;
	snprintf(err, errsz, "%s: '%s' is not a valid %s: %s", key, value, name ? "mailbox" : "address", why);
	errno = EINVAL;
	return -1;
}

/* Parses every address of the receiver and checks its headers; fills the
 * envelope. */
static int check_receiver(const struct receiver *r, const struct mime_options *o, struct addr a[3],
			  struct mime_envelope *env, char *err, size_t errsz)
{
	const char *from = r->from ? r->from : o->from;
	if (parse_field("from", from, true, &a[0], err, errsz) < 0 ||
	    parse_field("send_to", r->send_to, false, &a[1], err, errsz) < 0 ||
	    (r->reply_to && parse_field("reply_to", r->reply_to, true, &a[2], err, errsz) < 0))
		return -1;
	if (util_has_crlf(r->subject) || util_has_crlf(o->subject_prefix))
		return fail(err, errsz, "subject: %s", "line breaks are not allowed");
	if (check_headers(r, err, errsz) < 0)
		return -1;
	snprintf(env->from, sizeof env->from, "%s@%s", a[0].local, a[0].domain);
	snprintf(env->to, sizeof env->to, "%s@%s", a[1].local, a[1].domain);
	env->smtputf8 = a[0].utf8_local || a[1].utf8_local || (r->reply_to && a[2].utf8_local);
	return 0;
}

/* SWAR tests on 8 bytes at once: a byte equal to zero, a byte below c. */
#define ONES 0x0101010101010101u
#define HIGHS 0x8080808080808080u
#define HAS_ZERO(w) (((w) - ONES) & ~(w) & HIGHS)
#define HAS_LESS(w, c) (((w) - ONES * (c)) & ~(w) & HIGHS)

static uint64_t word_at(const unsigned char *p)
{
	uint64_t w;
	memcpy(&w, p, sizeof w);
	return w;
}

#ifdef __SSE2__
/* Of the 16 bytes at p, those that are not printable ASCII other than "="
 * (a space counts as printable here): bit i for p[i]. */
static unsigned qp_special16(const unsigned char *p)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
	__m128i bad = _mm_or_si128(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20)),
				   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)),
						_mm_cmpeq_epi8(v, _mm_set1_epi8('='))));
	return (unsigned)_mm_movemask_epi8(bad);
}

#endif

/* Quoted-printable (RFC 2045 6.7) with CRLF line ends and lines of at most
 * 76 characters. Ours, because libetpan 1.9.4's encoder writes a line that
 * ends in a space as " =20", adding a space (the "-- " signature line). */
static int qp_encode(const char *in, struct util_buf *out)
{
	size_t n = strlen(in);
	/* At most 3 bytes per input byte plus a soft break per 25 of them:
	 * reserve once and write straight into the buffer. */
	if (util_buf_reserve(out, 4 * n + 8) < 0)
		return -1;
	char *o = out->data + out->len;
	const unsigned char *p = (const unsigned char *)in, *end = p + n;
	size_t col = 0;
	while (*p) {
		/* Most bytes of a text are printable ASCII, or a space with more on
		 * the line, inside the line: found in one scan and copied in one
		 * go (the scan stops at the NUL, which is neither). */
		if (col > 0 && col < 75) {
			const unsigned char *run = p, *stop = p + (75 - col);
#ifdef __SSE2__
			/* Sixteen at a time the same way, up to the byte before
			 * the first that is not (a space there may end its line). */
			while (p + 16 < end && p + 16 <= stop) {
				unsigned m = qp_special16(p);
				if (m) {
					unsigned k = (unsigned)__builtin_ctz(m);
					p += k ? k - 1 : 0;
					break;
				}
				if (p[15] == ' ' && (p[16] == '\n' || p[16] == '\r')) {
					p += 15;
					break;
				}
				p += 16;
			}
#endif
			/* Eight at a time while all are printable ASCII or spaces,
			 * none "=", and the last not a space before a line end. */
			for (uint64_t w; p + 8 < end && p + 8 <= stop; p += 8) {
				w = word_at(p);
				if (HAS_LESS(w, 0x20) | (w & HIGHS) | HAS_ZERO(w ^ (ONES * 0x7f)) | HAS_ZERO(w ^ (ONES * '=')) ||
				    (p[7] == ' ' && (p[8] == '\n' || p[8] == '\r')))
					break;
			}
			while (p < stop && ((*p - 33u <= 93u && *p != '=') ||
					    ((*p == ' ' || *p == '\t') && p[1] != '\0' && p[1] != '\n' && p[1] != '\r')))
				p++;
			memcpy(o, run, (size_t)(p - run));
			o += p - run;
			col += (size_t)(p - run);
		}
		if (!*p)
			break;
		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p == '\n' || *p == '\r') {
			*o++ = '\r';
			*o++ = '\n';
			col = 0;
			p++;
			continue;
		}
		bool at_eol = p[1] == '\0' || p[1] == '\n' || p[1] == '\r';
		bool literal = (*p >= 33 && *p <= 126 && *p != '=') ||
			       ((*p == ' ' || *p == '\t') && !at_eol);
		if (col + (literal ? 1 : 3) > 75) {
			memcpy(o, "=\r\n", 3);
			o += 3;
			col = 0;
		}
		/* A leading "." or "From " is encoded too, also after a soft
		 * break: a lone "." line would end the SMTP data. */
		if (col == 0 && (*p == '.' || (*p == 'F' && !strncmp((const char *)p, "From ", 5))))
			literal = false;
		size_t w = literal ? 1 : 3;
		if (literal) {
			*o++ = (char)*p;
		} else {
			o[0] = '=';
			o[1] = hex_upper[*p >> 4];
			o[2] = hex_upper[*p & 15];
			o += 3;
		}
		col += w;
		p++;
	}
	out->len = (size_t)(o - out->data);
	out->data[out->len] = '\0';
	return 0;
}

/* The body as it is with CRLF line ends: for 7bit, and before base64
 * (RFC 2045 6.8: text is encoded in its canonical form). */
static int crlf_copy(const char *in, struct util_buf *out)
{
	for (const char *p = in; *p;) {
		size_t run = strcspn(p, "\r\n");
		if (util_buf_add(out, p, run) < 0)
			return -1;
		p += run;
		if (!*p)
			break;
		p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
		if (util_buf_add(out, "\r\n", 2) < 0)
			return -1;
	}
	return 0;
}

/* Base64 (RFC 2045 6.8) in lines of 76 characters, of the text in its
 * canonical form (CRLF line ends), written straight into out: fed a line
 * at a time, up to two bytes carried from one to the next. */
struct b64 {
	char *o;
	size_t col;
	unsigned char carry[3];
	int nc;
};

static void b64_quad(struct b64 *s, const unsigned char *p, int n)
{
	static const char c64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned v = (unsigned)p[0] << 16 | (n > 1 ? (unsigned)p[1] << 8 : 0) | (n > 2 ? p[2] : 0);
	if (s->col == 76) {
		memcpy(s->o, "\r\n", 2);
		s->o += 2;
		s->col = 0;
	}
	s->o[0] = c64[v >> 18];
	s->o[1] = c64[(v >> 12) & 63];
	s->o[2] = n > 1 ? c64[(v >> 6) & 63] : '=';
	s->o[3] = n > 2 ? c64[v & 63] : '=';
	s->o += 4;
	s->col += 4;
}

static void b64_feed(struct b64 *s, const unsigned char *p, size_t n)
{
	while (s->nc > 0 && n > 0) {
		s->carry[s->nc++] = *p++;
		n--;
		if (s->nc == 3) {
			b64_quad(s, s->carry, 3);
			s->nc = 0;
		}
	}
	for (; n >= 3; p += 3, n -= 3)
		b64_quad(s, p, 3);
	while (n-- > 0)
		s->carry[s->nc++] = *p++;
}

static int b64_encode(const char *in, struct util_buf *out)
{
	size_t n = strlen(in), lines = 1;
	for (const char *p = in; (p = strpbrk(p, "\r\n")); p++)
		lines++;
	size_t canon = n + lines; /* at most one byte more per line end */
	if (util_buf_reserve(out, canon / 3 * 4 + canon / 57 * 2 + 16) < 0)
		return -1;
	struct b64 s = {out->data + out->len, 0, {0}, 0};
	for (const char *p = in; *p;) {
		size_t run = strcspn(p, "\r\n");
		b64_feed(&s, (const unsigned char *)p, run);
		p += run;
		if (!*p)
			break;
		p += (p[0] == '\r' && p[1] == '\n') ? 2 : 1;
		b64_feed(&s, (const unsigned char *)"\r\n", 2);
	}
	if (s.nc > 0)
		b64_quad(&s, s.carry, s.nc);
	memcpy(s.o, "\r\n", 3);
	out->len = (size_t)(s.o + 2 - out->data);
	return 0;
}

/* Bytes over 127 in the n bytes at p, eight at a time. */
static size_t count_high(const unsigned char *p, size_t n)
{
	size_t high = 0, i = 0;
#ifdef __SSE2__
	/* Each byte lane counts its high bytes (up to 255 blocks), then the
	 * lanes are summed (psadbw): no popcount, which without -mpopcnt is a
	 * call per block. */
	const __m128i zero = _mm_setzero_si128();
	while (i + 16 <= n) {
		__m128i lanes = zero;
		for (int k = 0; k < 255 && i + 16 <= n; k++, i += 16)
			lanes = _mm_sub_epi8(lanes, _mm_cmplt_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + i)), zero));
		uint64_t sums[2];
		_mm_storeu_si128((__m128i *)(void *)sums, _mm_sad_epu8(lanes, zero));
		high += (size_t)(sums[0] + sums[1]);
	}
#endif
	for (; i + 8 <= n; i += 8)
		high += (size_t)((((word_at(p + i) & HIGHS) >> 7) * ONES) >> 56); /* the top bits, summed */
	for (; i < n; i++)
		high += p[i] >= 0x80;
	return high;
}

/* Every line short (at most 78 octets), of printable ASCII or tabs (or
 * 8-bit bytes when eightbit), none starting with "." or "From ". Stops at
 * the first line that is not. */
static bool lines_plain(const unsigned char *p, bool eightbit)
{
	while (*p) {
		if (*p == '.' || !strncmp((const char *)p, "From ", 5))
			return false;
		const unsigned char *s = p;
		for (; *p && *p != '\n' && *p != '\r'; p++)
			if (!((*p >= 32 && *p < 127) || *p == '\t' || (eightbit && *p >= 0x80)))
				return false;
		if (p - s > 78)
			return false;
		while (*p == '\n' || *p == '\r')
			p++;
	}
	return true;
}

/* The smallest correct transfer encoding (RFC 2045 6): 7bit for ASCII in
 * short lines that no SMTP or MIME reader could mistake (no line starting
 * with "." or "From ", no "=_" that a boundary could match) and 8bit for
 * such UTF-8 text when the transport takes it (RFC 6152), else
 * quoted-printable when most bytes are ASCII (Norwegian: a few =C3=B8 in
 * plain text), base64 when most are not (Japanese: 4/3 instead of 3). */
static const char *choose_encoding(const char *body, bool eightbit)
{
	const unsigned char *p = (const unsigned char *)body;
	size_t n = strlen(body), high = count_high(p, n);
	if ((eightbit || high == 0) && !strstr(body, "=_") && lines_plain(p, eightbit))
		return high ? "8bit" : "7bit";
	return high * 2 > n ? "base64" : "quoted-printable";
}

/* One text part's headers and its body in the encoding chosen for it. */
static int text_part(struct util_buf *b, const char *subtype, const char *body, bool eightbit, bool *used8)
{
	const char *enc = choose_encoding(body, eightbit);
	*used8 |= enc[0] == '8';
	if (util_buf_adds(b, "Content-Type: text/") < 0 || util_buf_adds(b, subtype) < 0 ||
	    util_buf_adds(b, "; charset=\"utf-8\"\r\nContent-Transfer-Encoding: ") < 0 ||
	    util_buf_adds(b, enc) < 0 || util_buf_adds(b, "\r\n\r\n") < 0)
		return -1;
	if (enc[0] == '7' || enc[0] == '8')
		return crlf_copy(body, b);
	return enc[0] == 'b' ? b64_encode(body, b) : qp_encode(body, b);
}

/* "\r\n--=_" and 16 hex digits of the Message-ID, as the delimiter line
 * written between parts: "=_" never occurs in a quoted-printable body, so
 * no part can hold a line equal to it (libetpan's own boundary costs a
 * gethostname and a getpid per message and is only likely unique), and
 * the same message gets the same boundary. A 7bit part holds no "=_" and
 * base64 has no "-". */
#define DELIM_LEN 22
static uint64_t fnv64(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		h = (h ^ *p) * 0x100000001b3u;
	return (h ^ 0xff) * 0x100000001b3u; /* a separator, so "ab","c" differs from "a","bc" */
}

static void delimiter_for(const char *mid, char out[DELIM_LEN + 1])
{
	uint64_t h = fnv64(0xcbf29ce484222325u, mid);
	memcpy(out, "\r\n--=_", 6);
	for (int i = 0; i < 16; i++)
		out[6 + i] = "0123456789abcdef"[(h >> (60 - 4 * i)) & 15];
	out[DELIM_LEN] = '\0';
}

/* The parts after the header fields: one text/plain, or a
 * multipart/alternative of text and html; ours, because libetpan's MIME
 * writer copies every body byte through a line folder, a third of a
 * render, which quoted-printable lines of at most 76 characters never need. */
static int write_body(struct util_buf *msg, const struct receiver *r, const char *text, const char *mid,
		      bool eightbit, bool *used8)
{
	if (util_buf_adds(msg, "MIME-Version: 1.0\r\n") < 0)
		return -1;
	if (!r->html)
		return text_part(msg, "plain", text, eightbit, used8) < 0 ||
		       /* SMTP ends a message at a line end; the text may not. */
		       (memcmp(msg->data + msg->len - 2, "\r\n", 2) != 0 && util_buf_add(msg, "\r\n", 2) < 0) ? -1 : 0;
	char d[DELIM_LEN + 1];
	delimiter_for(mid, d);
	const char *b = d + 4; /* the boundary itself */
	if (util_buf_adds(msg, "Content-Type: multipart/alternative; boundary=\"") < 0 ||
	    util_buf_add(msg, b, DELIM_LEN - 4) < 0 || util_buf_add(msg, "\"\r\n", 3) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "\r\n", 2) < 0 ||
	    text_part(msg, "plain", text, eightbit, used8) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "\r\n", 2) < 0 ||
	    text_part(msg, "html", r->html, eightbit, used8) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "--\r\n", 4) < 0)
		return -1;
	return 0;
}

/* The header fields, written by hdr.c so that readers decode exactly the
 * producer's strings. */
static int write_fields(struct util_buf *msg, const struct receiver *r, const struct mime_options *o,
			time_t now, const struct addr a[3], const char *mid, bool utf8)
{
	char date[64];
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	struct util_buf subject = {0};
	/* U-labels are for display, where the message goes with SMTPUTF8. */
	char *(*spec_of)(const struct addr *) = utf8 ? addr_spec_utf8 : addr_spec_of;
	char *spec[3] = {spec_of(&a[0]), spec_of(&a[1]), r->reply_to ? spec_of(&a[2]) : NULL};
	util_buf_printf(&subject, "%s%s", o->subject_prefix, r->subject);
	int rc = !subject.data || !spec[0] || !spec[1] || (r->reply_to && !spec[2]) ||
		 hdr_structured(msg, "Date", date) < 0 || hdr_mailbox(msg, "From", a[0].display, spec[0]) < 0 ||
		 hdr_mailbox(msg, "To", NULL, spec[1]) < 0 || hdr_unstructured(msg, "Subject", subject.data) < 0 ||
		 hdr_structured(msg, "Message-ID", mid) < 0 ||
		 (r->reply_to && hdr_mailbox(msg, "Reply-To", a[2].display, spec[2]) < 0) ? -1 : 0;
	for (size_t i = 0; rc == 0 && r->headers && i < r->headers->n; i++) {
		const char *name = ydoc_key(r->headers, i), *v = ydoc_val(r->headers, i)->str;
		int k = header_kind(name);
		rc = k >= 0 && safe_headers[k].structured ? hdr_structured(msg, name, v) : hdr_unstructured(msg, name, v);
	}
	util_buf_free(&subject);
	for (int i = 0; i < 3; i++)
		free(spec[i]);
	return rc;
}

/* A msg-id (RFC 5322 3.6.4) as we write them: "<" dot-atom-text "@"
 * dot-atom-text ">". */
bool mime_msgid_valid(const char *m)
{
	size_t n = strlen(m);
	const char *at = strchr(m, '@');
	if (n < 5 || n > 250 || m[0] != '<' || m[n - 1] != '>' || !at || strchr(at + 1, '@'))
		return false;
	for (const char *p = m + 1; p < m + n - 1; p++) {
		bool edge = p == m + 1 || p == at - 1 || p == at + 1 || p == m + n - 2;
		if (p != at && !(isalnum((unsigned char)*p) || strchr("!#$%&'*+-/=?^_`{|}~", *p) || (*p == '.' && !edge && p[1] != '.')))
			return false;
	}
	return true;
}

/* The Message-ID: the one recorded in the receiver (by enqueue or compose
 * when they wrote the file, else at its first attempt), else
 * <time.bits.attempt@domain>: the receiver's creation time, 96 bits (the
 * caller's, derived from the file by msgid.c; else drawn now), and the
 * attempt that made it. */
static int message_id(const struct receiver *r, const char *bits, const char *domain, char *out, size_t n)
{
	const char *rec = ydoc_get_str(r->doc, "message_id");
	if (rec && mime_msgid_valid(rec) && strlen(rec) < n) {
		snprintf(out, n, "%s", rec);
		return 0;
	}
	char t[32], drawn[MSGID_BITS_LEN + 1];
	struct tm tm;
	if (!bits || strlen(bits) != MSGID_BITS_LEN) {
		if (msgid_random(drawn) < 0)
			return -1;
		bits = drawn;
	}
	gmtime_r(&r->created, &tm);
	strftime(t, sizeof t, "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, n, "<%s.%s.%lld@%s>", t, bits, r->failed_count + r->success_count + 1, domain);
	return 0;
}

int mime_render(const struct receiver *r, const struct mime_options *o, time_t now,
		struct util_buf *msg, struct mime_envelope *env, char *err, size_t errsz)
{
	return mime_render_bits(r, o, NULL, now, msg, env, err, errsz);
}

int mime_render_bits(const struct receiver *r, const struct mime_options *o, const char *msgid_bits,
		     time_t now, struct util_buf *msg, struct mime_envelope *env, char *err, size_t errsz)
{
	struct addr a[3] = {{0}};
	char *derived = NULL, *mid_domain = NULL, mid[300];
	int rc = -1;
	size_t start = msg->len;
	if (check_receiver(r, o, a, env, err, errsz) < 0)
		goto done;
	mid_domain = o->msgid_domain ? addr_domain_ascii(o->msgid_domain) : strdup(a[0].domain);
	if (!mid_domain) {
		fail(err, errsz, "message_id_domain: '%s' is not a valid domain", o->msgid_domain);
		goto done;
	}
	const char *text = r->text;
	if (!text) {
		derived = html2text(r->html, strlen(r->html));
		text = derived ? derived : "";
	}
	if (message_id(r, msgid_bits, mid_domain, mid, sizeof mid) < 0) {
		fail(err, errsz, "cannot draw the Message-ID's random bits: %s", strerror(errno));
		goto done;
	}
	if (!mime_msgid_valid(mid)) {
		fail(err, errsz, "message_id_domain: '%s' cannot be the right side of a Message-ID", mid_domain);
		goto done;
	}
	snprintf(env->message_id, sizeof env->message_id, "%s", mid);
	env->eightbit = false;
	rc = write_fields(msg, r, o, now, a, mid, env->smtputf8) < 0 || write_body(msg, r, text, mid, o->eightbit, &env->eightbit) < 0 ? -1 : 0;
	if (rc < 0 && !err[0])
		snprintf(err, errsz, errno == E2BIG ? "a header line would be longer than 998 octets"
						     : "cannot build the MIME message (out of memory)");
done:
	if (rc < 0)
		msg->len = start; /* nothing half-built is left for a caller to send */
	for (int i = 0; i < 3; i++)
		addr_free(&a[i]);
	free(mid_domain);
	free(derived);
	return rc;
}

int mime_check(struct receiver *r, const struct conf *c, char *err, size_t errsz)
{
	struct mime_options o = {c->from, c->subject_prefix, c->message_id_domain, false};
	struct mime_envelope env;
	struct util_buf msg = {0};
	if (errsz)
		err[0] = '\0';
	int rc = mime_render(r, &o, time(NULL), &msg, &env, err, errsz);
	if (rc == 0 && c->smtp.max_message_size && msg.len > c->smtp.max_message_size) {
		snprintf(err, errsz, "the message would be %zu bytes, more than smtp.max_message_size (%zu)",
			 msg.len, c->smtp.max_message_size);
		errno = EFBIG;
		rc = -1;
	}
	if (rc == 0 && !ydoc_get(r->doc, "message_id")) /* durable with the file, drawn once */
		receiver_set(r, "message_id", env.message_id);
	util_buf_free(&msg);
	return rc;
}

bool mime_wire_ready(const char *msg, size_t len)
{
	const char *end = msg + len, *p;
	if (len == 0 || msg[0] == '.')
		return false;
	for (p = msg; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		if (p == msg || p[-1] != '\r' || (p + 1 < end && p[1] == '.'))
			return false;
	for (p = msg; (p = memchr(p, '\r', (size_t)(end - p))); p++)
		if (p + 1 == end || p[1] != '\n')
			return false;
	return true;
}
