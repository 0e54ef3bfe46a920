/* mime: receiver -> RFC 5322 message, and the check that a message can
 * follow SMTP's DATA as it is.
 * Owns: the header fields msgspool writes, the MIME structure (parts,
 * boundary, transfer encodings), the safe list of custom headers.
 * Never: writes a line break inside a header value, an 8-bit byte where the
 * transport did not say it may go, or a line a lone "." would end.
 * Rules: man/msgspool-receiver.5 (what goes on the wire), RFC 5322, 2045-2047. */
#include "config.h"
#include "mime.h"
#include "html2text.h"

#include <errno.h>
#include <libetpan/libetpan.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static bool needs_encoding(const char *s, bool phrase)
{
	if (strstr(s, "=?"))
		return true;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80 || *p < 0x20 || *p == 0x7f)
			return true;
		/* In a display name, specials would need quoting; encoding is simpler. */
		if (phrase && strchr("()<>[]:;@\\,.\"", *p))
			return true;
	}
	return false;
}

/* Characters allowed unencoded inside a Q encoded-word in a phrase. */
static bool q_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '!' || c == '*' || c == '+' || c == '-' || c == '/';
}

static const char hex_upper[] = "0123456789ABCDEF";

char *mime_encode_header(const char *s, bool phrase)
{
	struct util_buf b = {0};
	if (!needs_encoding(s, phrase)) {
		util_buf_adds(&b, s);
		return util_buf_steal(&b);
	}
	/* Encoded-words of at most ~40 encoded characters (so the first fits on
	 * the header line and libetpan need not fold before it), split only between
	 * UTF-8 characters, joined by a space (which decoders drop). */
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		util_buf_adds(&b, b.len ? " =?UTF-8?Q?" : "=?UTF-8?Q?");
		size_t used = 0;
		while (*p) {
			size_t clen = 1;
			while ((p[clen] & 0xc0) == 0x80)
				clen++;
			size_t enc = 0;
			for (size_t i = 0; i < clen; i++)
				enc += (p[i] == ' ' || q_plain(p[i])) ? 1 : 3;
			if (used && used + enc > 40)
				break;
			for (size_t i = 0; i < clen; i++) {
				if (p[i] == ' ')
					util_buf_add(&b, "_", 1);
				else if (q_plain(p[i]))
					util_buf_add(&b, &p[i], 1);
				else {
					char hx[3] = {'=', hex_upper[p[i] >> 4], hex_upper[p[i] & 15]};
					util_buf_add(&b, hx, 3);
				}
			}
			used += enc;
			p += clen;
		}
		util_buf_adds(&b, "?=");
	}
	return util_buf_steal(&b);
}

bool mime_header_allowed(const char *name)
{
	static const char *const ok[] = {
		"List-Unsubscribe", "List-Unsubscribe-Post", "List-Id", "List-Help", "List-Archive",
		"Auto-Submitted", "Precedence", "In-Reply-To", "References", "Keywords", "Comments",
		"Organization", "Importance", "X-Auto-Response-Suppress"};
	for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
		if (!strcasecmp(name, ok[i]))
			return true;
	/* X- headers carry no routing meaning; a few well-known ones do harm. */
	return !strncasecmp(name, "X-", 2) && strcasecmp(name, "X-Original-To") &&
	       strcasecmp(name, "X-Envelope-To") && strcasecmp(name, "X-Envelope-From");
}

/* Splits "Name <addr>" or "addr" into a display name and an address. */
static int parse_mailbox(const char *s, char **name, char **addr)
{
	*name = *addr = NULL;
	if (util_has_crlf(s))
		return -1;
	const char *lt = strrchr(s, '<');
	if (!lt) {
		if (!receiver_address_valid(s))
			return -1;
		*addr = strdup(s);
		return 0;
	}
	const char *gt = strchr(lt, '>');
	if (!gt || gt[1] != '\0')
		return -1;
	*addr = strndup(lt + 1, (size_t)(gt - lt - 1));
	const char *e = lt;
	while (e > s && e[-1] == ' ')
		e--;
	const char *b = s;
	while (b < e && *b == ' ')
		b++;
	if (e - b >= 2 && *b == '"' && e[-1] == '"') {
		b++;
		e--;
	}
	*name = e > b ? strndup(b, (size_t)(e - b)) : NULL;
	if (!receiver_address_valid(*addr)) {
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		return -1;
	}
	return 0;
}

static char *format_mailbox(const char *name, const char *addr)
{
	struct util_buf b = {0};
	if (name && *name) {
		char *enc = mime_encode_header(name, true);
		util_buf_printf(&b, "%s <%s>", enc, addr);
		free(enc);
	} else {
		util_buf_adds(&b, addr);
	}
	return util_buf_steal(&b);
}

static int add_field(struct mailimf_fields *f, const char *name, char *value)
{
	char *n = strdup(name);
	struct mailimf_field *fld = n && value ? mailimf_field_new_custom(n, value) : NULL;
	if (!fld || mailimf_fields_add(f, fld) != MAILIMF_NO_ERROR) {
		if (fld)
			mailimf_field_free(fld);
		else {
			free(n);
			free(value);
		}
		return -1;
	}
	return 0;
}

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
	const unsigned char *p = (const unsigned char *)in;
	size_t col = 0;
	while (*p) {
		/* Most bytes of a text are printable ASCII, or a space with more on
		 * the line, inside the line: found in one scan and copied in one
		 * go (the scan stops at the NUL, which is neither). */
		if (col > 0 && col < 75) {
			const unsigned char *run = p, *stop = p + (75 - col);
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

/* libetpan's writer hands the header fields to us a piece at a time; it
 * takes 0 as a failed write (as its own in-memory writer returns). */
static int buf_write(void *b, const char *str, size_t len)
{
	return util_buf_add(b, str, len) < 0 ? 0 : (int)len + (len == 0);
}

/* One text part's headers and its quoted-printable body. */
static int text_part(struct util_buf *b, const char *subtype, const char *body)
{
	if (util_buf_adds(b, "Content-Type: text/") < 0 || util_buf_adds(b, subtype) < 0 ||
	    util_buf_adds(b, "; charset=\"utf-8\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n") < 0)
		return -1;
	return qp_encode(body, b);
}

/* "\r\n--=_" and 16 hex digits of the Message-ID, as the delimiter line
 * written between parts: "=_" never occurs in a quoted-printable body, so
 * no part can hold a line equal to it (libetpan's own boundary costs a
 * gethostname and a getpid per message and is only likely unique), and
 * the same message gets the same boundary. */
#define DELIM_LEN 22
static void delimiter_for(const char *mid, char out[DELIM_LEN + 1])
{
	uint64_t h = 0xcbf29ce484222325u;
	for (const unsigned char *p = (const unsigned char *)mid; *p; p++)
		h = (h ^ *p) * 0x100000001b3u;
	memcpy(out, "\r\n--=_", 6);
	for (int i = 0; i < 16; i++)
		out[6 + i] = "0123456789abcdef"[(h >> (60 - 4 * i)) & 15];
	out[DELIM_LEN] = '\0';
}

static int fail(char *err, size_t errsz, const char *fmt, const char *arg)
{
	snprintf(err, errsz, fmt, arg);
	errno = EINVAL;
	return -1;
}

/* The parts after the header fields: one text/plain, or a
 * multipart/alternative of text and html; ours, because libetpan's MIME
 * writer copies every body byte through a line folder, a third of a
 * render, which quoted-printable lines of at most 76 characters never need. */
static int write_body(struct util_buf *msg, const struct receiver *r, const char *text, const char *mid)
{
	if (util_buf_adds(msg, "MIME-Version: 1.0\r\n") < 0)
		return -1;
	if (!r->html)
		return text_part(msg, "plain", text) < 0 ||
		       /* SMTP ends a message at a line end; the text may not. */
		       (memcmp(msg->data + msg->len - 2, "\r\n", 2) != 0 && util_buf_add(msg, "\r\n", 2) < 0) ? -1 : 0;
	char d[DELIM_LEN + 1];
	delimiter_for(mid, d);
	const char *b = d + 4; /* the boundary itself */
	if (util_buf_adds(msg, "Content-Type: multipart/alternative; boundary=\"") < 0 ||
	    util_buf_add(msg, b, DELIM_LEN - 4) < 0 || util_buf_add(msg, "\"\r\n", 3) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "\r\n", 2) < 0 ||
	    text_part(msg, "plain", text) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "\r\n", 2) < 0 ||
	    text_part(msg, "html", r->html) < 0 ||
	    util_buf_add(msg, d, DELIM_LEN) < 0 || util_buf_add(msg, "--\r\n", 4) < 0)
		return -1;
	return 0;
}

/* The header fields, written through libetpan (folding, its encoding rules). */
static int write_fields(struct util_buf *msg, const struct receiver *r, const struct mime_options *o,
			time_t now, const char *fname, const char *faddr, const char *mid)
{
	int rc = -1;
	struct mailimf_fields *f = mailimf_fields_new_empty();
	char date[64], *subj = NULL;
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
	size_t slen = strlen(o->subject_prefix) + strlen(r->subject) + 1;
	char *full_subject = malloc(slen);
	if (!full_subject || !f)
		goto done;
	snprintf(full_subject, slen, "%s%s", o->subject_prefix, r->subject);
	subj = mime_encode_header(full_subject, false);
	free(full_subject);
	if (add_field(f, "Date", strdup(date)) < 0 || add_field(f, "From", format_mailbox(fname, faddr)) < 0 ||
	    add_field(f, "To", strdup(r->send_to)) < 0 || add_field(f, "Subject", subj) < 0 ||
	    add_field(f, "Message-ID", strdup(mid)) < 0)
		goto done;
	subj = NULL;
	if (r->reply_to && add_field(f, "Reply-To", strdup(r->reply_to)) < 0)
		goto done;
	for (size_t i = 0; r->headers && i < r->headers->n; i++) {
		const struct ydoc_node *v = ydoc_val(r->headers, i);
		if (add_field(f, ydoc_key(r->headers, i), mime_encode_header(v->str, false)) < 0)
			goto done;
	}
	int col = 0;
	rc = mailimf_fields_write_driver(buf_write, msg, &col, f) == MAILIMF_NO_ERROR ? 0 : -1;
done:
	if (f)
		mailimf_fields_free(f);
	free(subj);
	return rc;
}

/* Refuses what cannot be rendered: a bad From, To or subject, a header
 * outside the safe list. */
static int check_receiver(const struct receiver *r, char *err, size_t errsz)
{
	if (!receiver_address_valid(r->send_to) || util_has_crlf(r->subject))
		return fail(err, errsz, "send_to or subject: %s", "refused");
	for (size_t i = 0; r->headers && i < r->headers->n; i++) {
		const char *name = ydoc_key(r->headers, i);
		if (!mime_header_allowed(name))
			return fail(err, errsz, "headers: %s is not in the list of headers a receiver may set", name);
	}
	return 0;
}

int mime_render(const struct receiver *r, const struct mime_options *o, time_t now,
		struct util_buf *msg, char *envelope_from, size_t efsz, char *err, size_t errsz)
{
	char *fname = NULL, *faddr = NULL, *derived = NULL;
	const char *from = r->from ? r->from : o->from;
	if (parse_mailbox(from, &fname, &faddr) < 0)
		return fail(err, errsz, "from: '%s' is not a valid mailbox", from);
	if (check_receiver(r, err, errsz) < 0)
		return free(fname), free(faddr), -1;
	snprintf(envelope_from, efsz, "%s", faddr);

	const char *text = r->text;
	if (!text) {
		derived = html2text(r->html, strlen(r->html));
		text = derived ? derived : "";
	}
	char mid[512];
	const char *domain = o->msgid_domain ? o->msgid_domain : strrchr(faddr, '@') + 1;
	/* The same attempt number gives the same Message-ID, so a duplicate from
	 * a crash between 250 and the record can be recognised downstream. */
	snprintf(mid, sizeof mid, "<%s.%lld@%s>", r->id, r->failed_count + r->success_count + 1, domain);
	size_t start = msg->len;
	int rc = write_fields(msg, r, o, now, fname, faddr, mid) < 0 || write_body(msg, r, text, mid) < 0 ? -1 : 0;
	if (rc < 0)
		msg->len = start; /* nothing half-built is left for a caller to send */
	if (rc < 0 && !err[0])
		snprintf(err, errsz, "cannot build the MIME message (out of memory)");
	free(derived);
	free(fname);
	free(faddr);
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
