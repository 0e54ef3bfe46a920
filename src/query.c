/* query: filtered scans over the status directories. */
#include "config.h"
#include "query.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int query_parse_sent(const char *s, enum query_sent *out)
{
	static const char *names[] = {"any", "today", "7d", "month", "year", "none"};
	for (int i = 0; i < 6; i++) {
		if (!strcmp(s, names[i])) {
			*out = (enum query_sent)i;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

int query_load(struct spool *sp, size_t max_size, enum spool_status st, const char *id,
	       struct receiver *r, char *err, size_t errsz)
{
	char *data;
	size_t len;
	struct stat s;
	char path[4096];
	spool_path(sp, st, id, path, sizeof path);
	if (spool_read(sp, st, id, max_size, &data, &len, &s) < 0) {
		const char *why = errno == EFBIG ? "larger than max_receiver_size"
				: errno == ELOOP ? "a symbolic link (never followed)"
				: errno == EINVAL ? "not a regular file"
				: strerror(errno);
		snprintf(err, errsz, "%s: %s", path, why);
		return -1;
	}
	int rc = receiver_parse(r, id, data, len, s.st_mtime, path, err, errsz);
	free(data);
	return rc;
}

static bool contains(const char *hay, const char *needle)
{
	if (!hay)
		return false;
	size_t n = strlen(needle);
	for (; *hay; hay++)
		if (!strncasecmp(hay, needle, n))
			return true;
	return false;
}

static time_t local_midnight(time_t now, int days_back, int mode)
{
	struct tm tm;
	localtime_r(&now, &tm);
	tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
	tm.tm_isdst = -1;
	if (mode == 1)
		tm.tm_mday = 1;	/* start of month */
	else if (mode == 2) {
		tm.tm_mday = 1;	/* start of year */
		tm.tm_mon = 0;
	} else
		tm.tm_mday -= days_back;
	return mktime(&tm);
}

static bool sent_matches(const struct query_filter *f, time_t sent_at)
{
	switch (f->sent) {
	case QUERY_SENT_ANY:
		return true;
	case QUERY_SENT_NONE:
		return sent_at == 0;
	case QUERY_SENT_TODAY:
		return sent_at && sent_at >= local_midnight(f->now, 0, 0);
	case QUERY_SENT_7D:
		return sent_at && sent_at >= f->now - 7 * 86400;
	case QUERY_SENT_MONTH:
		return sent_at && sent_at >= local_midnight(f->now, 0, 1);
	case QUERY_SENT_YEAR:
		return sent_at && sent_at >= local_midnight(f->now, 0, 2);
	}
	return true;
}

struct scan_ctx {
	struct spool *sp;
	size_t max_size;
	const struct query_filter *f;
	struct query_result *res;
	enum spool_status st;
};

static struct query_row *add_row(struct query_result *res)
{
	if (res->n == res->cap) {
		size_t cap = res->cap ? res->cap * 2 : 64;
		struct query_row *p = realloc(res->rows, cap * sizeof *p);
		if (!p)
			return NULL;
		res->rows = p;
		res->cap = cap;
	}
	struct query_row *row = &res->rows[res->n++];
	memset(row, 0, sizeof *row);
	return row;
}

static int scan_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	const struct query_filter *f = c->f;
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	c->res->scanned++;
	if (f->progress && c->res->scanned % 1024 == 0)
		f->progress(c->res->scanned, f->progress_ctx);
	if (query_load(c->sp, c->max_size, c->st, id, &r, err, sizeof err) < 0) {
		if (errno == ENOENT)
			return 0; /* moved while we looked */
		/* Unreadable files match only filters they cannot fail. */
		if (f->type || f->sent != QUERY_SENT_ANY || f->since || f->until ||
		    (f->search && !contains(id, f->search)))
			return 0;
		struct query_row *row = add_row(c->res);
		if (!row)
			return -1;
		snprintf(row->id, sizeof row->id, "%s", id);
		row->status = c->st;
		row->err = strdup(err);
		return 0;
	}
	bool ok = (!f->type || (r.context_type && !strcmp(r.context_type, f->type))) &&
		  sent_matches(f, r.sent_at) && (!f->since || r.created >= f->since) &&
		  (!f->until || r.created < f->until) &&
		  (!f->search || contains(id, f->search) || contains(r.user, f->search) ||
		   contains(r.send_to, f->search) || contains(r.subject, f->search));
	if (ok) {
		struct query_row *row = add_row(c->res);
		if (!row) {
			receiver_free(&r);
			return -1;
		}
		snprintf(row->id, sizeof row->id, "%s", id);
		row->status = c->st;
		row->created = r.created;
		row->sent_at = r.sent_at;
		row->failed_count = r.failed_count;
		row->success_count = r.success_count;
		row->subject = util_strdup(r.subject);
		row->user = util_strdup(r.user);
		row->send_to = util_strdup(r.send_to);
		row->type = util_strdup(r.context_type);
	}
	receiver_free(&r);
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct query_row *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	return -strcmp(x->id, y->id);
}

int query_run(struct spool *sp, size_t max_size, const struct query_filter *f,
	      struct query_result *res)
{
	memset(res, 0, sizeof *res);
	struct scan_ctx c = {.sp = sp, .max_size = max_size, .f = f, .res = res};
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		if (f->status_mask && !(f->status_mask & (1u << i)))
			continue;
		c.st = (enum spool_status)i;
		if (spool_scan(sp, c.st, scan_cb, &c) < 0)
			return -1;
	}
	if (res->n > 1)
		qsort(res->rows, res->n, sizeof *res->rows, newest_first);
	return 0;
}

void query_result_free(struct query_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		struct query_row *r = &res->rows[i];
		free(r->subject);
		free(r->user);
		free(r->send_to);
		free(r->type);
		free(r->err);
	}
	free(res->rows);
	memset(res, 0, sizeof *res);
}
