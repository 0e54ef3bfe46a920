/* check_receiver: the format-1 receiver file: every example in
 * spool-layout/ loads or is refused with the reason it names, and
 * load-save-load keeps everything. */
#include "config.h"
#include "receiver.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const valid[] = {"minimal", "deadline-nb", "both-bodies", "failed-twice"};

static int load(const char *rel, struct receiver *r, char *err, size_t errsz)
{
	size_t len;
	char *data = unit_slurp(rel, &len);
	int rc = receiver_parse(r, "x", data, len, 1000, rel, err, errsz);
	free(data);
	return rc;
}

START_TEST(test_valid_examples)
{
	char rel[256], err[RECEIVER_ERRLEN];
	struct receiver r;
	snprintf(rel, sizeof rel, "spool-layout/examples/valid/%s.yaml", valid[_i]);
	ck_assert_msg(load(rel, &r, err, sizeof err) == 0, "%s: got error '%s', want it to load", rel, err);
	ck_assert_ptr_nonnull(r.send_to);
	receiver_free(&r);
}
END_TEST

static const struct {
	const char *file;
	const char *want;
} invalid[] = {
	{"missing-send-to", ":1: send_to: required key is missing"},
	{"missing-subject", ":1: subject: required key is missing"},
	{"missing-body", "one of 'text' and 'html' is required"},
	{"missing-version", "msgspool: required key is missing"},
	{"version-2", ":1: msgspool: unsupported format version '2'"},
	{"crlf-address", ":2: send_to: line breaks are not allowed"},
	{"crlf-subject", ":3: subject: line breaks are not allowed"},
	{"crlf-header", "headers: value of X-Ok must be one line"},
	{"bad-address", "send_to: 'not-an-address' is not a valid address"},
	{"subject-list", ":3: subject: must be a string"},
	{"negative-count", ":5: sending_failed_count: must be a whole number"},
	{"bad-created", "created: 'yesterday' is not an RFC 3339 time"},
	{"billion-laughs", ":1: anchors are not allowed"},
	{"duplicate-key", ":5: duplicate key 'subject'"},
	{"invalid-utf8", "invalid UTF-8"},
	{"deep-nesting", "nesting deeper than the limit"},
	{"not-yaml", "not-yaml.yaml:1:"},
	{"not-a-mapping", "must be a YAML mapping"},
	{"foreign-tag", "is not allowed"},
	{"message-type-sms", "message_type: 'sms' is not sent by msgspool"},
	{"two-documents", "more than one document"},
};

START_TEST(test_invalid_examples)
{
	char rel[256], err[RECEIVER_ERRLEN] = "";
	struct receiver r;
	snprintf(rel, sizeof rel, "spool-layout/examples/invalid/%s.yaml", invalid[_i].file);
	ck_assert_msg(load(rel, &r, err, sizeof err) == -1, "%s: got success, want '%s'", rel, invalid[_i].want);
	ck_assert_msg(strstr(err, invalid[_i].want) != NULL, "%s: got '%s', want '%s'", rel, err, invalid[_i].want);
	ck_assert_msg(strncmp(err, rel, strlen(rel)) == 0, "error '%s' does not name the file", err);
}
END_TEST

/* Saving and loading again changes nothing: the second save is identical. */
START_TEST(test_roundtrip)
{
	char rel[256], err[RECEIVER_ERRLEN];
	struct receiver r, r2;
	snprintf(rel, sizeof rel, "spool-layout/examples/valid/%s.yaml", valid[_i]);
	ck_assert_int_eq(load(rel, &r, err, sizeof err), 0);
	struct util_buf a = {0}, b = {0};
	ck_assert_int_eq(receiver_save(&r, &a), 0);
	ck_assert_msg(receiver_parse(&r2, "x", a.data, a.len, 0, "saved", err, sizeof err) == 0,
		      "saved copy of %s does not load: %s\n%s", rel, err, a.data);
	ck_assert_int_eq(receiver_save(&r2, &b), 0);
	ck_assert_str_eq(a.data, b.data);
	ck_assert_str_eq(r.send_to, r2.send_to);
	ck_assert_str_eq(r.subject, r2.subject);
	ck_assert_int_eq(r.created, r2.created);
	if (r.text)
		ck_assert_str_eq(r.text, r2.text);
	if (r.html)
		ck_assert_str_eq(r.html, r2.html);
	receiver_free(&r);
	receiver_free(&r2);
	util_buf_free(&a);
	util_buf_free(&b);
}
END_TEST

START_TEST(test_unknown_keys_and_metadata_kept)
{
	char err[RECEIVER_ERRLEN];
	struct receiver r;
	ck_assert_int_eq(load("spool-layout/examples/valid/both-bodies.yaml", &r, err, sizeof err), 0);
	receiver_record_failure(&r, 2000000000, "451 4.3.0 later", 451, "<<< 451 4.3.0 later\n", "failed");
	struct util_buf a = {0};
	ck_assert_int_eq(receiver_save(&r, &a), 0);
	ck_assert_msg(strstr(a.data, "custom_application_key: kept verbatim\n"), "unknown key lost:\n%s", a.data);
	ck_assert_msg(strstr(a.data, "  X-Devilry-Course: inf1000\n"), "headers lost:\n%s", a.data);
	ck_assert_msg(strstr(a.data, "html: |\n  <p>A new comment"), "html not a literal block:\n%s", a.data);
	/* libyaml will not write a block whose line ends in a space (the "-- "
	 * signature line): it is quoted instead, and must still round-trip. */
	ck_assert_msg(strstr(a.data, "text: \"A new comment was added to your delivery.\\n\\n-- \\nDevilry\\n\""),
		      "text with a trailing space not kept exactly:\n%s", a.data);
	receiver_free(&r);
	util_buf_free(&a);
	ck_assert_int_eq(load("spool-layout/examples/valid/deadline-nb.yaml", &r, err, sizeof err), 0);
	ck_assert_int_eq(receiver_save(&r, &a), 0);
	ck_assert_msg(strstr(a.data, "metadata:\n  assignment_id: 42\n  tags:\n  - deadline\n  - øving\n"),
		      "metadata changed:\n%s", a.data);
	receiver_free(&r);
	util_buf_free(&a);
}
END_TEST

START_TEST(test_record_attempts)
{
	char err[RECEIVER_ERRLEN];
	struct receiver r;
	ck_assert_int_eq(load("spool-layout/examples/valid/failed-twice.yaml", &r, err, sizeof err), 0);
	ck_assert_int_eq(r.failed_count, 2);
	ck_assert_uint_eq(r.errors->n, 2);
	ck_assert_str_eq(r.last_outcome, "failed");
	receiver_record_failure(&r, 2000000000, "550 5.1.1 no such user", 550, "t", "error");
	ck_assert_int_eq(r.failed_count, 3);
	ck_assert_uint_eq(r.errors->n, 3);
	ck_assert_str_eq(r.last_outcome, "error");
	receiver_record_success(&r, 2000000100);
	ck_assert_int_eq(r.success_count, 1);
	ck_assert_int_eq(r.sent_at, 2000000100);
	struct util_buf a = {0};
	struct receiver r2;
	ck_assert_int_eq(receiver_save(&r, &a), 0);
	ck_assert_int_eq(receiver_parse(&r2, "x", a.data, a.len, 0, "s", err, sizeof err), 0);
	ck_assert_int_eq(r2.failed_count, 3);
	ck_assert_int_eq(r2.success_count, 1);
	ck_assert_str_eq(r2.last_outcome, "sent");
	const struct ydoc_node *e = r2.errors->items[2];
	ck_assert_str_eq(ydoc_get(e, "error")->str, "550 5.1.1 no such user");
	ck_assert_str_eq(ydoc_get(e, "smtp_code")->str, "550");
	receiver_free(&r);
	receiver_free(&r2);
	util_buf_free(&a);
}
END_TEST

START_TEST(test_created_from_mtime)
{
	char err[RECEIVER_ERRLEN];
	struct receiver r;
	const char *y = "msgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: t\n";
	ck_assert_int_eq(receiver_parse(&r, "x", y, strlen(y), 1700000000, "f", err, sizeof err), 0);
	ck_assert_int_eq(r.created, 1700000000);
	struct util_buf a = {0};
	ck_assert_int_eq(receiver_save(&r, &a), 0);
	ck_assert_msg(strstr(a.data, "created: \"2023-11-14T22:13:20Z\""), "got:\n%s", a.data);
	receiver_free(&r);
	util_buf_free(&a);
}
END_TEST

/* The appending save: each source, after a first attempt, must read back
 * as the very tree the full save writes; `appended` says whether the fast
 * path (the source bytes kept as they are) must be the one taken. */
#define HEAD "msgspool: 1\nsend_to: a@example.com\nsubject: s\n"
static const struct {
	const char *name, *src;
	bool appended;
} appends[] = {
	{"plain", HEAD "created: 2026-11-28T10:00:00Z\ntext: |\n  hello\n  -- \n  sig\n", true},
	{"no created (added)", HEAD "text: t\n", true},
	{"comments kept", "# by the app\n" HEAD "text: t # trailing\n# last line\n", true},
	{"document start", "---\n" HEAD "text: t\n", true},
	{"keep chomping at the end", HEAD "text: |+\n  a\n\n\n", true},
	{"strip chomping at the end", HEAD "text: |-\n  a\n\n", true},
	{"zero-indented list last", HEAD "text: t\ntags:\n- a\n- b\n", true},
	{"multi-line plain last", HEAD "text: one\n  two\n  three\n", true},
	{"flow list over lines last", HEAD "text: t\nm: [a,\n  b]\n", true},
	{"nested mapping last", HEAD "text: t\nmetadata:\n  a:\n    b: 1\n", true},
	{"CRLF lines", "msgspool: 1\r\nsend_to: a@example.com\r\nsubject: s\r\ntext: t\r\n", true},
	{"no final newline", HEAD "text: t", false},
	{"explicit end", HEAD "text: t\n...\n", false},
	{"flow mapping", "{msgspool: 1, send_to: a@example.com, subject: s, text: t}\n", false},
	{"indented root", "  msgspool: 1\n  send_to: a@example.com\n  subject: s\n  text: t\n", false},
	{"explicit key", "? msgspool\n: 1\nsend_to: a@example.com\nsubject: s\ntext: t\n", false},
	{"already attempted", HEAD "text: t\nsending_failed_count: 1\n", false},
};

static struct ydoc_node *reparse(const struct util_buf *b, const char *what)
{
	char err[RECEIVER_ERRLEN];
	struct receiver r;
	ck_assert_msg(receiver_parse(&r, "x", b->data, b->len, 0, what, err, sizeof err) == 0,
		      "%s does not load: %s\n%s", what, err, b->data);
	return r.doc;
}

START_TEST(test_save_appended)
{
	const char *src = appends[_i].src;
	size_t len = strlen(src);
	for (int failed = 0; failed < 2; failed++) {
		char err[RECEIVER_ERRLEN];
		struct receiver r;
		ck_assert_msg(receiver_parse(&r, "x", src, len, 1700000000, "t", err, sizeof err) == 0, "%s: %s",
			      appends[_i].name, err);
		if (failed)
			receiver_record_failure(&r, 2000000000, "451 later", 451, "<<< 451 later\n\n", "failed");
		else
			receiver_record_success(&r, 2000000000);
		struct util_buf fast = {0}, full = {0};
		ck_assert_int_eq(receiver_save_appended(&r, src, len, &fast), 0);
		ck_assert_int_eq(receiver_save(&r, &full), 0);
		if (appends[_i].appended)
			ck_assert_msg(fast.len > len && memcmp(fast.data, src, len) == 0,
				      "%s: source bytes not kept:\n%s", appends[_i].name, fast.data);
		else
			ck_assert_msg(fast.len == full.len && memcmp(fast.data, full.data, full.len) == 0,
				      "%s: not the full save:\n%s", appends[_i].name, fast.data);
		struct ydoc_node *t1 = reparse(&fast, "appended"), *t2 = reparse(&full, "full");
		ck_assert_msg(ydoc_equal(t1, t2), "%s: appended save reads back differently:\n%s\n--- want ---\n%s",
			      appends[_i].name, fast.data, full.data);
		ydoc_free(t1);
		ydoc_free(t2);
		receiver_free(&r);
		util_buf_free(&fast);
		util_buf_free(&full);
	}
}
END_TEST

static const struct {
	const char *addr;
	bool ok;
} addrs[] = {
	{"a@example.com", true}, {"first.last+tag@sub.example.org", true}, {"@example.com", false},
	{"a@", false}, {"a", false}, {"a b@example.com", false}, {"<a@example.com>", false},
	{"a@b@example.com", false}, {"a@example.com\r\n", false}, {"a,b@example.com", false},
};

START_TEST(test_addresses)
{
	ck_assert_msg(receiver_address_valid(addrs[_i].addr) == addrs[_i].ok, "address [%s]: want %d",
		      addrs[_i].addr, addrs[_i].ok);
}
END_TEST

/* ---- receiver_head against receiver_parse ---- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

/* Runs both readers on y; when the head reader answers, the full parse
 * must accept the file and give the same columns. *head, *full: whether
 * each read it. */
static void agree(const char *what, const char *y, size_t len, int *head, int *full)
{
	static struct receiver_head h;
	struct receiver r;
	char err[RECEIVER_ERRLEN] = "";
	*head = receiver_head(&h, y, len, 1700000000);
	*full = receiver_parse(&r, "x", y, len, 1700000000, "f", err, sizeof err) == 0;
	if (*head) {
		ck_assert_msg(*full, "%s: the head reader read a file the full parse refuses (%s):\n%.*s", what, err,
			      (int)len, y);
		ck_assert_msg(same_str(h.r.send_to, r.send_to) && same_str(h.r.subject, r.subject) &&
				      same_str(h.r.user, r.user) && same_str(h.r.context_type, r.context_type) &&
				      h.r.created == r.created && h.r.sent_at == r.sent_at &&
				      h.r.failed_count == r.failed_count && h.r.success_count == r.success_count,
			      "%s: the readers disagree on a column:\n%.*s", what, (int)len, y);
	}
	if (*full)
		receiver_free(&r);
}

#define RH "msgspool: 1\nsend_to: a@example.com\nsubject: s\n"
/* head: 1 the head reader must read it (the shapes a listing meets), 0 it
 * must not, -1 either; full: whether receiver_parse accepts it. */
static const struct {
	const char *name, *y;
	int head, full;
} heads[] = {
	{"bench shape", "msgspool: 1\nsend_to: user1@example.com\nsubject: \"Frist flyttet for \xc3\x98ving 3 \xe2\x80\x93 "
			"\xc2\xabviktig\xc2\xbb 1\"\nuser: user1\nlanguage: nb\ncontext_type: deadline_moved\ntext: |\n"
			"  Fristen er flyttet.\n\n  Husk \xc3\xa5 levere.\nhtml: |\n  <p>Fristen</p>\n  <p>x</p>\n", 1, 1},
	{"sent, sender keys", RH "text: |\n  Hello,\n  x.\nuser: student0001\ncontext_type: comment_delivery\n"
			      "created: \"2026-11-28T10:00:00Z\"\nsending_success_count: 1\nsending_failed_count: 0\n"
			      "sent_at: \"2026-11-28T10:05:00Z\"\nlast_attempt:\n  at: \"2026-11-28T10:05:00Z\"\n"
			      "  outcome: sent\nmessage_id: <1.2.3@example.org>\n", 1, 1},
	{"failed, errors list", RH "text: t\nsending_failed_count: 2\nerrors:\n- at: \"2026-11-28T10:05:00Z\"\n"
				"  error: 451 4.3.0 try again later\n  smtp_code: 451\n  transcript: |\n    S: 220 mx\n"
				"    C: EHLO x\n- at: \"2026-11-28T11:05:00Z\"\n  error: 'timed out'\n  smtp_code: null\n"
				"  transcript: \"\"\n", 1, 1},
	{"indented errors list", RH "text: t\nerrors:\n  - at: x\n    error: y\n  -\n    at: z\n", 1, 1},
	{"escapes in a subject", "msgspool: 1\nsend_to: a@example.com\nsubject: \"a \\\"q\\\" \\\\ \\u00e9 \\x41 \\U0001F600\"\n"
				 "text: t\n", 1, 1},
	{"single quotes", "msgspool: 1\nsend_to: 'a@example.com'\nsubject: 'it''s'\ntext: t\n", 1, 1},
	{"numeric user", RH "user: 42\ntext: t\n", 1, 1},
	{"null user", RH "user: ~\ncontext_type:\ntext: t\n", 1, 1},
	{"created missing: the mtime", RH "text: t\n", 1, 1},
	{"a key hidden inside a block", RH "text: |\n  created: \"2000-01-01T00:00:00Z\"\n  sent_at: x\n"
				       "  subject: other\n", 1, 1},
	{"html only", RH "html: |-\n  <p>x</p>\n\n", 1, 1},
	{"metadata nested", RH "text: t\nmetadata:\n  a:\n    b: [1, 2]\n", -1, 1},
	{"forged created twice", RH "created: \"2020-01-01T00:00:00Z\"\ntext: t\ncreated: \"2026-11-28T10:00:00Z\"\n", 0, 0},
	{"duplicate key in an error", RH "text: t\nerrors:\n- at: x\n  at: y\n", 0, 0},
	{"second document", RH "text: t\n---\nmsgspool: 1\n", 0, 0},
	{"document end then more", RH "text: t\n...\nsubject: x\n", 0, 0},
	{"document end", RH "text: |+\n  t\n\n...\n\n", 1, 1},
	{"document end, second document", RH "text: t\n...\n---\nmsgspool: 1\n", 0, 0},
	{"invalid UTF-8 in a body", RH "text: |\n  ok\n  bad \xff here\n", 0, 0},
	{"overlong UTF-8 in a body", RH "text: |\n  \xc0\xaf\n", 0, 0},
	{"surrogate in a body", RH "text: |\n  \xed\xa0\x80\n", 0, 0},
	{"control character in a body", RH "text: |\n  a\x01z\n", 0, 0},
	{"NUL in a body", RH "text: |\n  a\0z\n", 0, 0},
	{"DEL in a subject", "msgspool: 1\nsend_to: a@example.com\nsubject: a\x7fz\ntext: t\n", 0, 0},
	{"escaped NUL", "msgspool: 1\nsend_to: a@example.com\nsubject: \"a\\0z\"\ntext: t\n", 0, 0},
	{"escaped x00", "msgspool: 1\nsend_to: a@example.com\nsubject: \"a\\x00z\"\ntext: t\n", 0, 0},
	{"escaped newline in a subject", "msgspool: 1\nsend_to: a@example.com\nsubject: \"a\\nBcc: x\"\ntext: t\n", 0, 0},
	{"escaped CR in an address", "msgspool: 1\nsend_to: \"a@example.com\\r\"\nsubject: s\ntext: t\n", 0, 0},
	{"escaped surrogate", "msgspool: 1\nsend_to: a@example.com\nsubject: \"\\ud800\"\ntext: t\n", 0, 0},
	{"a key outdented into a block", RH "text: |\n    a\n  created: x\n", 0, 0},
	{"multi-line plain subject", "msgspool: 1\nsend_to: a@example.com\nsubject: one\n  two\ntext: t\n", 0, 1},
	{"multi-line quoted subject", "msgspool: 1\nsend_to: a@example.com\nsubject: \"one\n  two\"\ntext: t\n", 0, 1},
	{"subject on the next line", "msgspool: 1\nsend_to: a@example.com\nsubject:\n  s\ntext: t\n", 0, 1},
	{"a comment", RH "text: t # c\n", 0, 1},
	{"a tab before a key", RH "\ttext: t\n", 0, 0},
	{"a tab in a subject", "msgspool: 1\nsend_to: a@example.com\nsubject: a\tb\ntext: t\n", 0, 1},
	{"CRLF lines", "msgspool: 1\r\nsend_to: a@example.com\r\nsubject: s\r\ntext: t\r\n", 0, 1},
	{"byte order mark", "\xef\xbb\xbfmsgspool: 1\nsend_to: a@example.com\nsubject: s\ntext: t\n", 0, -1},
	{"NEL in a body", RH "text: |\n  a\xc2\x85z\n", 0, -1},
	{"CSI in a body", RH "text: |\n  a\xc2\x9bz\n", 0, 0},
	{"truncated UTF-8 at the end", RH "text: |\n  a\xc3", 0, 0},
	{"U+00A0 and U+07FF in a body", RH "text: |\n  a\xc2\xa0\xdf\xbfz\n", 1, 1},
	{"anchor and alias", RH "text: &a t\nhtml: *a\n", 0, 0},
	{"a tag", RH "text: !!binary dA==\n", 0, -1},
	{"a foreign tag", RH "text: !x t\n", 0, 0},
	{"flow mapping", "{msgspool: 1, send_to: a@example.com, subject: s, text: t}\n", 0, 1},
	{"indented root", "  msgspool: 1\n  send_to: a@example.com\n  subject: s\n  text: t\n", 0, 1},
	{"explicit key", "? msgspool\n: 1\nsend_to: a@example.com\nsubject: s\ntext: t\n", 0, 1},
	{"version 2", "msgspool: 2\nsend_to: a@example.com\nsubject: s\ntext: t\n", 0, 0},
	{"version +1", "msgspool: +1\nsend_to: a@example.com\nsubject: s\ntext: t\n", 0, 1},
	{"version quoted", "msgspool: \"1\"\nsend_to: a@example.com\nsubject: s\ntext: t\n", 0, 0},
	{"bad address", "msgspool: 1\nsend_to: not-an-address\nsubject: s\ntext: t\n", 0, 0},
	{"no body", RH "user: u\n", 0, 0},
	{"null bodies", RH "text: ~\nhtml:\n", 0, 0},
	{"body a list", RH "text:\n- a\n", 0, 0},
	{"body a number", RH "text: 42\n", 0, 0},
	{"subject a list", "msgspool: 1\nsend_to: a@example.com\nsubject:\n- s\ntext: t\n", 0, 0},
	{"subject null", "msgspool: 1\nsend_to: a@example.com\nsubject: ~\ntext: t\n", 0, 0},
	{"negative count", RH "text: t\nsending_failed_count: -1\n", 0, 0},
	{"quoted count", RH "text: t\nsending_failed_count: \"1\"\n", 0, 0},
	{"huge count", RH "text: t\nsending_failed_count: 1000000001\n", 0, 0},
	{"bad created", RH "text: t\ncreated: yesterday\n", 0, 0},
	{"bad sent_at", RH "text: t\nsent_at: \"2026-13-01T00:00:00Z\"\n", 0, 0},
	{"bad priority", RH "text: t\npriority: urgent\n", 0, 0},
	{"bad message id", RH "text: t\nmessage: ../x\n", 0, 0},
	{"sms", RH "text: t\nmessage_type: sms\n", 0, 0},
	{"bad reply_to", RH "text: t\nreply_to: \"a, b\"\n", 0, 0},
	{"header injection", RH "text: t\nheaders:\n  X-Ok: \"a\\nBcc: x\"\n", 0, 0},
	{"errors a string", RH "text: t\nerrors: oops\n", 0, 0},
	{"last_attempt a list", RH "text: t\nlast_attempt:\n- x\n", 0, 0},
	{"a subject of 999 bytes", NULL, 0, 0},
	{"a mapping value on a plain", RH "text: a: b\n", 0, 0},
	{"empty block", RH "text: |\nhtml: h\n", 0, 1},
	{"a block with a width", RH "text: |2\n  a\n", 0, 1},
	{"deep nesting", NULL, 0, 0},
	{"empty file", "", 0, 0},
	{"not a mapping", "- a\n- b\n", 0, 0},
};

START_TEST(test_head_cases)
{
	char big[4096];
	const char *y = heads[_i].y;
	if (!y && strstr(heads[_i].name, "999")) {
		int n = snprintf(big, sizeof big, "msgspool: 1\nsend_to: a@example.com\nsubject: ");
		memset(big + n, 'x', 999);
		strcpy(big + n + 999, "\ntext: t\n");
		y = big;
	} else if (!y) {
		int n = snprintf(big, sizeof big, RH "text: t\nmetadata:\n");
		for (int d = 1; d <= 40; d++)
			n += snprintf(big + n, sizeof big - (size_t)n, "%*sk:\n", 2 * d, "");
		snprintf(big + n, sizeof big - (size_t)n, "%*sv\n", 82, "");
		y = big;
	}
	size_t len = strlen(y);
	if (strstr(heads[_i].name, "NUL in"))
		len = strlen(RH) + 14;
	int head, full;
	agree(heads[_i].name, y, len, &head, &full);
	if (heads[_i].full >= 0)
		ck_assert_msg(full == heads[_i].full, "%s: the full parse %s it", heads[_i].name, full ? "read" : "refused");
	if (heads[_i].head >= 0)
		ck_assert_msg(head == heads[_i].head, "%s: the head reader %s it", heads[_i].name,
			      head ? "read" : "did not read");
}
END_TEST

/* What msgspool itself writes after an attempt stays readable by the head
 * reader (else every listing after a send would be slow). */
START_TEST(test_head_reads_our_saves)
{
	const char *src = heads[0].y;
	for (int failed = 0; failed < 2; failed++) {
		char err[RECEIVER_ERRLEN];
		struct receiver r;
		ck_assert_int_eq(receiver_parse(&r, "x", src, strlen(src), 1700000000, "t", err, sizeof err), 0);
		if (failed)
			receiver_record_failure(&r, 2000000000, "451 later", 451, "<<< 451 later\n\n", "failed");
		else
			receiver_record_success(&r, 2000000000);
		struct util_buf b = {0};
		ck_assert_int_eq(receiver_save(&r, &b), 0);
		int head, full;
		agree("saved", b.data, b.len, &head, &full);
		ck_assert_msg(head && full, "the head reader did not read msgspool's own save:\n%s", b.data);
		receiver_free(&r);
		util_buf_free(&b);
	}
}
END_TEST

/* Random edits of files the head reader reads (bytes YAML gives meaning
 * to, lines repeated or moved): whatever it reads, the full parse must
 * read alike. The seed is fixed: a failure repeats. */
START_TEST(test_head_mutations)
{
	static const char bytes[] = " \n\t:-\"'\\#|>&*![]{},?%@`\r\xc2\x85\xff\0x0u";
	static const int bases[] = {0, 1, 2, 3, 4, 9};
	unsigned seed = 16;
	size_t read = 0, refused = 0;
	for (int it = 0; it < 30000; it++) {
		const char *src = heads[bases[it % 6]].y;
		char y[2048];
		size_t len = strlen(src);
		memcpy(y, src, len);
		for (int m = 0, nm = 1 + (int)(rand_r(&seed) % 3); m < nm; m++) {
			size_t at = len ? (size_t)rand_r(&seed) % len : 0;
			int op = rand_r(&seed) % 5;
			if (op == 0 && len + 1 < sizeof y) { /* insert a byte */
				memmove(y + at + 1, y + at, len - at);
				y[at] = bytes[(size_t)rand_r(&seed) % (sizeof bytes - 1)];
				len++;
			} else if (op == 1 && len) { /* replace one */
				y[at] = bytes[(size_t)rand_r(&seed) % (sizeof bytes - 1)];
			} else if (op == 2 && len) { /* delete one */
				memmove(y + at, y + at + 1, len - at - 1);
				len--;
			} else { /* copy a line to a line start (op 3) or insert spaces (op 4) */
				const char *ls = y + at;
				while (ls > y && ls[-1] != '\n')
					ls--;
				const char *le = memchr(ls, '\n', (size_t)(y + len - ls));
				size_t n = op == 4 ? 1 + (size_t)rand_r(&seed) % 4 : (size_t)((le ? le + 1 : y + len) - ls);
				char line[2048];
				if (op == 4)
					memset(line, ' ', n);
				else
					memcpy(line, ls, n);
				size_t to = op == 4 ? (size_t)(ls - y) : (size_t)rand_r(&seed) % (len + 1);
				while (op == 3 && to > 0 && y[to - 1] != '\n')
					to--;
				if (len + n < sizeof y) {
					memmove(y + to + n, y + to, len - to);
					memcpy(y + to, line, n);
					len += n;
				}
			}
		}
		int head, full;
		agree("mutant", y, len, &head, &full);
		read += (size_t)head;
		refused += (size_t)!full;
	}
	/* The edits reach both sides: many mutants are still read fast, many refused. */
	ck_assert_msg(read > 3000 && refused > 3000, "read %zu, refused %zu", read, refused);
}
END_TEST

Suite *suite_receiver(void)
{
	Suite *s = suite_create("receiver");
	TCase *tc = tcase_create("format1");
	tcase_add_loop_test(tc, test_valid_examples, 0, sizeof valid / sizeof *valid);
	tcase_add_loop_test(tc, test_invalid_examples, 0, sizeof invalid / sizeof *invalid);
	tcase_add_loop_test(tc, test_roundtrip, 0, sizeof valid / sizeof *valid);
	tcase_add_test(tc, test_unknown_keys_and_metadata_kept);
	tcase_add_test(tc, test_record_attempts);
	tcase_add_test(tc, test_created_from_mtime);
	tcase_add_loop_test(tc, test_save_appended, 0, sizeof appends / sizeof *appends);
	tcase_add_loop_test(tc, test_addresses, 0, sizeof addrs / sizeof *addrs);
	tcase_add_loop_test(tc, test_head_cases, 0, sizeof heads / sizeof *heads);
	tcase_add_test(tc, test_head_reads_our_saves);
	tcase_add_test(tc, test_head_mutations);
	suite_add_tcase(s, tc);
	return s;
}
