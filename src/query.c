/* query: filtered scans over the status directories. */
#include "config.h"
#include "query.h"

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
	char *data;
	size_t len;
	struct stat s;
	char path[4096];
	spool_path(sp, st, id, path, sizeof path);
	if (spool_read(sp, st, id, max_size, &data, &len, &s) < 0) {
		snprintf(err, errsz, "%s: %s", path, util_file_reason(errno));
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


/* ---- the list cache: parsed columns, trusted only while the file's stat
 * (inode, size, mtime and ctime to the nanosecond) is unchanged ---- */

struct cached {
	struct cached *next;	/* hash chain */
	struct cached *alone;	/* entries allocated one by one (not loaded) */
	unsigned status;
	bool seen;
	bool borrowed;	/* the strings point into the loaded cache file */
	unsigned long long ino;
	long long size, mtime_ns, ctime_ns;
	long long created, sent_at, failed, success;
	char *subject, *user, *send_to, *type;
	char *id;	/* in the loaded file, or right after the entry */
};

#define CACHE_BUCKETS (1 << 18) /* a short chain even at 250,000 receivers */

/* The file is written in the order the scan met the files, and a directory
 * lists in the same order while it is unchanged: so the scan mostly finds
 * its entry at a cursor, without hashing or a cache miss per file. */
struct cache {
	struct cached **b;
	char *data;	/* the cache file as read: loaded entries' strings live here */
	struct cached *loaded;	/* entries of the file, in its order */
	size_t nloaded, cursor;
	struct cached *alone;	/* entries added by the scan (a list) */
	struct cached **order;	/* every entry the scan met, in its order */
	size_t norder, order_cap;
	size_t out_of_order;	/* found by hash: the file's order is stale */
	bool dirty;
};

static unsigned cache_hash(unsigned st, const char *id)
{
	return util_fnv1a(UTIL_FNV_INIT ^ st, id) % CACHE_BUCKETS;
}

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

static bool stat_matches(const struct cached *e, const struct stat *s)
{
	return e->ino == (unsigned long long)s->st_ino && e->size == (long long)s->st_size &&
	       e->mtime_ns == ns(&s->st_mtim) && e->ctime_ns == ns(&s->st_ctim);
}

static struct cached *cache_find(struct cache *c, unsigned st, const char *id)
{
	for (struct cached *e = c->b[cache_hash(st, id)]; e; e = e->next)
		if (e->status == st && !strcmp(e->id, id))
			return e;
	return NULL;
}

/* cache_find for the scan: the entry at the cursor first. */
static struct cached *cache_next(struct cache *c, unsigned st, const char *id)
{
	struct cached *e = c->cursor < c->nloaded ? &c->loaded[c->cursor] : NULL;
	if (!e || e->status != st || strcmp(e->id, id) != 0) {
		e = cache_find(c, st, id);
		if (!e || e < c->loaded || e >= c->loaded + c->nloaded)
			return e;
		c->out_of_order++;
	}
	c->cursor = (size_t)(e - c->loaded) + 1;
	return e;
}

static void cached_strings_free(struct cached *e)
{
	if (!e->borrowed) {
		free(e->subject);
		free(e->user);
		free(e->send_to);
		free(e->type);
	}
	e->subject = e->user = e->send_to = e->type = NULL;
	e->borrowed = false;
}

static void cache_link(struct cache *c, struct cached *e)
{
	unsigned h = cache_hash(e->status, e->id);
	e->next = c->b[h];
	c->b[h] = e;
}

/* An entry the scan parsed: the old one, emptied, or a new one. */
static struct cached *cache_put(struct cache *c, unsigned st, const char *id)
{
	struct cached *e = cache_find(c, st, id);
	if (e) {
		cached_strings_free(e);
		return e;
	}
	size_t l = strlen(id) + 1;
	e = calloc(1, sizeof *e + l);
	if (!e)
		return NULL;
	e->id = (char *)(e + 1);
	memcpy(e->id, id, l);
	e->status = st;
	e->alone = c->alone;
	c->alone = e;
	cache_link(c, e);
	return e;
}

/* Remembers the scan's order, which the saved file follows. */
static int cache_met(struct cache *c, struct cached *e)
{
	if (c->norder == c->order_cap) {
		size_t cap = c->order_cap ? c->order_cap * 2 : 1024;
		struct cached **p = realloc(c->order, cap * sizeof *p);
		if (!p)
			return -1;
		c->order = p;
		c->order_cap = cap;
	}
	c->order[c->norder++] = e;
	e->seen = true;
	return 0;
}

/* Strings are written "s<escaped>" or "-" for none. */
static void put_str(struct util_buf *b, const char *s)
{
	if (!s) {
		util_buf_adds(b, "\t-");
		return;
	}
	util_buf_adds(b, "\ts");
	for (; *s; s++) {
		if (*s == '\t')
			util_buf_adds(b, "\\t");
		else if (*s == '\n')
			util_buf_adds(b, "\\n");
		else if (*s == '\\')
			util_buf_adds(b, "\\\\");
		else
			util_buf_putc(b, *s);
	}
}

/* Unescapes a string field in place. */
static char *get_str(char *field)
{
	if (field[0] != 's')
		return NULL;
	char *out = field, *p = field + 1;
	while (*p) {
		if (*p == '\\' && p[1]) {
			p++;
			*out++ = *p == 't' ? '\t' : *p == 'n' ? '\n' : *p;
			p++;
		} else {
			*out++ = *p++;
		}
	}
	*out = '\0';
	return field;
}

/* A decimal field: no locale, no errno (the cache is ours; a bad number
 * only makes an entry that will not match). */
static long long get_num(const char *s)
{
	bool neg = *s == '-';
	unsigned long long v = 0;
	for (s += neg; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (unsigned long long)(*s - '0');
	return neg ? -(long long)v : (long long)v;
}

/* Reads SPOOL/.list-cache; entries keep pointing into the file's buffer
 * (no copy per field: this load is most of a listing's work) and are
 * allocated together. Our own file has one line per id; were there two,
 * the one found is still used only while the file's stat matches it. */
static void cache_load(struct spool *sp, struct cache *c)
{
	size_t len, lines = 0;
	c->b = calloc(CACHE_BUCKETS, sizeof *c->b);
	if (!c->b || spool_cache_read(sp, 1u << 30, &c->data, &len) < 0) {
		c->data = NULL;
		return;
	}
	char *end = c->data + len;
	for (char *p = c->data; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		lines++;
	c->loaded = calloc(lines + 1, sizeof *c->loaded);
	if (!c->loaded)
		return;
	char *line = c->data;
	while (line < end) {
		char *nl = memchr(line, '\n', (size_t)(end - line));
		if (!nl)
			nl = end;
		*nl = '\0';
		char *f[15];
		int n = 0;
		for (char *t = line; n < 15;) {
			f[n++] = t;
			char *tab = strchr(t, '\t');
			if (!tab)
				break;
			*tab = '\0';
			t = tab + 1;
		}
		line = nl + 1;
		if (n != 15 || strcmp(f[0], "v1"))
			continue;
		unsigned st = (unsigned)get_num(f[1]);
		if (st >= SPOOL_NSTATUS || !spool_id_valid(f[2]))
			continue;
		struct cached *e = &c->loaded[c->nloaded++];
		e->status = st;
		e->id = f[2];
		e->ino = (unsigned long long)get_num(f[3]);
		e->size = get_num(f[4]);
		e->mtime_ns = get_num(f[5]);
		e->ctime_ns = get_num(f[6]);
		e->created = get_num(f[7]);
		e->sent_at = get_num(f[8]);
		e->failed = get_num(f[9]);
		e->success = get_num(f[10]);
		e->subject = get_str(f[11]);
		e->user = get_str(f[12]);
		e->send_to = get_str(f[13]);
		e->type = get_str(f[14]);
		e->borrowed = true;
		cache_link(c, e);
	}
}

static void cache_line(struct util_buf *b, const struct cached *e)
{
	util_buf_printf(b, "v1\t%u\t%s\t%llu\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld", e->status, e->id, e->ino,
			e->size, e->mtime_ns, e->ctime_ns, e->created, e->sent_at, e->failed, e->success);
	put_str(b, e->subject);
	put_str(b, e->user);
	put_str(b, e->send_to);
	put_str(b, e->type);
	util_buf_putc(b, '\n');
}

/* Writes back what is still true, in the scan's order: the entries it met,
 * then those of statuses not scanned this time. */
static void cache_save(struct spool *sp, struct cache *c, unsigned scanned_mask)
{
	/* Unchanged (the common case): nothing to write. A file whose order
	 * no longer follows the directories' is rewritten too. */
	c->dirty = c->dirty || c->out_of_order > c->nloaded / 16;
	for (size_t i = 0; !c->dirty && i < c->nloaded; i++)
		c->dirty = (scanned_mask & (1u << c->loaded[i].status)) && !c->loaded[i].seen;
	if (!c->dirty || !c->b)
		return;
	struct util_buf b = {0};
	for (size_t i = 0; i < c->norder; i++)
		cache_line(&b, c->order[i]);
	for (size_t i = 0; i < c->nloaded; i++)
		if (!(scanned_mask & (1u << c->loaded[i].status)))
			cache_line(&b, &c->loaded[i]);
	spool_cache_write(sp, b.data ? b.data : "", b.len); /* not the owner: no cache, no harm */
	util_buf_free(&b);
}

static void cache_free(struct cache *c)
{
	for (size_t i = 0; i < c->nloaded; i++)
		cached_strings_free(&c->loaded[i]);
	while (c->alone) {
		struct cached *e = c->alone;
		c->alone = e->alone;
		cached_strings_free(e);
		free(e);
	}
	free(c->loaded);
	free(c->order);
	free(c->b);
	free(c->data);
}

struct scan_ctx {
	struct spool *sp;
	size_t max_size;
	const struct query_filter *f;
	struct query_result *res;
	enum spool_status st;
	struct cache cache;
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

static bool row_matches(const struct query_filter *f, const char *id, const struct cached *e)
{
	return (!f->type || (e->type && !strcmp(e->type, f->type))) && sent_matches(f, (time_t)e->sent_at) &&
	       (!f->since || e->created >= f->since) && (!f->until || e->created < f->until) &&
	       (!f->search || contains(id, f->search) || contains(e->user, f->search) ||
		contains(e->send_to, f->search) || contains(e->subject, f->search));
}

static int scan_cb(const char *id, void *vctx)
{
	struct scan_ctx *c = vctx;
	const struct query_filter *f = c->f;
	struct receiver r;
	struct stat s;
	char err[RECEIVER_ERRLEN];
	c->res->scanned++;
	if (f->progress && c->res->scanned % 1024 == 0)
		f->progress(c->res->scanned, f->progress_ctx);
	struct cached *e = cache_next(&c->cache, c->st, id);
	if (!e || spool_stat(c->sp, c->st, id, &s) < 0 || !stat_matches(e, &s)) {
		/* Not cached, or changed since: read it. */
		char *data;
		size_t len;
		char path[4096];
		spool_path(c->sp, c->st, id, path, sizeof path);
		if (spool_read(c->sp, c->st, id, c->max_size, &data, &len, &s) < 0) {
			if (errno == ENOENT)
				return 0; /* moved while we looked */
			if (snprintf(err, sizeof err, "%s: %s", path, util_file_reason(errno)) >= (int)sizeof err)
				err[sizeof err - 1] = '\0'; /* a long path: cut */
			e = NULL;
		} else {
			int rc = receiver_parse(&r, id, data, len, s.st_mtime, path, err, sizeof err);
			free(data);
			e = NULL;
			if (rc == 0) {
				e = cache_put(&c->cache, c->st, id);
				if (!e) {
					receiver_free(&r);
					errno = ENOMEM;
					return -1;
				}
				e->ino = (unsigned long long)s.st_ino;
				e->size = (long long)s.st_size;
				e->mtime_ns = ns(&s.st_mtim);
				e->ctime_ns = ns(&s.st_ctim);
				e->created = r.created;
				e->sent_at = r.sent_at;
				e->failed = r.failed_count;
				e->success = r.success_count;
				e->subject = util_strdup(r.subject);
				e->user = util_strdup(r.user);
				e->send_to = util_strdup(r.send_to);
				e->type = util_strdup(r.context_type);
				receiver_free(&r);
				c->cache.dirty = true;
			}
		}
		if (!e) {
			/* Unreadable files match only filters they cannot fail. */
			if (f->type || f->sent != QUERY_SENT_ANY || f->since || f->until ||
			    (f->search && !contains(id, f->search)))
				return 0;
			struct query_row *row = add_row(c->res, id, false, c->st);
			if (!row)
				return -1;
			row->err = strdup(err);
			return 0;
		}
	}
	if (cache_met(&c->cache, e) < 0) {
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
	cache_load(sp, &c.cache);
	if (!c.cache.b) {
		errno = ENOMEM;
		return -1;
	}
	for (int i = 0; i < SPOOL_NSTATUS; i++) {
		if (f->status_mask && !(f->status_mask & (1u << i)))
			continue;
		c.st = (enum spool_status)i;
		if (spool_scan(sp, c.st, scan_cb, &c) < 0) {
			res->arena = c.cache.data;
			c.cache.data = NULL;
			cache_free(&c.cache);
			return -1;
		}
		scanned |= 1u << i;
	}
	cache_save(sp, &c.cache, scanned);
	res->arena = c.cache.data;
	c.cache.data = NULL;
	cache_free(&c.cache);
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
