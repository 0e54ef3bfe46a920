/* listcache: reading, checking and writing the list cache's file. It must
 * never let a cached column stand for a file that changed (every entry is
 * checked against the file's stat) and never trust a cache file it did not
 * write; it knows no path (spool_cache_read/write). Format and rules:
 * spool-layout/README.md, SECURITY.md. */
#include "config.h"
#include "listcache.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define CACHE_BUCKETS (1 << 18) /* a short chain even at 250,000 receivers */


static unsigned hash(unsigned st, const char *id)
{
	return util_fnv1a(UTIL_FNV_INIT ^ st, id) % CACHE_BUCKETS;
}

static long long ns(const struct timespec *t)
{
	return (long long)t->tv_sec * 1000000000LL + t->tv_nsec;
}

bool listcache_fresh(const struct listcache_entry *e, const struct stat *s)
{
	return e->ino == (unsigned long long)s->st_ino && e->size == (long long)s->st_size &&
	       e->mtime_ns == ns(&s->st_mtim) && e->ctime_ns == ns(&s->st_ctim);
}

static struct listcache_entry *find(struct listcache *c, unsigned st, const char *id)
{
	for (struct listcache_entry *e = c->b[hash(st, id)]; e; e = e->next)
		if (e->status == st && !strcmp(e->id, id))
			return e;
	return NULL;
}

/* find for the scan: the entry at the cursor first. */
struct listcache_entry *listcache_next(struct listcache *c, unsigned st, const char *id)
{
	struct listcache_entry *e = c->cursor < c->nloaded ? &c->loaded[c->cursor] : NULL;
	if (!e || e->status != st || strcmp(e->id, id) != 0) {
		e = find(c, st, id);
		if (!e || e < c->loaded || e >= c->loaded + c->nloaded)
			return e;
		c->out_of_order++;
	}
	c->cursor = (size_t)(e - c->loaded) + 1;
	return e;
}

static void strings_free(struct listcache_entry *e)
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

static void link_entry(struct listcache *c, struct listcache_entry *e)
{
	unsigned h = hash(e->status, e->id);
	e->next = c->b[h];
	c->b[h] = e;
}

/* An entry the scan parsed: the old one, emptied, or a new one. */
static struct listcache_entry *put(struct listcache *c, unsigned st, const char *id)
{
	struct listcache_entry *e = find(c, st, id);
	if (e) {
		strings_free(e);
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
	link_entry(c, e);
	return e;
}

/* Remembers the scan's order, which the saved file follows. */
int listcache_met(struct listcache *c, struct listcache_entry *e)
{
	if (c->norder == c->order_cap) {
		size_t cap = c->order_cap ? c->order_cap * 2 : 1024;
		struct listcache_entry **p = realloc(c->order, cap * sizeof *p);
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
int listcache_load(struct listcache *c, struct spool *sp)
{
	size_t len, lines = 0;
	memset(c, 0, sizeof *c);
	c->b = calloc(CACHE_BUCKETS, sizeof *c->b);
	if (!c->b) {
		errno = ENOMEM;
		return -1;
	}
	if (spool_cache_read(sp, 1u << 30, &c->data, &len) < 0) {
		c->data = NULL;
		return 0;
	}
	char *end = c->data + len;
	for (char *p = c->data; (p = memchr(p, '\n', (size_t)(end - p))); p++)
		lines++;
	c->loaded = calloc(lines + 1, sizeof *c->loaded);
	if (!c->loaded)
		return 0;
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
		struct listcache_entry *e = &c->loaded[c->nloaded++];
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
		link_entry(c, e);
	}
	return 0;
}

static void put_line(struct util_buf *b, const struct listcache_entry *e)
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
void listcache_save(struct listcache *c, struct spool *sp, unsigned scanned_mask)
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
		put_line(&b, c->order[i]);
	for (size_t i = 0; i < c->nloaded; i++)
		if (!(scanned_mask & (1u << c->loaded[i].status)))
			put_line(&b, &c->loaded[i]);
	spool_cache_write(sp, b.data ? b.data : "", b.len); /* not the owner: no cache, no harm */
	util_buf_free(&b);
}

void listcache_free(struct listcache *c)
{
	for (size_t i = 0; i < c->nloaded; i++)
		strings_free(&c->loaded[i]);
	while (c->alone) {
		struct listcache_entry *e = c->alone;
		c->alone = e->alone;
		strings_free(e);
		free(e);
	}
	free(c->loaded);
	free(c->order);
	free(c->b);
	free(c->data);
}


struct listcache_entry *listcache_put(struct listcache *c, unsigned st, const char *id, const struct stat *s,
				      const struct receiver *r)
{
	struct listcache_entry *e = put(c, st, id);
	if (!e)
		return NULL;
	e->ino = (unsigned long long)s->st_ino;
	e->size = (long long)s->st_size;
	e->mtime_ns = ns(&s->st_mtim);
	e->ctime_ns = ns(&s->st_ctim);
	e->created = r->created;
	e->sent_at = r->sent_at;
	e->failed = r->failed_count;
	e->success = r->success_count;
	e->subject = util_strdup(r->subject);
	e->user = util_strdup(r->user);
	e->send_to = util_strdup(r->send_to);
	e->type = util_strdup(r->context_type);
	c->dirty = true;
	return e;
}

char *listcache_arena(struct listcache *c)
{
	char *p = c->data;
	c->data = NULL;
	return p;
}
