/* fuzz: libFuzzer targets for the parsers and renderers that see untrusted
 * input. One file, one target per FUZZ_TARGET: receiver, conf, html2text,
 * template, mime. replay.c runs the same function over the seed corpus in
 * the ordinary build, so a crash found once stays a test. */
#include "config.h"
#include "compose.h"
#include "conf.h"
#include "html2text.h"
#include "mime.h"
#include "receiver.h"
#include "transport.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
		struct mime_options o = {"Fuzz Ø <f@example.org>", "[F] ", NULL};
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
	}
	return 0;
}
