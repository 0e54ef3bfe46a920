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
	suite_add_tcase(s, tc);
	return s;
}
