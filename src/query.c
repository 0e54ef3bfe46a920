/* query: filtered scans over the status directories for list, resend,
 * cleanup and stats: which receivers match, newest first. It reads only
 * through spool and receiver (and the list cache), knows no path and no
 * YAML, and never changes a receiver. Rules: msgspool(1) (the filters). */
#include "config.h"
#include "query.h"
#include "listcache.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

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
	return receiver_load(r, sp, st, id, max_size, err, errsz);
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

static bool sent_matches(const struct query_filter *f, time_t sent_at)
{
	switch (f->sent) {
	case QUERY_SENT_ANY:
		return true;
	case QUERY_SENT_NONE:
		return sent_at == 0;
	case QUERY_SENT_TODAY:
		return sent_at && sent_at >= util_local_start(f->now, UTIL_DAY, 0);
	case QUERY_SENT_7D:
		return sent_at && sent_at >= f->now - 7 * 86400;
	case QUERY_SENT_MONTH:
		return sent_at && sent_at >= util_local_start(f->now, UTIL_MONTH, 0);
	case QUERY_SENT_YEAR:
		return sent_at && sent_at >= util_local_start(f->now, UTIL_YEAR, 0);
	}
	return true;
}


struct scan_ctx {
	struct spool *sp;
	size_t max_size;
	const struct query_filter *f;
	struct query_result *res;
	enum spool_status st;
	struct listcache cache;
};

/* A new row for id in status st, the rest zero; id is copied unless the
 * row will borrow its strings from the loaded cache. */
static struct query_row *add_row(struct query_result *res, const char *id, bool borrow, enum spool_status st)
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
	row->id = borrow ? (char *)id : strdup(id); /* borrowed: the cache arena, ours */
	if (!row->id) {
		res->n--;
		return NULL;
	}
	row->borrowed = borrow;
	row->status = st;
	return row;
}

static bool row_matches(const struct query_filter *f, const char *id, const struct listcache_entry *e)
{
	return (!f->type || (e->type && !strcmp(e->type, f->type))) && sent_matches(f, (time_t)e->sent_at) &&
	       (!f->since || e->created >= f->since) && (!f->until || e->created < f->until) &&
	       (!f->search || contains(id, f->search) || contains(e->user, f->search) ||
		contains(e->send_to, f->search) || contains(e->subject, f->search));
}

/* A row for a file that cannot be read or parsed, when the filter is one
 * it cannot fail. */
static int add_unreadable(struct scan_ctx *c, const char *id, const char *err)
{
	const struct query_filter *f = c->f;
	if (f->type || f->sent != QUERY_SENT_ANY || f->since || f->until ||
	    (f->search && !contains(id, f->search)))
		return 0;
	struct query_row *row = add_row(c->res, id, false, c->st);
	if (!row)
		return -1;
	row->err = strdup(err);
	return 0;
}

/* Reads and parses a file the cache does not know as it is now into *out;
 * 1 with err set when it cannot (err empty: it moved away meanwhile), -1
 * without memory. */
static int read_fresh(struct scan_ctx *c, const char *id, struct listcache_entry **out, char *err, size_t errsz)
{
	char *data;
	size_t len;
	char path[4096];
	struct stat s;
	struct receiver r;
	err[0] = '\0';
	spool_path(c->sp, c->st, id, path, sizeof path);
	if (spool_read(c->sp, c->st, id, c->max_size, &data, &len, &s) < 0) {
		if (errno != ENOENT && snprintf(err, errsz, "%s: %s", path, util_file_reason(errno)) >= (int)errsz)
			err[errsz - 1] = '\0'; /* a long path: cut */
		return 1;
	}
	int rc = receiver_parse(&r, id, data, len, s.st_mtime, path, err, errsz);
	free(data);
	if (rc < 0)
		return 1;
	*out = listcache_put(&c->cache, c->st, id, &s, &r);
	receiver_free(&r);
	if (!*out) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

static int scan_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	const struct query_filter *f = c->f;
	struct stat s;
	char err[RECEIVER_ERRLEN];
	c->res->scanned++;
	if (f->progress && c->res->scanned % 1024 == 0)
		f->progress(c->res->scanned, f->progress_ctx);
	struct listcache_entry *e = listcache_next(&c->cache, c->st, id);
	if (!e || spool_stat(c->sp, c->st, id, &s) < 0 || !listcache_fresh(e, &s)) {
		/* Not cached, or changed since: read it. */
		int rc = read_fresh(c, id, &e, err, sizeof err);
		if (rc)
			return rc < 0 ? -1 : err[0] ? add_unreadable(c, id, err) : 0; /* "": moved */
	}
	if (listcache_met(&c->cache, e) < 0) {
		errno = ENOMEM;
		return -1;
	}
	if (!row_matches(f, id, e))
		return 0;
	struct query_row *row = add_row(c->res, e->borrowed ? e->id : id, e->borrowed, c->st);
	if (!row)
		return -1;
	row->created = (time_t)e->created;
	row->sent_at = (time_t)e->sent_at;
	row->failed_count = e->failed;
	row->success_count = e->success;
	/* Strings read from the cache file stay there (the result keeps it);
	 * those parsed just now belong to the cache entry, which goes. */
	row->subject = e->borrowed ? e->subject : util_strdup(e->subject);
	row->user = e->borrowed ? e->user : util_strdup(e->user);
	row->send_to = e->borrowed ? e->send_to : util_strdup(e->send_to);
	row->type = e->borrowed ? e->type : util_strdup(e->type);
	return 0;
}

/* Sorting keys of 32 bytes, which qsort moves directly (rows are three
 * times bigger and would be sorted through pointers), holding the id's
 * head so that ties on `created` (common: a batch is made within a second)
 * are mostly decided without reaching into the rows. */
#define SORT_HEAD 20
struct sort_key {
	time_t created;
	char head[SORT_HEAD];	/* the id's first bytes, zero-padded */
	uint32_t row;
};

static int newest_first(const void *a, const void *b, void *rows)
{
	const struct sort_key *x = a, *y = b;
	if (x->created != y->created)
		return x->created < y->created ? 1 : -1;
	int c = memcmp(x->head, y->head, SORT_HEAD);
	if (c || !x->head[SORT_HEAD - 1])
		return -c;
	const struct query_row *r = rows;
	return -strcmp(r[x->row].id + SORT_HEAD, r[y->row].id + SORT_HEAD);
}

static int sort_rows(struct query_result *res)
{
	struct sort_key *k = res->n <= UINT32_MAX ? malloc(res->n * sizeof *k) : NULL;
	struct query_row *rows = malloc(res->n * sizeof *rows);
	if (!k || !rows) {
		free(k);
		free(rows);
		return -1;
	}
	for (size_t i = 0; i < res->n; i++) {
		k[i].created = res->rows[i].created;
		k[i].row = (uint32_t)i;
		size_t l = strnlen(res->rows[i].id, SORT_HEAD);
		memcpy(k[i].head, res->rows[i].id, l);
		memset(k[i].head + l, 0, SORT_HEAD - l);
	}
	qsort_r(k, res->n, sizeof *k, newest_first, res->rows);
	for (size_t i = 0; i < res->n; i++)
		rows[i] = res->rows[k[i].row];
	free(k);
	free(res->rows);
	res->rows = rows;
	res->cap = res->n;
	return 0;
}

int query_run(struct spool *sp, size_t max_size, const struct query_filter *f,
	      struct query_result *res)
{
	memset(res, 0, sizeof *res);
	struct scan_ctx c = {.sp = sp, .max_size = max_size, .f = f, .res = res};
	unsigned scanned = 0;
	if (listcache_load(&c.cache, sp) < 0)
		return -1;
	int rc = 0;
	for (int i = 0; rc == 0 && i < SPOOL_NSTATUS; i++) {
		if (f->status_mask && !(f->status_mask & (1u << i)))
			continue;
		c.st = (enum spool_status)i;
		if ((rc = spool_scan(sp, c.st, scan_cb, &c)) == 0)
			scanned |= 1u << i;
	}
	if (rc == 0)
		listcache_save(&c.cache, sp, scanned);
	int e = errno;
	res->arena = listcache_arena(&c.cache);
	listcache_free(&c.cache);
	errno = e;
	if (rc < 0)
		return -1;
	if (res->n > 1 && !f->unsorted && sort_rows(res) < 0) {
		query_result_free(res);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void query_result_free(struct query_result *res)
{
	for (size_t i = 0; i < res->n; i++) {
		struct query_row *r = &res->rows[i];
		if (!r->borrowed) {
			free(r->id);
			free(r->subject);
			free(r->user);
			free(r->send_to);
			free(r->type);
		}
		free(r->err);
	}
	free(res->rows);
	free(res->arena);
	memset(res, 0, sizeof *res);
}

/* For filter counts (the web admin's sidebar): whether a sent_at passes
 * f's sent filter, by the same rule as query_run. */
bool query_sent_match(const struct query_filter *f, time_t sent_at)
{
	return sent_matches(f, sent_at);
}

/* Whether a row of an unfiltered run passes f, by query_run's own rules
 * (for callers that count and filter from one scan, as the web admin). */
bool query_row_match(const struct query_filter *f, const struct query_row *row)
{
	if (f->status_mask && !(f->status_mask & (1u << row->status)))
		return false;
	if (row->err)
		return !(f->type || f->sent != QUERY_SENT_ANY || f->since || f->until ||
			 (f->search && !contains(row->id, f->search)));
	struct listcache_entry e = {.created = row->created, .sent_at = row->sent_at, .subject = row->subject,
				    .user = row->user, .send_to = row->send_to, .type = row->type};
	return row_matches(f, row->id, &e);
}
