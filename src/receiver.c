/* receiver: the receiver record, format 1: loads a file into a struct
 * (receiver_load), checks every key, records attempts and saves it back
 * keeping unknown keys and metadata as they were. It owns the meaning of
 * the keys; it never decides where a receiver goes (policy.c) nor knows a
 * path (spool.c). The format is written in spool-layout/README.md and
 * msgspool-receiver(5). */
#include "config.h"
#include "receiver.h"
#include "addr.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct ydoc_limits receiver_limits = {32, 100000, YDOC_MAX_KEYS};

static int bad(char *err, size_t errsz, const char *fname, int line, const char *key,
	       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static int bad(char *err, size_t errsz, const char *fname, int line, const char *key,
	       const char *fmt, ...)
{
	char reason[300];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	char where[64] = "";
	if (line > 0)
		snprintf(where, sizeof where, ":%d", line); /* built in memory: no line */
	if (key)
		snprintf(err, errsz, "%s%s: %s: %s", fname, where, key, reason);
	else
		snprintf(err, errsz, "%s%s: %s", fname, where, reason);
	errno = EINVAL;
	return -1;
}

bool receiver_address_valid(const char *a)
{
	return addr_valid(a, false); /* RFC 5322 addr-spec: addr.c */
}

/* Keys written by producers that hold one line of text. */
static const char *const line_keys[] = {
	"send_to", "subject", "user", "language", "message", "context_type", "message_type",
	"from", "reply_to", "created", "sent_at", "send_after", "expires_at", "priority"};

/* The one-line text keys: strings without line breaks, as headers need. */
static int check_lines(struct ydoc_node *d, const char *fname, char *err, size_t errsz)
{
	for (size_t i = 0; i < sizeof line_keys / sizeof *line_keys; i++) {
		struct ydoc_node *n = ydoc_get(d, line_keys[i]);
		if (!n || (ydoc_is_null(n) && strcmp(line_keys[i], "send_to") && strcmp(line_keys[i], "subject")))
			continue;
		/* A user id may be a number; everything else must be text. */
		if (n->kind != YDOC_SCALAR || (!ydoc_is_string(n) && strcmp(line_keys[i], "user")))
			return bad(err, errsz, fname, n->line, line_keys[i], "must be a string");
		if (util_has_crlf(n->str))
			return bad(err, errsz, fname, n->line, line_keys[i],
				   "line breaks are not allowed (header injection)");
		if (n->len > 998)
			return bad(err, errsz, fname, n->line, line_keys[i], "longer than 998 bytes");
	}
	return 0;
}

/* Address, subject, bodies and the other strings of the typed view. */
static int check_content(struct receiver *r, const char *fname, char *err, size_t errsz)
{
	struct ydoc_node *d = r->doc, *n;
	r->send_to = ydoc_get_str(d, "send_to");
	r->subject = ydoc_get_str(d, "subject");
	if (!r->send_to)
		return bad(err, errsz, fname, d->line, "send_to", "required key is missing");
	if (!receiver_address_valid(r->send_to))
		return bad(err, errsz, fname, ydoc_get(d, "send_to")->line, "send_to",
			   "'%s' is not a valid address", r->send_to);
	if (!ydoc_get(d, "subject"))
		return bad(err, errsz, fname, d->line, "subject", "required key is missing");
	if (!r->subject)
		r->subject = "";

	const char *bodies[] = {"text", "html"};
	for (size_t i = 0; i < 2; i++) {
		n = ydoc_get(d, bodies[i]);
		if (n && !ydoc_is_null(n) && (n->kind != YDOC_SCALAR || !ydoc_is_string(n)))
			return bad(err, errsz, fname, n->line, bodies[i], "must be a string");
	}
	r->text = ydoc_get_str(d, "text");
	r->html = ydoc_get_str(d, "html");
	if (!r->text && !r->html)
		return bad(err, errsz, fname, d->line, "text", "one of 'text' and 'html' is required");

	r->user = ydoc_get_str(d, "user");
	r->language = ydoc_get_str(d, "language");
	r->message = ydoc_get_str(d, "message");
	r->context_type = ydoc_get_str(d, "context_type");
	r->message_type = ydoc_get_str(d, "message_type");
	r->from = ydoc_get_str(d, "from");
	r->reply_to = ydoc_get_str(d, "reply_to");
	if (r->message && !spool_id_valid(r->message))
		return bad(err, errsz, fname, ydoc_get(d, "message")->line, "message",
			   "'%s' is not a valid message id", r->message);
	if (r->message_type && strcmp(r->message_type, "email"))
		return bad(err, errsz, fname, ydoc_get(d, "message_type")->line, "message_type",
			   "'%s' is not sent by msgspool (only 'email')", r->message_type);
	if (r->reply_to && !addr_valid(r->reply_to, true)) /* a mailbox: may have a display name */
		return bad(err, errsz, fname, ydoc_get(d, "reply_to")->line, "reply_to",
			   "'%s' is not a valid address", r->reply_to);
	return 0;
}

/* priority: high, normal (the default) or low. */
static int check_priority(struct receiver *r, const char *fname, char *err, size_t errsz)
{
	const char *prio = ydoc_get_str(r->doc, "priority");
	r->priority = RECEIVER_NORMAL;
	if (prio && !strcmp(prio, "high"))
		r->priority = RECEIVER_HIGH;
	else if (prio && !strcmp(prio, "low"))
		r->priority = RECEIVER_LOW;
	else if (prio && strcmp(prio, "normal"))
		return bad(err, errsz, fname, ydoc_get(r->doc, "priority")->line, "priority",
			   "'%s' is not high, normal or low", prio);
	return 0;
}

/* Times and counts; a missing `created` is the file's mtime, written in. */
static int check_times(struct receiver *r, time_t mtime, const char *fname, char *err, size_t errsz)
{
	struct ydoc_node *d = r->doc, *n;
	const char *c = ydoc_get_str(d, "created");
	if (c) {
		if (util_time_parse(c, &r->created) < 0)
			return bad(err, errsz, fname, ydoc_get(d, "created")->line, "created",
				   "'%s' is not an RFC 3339 time", c);
	} else {
		char tbuf[UTIL_TIME_LEN];
		r->created = mtime;
		util_time_format(mtime, tbuf);
		ydoc_set(d, "created", ydoc_string(tbuf));
	}
	const char *times[] = {"sent_at", "send_after", "expires_at"};
	time_t *tdst[] = {&r->sent_at, &r->send_after, &r->expires_at};
	for (size_t i = 0; i < 3; i++) {
		const char *s = ydoc_get_str(d, times[i]);
		*tdst[i] = 0;
		if (s && util_time_parse(s, tdst[i]) < 0)
			return bad(err, errsz, fname, ydoc_get(d, times[i])->line, times[i],
				   "'%s' is not an RFC 3339 time", s);
	}

	const char *counts[] = {"sending_failed_count", "sending_success_count"};
	long long *dst[] = {&r->failed_count, &r->success_count};
	for (size_t i = 0; i < 2; i++) {
		*dst[i] = 0;
		n = ydoc_get(d, counts[i]);
		if (n && (ydoc_to_int(n, dst[i]) < 0 || *dst[i] < 0 || *dst[i] > 1000000000))
			return bad(err, errsz, fname, n->line, counts[i], "must be a whole number >= 0");
	}
	return 0;
}

/* The mappings and lists: headers, errors, metadata, last_attempt. */
static int check_maps(struct receiver *r, const char *fname, char *err, size_t errsz)
{
	struct ydoc_node *d = r->doc;
	struct ydoc_node *n = ydoc_get(d, "headers");
	r->headers = NULL;
	if (n && !ydoc_is_null(n)) {
		if (n->kind != YDOC_MAP)
			return bad(err, errsz, fname, n->line, "headers", "must be a mapping of name: value");
		for (size_t i = 0; i < n->n; i++) {
			const char *k = ydoc_key(n, i);
			const struct ydoc_node *hv = ydoc_val(n, i);
			if (!*k || strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != strlen(k))
				return bad(err, errsz, fname, hv->line, "headers", "'%s' is not a header name", k);
			if (hv->kind != YDOC_SCALAR || util_has_crlf(hv->str) || hv->len > 998)
				return bad(err, errsz, fname, hv->line, "headers",
					   "value of %s must be one line of text (header injection)", k);
		}
		r->headers = n;
	}
	n = ydoc_get(d, "errors");
	r->errors = NULL;
	if (n && !ydoc_is_null(n)) {
		if (n->kind != YDOC_SEQ)
			return bad(err, errsz, fname, n->line, "errors", "must be a list");
		r->errors = n;
	}
	n = ydoc_get(d, "metadata");
	r->metadata = n && !ydoc_is_null(n) ? n : NULL;
	n = ydoc_get(d, "last_attempt");
	r->last_outcome = NULL;
	if (n && !ydoc_is_null(n)) {
		if (n->kind != YDOC_MAP)
			return bad(err, errsz, fname, n->line, "last_attempt", "must be a mapping");
		r->last_outcome = ydoc_get_str(n, "outcome");
	}
	return 0;
}

/* Fills the typed view from the tree, checking every known key. */
static int check(struct receiver *r, time_t mtime, const char *fname, char *err, size_t errsz)
{
	struct ydoc_node *d = r->doc;
	if (d->kind != YDOC_MAP)
		return bad(err, errsz, fname, d->line, NULL, "a receiver file must be a YAML mapping");
	long long v;
	struct ydoc_node *n = ydoc_get(d, "msgspool");
	if (!n)
		return bad(err, errsz, fname, d->line, "msgspool", "required key is missing (format version, 1)");
	if (ydoc_to_int(n, &v) < 0 || v != 1)
		return bad(err, errsz, fname, n->line, "msgspool", "unsupported format version '%s' (want 1)",
			   n->kind == YDOC_SCALAR ? n->str : "?");
	if (check_lines(d, fname, err, errsz) < 0 || check_content(r, fname, err, errsz) < 0 ||
	    check_times(r, mtime, fname, err, errsz) < 0 || check_priority(r, fname, err, errsz) < 0)
		return -1;
	return check_maps(r, fname, err, errsz);
}

/* Keys only the senders write: a receiver with none of them gets them
 * appended at the end, so nothing under its source pairs ever changes.
 * (message_id is not one: enqueue and compose write it with the file, and
 * a sender never changes one that is there.) */
static const char *const sender_keys[] = {
	"sending_failed_count", "sending_success_count", "sent_at", "errors", "last_attempt"};

int receiver_parse(struct receiver *r, const char *id, const char *data, size_t len,
		   time_t mtime, const char *fname, char *err, size_t errsz)
{
	struct ydoc_error ye;
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	if (ydoc_parse(data, len, &receiver_limits, &r->doc, &ye) < 0)
		return bad(err, errsz, fname, ye.line, NULL, "%s", ye.msg);
	r->pristine = true;
	for (size_t i = 0; i < sizeof sender_keys / sizeof *sender_keys; i++)
		if (ydoc_get(r->doc, sender_keys[i]))
			r->pristine = false;
	if (check(r, mtime, fname, err, errsz) < 0) {
		receiver_free(r);
		return -1;
	}
	return 0;
}

int receiver_init(struct receiver *r, const char *id, const char *send_to, const char *subject,
		  time_t created)
{
	char tbuf[UTIL_TIME_LEN];
	memset(r, 0, sizeof *r);
	snprintf(r->id, sizeof r->id, "%s", id);
	r->doc = ydoc_map();
	util_time_format(created, tbuf);
	ydoc_set(r->doc, "msgspool", ydoc_intval(1));
	ydoc_set(r->doc, "send_to", ydoc_string(send_to));
	ydoc_set(r->doc, "subject", ydoc_string(subject));
	ydoc_set(r->doc, "created", ydoc_string(tbuf));
	/* Not checked yet: a body is still missing. Callers set one, then
	 * call receiver_validate. */
	r->send_to = send_to;
	r->created = created;
	return 0;
}

void receiver_set(struct receiver *r, const char *key, const char *value)
{
	if (value)
		ydoc_set(r->doc, key, ydoc_string(value));
	else
		ydoc_del(r->doc, key);
}

/* Every string of a tree built in memory (from options, from a template)
 * is UTF-8, as a file's must be: named here, not found when the save fails. */
static int check_utf8(const struct ydoc_node *n, const char *key, const char *fname, char *err, size_t errsz)
{
	if (n->kind == YDOC_SCALAR)
		return !n->str || util_utf8_valid(n->str, strlen(n->str)) ? 0
		       : bad(err, errsz, fname, n->line, key, "not UTF-8 text");
	for (size_t i = 0; i < n->n; i++) {
		bool map = n->kind == YDOC_MAP;
		if ((map && check_utf8(n->items[2 * i], key, fname, err, errsz) < 0) ||
		    check_utf8(map ? n->items[2 * i + 1] : n->items[i], map ? ydoc_key(n, i) : key, fname, err, errsz) < 0)
			return -1;
	}
	return 0;
}

int receiver_validate(struct receiver *r, const char *fname, char *err, size_t errsz)
{
	if (check_utf8(r->doc, NULL, fname, err, errsz) < 0)
		return -1;
	return check(r, r->created, fname, err, errsz);
}

void receiver_free(struct receiver *r)
{
	ydoc_free(r->doc);
	r->doc = NULL;
}

int receiver_save(const struct receiver *r, struct util_buf *out)
{
	return ydoc_emit(r->doc, out);
}

int receiver_save_appended(const struct receiver *r, const char *src, size_t len,
			   struct util_buf *out)
{
	if (!r->pristine)
		return ydoc_emit(r->doc, out);
	return ydoc_emit_appended(r->doc, src, len, out);
}

static void set_attempt(struct receiver *r, const char *at, const char *outcome, int code)
{
	struct ydoc_node *la = ydoc_map();
	ydoc_set(la, "at", ydoc_string(at));
	ydoc_set(la, "outcome", ydoc_string(outcome));
	if (code > 0)
		ydoc_set(la, "smtp_code", ydoc_intval(code));
	ydoc_set(r->doc, "last_attempt", la);
	r->last_outcome = ydoc_get_str(la, "outcome");
}

void receiver_record_success(struct receiver *r, time_t now)
{
	char tbuf[UTIL_TIME_LEN];
	util_time_format(now, tbuf);
	r->success_count++;
	r->sent_at = now;
	ydoc_set(r->doc, "sending_success_count", ydoc_intval(r->success_count));
	ydoc_set(r->doc, "sent_at", ydoc_string(tbuf));
	set_attempt(r, tbuf, "sent", 0);
}

void receiver_record_failure(struct receiver *r, time_t now, const char *error,
			     int smtp_code, const char *transcript, const char *outcome)
{
	char tbuf[UTIL_TIME_LEN];
	util_time_format(now, tbuf);
	r->failed_count++;
	ydoc_set(r->doc, "sending_failed_count", ydoc_intval(r->failed_count));
	struct ydoc_node *errs = ydoc_get(r->doc, "errors");
	if (!errs || errs->kind != YDOC_SEQ) {
		errs = ydoc_seq();
		ydoc_set(r->doc, "errors", errs);
	}
	struct ydoc_node *e = ydoc_map();
	ydoc_set(e, "at", ydoc_string(tbuf));
	ydoc_set(e, "error", ydoc_string(error));
	ydoc_set(e, "smtp_code", smtp_code > 0 ? ydoc_intval(smtp_code) : ydoc_scalar("null"));
	ydoc_set(e, "transcript", ydoc_string(transcript ? transcript : ""));
	ydoc_push(errs, e);
	r->errors = errs;
	set_attempt(r, tbuf, outcome, smtp_code);
}

time_t receiver_last_attempt(const struct receiver *r)
{
	const struct ydoc_node *la = ydoc_get(r->doc, "last_attempt");
	const char *at = la && la->kind == YDOC_MAP ? ydoc_get_str(la, "at") : NULL;
	time_t t;
	return at && util_time_parse(at, &t) == 0 ? t : 0;
}

int receiver_load(struct receiver *r, struct spool *sp, enum spool_status st, const char *id,
		  size_t max, char *err, size_t errsz)
{
	char *data;
	size_t len;
	struct stat s;
	char path[4096];
	spool_path(sp, st, id, path, sizeof path);
	if (spool_read(sp, st, id, max, &data, &len, &s) < 0) {
		int e = errno;
		snprintf(err, errsz, "%s: %s", path, util_file_reason(e));
		errno = e;
		return -1;
	}
	int rc = receiver_parse(r, id, data, len, s.st_mtime, path, err, errsz);
	int e = errno;
	free(data);
	errno = e;
	return rc;
}

int receiver_load_claim(struct receiver *r, struct spool_claim *c, size_t max, const char *fname,
			struct util_buf *src, char *err, size_t errsz)
{
	memset(src, 0, sizeof *src);
	if (spool_claim_read(c, max, &src->data, &src->len) < 0) {
		int e = errno;
		snprintf(err, errsz, "%s: %s", fname, util_file_reason(e));
		errno = e == EINVAL ? EIO : e; /* EINVAL is kept for bad content */
		return -1;
	}
	if (receiver_parse(r, c->id, src->data, src->len, c->st.st_mtime, fname, err, errsz) < 0) {
		util_buf_free(src);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

enum receiver_priority receiver_peek_priority(const char *data, size_t len)
{
	/* A key of the top-level mapping starts in column 0: no body line,
	 * indented under its key, can look like one. */
	for (const char *p = data, *end = data + len; p && p < end;) {
		if ((size_t)(end - p) > 9 && !memcmp(p, "priority:", 9)) {
			const char *v = p + 9;
			while (v < end && (*v == ' ' || *v == '"' || *v == '\''))
				v++;
			if ((size_t)(end - v) >= 4 && !memcmp(v, "high", 4))
				return RECEIVER_HIGH;
			if ((size_t)(end - v) >= 3 && !memcmp(v, "low", 3))
				return RECEIVER_LOW;
			return RECEIVER_NORMAL;
		}
		p = memchr(p, '\n', (size_t)(end - p));
		p = p ? p + 1 : NULL;
	}
	return RECEIVER_NORMAL;
}
