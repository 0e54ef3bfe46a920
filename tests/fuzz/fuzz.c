/* fuzz: libFuzzer targets for the parsers and renderers that see untrusted
 * input. One file, one target per FUZZ_TARGET: receiver, conf, html2text,
 * template, mime, header (hdr.c's fields and addr.c's parser), options
 * (what msgspool enqueue's options make of a receiver). replay.c runs the same function over the seed corpus in
 * the ordinary build, so a crash found once stays a test. */
#include "config.h"
#include "compose.h"
#include "addr.h"
#include "conf.h"
#include "hdr.h"
#include "html2text.h"
#include "mime.h"
#include "receiver.h"
#include "transport.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Every header line ends in CRLF, is at most 998 octets, and every line
 * after the first starts with whitespace (a fold, never a new field). */
static void check_field(const struct util_buf *b, bool ascii)
{
	const char *p = b->data, *end = b->data + b->len;
	for (bool first = true; p < end; first = false) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl || nl == p || nl[-1] != '\r' || nl - p - 1 > 998 || memchr(p, '\r', (size_t)(nl - p - 1)) ||
		    (!first && *p != ' ' && *p != '\t'))
			abort();
		for (const char *q = p; ascii && q < nl; q++)
			if ((unsigned char)*q >= 0x80)
				abort();
		p = nl + 1;
	}
}

/* Header values and addresses as producers may give them: valid UTF-8,
 * no CR, LF or NUL (refused before these functions see them). */
static void header_target(const char *d, size_t n)
{
	if (n > 998 || memchr(d, '\0', n) || memchr(d, '\r', n) || memchr(d, '\n', n) || !util_utf8_valid(d, n))
		return;
	char *s = strndup(d, n);
	struct util_buf b = {0};
	if (hdr_unstructured(&b, "Subject", s) == 0)
		check_field(&b, true);
	b.len = 0;
	if (hdr_mailbox(&b, "From", s, "a@example.org") == 0)
		check_field(&b, true);
	b.len = 0;
	/* Any ASCII value: written with every line in bounds, or refused as
	 * too long (E2BIG), never a line over 998. */
	errno = 0;
	if (hdr_is_ascii(s) && hdr_structured(&b, "References", s) == 0)
		check_field(&b, true);
	else if (hdr_is_ascii(s) && errno != E2BIG)
		abort();
	util_buf_free(&b);
	/* What parses as an address parses again from what we make of it. */
	struct addr a, a2;
	if (addr_parse(s, true, &a, NULL, 0) == 0) {
		char *spec = addr_spec_of(&a);
		if (!spec || addr_parse(spec, false, &a2, NULL, 0) < 0 || strcmp(a2.local, a.local) ||
		    strcmp(a2.domain, a.domain))
			abort();
		addr_free(&a2);
		free(spec);
		addr_free(&a);
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether two saved receivers hold the same data. */
static bool same_data(const struct util_buf *a, const struct util_buf *b)
{
	struct receiver ra, rb;
	char err[RECEIVER_ERRLEN];
	if (receiver_parse(&ra, "fuzz", a->data, a->len, 0, "a", err, sizeof err) < 0)
		return false;
	if (receiver_parse(&rb, "fuzz", b->data, b->len, 0, "b", err, sizeof err) < 0) {
		receiver_free(&ra);
		return false;
	}
	bool same = ydoc_equal(ra.doc, rb.doc);
	receiver_free(&ra);
	receiver_free(&rb);
	return same;
}

static void receiver_target(const char *d, size_t n, bool render)
{
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	if (receiver_parse(&r, "fuzz", d, n, 0, "fuzz", err, sizeof err) < 0)
		return;
	struct util_buf out = {0};
	if (render) {
		struct mime_envelope ef;
		struct mime_options o = {"Fuzz Ø <f@example.org>", "[F] ", NULL, (n & 1) != 0};
		/* What renders goes on the wire as it is: it must be wire-ready. */
		if (mime_render(&r, &o, 1700000000, &out, &ef, err, sizeof err) == 0 &&
		    !mime_wire_ready(out.data, out.len))
			abort();
	} else if (receiver_save(&r, &out) == 0) {
		/* What we write must read back, as the same data. */
		struct receiver r2;
		if (receiver_parse(&r2, "fuzz", out.data, out.len, 0, "saved", err, sizeof err) < 0 ||
		    !ydoc_equal(r.doc, r2.doc))
			abort();
		receiver_free(&r2);
		/* After an attempt, the appending save must read back as the
		 * very tree the full save writes. */
		receiver_record_success(&r, 1700000000);
		struct util_buf fast = {0}, full = {0};
		if (receiver_save_appended(&r, d, n, &fast) < 0 || receiver_save(&r, &full) < 0 ||
		    !same_data(&fast, &full))
			abort();
		util_buf_free(&fast);
		util_buf_free(&full);
	}
	util_buf_free(&out);
	receiver_free(&r);
}

/* enqueue's option values as a caller may pass them (argv and body files
 * hold any bytes): fields split at 0x1e, in the order to, subject, text,
 * html, then the optional keys. A receiver that validates renders
 * wire-ready, saves and reads back as the same data; one that does not
 * says why. */
static void options_target(const char *d, size_t n)
{
	static const char *const keys[] = {"text", "html", "user", "language", "context_type", "from",
					   "reply_to", "send_after", "expires_at", "priority"};
	char *f[12] = {0};
	size_t k = 0;
	for (const char *p = d, *end = d + n; k < 12 && p <= end; k++) {
		const char *sep = memchr(p, 0x1e, (size_t)(end - p));
		f[k] = strndup(p, (size_t)((sep ? sep : end) - p)); /* argv stops at a NUL too */
		p = (sep ? sep : end) + 1;
	}
	struct receiver r;
	char err[RECEIVER_ERRLEN] = "";
	if (f[0] && f[1] && receiver_init(&r, "fuzz", f[0], f[1], 1700000000) == 0) {
		for (size_t i = 0; i < 10 && f[i + 2]; i++)
			if (*f[i + 2])
				receiver_set(&r, keys[i], f[i + 2]);
		struct util_buf out = {0}, msg = {0};
		struct mime_envelope env;
		struct mime_options o = {"Fuzz <f@example.org>", "", NULL, (n & 1) != 0};
		struct receiver r2;
		if (receiver_validate(&r, "<options>", err, sizeof err) < 0) {
			if (!err[0])
				abort();
		} else if (mime_render(&r, &o, 1700000000, &msg, &env, err, sizeof err) == 0) {
			if (!mime_wire_ready(msg.data, msg.len) || receiver_save(&r, &out) < 0 ||
			    receiver_parse(&r2, "fuzz", out.data, out.len, 0, "saved", err, sizeof err) < 0)
				abort();
			if (!ydoc_equal(r.doc, r2.doc))
				abort();
			receiver_free(&r2);
		} else if (!err[0]) {
			abort();
		}
		util_buf_free(&out);
		util_buf_free(&msg);
		receiver_free(&r);
	}
	for (size_t i = 0; i < 12; i++)
		free(f[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *d = (const char *)data;
	char err[512];
	switch (FUZZ_TARGET) {
	case 0:
		receiver_target(d, size, false);
		break;
	case 1: {
		struct conf c;
		conf_defaults(&c);
		conf_parse(&c, d, size, "fuzz", err, sizeof err);
		conf_free(&c);
		break;
	}
	case 2: {
		char *t = html2text(d, size);
		free(t);
		break;
	}
	case 3: {
		char *s = strndup(d, size);
		struct ydoc_node *rv = ydoc_map(), *mv = ydoc_map();
		ydoc_set(rv, "name", ydoc_string("<Øving & \"3\">"));
		ydoc_set(mv, "x", ydoc_string("y"));
		struct util_buf out = {0};
		compose_template(s, rv, mv, size % 2, &out, err, sizeof err);
		util_buf_free(&out);
		ydoc_free(rv);
		ydoc_free(mv);
		free(s);
		break;
	}
	case 4:
		receiver_target(d, size, true);
		break;
	case 5:
		header_target(d, size);
		break;
	case 6:
		options_target(d, size);
		break;
	}
	return 0;
}
