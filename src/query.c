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
	query_cb cb;
	void *ctx;
	size_t scanned;
	enum spool_status st;
	struct listcache cache;
	struct receiver_head head;	/* the columns of the file read last */
	uid_t owner;		/* the spool's */
	bool trusted;		/* every file of the status so far the owner's and readable */
};

/* Only the spool's owner (or root) can change a file it owns that others
 * cannot write: such a file changes only with its directory (rename). */
static void note_file(struct scan_ctx *c, const struct stat *s)
{
	if ((s->st_uid != c->owner && s->st_uid != 0) || (s->st_mode & 022))
		c->trusted = false;
}

/* Counts a file met, for the progress line. */
static void count(struct scan_ctx *c)
{
	c->scanned++;
	if (c->f->progress && c->scanned % 1024 == 0)
		c->f->progress(c->scanned, c->f->progress_ctx);
}

static bool row_matches(const struct query_filter *f, const struct query_row *r)
{
	return (!f->type || (r->type && !strcmp(r->type, f->type))) && sent_matches(f, r->sent_at) &&
	       (!f->since || r->created >= f->since) && (!f->until || r->created < f->until) &&
	       (!f->search || contains(r->id, f->search) || contains(r->user, f->search) ||
		contains(r->send_to, f->search) || contains(r->subject, f->search));
}

/* A row for a file that cannot be read or parsed, when the filter is one
 * it cannot fail. */
static bool unreadable_matches(const struct query_filter *f, const char *id)
{
	return !(f->type || f->sent != QUERY_SENT_ANY || f->since || f->until ||
		 (f->search && !contains(id, f->search)));
}

/* Hands an entry to the callback when it passes the filter, with the
 * file's stat `s` when the scan made one. */
static int emit(struct scan_ctx *c, const char *id, const struct listcache_entry *e, const struct stat *s)
{
	struct query_row row = {.id = (char *)id, .status = c->st, .created = (time_t)e->created,
				.sent_at = (time_t)e->sent_at, .failed_count = e->failed, .success_count = e->success,
				.subject = (char *)e->subject, .user = (char *)e->user, .send_to = (char *)e->send_to,
				.type = (char *)e->type, .stat = s};
	return row_matches(c->f, &row) ? c->cb(&row, c->ctx) : 0;
}

static int emit_unreadable(struct scan_ctx *c, const char *id, const char *err)
{
	struct query_row row = {.id = (char *)id, .status = c->st, .err = (char *)err};
	return unreadable_matches(c->f, id) ? c->cb(&row, c->ctx) : 0;
}

/* The columns of a receiver just read, as a cache entry that is not in
 * the cache. */
static struct listcache_entry entry_of(const struct receiver *r)
{
	return (struct listcache_entry){.created = r->created, .sent_at = r->sent_at, .failed = r->failed_count,
					.success = r->success_count, .subject = r->subject, .user = r->user,
					.send_to = r->send_to, .type = r->context_type};
}

/* Reads and parses a file the cache does not know as it is now, records
 * it (unless it matches a filter whose matches are about to go) and hands
 * it on while its strings live. */
static int read_fresh(struct scan_ctx *c, const char *id)
{
	char *data, err[RECEIVER_ERRLEN];
	size_t len;
	char path[4096];
	struct stat s;
	struct receiver r = {.doc = NULL};
	if (spool_read(c->sp, c->st, id, c->max_size, &data, &len, &s) < 0) {
		c->trusted = false; /* an unreadable row has no line in the cache */
		if (errno == ENOENT)
			return 0; /* moved meanwhile */
		int e = errno;
		spool_path(c->sp, c->st, id, path, sizeof path);
		if (snprintf(err, sizeof err, "%s: %s", path, util_file_reason(e)) >= (int)sizeof err)
			err[sizeof err - 1] = '\0'; /* a long path: cut */
		return emit_unreadable(c, id, err);
	}
	/* The columns without a tree when the file is of the plain shape; a
	 * full parse when the head reader is not sure (and for the reason). */
	int rc = receiver_head(&c->head, data, len, s.st_mtime);
	if (!rc) {
		spool_path(c->sp, c->st, id, path, sizeof path);
		if (receiver_parse(&r, id, data, len, s.st_mtime, path, err, sizeof err) < 0) {
			free(data);
			c->trusted = false;
			return emit_unreadable(c, id, err);
		}
	}
	free(data);
	note_file(c, &s);
	const struct receiver *got = rc ? &c->head.r : &r;
	struct listcache_entry tmp = entry_of(got);
	const struct listcache_entry *e = &tmp;
	struct query_row row = {.id = (char *)id, .status = c->st, .created = got->created, .sent_at = got->sent_at,
				.subject = (char *)got->subject, .user = (char *)got->user,
				.send_to = (char *)got->send_to, .type = (char *)got->context_type};
	if (c->f->forget_matches && row_matches(c->f, &row))
		c->trusted = false; /* not in the cache: the directory is not stamped */
	else
		e = listcache_put(&c->cache, c->st, id, &s, got);
	rc = e ? emit(c, id, e, &s) : -1;
	receiver_free(&r); /* nothing when the head reader read it */
	if (!e)
		errno = ENOMEM;
	return rc;
}

static int scan_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	struct stat s;
	count(c);
	const struct listcache_entry *e = listcache_next(&c->cache, c->st, id);
	if (!e || spool_stat(c->sp, c->st, id, &s) < 0 || !listcache_fresh(e, &s))
		return read_fresh(c, id); /* not cached, or changed since */
	note_file(c, &s);
	if (listcache_met(&c->cache, e) < 0) {
		errno = ENOMEM;
		return -1;
	}
	return emit(c, id, e, &s);
}

static int emit_cached(const char *id, const struct listcache_entry *e, void *vc)
{
	count(vc);
	return emit(vc, id, e, NULL);
}

/* One status: from the cache alone when its directory is as the cache saw
 * it whole (no file listed or looked at), else file by file. new/ is
 * always read file by file: producers write there, in place too. */
static int scan_status(struct scan_ctx *c, bool owned)
{
	struct stat dir;
	struct timespec now;
	bool stamp = owned && c->st != SPOOL_NEW && spool_dir_stat(c->sp, c->st, &dir) == 0 &&
		     clock_gettime(CLOCK_REALTIME, &now) == 0;
	int rc;
	c->trusted = stamp;
	if (stamp && listcache_dir_fresh(&c->cache, c->st, &dir))
		rc = listcache_each_in_dir(&c->cache, c->st, emit_cached, c);
	else {
		listcache_seek(&c->cache, c->st);
		rc = spool_scan(c->sp, c->st, scan_cb, c);
	}
	if (stamp)
		listcache_dir_seen(&c->cache, c->st, &dir, &now, c->trusted);
	return rc;
}

int query_each(struct spool *sp, size_t max_size, const struct query_filter *f, query_cb cb, void *ctx,
	       size_t *scanned)
{
	struct scan_ctx c = {.sp = sp, .max_size = max_size, .f = f, .cb = cb, .ctx = ctx};
	unsigned mask = f->status_mask ? f->status_mask & ((1u << SPOOL_NSTATUS) - 1) : (1u << SPOOL_NSTATUS) - 1;
	if (listcache_open(&c.cache, sp, mask) < 0)
		return -1;
	int rc = 0;
	struct stat root;
	bool owned = spool_stat_root(sp, &root) == 0;
	c.owner = owned ? root.st_uid : 0;
	for (int i = 0; rc == 0 && i < SPOOL_NSTATUS; i++) {
		if (!(mask & (1u << i)))
			continue;
		c.st = (enum spool_status)i;
		rc = scan_status(&c, owned);
	}
	int e = errno;
	listcache_close(&c.cache, rc == 0);
	if (scanned)
		*scanned = c.scanned;
	errno = e;
	return rc;
}

/* The rows' strings, in blocks that never move. */
#define CHUNK 65536
struct query_chunk {
	struct query_chunk *next;
	size_t used, cap;
	char data[];
};

static char *keep_str(struct query_result *res, const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s) + 1;
	struct query_chunk *k = res->arena;
	if (!k || k->cap - k->used < n) {
		size_t cap = n > CHUNK ? n : CHUNK;
		k = malloc(sizeof *k + cap);
		if (!k)
			return NULL;
		*k = (struct query_chunk){.next = res->arena, .cap = cap};
		res->arena = k;
	}
	char *p = memcpy(k->data + k->used, s, n);
	k->used += n;
	return p;
}

int query_rows_room(struct query_row **rows, size_t *cap, size_t n)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	struct query_row *p = realloc(*rows, c * sizeof *p);
	if (!p)
		return -1;
	*rows = p;
	*cap = c;
	return 0;
}

/* query_run's callback: a copy of each row. */
static int collect(const struct query_row *row, void *vres)
{
	struct query_result *res = vres;
	if (query_rows_room(&res->rows, &res->cap, res->n) < 0)
		return -1;
	struct query_row *r = &res->rows[res->n];
	*r = *row;
	r->id = keep_str(res, row->id);
	r->subject = keep_str(res, row->subject);
	r->user = keep_str(res, row->user);
	r->send_to = keep_str(res, row->send_to);
	r->type = keep_str(res, row->type);
	r->err = keep_str(res, row->err);
	r->stat = NULL; /* the scan's, gone when the callback returns */
	if (!r->id || (row->subject && !r->subject) || (row->user && !r->user) || (row->send_to && !r->send_to) ||
	    (row->type && !r->type) || (row->err && !r->err)) {
		errno = ENOMEM;
		return -1;
	}
	res->n++;
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

/* Puts row k[j].row at j for every j, in place, following each cycle of
 * the permutation (no second row array: a list holds every row). */
static void permute(struct query_row *rows, struct sort_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (k[i].row == UINT32_MAX)
			continue;
		struct query_row t = rows[i];
		size_t j = i;
		while (k[j].row != i) {
			size_t from = k[j].row;
			rows[j] = rows[from];
			k[j].row = UINT32_MAX;
			j = from;
		}
		rows[j] = t;
		k[j].row = UINT32_MAX;
	}
}

static int sort_rows(struct query_result *res)
{
	struct sort_key *k = res->n < UINT32_MAX ? malloc(res->n * sizeof *k) : NULL;
	if (!k)
		return -1;
	for (size_t i = 0; i < res->n; i++) {
		k[i].created = res->rows[i].created;
		k[i].row = (uint32_t)i;
		size_t l = strnlen(res->rows[i].id, SORT_HEAD);
		memcpy(k[i].head, res->rows[i].id, l);
		memset(k[i].head + l, 0, SORT_HEAD - l);
	}
	qsort_r(k, res->n, sizeof *k, newest_first, res->rows);
	permute(res->rows, k, res->n);
	free(k);
	return 0;
}

int query_run(struct spool *sp, size_t max_size, const struct query_filter *f,
	      struct query_result *res)
{
	memset(res, 0, sizeof *res);
	if (query_each(sp, max_size, f, collect, res, &res->scanned) < 0) {
		int e = errno;
		query_result_free(res);
		errno = e;
		return -1;
	}
	if (res->n > 1 && !f->unsorted && sort_rows(res) < 0) {
		query_result_free(res);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void query_result_free(struct query_result *res)
{
	while (res->arena) {
		struct query_chunk *k = res->arena;
		res->arena = k->next;
		free(k);
	}
	free(res->rows);
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
	return row->err ? unreadable_matches(f, row->id) : row_matches(f, row);
}
