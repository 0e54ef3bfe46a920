/* check_mime: html2text's layout rules, RFC 2047 header encoding, the safe
 * header list, quoted-printable bodies and refusals of injected headers. */
#include "config.h"
#include "hdr.h"
#include "html2text.h"
#include "mime.h"
#include "receiver.h"
#include "transport.h"
#include "unit.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *html, *want;
} h2t[] = {
	{"<p>One</p><p>Two</p>", "One\n\nTwo\n"},
	{"<h1>Title</h1>Body text", "Title\n\nBody text\n"},
	{"a<br>b<br/>c", "a\nb\nc\n"},
	{"<ul><li>x</li><li>y</li></ul>", "* x\n* y\n"},
	{"<ol><li>x</li><li>y</li></ol>", "1. x\n2. y\n"},
	{"<ul><li>a<ul><li>b</li></ul></li></ul>", "* a\n  * b\n"},
	{"See <a href=\"https://e.org/x\">this</a>.", "See this <https://e.org/x>.\n"},
	{"<a href=\"https://e.org\">https://e.org</a>", "https://e.org\n"},
	{"<a href=\"#top\">top</a>", "top\n"},
	{"&aelig;&oslash;&aring; &amp; &lt;b&gt; &#8211; &quot;q&quot;", "æøå & <b> – \"q\"\n"},
	{"<script>alert(1)</script><style>p{}</style>Visible", "Visible\n"},
	{"<head><title>T</title></head><body>B</body>", "B\n"},
	{"  lots   of\n\n  space  ", "lots of space\n"},
	{"<pre>  keep\n    this</pre>", "  keep\n    this\n"},
	{"<p>Fristen for <b>Øving 3</b> er nå <i>fredag</i>.</p>", "Fristen for Øving 3 er nå fredag.\n"},
	{"<table><tr><td>a</td><td>b</td></tr><tr><td>c</td><td>d</td></tr></table>", "a b\nc d\n"},
	{"<img src=x alt=\"logo\">", "[logo]\n"},
	{"unclosed <b>bold <p>para", "unclosed bold\n\npara\n"},
	{"", "\n"},
	{"a < b &amp;&amp; c > d", "a < b && c > d\n"},
	{"<script>if (a<b) document.write('</p><p>x')</script>y", "y\n"},
	{"x<!-- <p>hidden</p> -->y<!DOCTYPE html>z", "xyz\n"},
	{"<pre>\nline</pre>", "line\n"},
	{"<A HREF='https://e.org/?a=1&amp;b=2'>Go</A>", "Go <https://e.org/?a=1&b=2>\n"},
	{"<dl><dt>Term</dt><dd>Meaning</dd></dl>", "Term\nMeaning\n"},
	{"&#x1F600; &#65;&bogus; &", "\xf0\x9f\x98\x80 A&bogus; &\n"},
};

START_TEST(test_html2text)
{
	char *got = html2text(h2t[_i].html, strlen(h2t[_i].html));
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(!strcmp(got, h2t[_i].want), "html [%s]: got [%s], want [%s]", h2t[_i].html, got, h2t[_i].want);
	free(got);
}
END_TEST

static const struct {
	const char *in;
	int kind; /* 0 unstructured, 1 display name, 2 structured */
	const char *want;
} enc[] = {
	{"Plain ASCII subject", 0, "H: Plain ASCII subject\r\n"},
	{"Øving", 0, "H: =?UTF-8?B?w5h2aW5n?=\r\n"}, /* B is shorter here */
	{"Øvingsoppgavebesvarelsene øving", 0, "H: =?UTF-8?Q?=C3=98vingsoppgavebesvarelsene_=C3=B8ving?=\r\n"},
	{"a=?b c", 0, "H: =?UTF-8?Q?a=3D=3Fb?= c\r\n"},
	/* Whitespace but one space between words inside encoded-words, where
	 * libetpan keeps it too. */
	{"x  Øvingsoppgavebesvarelsene  y", 0, "H: =?UTF-8?Q?x__=C3=98vingsoppgavebesvarelsene__y?=\r\n"},
	{"two  spaces here", 0, "H: =?UTF-8?Q?two__spaces?= here\r\n"},
	/* Spaces between two encoded-words of a name: Python counts one per
	 * token gap and per run inside, Perl the spaces inside. */
	{"日本  語", 1, "H: =?UTF-8?B?5pel5pys?= =?UTF-8?B?ICDoqp4=?= <a@b.c>\r\n"},
	{"日本   語", 1, "H: =?UTF-8?B?5pel5pys?= =?UTF-8?Q?___?= =?UTF-8?B?6Kqe?= <a@b.c>\r\n"},
	{" lead", 0, "H: =?UTF-8?Q?_lead?=\r\n"},
	/* A name whose whitespace is spaces alone: runs of them, leading and
	 * trailing ones inside encoded-words, exact in libetpan too (which
	 * collapses a quoted-string's); with a tab quoted, as before. */
	{"John  Smith", 1, "H: =?UTF-8?Q?John?= =?UTF-8?Q?__Smith?= <a@b.c>\r\n"},
	{"John   Smith Jr", 1, "H: =?UTF-8?Q?John?= =?UTF-8?Q?___?= =?UTF-8?Q?Smith?= \"Jr\" <a@b.c>\r\n"},
	{" Doe", 1, "H: =?UTF-8?Q?_Doe?= <a@b.c>\r\n"},
	{"Doe  ", 1, "H: =?UTF-8?Q?Doe?= =?UTF-8?Q?__?= <a@b.c>\r\n"},
	{"Doe ", 1, "H: \"Doe \" <a@b.c>\r\n"},
	{"  ", 1, "H: =?UTF-8?Q?_?= \"\" <a@b.c>\r\n"},
	{"John \t Smith", 1, "H: \"John \t Smith\" <a@b.c>\r\n"},
	{"Devilry", 1, "H: Devilry <a@b.c>\r\n"},
	{"Devilry, Inc.", 1, "H: \"Devilry, Inc.\" <a@b.c>\r\n"},
	{"John \"JD\" Doe", 1, "H: \"John \\\"JD\\\" Doe\" <a@b.c>\r\n"},
	{"日本語の件名", 0, "H: =?UTF-8?B?5pel5pys6Kqe44Gu5Lu25ZCN?=\r\n"},
	{"<a.very.long.message.id.that.will.not.fit.on.one.line.of.seventy.eight@example.org>", 2,
	 "H: <a.very.long.message.id.that.will.not.fit.on.one.line.of.seventy.eight@example.org>\r\n"},
};

START_TEST(test_encode_header)
{
	struct util_buf b = {0};
	int rc = enc[_i].kind == 0 ? hdr_unstructured(&b, "H", enc[_i].in)
	       : enc[_i].kind == 1 ? hdr_mailbox(&b, "H", enc[_i].in, "a@b.c") : hdr_structured(&b, "H", enc[_i].in);
	ck_assert_int_eq(rc, 0);
	ck_assert_msg(!strcmp(b.data, enc[_i].want), "[%s]: got [%s], want [%s]", enc[_i].in, b.data, enc[_i].want);
	util_buf_free(&b);
}
END_TEST

/* Long values become several encoded-words, none over 75 characters, split
 * between UTF-8 characters, on lines of at most 78. */
START_TEST(test_encode_long)
{
	const char *s = "Frist flyttet for Øving 3 – «viktig» æøå ÆØÅ æøå ÆØÅ æøå ÆØÅ æøå ÆØÅ";
	struct util_buf b = {0};
	ck_assert_int_eq(hdr_unstructured(&b, "Subject", s), 0);
	char *copy = strdup(b.data), *save, *w;
	int words = 0;
	for (w = strtok_r(copy, " \r\n", &save); w; w = strtok_r(NULL, " \r\n", &save)) {
		if (strncmp(w, "=?", 2))
			continue;
		words++;
		ck_assert_msg(strlen(w) <= 75, "encoded word too long: %s", w);
		/* A split inside a character would leave =C3 as the last byte. */
		ck_assert_msg(!strstr(w, "=C3?="), "split inside a character: %s", w);
	}
	for (const char *l = b.data; *l; l = strstr(l, "\r\n") + 2)
		ck_assert_msg(strstr(l, "\r\n") - l <= 78, "line over 78: %s", b.data);
	ck_assert_int_gt(words, 1);
	free(copy);
	util_buf_free(&b);
}
END_TEST

START_TEST(test_header_allowed)
{
	ck_assert(mime_header_allowed("X-Devilry-Course"));
	ck_assert(mime_header_allowed("List-Unsubscribe"));
	ck_assert(mime_header_allowed("auto-submitted"));
	ck_assert(!mime_header_allowed("Bcc"));
	ck_assert(!mime_header_allowed("To"));
	ck_assert(!mime_header_allowed("Content-Type"));
	ck_assert(!mime_header_allowed("X-Original-To"));
}
END_TEST

static int render(const char *yaml, struct util_buf *out, char *err, size_t errsz)
{
	struct receiver r;
	struct mime_envelope ef;
	ck_assert_msg(receiver_parse(&r, "rid", yaml, strlen(yaml), 0, "t", err, errsz) == 0, "%s", err);
	struct mime_options o = {"Devilry Ø <noreply@example.org>", "[D] ", NULL, false};
	int rc = mime_render(&r, &o, 1700000000, out, &ef, err, errsz);
	receiver_free(&r);
	return rc;
}

START_TEST(test_render_qp)
{
	struct util_buf out = {0};
	char err[512] = "";
	const char *y = "msgspool: 1\nsend_to: a@example.com\nsubject: s\n"
			"text: \"-- \\n.dot\\nFrom here\\nÆ=1\\n" "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\\n\"\n";
	ck_assert_int_eq(render(y, &out, err, sizeof err), 0);
	ck_assert_msg(strstr(out.data, "\r\n--=20\r\n"), "trailing space not =20:\n%s", out.data);
	ck_assert_msg(strstr(out.data, "\r\n=2Edot\r\n"), "leading dot not encoded:\n%s", out.data);
	ck_assert_msg(strstr(out.data, "\r\n=46rom here\r\n"), "From not encoded:\n%s", out.data);
	ck_assert_msg(strstr(out.data, "\r\n=C3=86=3D1\r\n"), "8-bit or = not encoded:\n%s", out.data);
	for (const char *p = out.data; *p; p++)
		ck_assert_msg((unsigned char)*p < 0x80, "8-bit byte in the message");
	const char *line = out.data;
	while (line && *line) {
		const char *nl = strstr(line, "\r\n");
		size_t len = nl ? (size_t)(nl - line) : strlen(line);
		ck_assert_msg(len <= 78, "line of %zu characters", len);
		line = nl ? nl + 2 : NULL;
	}
	util_buf_free(&out);
	/* A dot or "From " that a soft break puts at the start of a line. */
	char y2[400], x75[76];
	memset(x75, 'x', 75);
	x75[75] = '\0';
	snprintf(y2, sizeof y2, "msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: \"%s.dot\\n%sFrom x\\n\"\n", x75, x75);
	ck_assert_int_eq(render(y2, &out, err, sizeof err), 0);
	ck_assert_msg(strstr(out.data, "x=\r\n=2Edot\r\n"), "dot after a soft break not encoded:\n%s", out.data);
	ck_assert_msg(strstr(out.data, "x=\r\n=46rom x\r\n"), "From after a soft break not encoded:\n%s", out.data);
	util_buf_free(&out);
	ck_assert_int_eq(render(y, &out, err, sizeof err), 0);
	/* <time.96 bits.attempt@domain>, the same for the same receiver. */
	const char *m = strstr(out.data, "Message-ID: <19700101T000000Z.");
	ck_assert_msg(m && strspn(m + 30, "0123456789abcdef") == 24 && !strncmp(m + 54, ".1@example.org>\r\n", 17),
		      "message-id:\n%s", out.data);
	char first[80];
	snprintf(first, sizeof first, "%.70s", m);
	util_buf_free(&out);
	ck_assert_int_eq(render(y, &out, err, sizeof err), 0);
	/* Without bits of its own (msgid.h) a receiver gets 96 random ones. */
	ck_assert_msg(!strstr(out.data, first), "the same Message-ID again without message_id or bits:\n%s", out.data);
	util_buf_free(&out);
	struct receiver r;
	struct mime_envelope ef;
	struct mime_options o = {"Devilry Ø <noreply@example.org>", "[D] ", NULL, false};
	ck_assert_int_eq(receiver_parse(&r, "rid", y, strlen(y), 0, "t", err, sizeof err), 0);
	ck_assert_int_eq(mime_render_bits(&r, &o, "0123456789abcdef01234567", 1700000000, &out, &ef, err, sizeof err), 0);
	ck_assert_msg(strstr(out.data, "Message-ID: <19700101T000000Z.0123456789abcdef01234567.1@example.org>\r\n"),
		      "the bits given:\n%s", out.data);
	/* A message_id in the receiver is the one used. */
	receiver_set(&r, "message_id", "<x.y@example.net>");
	util_buf_free(&out);
	ck_assert_int_eq(mime_render_bits(&r, &o, "0123456789abcdef01234567", 1700000000, &out, &ef, err, sizeof err), 0);
	ck_assert_msg(strstr(out.data, "Message-ID: <x.y@example.net>\r\n"), "the recorded one:\n%s", out.data);
	receiver_free(&r);
	ck_assert_msg(strstr(out.data, "From: \"Devilry\" =?UTF-8?B?w5g=?= <noreply@example.org>\r\n"), "from:\n%s", out.data);
	ck_assert_msg(strstr(out.data, "Content-Type: text/plain; charset=\"utf-8\""), "single part:\n%s", out.data);
	util_buf_free(&out);
}
END_TEST

/* The SMTP transport writes a rendered message as it is, with no
 * dot-stuffing, only when it is wire-ready: every render must be, and the
 * multipart one must hold exactly its two parts between the boundaries. */
START_TEST(test_render_wire_ready)
{
	static const char *const y[] = {
		"msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: \".\\n..\\n.\\r\\nx\\ry\\r\\n\\r.z\"\n",
		"msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: no line end\n",
		"msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: \"\"\n",
		"msgspool: 1\nsend_to: a@example.com\nsubject: s\nhtml: \"<p>.a</p>\\n.\\n\"\n",
		"msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: \".\\n\"\nhtml: \".<b>x</b>\\r\\n.\"\n",
	};
	for (size_t i = 0; i < sizeof y / sizeof *y; i++) {
		struct util_buf out = {0};
		char err[512] = "";
		ck_assert_msg(render(y[i], &out, err, sizeof err) == 0, "%s", err);
		ck_assert_msg(mime_wire_ready(out.data, out.len), "render %zu is not wire-ready:\n%s", i, out.data);
		ck_assert_msg(out.len >= 2 && !strcmp(out.data + out.len - 2, "\r\n"), "render %zu ends without CRLF", i);
		const char *ct = strstr(out.data, "boundary=\"");
		if (ct) {
			char delim[64];
			snprintf(delim, sizeof delim, "\r\n--%.18s", ct + 10);
			ck_assert_msg(!strncmp(ct + 10, "=_", 2) && ct[28] == '"', "boundary:\n%s", out.data);
			int n = 0;
			for (const char *p = out.data; (p = strstr(p, delim)); p++)
				n++;
			ck_assert_int_eq(n, 3); /* before each part and the closing one */
			ck_assert_msg(strstr(out.data + out.len - 26, "--\r\n"), "no closing delimiter:\n%s", out.data);
		}
		util_buf_free(&out);
	}
#define WIRE_READY(s) mime_wire_ready(s, strlen(s))
	ck_assert(!WIRE_READY("a\nb\r\n"));	   /* a bare LF */
	ck_assert(!WIRE_READY("a\rb\r\n"));	   /* a bare CR */
	ck_assert(!WIRE_READY("a\r\n.b\r\n"));  /* a line starting with a dot */
	ck_assert(!WIRE_READY(".a\r\n"));	   /* the first line too */
	ck_assert(!WIRE_READY("a\r\nb\r"));	   /* a CR at the very end */
	ck_assert(!WIRE_READY(""));
	ck_assert(WIRE_READY("a\r\n b.\r\nc"));  /* no final CRLF: the dot line adds one */
	ck_assert(WIRE_READY("a\r\nb\r\n"));
#undef WIRE_READY
}
END_TEST

/* A recorded Message-ID is used again; an id ending in "." still gives a
 * valid one (the id is no longer part of it). */
START_TEST(test_message_id)
{
	struct util_buf out = {0};
	char err[512] = "";
	ck_assert_int_eq(render("msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\nsending_failed_count: 2\n"
				"message_id: \"<20231114T221320Z.0123456789abcdef01234567.1@example.org>\"\n",
				&out, err, sizeof err), 0);
	ck_assert_msg(strstr(out.data, "Message-ID: <20231114T221320Z.0123456789abcdef01234567.1@example.org>\r\n"),
		      "recorded id not used:\n%s", out.data);
	util_buf_free(&out);
	struct receiver r;
	struct mime_envelope env;
	const char *y = "msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\n";
	ck_assert_int_eq(receiver_parse(&r, "ends.with.dot.", y, strlen(y), 0, "t", err, sizeof err), 0);
	struct mime_options o = {"a@example.org", "", NULL, false};
	ck_assert_int_eq(mime_render(&r, &o, 0, &out, &env, err, sizeof err), 0);
	ck_assert_msg(!strstr(env.message_id, "..") && strstr(env.message_id, ".1@example.org>"), "%s", env.message_id);
	receiver_free(&r);
	util_buf_free(&out);
}
END_TEST

START_TEST(test_render_refuses)
{
	struct util_buf out = {0};
	char err[512] = "";
	ck_assert_int_eq(render("msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\nheaders: {Bcc: b@example.com}\n",
				&out, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "headers: Bcc is not in the list"), "got '%s'", err);
	ck_assert_int_eq(render("msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\nfrom: \"Evil <a@b.c> <x@y.z\"\n",
				&out, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "from:"), "got '%s'", err);
	ck_assert_uint_eq(out.len, 0);
}
END_TEST

/* A structured value whose first word follows whitespace, too long for
 * the first line: refused by name, never written as a line over
 * 998 octets (the header fuzz target found " " + a 995-octet word). */
START_TEST(test_render_refuses_long_word)
{
	char word[996], y[1400];
	memset(word, 'w', 995);
	word[995] = '\0';
	const char *shapes[] = {"' %s'", "\"\\t%s\""}; /* a later word always fits: values are <= 998 */
	for (int i = 0; i < 2; i++) {
		struct util_buf out = {0};
		char err[512] = "";
		int n = snprintf(y, sizeof y, "msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: x\nheaders: {References: ");
		n += snprintf(y + n, sizeof y - (size_t)n, shapes[i], word);
		snprintf(y + n, sizeof y - (size_t)n, "}\n");
		ck_assert_int_eq(render(y, &out, err, sizeof err), -1);
		ck_assert_msg(strstr(err, "References") && strstr(err, "longer than a line"), "shape %d: got '%s'", i, err);
		ck_assert_uint_eq(out.len, 0);
	}
	/* hdr.c itself never writes such a line, whoever calls it. */
	struct util_buf b = {0};
	char v[1000];
	snprintf(v, sizeof v, " %s", word);
	errno = 0;
	ck_assert_int_eq(hdr_structured(&b, "References", v), -1);
	ck_assert_int_eq(errno, E2BIG);
	util_buf_free(&b);
}
END_TEST

/* The rendered bytes of the examples and of a long html page (quoted-
 * printable lines, soft breaks, a derived text part), with and without
 * 8bit, are main's before the work on large messages (fe9557b): the
 * faster readers and encoders changed no byte. A change of the wire
 * format on purpose changes these hashes (FNV-1a 64 of the message). */
static uint64_t fnv64_of(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 0x100000001b3u;
	return h;
}

START_TEST(test_render_bytes_unchanged)
{
	static const struct {
		const char *file;	/* NULL: the page */
		size_t len[2];		/* without and with eightbit */
		uint64_t hash[2];
	} want[] = {
		{"both-bodies", {710, 710}, {0xed8925383a8551b9u, 0xed8925383a8551b9u}},
		{"deadline-nb", {967, 917}, {0xa974b51d4306f785u, 0x5e7d288b0fc39d82u}},
		{"failed-twice", {355, 355}, {0xcd68ea0cf8fbc377u, 0xcd68ea0cf8fbc377u}},
		{"minimal", {321, 321}, {0x5ba7bbe68c314929u, 0x5ba7bbe68c314929u}},
		{NULL, {71353, 71353}, {0x5cd800ea8c0dfb2au, 0x5cd800ea8c0dfb2au}},
	};
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		struct util_buf y = {0};
		if (want[i].file) {
			char rel[128];
			size_t len;
			snprintf(rel, sizeof rel, "spool-layout/examples/valid/%s.yaml", want[i].file);
			char *data = unit_slurp(rel, &len);
			util_buf_add(&y, data, len);
			free(data);
		} else {
			util_buf_adds(&y, "msgspool: 1\nsend_to: user@example.com\nsubject: \"Stor melding\"\nuser: u\n"
					  "language: nb\ncontext_type: big\nhtml: |\n");
			for (int k = 0; k < 300; k++)
				util_buf_adds(&y, "  <p>Fristen for <b>\xc3\x98ving 3</b> er flyttet til fredag klokken 12:00. "
						  "Se <a href=\"https://example.org/x\">oppgaven</a>.</p>\n");
		}
		for (int e = 0; e < 2; e++) {
			struct receiver r;
			struct mime_envelope env;
			struct util_buf out = {0};
			char err[512];
			struct mime_options o = {"Devilry \xc3\x98 <noreply@example.org>", "[D] ", NULL, e};
			ck_assert_int_eq(receiver_parse(&r, "rid", y.data, y.len, 0, "t", err, sizeof err), 0);
			ck_assert_int_eq(mime_render_bits(&r, &o, "0123456789abcdef01234567", 1700000000, &out, &env, err,
							  sizeof err), 0);
			uint64_t h = fnv64_of(out.data, out.len);
			ck_assert_msg(out.len == want[i].len[e] && h == want[i].hash[e],
				      "%s, eightbit %d: %zu bytes, hash %016llx; want %zu, %016llx", want[i].file ? want[i].file : "the page",
				      e, out.len, (unsigned long long)h, want[i].len[e], (unsigned long long)want[i].hash[e]);
			util_buf_free(&out);
			receiver_free(&r);
		}
		util_buf_free(&y);
	}
}
END_TEST

Suite *suite_mime(void)
{
	Suite *s = suite_create("mime");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_html2text, 0, sizeof h2t / sizeof *h2t);
	tcase_add_loop_test(tc, test_encode_header, 0, sizeof enc / sizeof *enc);
	tcase_add_test(tc, test_encode_long);
	tcase_add_test(tc, test_header_allowed);
	tcase_add_test(tc, test_render_qp);
	tcase_add_test(tc, test_message_id);
	tcase_add_test(tc, test_render_wire_ready);
	tcase_add_test(tc, test_render_bytes_unchanged);
	tcase_add_test(tc, test_render_refuses);
	tcase_add_test(tc, test_render_refuses_long_word);
	suite_add_tcase(s, tc);
	return s;
}
