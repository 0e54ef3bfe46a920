/* listcache: reading, checking and writing the list cache's file. It must
 * never let a cached column stand for a file that changed (every entry is
 * checked against the file's stat), never trust a cache file it did not
 * write (spool_cache_open), never load the file whole (a scan maps it and
 * holds one entry; its pages are dropped as the scan goes), and knows no
 * path. Format and rules: spool-layout/README.md, SECURITY.md. */
#include "config.h"
#include "listcache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_CACHE ((size_t)1 << 30)	/* offsets fit 32 bits */
#define DROP_EVERY 4096			/* lines between drops of the mapping's pages */
#define OUT_FLUSH 65536
#define NFIELDS 15

/* A line split in place: fields by start and length, no copy. */
struct line {
	const char *f[NFIELDS];
	size_t n[NFIELDS];
	size_t end;	/* offset after the line's newline */
};

static unsigned hash(unsigned st, const char *id, size_t n)
{
	return util_fnv1a_n(UTIL_FNV_INIT ^ st, id, n);
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

/* Resident pages of the mapping count as the process's memory: dropped
 * every few thousand lines (they stay in the page cache). */
static void touch(struct listcache *c)
{
	if (++c->touched >= DROP_EVERY) {
		madvise((void *)c->map, c->len, MADV_DONTNEED);
		c->touched = 0;
	}
}

/* A decimal field: no locale, no errno (the cache is ours; a bad number
 * only makes an entry that will not match). Stops at the tab. */
static long long get_num(const char *s)
{
	bool neg = *s == '-';
	unsigned long long v = 0;
	for (s += neg; *s >= '0' && *s <= '9'; s++)
		v = v * 10 + (unsigned long long)(*s - '0');
	return neg ? -(long long)v : (long long)v;
}

/* Splits the line at off; false when it is not one of ours (the line is
 * skipped: l->end is set whatever). The id is checked only when `check`:
 * a lookup compares it with an id the scan already checked. */
static bool split(const struct listcache *c, size_t off, struct line *l, bool check)
{
	const char *p = c->map + off, *stop = c->map + c->len;
	const char *nl = memchr(p, '\n', (size_t)(stop - p));
	const char *eol = nl ? nl : stop;
	l->end = nl ? (size_t)(nl - c->map) + 1 : c->len;
	int k = 0;
	while (k < NFIELDS) {
		const char *tab = memchr(p, '\t', (size_t)(eol - p));
		l->f[k] = p;
		l->n[k++] = (size_t)((tab ? tab : eol) - p);
		if (!tab)
			break;
		p = tab + 1;
	}
	if (k != NFIELDS || l->n[0] != 2 || memcmp(l->f[0], "v1", 2) ||
	    l->n[1] != 1 || l->f[1][0] < '0' || l->f[1][0] >= '0' + SPOOL_NSTATUS || l->n[2] > SPOOL_ID_MAX)
		return false;
	if (!check)
		return true;
	char id[SPOOL_ID_MAX + 1];
	memcpy(id, l->f[2], l->n[2]);
	id[l->n[2]] = '\0';
	return spool_id_valid(id);
}

static unsigned line_status(const struct line *l)
{
	return (unsigned)(l->f[1][0] - '0');
}

static bool line_is(const struct line *l, unsigned st, const char *id, size_t idlen)
{
	return line_status(l) == st && l->n[2] == idlen && !memcmp(l->f[2], id, idlen);
}

/* Strings are written "s<escaped>" or "-" for none; unescaped into strs
 * (a run between escapes at a time), returning the offset there, or -1
 * for none. */
static long get_str(struct util_buf *strs, const char *f, size_t n)
{
	if (!n || f[0] != 's' || util_buf_reserve(strs, n) < 0)
		return -1;
	long at = (long)strs->len;
	char *out = strs->data + strs->len;
	for (const char *p = f + 1, *end = f + n; p < end;) {
		const char *bs = memchr(p, '\\', (size_t)(end - p));
		size_t run = (size_t)((bs ? bs : end) - p);
		memcpy(out, p, run);
		out += run;
		p += run;
		if (bs && p + 1 < end) {
			*out++ = p[1] == 't' ? '\t' : p[1] == 'n' ? '\n' : p[1];
			p += 2;
		} else if (bs) {
			*out++ = *p++;
		}
	}
	*out++ = '\0';
	strs->len = (size_t)(out - strs->data);
	return at;
}

/* Fills c->cur from a split line at off. */
static const struct listcache_entry *entry_of(struct listcache *c, size_t off, const struct line *l)
{
	struct listcache_entry *e = &c->cur;
	long long *num[] = {NULL, NULL, NULL, (long long *)&e->ino, &e->size, &e->mtime_ns, &e->ctime_ns,
			    &e->created, &e->sent_at, &e->failed, &e->success};
	for (int i = 3; i < 11; i++)
		*num[i] = get_num(l->f[i]);
	c->strs.len = 0;
	long at[4];
	for (int i = 0; i < 4; i++)
		at[i] = get_str(&c->strs, l->f[11 + i], l->n[11 + i]);
	const char **s[] = {&e->subject, &e->user, &e->send_to, &e->type};
	for (int i = 0; i < 4; i++)
		*s[i] = at[i] < 0 || !c->strs.data ? NULL : c->strs.data + at[i];
	e->status = line_status(l);
	e->off = off;
	e->end = l->end;
	return e;
}

/* The index of every line by (status, id), made once, on the first entry
 * not at the cursor; it also counts the lines of the scanned statuses. */
static int build_index(struct listcache *c)
{
	size_t lines = 0;
	for (const char *p = c->map; (p = memchr(p, '\n', (size_t)(c->map + c->len - p))); p++, touch(c))
		lines++; /* touch: the pages read are dropped as for any line */
	size_t cap = 1024;
	while (cap < 2 * (lines + 1))
		cap *= 2;
	c->index = calloc(cap, sizeof *c->index);
	if (!c->index)
		return -1;
	c->index_mask = cap - 1;
	struct line l;
	for (size_t off = 0; off < c->len; off = l.end, touch(c)) {
		if (!split(c, off, &l, false))
			continue;
		unsigned st = line_status(&l);
		c->in_scan += (c->scan_mask >> st) & 1;
		c->nlines++;
		size_t h = hash(st, l.f[2], l.n[2]) & c->index_mask;
		while (c->index[h])
			h = (h + 1) & c->index_mask;
		c->index[h] = (uint32_t)off + 1;
	}
	return 0;
}

static bool find(struct listcache *c, unsigned st, const char *id, size_t idlen, struct line *l, size_t *off)
{
	for (size_t h = hash(st, id, idlen) & c->index_mask; c->index[h]; h = (h + 1) & c->index_mask) {
		*off = c->index[h] - 1;
		if (split(c, *off, l, false) && line_is(l, st, id, idlen))
			return true;
	}
	return false;
}

/* find for the scan: the line at the cursor first, then by the index. */
const struct listcache_entry *listcache_next(struct listcache *c, unsigned st, const char *id)
{
	struct line l;
	size_t idlen = strlen(id), off;
	if (!c->map)
		return NULL;
	touch(c);
	while (c->cursor < c->len && !split(c, c->cursor, &l, false))
		c->cursor = l.end;
	if (c->cursor < c->len && line_is(&l, st, id, idlen)) {
		off = c->cursor;
	} else {
		if (!c->index && build_index(c) < 0)
			return NULL; /* without memory: parsed anew, which is right too */
		if (!find(c, st, id, idlen, &l, &off))
			return NULL;
		c->out_of_order++;
	}
	c->cursor = l.end;
	return entry_of(c, off, &l);
}

static int flush(struct listcache *c, size_t above)
{
	if (c->bad || c->out.len <= above)
		return 0;
	if (util_write_all(c->outfd, c->out.data, c->out.len) < 0)
		c->bad = true;
	c->flushed += c->out.len;
	c->out.len = 0;
	return c->bad ? -1 : 0;
}

/* A line of status st was added to the new file at [start, out end): kept
 * for the trailer, which needs each status's lines in one run. */
static void note_line(struct listcache *c, unsigned st, size_t start)
{
	struct listcache_dir *d = &c->now[st];
	if (!c->lines[st])
		d->start = start;
	else if (d->end != start)
		c->broken[st] = true;
	c->lines[st] = true;
	d->end = c->flushed + c->out.len;
	d->n++;
}

/* A line of the old file, copied as it is. */
static void copy_line(struct listcache *c, size_t off, size_t end)
{
	size_t start = c->flushed + c->out.len;
	util_buf_add(&c->out, c->map + off, end - off);
	if (c->map[end - 1] != '\n')
		util_buf_putc(&c->out, '\n');
	note_line(c, (unsigned)(c->map[off + 3] - '0'), start);
	flush(c, OUT_FLUSH);
}

/* Something changed: the new file is begun with the lines met so far. */
static void begin_write(struct listcache *c)
{
	if (c->writing)
		return;
	c->writing = true;
	spool_cache_clean(c->sp); /* what crashed listings left */
	c->outfd = spool_cache_create(c->sp, c->outname);
	c->bad = c->outfd < 0; /* not the owner: no cache, no harm */
	for (size_t i = 0; !c->bad && i < c->nmet; i++) {
		struct line l;
		split(c, c->met[i], &l, false);
		copy_line(c, c->met[i], l.end);
		touch(c);
	}
	free(c->met);
	c->met = NULL;
	c->nmet = c->met_cap = 0;
}

int listcache_met(struct listcache *c, const struct listcache_entry *e)
{
	if (!e->end)
		return 0; /* written by listcache_put */
	c->hits++;
	if (c->writing) {
		copy_line(c, e->off, e->end);
		return 0;
	}
	if (c->nmet == c->met_cap) {
		size_t cap = c->met_cap ? c->met_cap * 2 : 1024;
		uint32_t *p = realloc(c->met, cap * sizeof *p);
		if (!p)
			return -1;
		c->met = p;
		c->met_cap = cap;
	}
	c->met[c->nmet++] = (uint32_t)e->off;
	return 0;
}

/* A tab and a decimal number, without printf (a line per receiver). An
 * inode number above LLONG_MAX is written negative and reads back
 * (get_num) as the same bits. */
static void put_num(struct util_buf *b, long long v)
{
	char tmp[24], *q = tmp + sizeof tmp;
	unsigned long long u = v < 0 ? 0 - (unsigned long long)v : (unsigned long long)v;
	do
		*--q = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--q = '-';
	*--q = '\t';
	util_buf_add(b, q, (size_t)(tmp + sizeof tmp - q));
}

/* Strings are written "s<escaped>" or "-" for none. */
static void put_str(struct util_buf *b, const char *s)
{
	if (!s) {
		util_buf_adds(b, "\t-");
		return;
	}
	util_buf_adds(b, "\ts");
	for (;;) {
		size_t run = strcspn(s, "\t\n\\");
		util_buf_add(b, s, run);
		s += run;
		if (!*s)
			return;
		util_buf_adds(b, *s == '\t' ? "\\t" : *s == '\n' ? "\\n" : "\\\\");
		s++;
	}
}

const struct listcache_entry *listcache_put(struct listcache *c, unsigned st, const char *id,
					    const struct stat *s, const struct receiver *r)
{
	struct listcache_entry *e = &c->cur;
	*e = (struct listcache_entry){.status = st, .ino = (unsigned long long)s->st_ino, .size = (long long)s->st_size,
				      .mtime_ns = ns(&s->st_mtim), .ctime_ns = ns(&s->st_ctim), .created = r->created,
				      .sent_at = r->sent_at, .failed = r->failed_count, .success = r->success_count,
				      .subject = r->subject, .user = r->user, .send_to = r->send_to,
				      .type = r->context_type};
	begin_write(c);
	if (c->bad)
		return e;
	size_t start = c->flushed + c->out.len;
	util_buf_adds(&c->out, "v1\t");
	util_buf_putc(&c->out, (char)('0' + e->status));
	util_buf_putc(&c->out, '\t');
	util_buf_adds(&c->out, id);
	put_num(&c->out, (long long)e->ino);
	long long nums[] = {e->size, e->mtime_ns, e->ctime_ns, e->created, e->sent_at, e->failed, e->success};
	for (size_t i = 0; i < sizeof nums / sizeof *nums; i++)
		put_num(&c->out, nums[i]);
	put_str(&c->out, e->subject);
	put_str(&c->out, e->user);
	put_str(&c->out, e->send_to);
	put_str(&c->out, e->type);
	if (util_buf_putc(&c->out, '\n') < 0)
		return NULL;
	note_line(c, st, start);
	flush(c, OUT_FLUSH);
	return e;
}

/* The trailer: "d1" lines after the entries, one per status: where its
 * lines are, and its directory's stamp when the file knows it whole. A
 * line that does not parse, or a range outside the entries, is none. */
static void read_trailer(struct listcache *c)
{
	size_t end = c->len;
	for (int k = 0; k <= SPOOL_NSTATUS && end > 0; k++) {
		size_t b = end - 1;
		while (b > 0 && c->map[b - 1] != '\n')
			b--;
		char line[160];
		size_t n = end - b;
		if (n < 4 || n >= sizeof line || memcmp(c->map + b, "d1\t", 3))
			return;
		memcpy(line, c->map + b, n);
		line[n] = '\0';
		unsigned st;
		struct listcache_dir d = {.set = true};
		int stamp;
		if (sscanf(line, "d1\t%u\t%d\t%lld\t%lld\t%lld\t%zu\t%zu\t%zu\n", &st, &stamp, &d.ino, &d.mtime_ns,
			   &d.ctime_ns, &d.start, &d.end, &d.n) == 8 && st < SPOOL_NSTATUS && d.start <= d.end && d.end <= b) {
			d.stamp = stamp == 1;
			c->old[st] = d;
		}
		end = b;
	}
}

bool listcache_dir_fresh(const struct listcache *c, unsigned st, const struct stat *dir)
{
	const struct listcache_dir *d = &c->old[st];
	return c->map && d->set && d->stamp && d->ino == (long long)dir->st_ino && d->mtime_ns == ns(&dir->st_mtim) &&
	       d->ctime_ns == ns(&dir->st_ctim);
}

int listcache_each_in_dir(struct listcache *c, unsigned st,
			  int (*cb)(const char *id, const struct listcache_entry *, void *), void *ctx)
{
	const struct listcache_dir *d = &c->old[st];
	struct line l;
	if (c->cursor == d->start)
		c->cursor = d->end; /* the next status's lines follow */
	for (size_t off = d->start; off < d->end; off = l.end, touch(c)) {
		if (!split(c, off, &l, true) || line_status(&l) != st)
			continue;
		const struct listcache_entry *e = entry_of(c, off, &l);
		if (listcache_met(c, e) < 0) {
			errno = ENOMEM;
			return -1;
		}
		char id[SPOOL_ID_MAX + 1];
		memcpy(id, l.f[2], l.n[2]);
		id[l.n[2]] = '\0';
		int rc = cb(id, e, ctx);
		if (rc)
			return rc;
	}
	return 0;
}

void listcache_seek(struct listcache *c, unsigned st)
{
	const struct listcache_dir *d = &c->old[st];
	if (c->map && d->set && d->start < d->end)
		c->cursor = d->start;
}

/* A directory changed within this long before its fstat may change again
 * in the same clock tick and keep its times: not stamped. */
#define SETTLED_NS 100000000LL

void listcache_dir_seen(struct listcache *c, unsigned st, const struct stat *dir, const struct timespec *now,
			bool trusted)
{
	long long t = ns(now);
	struct listcache_dir *d = &c->now[st];
	d->stamp = trusted && ns(&dir->st_ctim) < t - SETTLED_NS && ns(&dir->st_mtim) < t - SETTLED_NS;
	d->ino = (long long)dir->st_ino;
	d->mtime_ns = ns(&dir->st_mtim);
	d->ctime_ns = ns(&dir->st_ctim);
}

/* Whether a directory can be stamped that the file has no stamp for (a
 * rewrite then records it, even when no receiver changed; a stamp gone
 * stale is left: it matches no directory). */
static bool stamps_changed(const struct listcache *c)
{
	for (unsigned st = 0; st < SPOOL_NSTATUS; st++) {
		const struct listcache_dir *a = &c->old[st], *b = &c->now[st];
		if (((c->scan_mask >> st) & 1) && b->stamp && (!a->stamp || a->ino != b->ino ||
		    a->mtime_ns != b->mtime_ns || a->ctime_ns != b->ctime_ns))
			return true;
	}
	return false;
}

/* The trailer of the new file: each status whose lines make one run, with
 * the new stamps of the scanned statuses and the old ones of the others. */
static void write_trailer(struct listcache *c)
{
	for (unsigned st = 0; st < SPOOL_NSTATUS; st++) {
		struct listcache_dir d = (c->scan_mask >> st) & 1 ? c->now[st] : c->old[st];
		if (c->broken[st])
			continue;
		d.start = c->lines[st] ? c->now[st].start : 0;
		d.end = c->lines[st] ? c->now[st].end : 0;
		util_buf_printf(&c->out, "d1\t%u\t%d\t%lld\t%lld\t%lld\t%zu\t%zu\t%zu\n", st, d.stamp, d.ino,
				d.mtime_ns, d.ctime_ns, d.start, d.end, c->now[st].n);
	}
}

int listcache_open(struct listcache *c, struct spool *sp, unsigned scan_mask)
{
	struct stat st;
	memset(c, 0, sizeof *c);
	c->sp = sp;
	c->scan_mask = scan_mask;
	c->outfd = -1;
	int fd = spool_cache_open(sp, &st);
	if (fd < 0)
		return 0;
	if (st.st_size > 0 && (size_t)st.st_size < MAX_CACHE) {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m != MAP_FAILED) {
			c->map = m;
			c->len = (size_t)st.st_size;
			madvise(m, c->len, MADV_SEQUENTIAL);
			read_trailer(c);
		}
	}
	close(fd);
	return 0;
}

/* Whether the file still holds a line of a scanned status the scan did not
 * meet (a receiver gone), or the scan met too many lines out of order. */
static bool stale(struct listcache *c)
{
	size_t known = 0;
	unsigned st;
	for (st = 0; st < SPOOL_NSTATUS; st++) {
		if (!((c->scan_mask >> st) & 1))
			continue;
		if (!c->old[st].set)
			break;
		known += c->old[st].n;
	}
	if (st == SPOOL_NSTATUS) /* the trailer counts every scanned status's lines */
		return c->hits != known || c->out_of_order > c->nlines / 16;
	if (c->index)
		return c->hits != c->in_scan || c->out_of_order > c->nlines / 16;
	struct line l;
	for (size_t off = c->cursor; off < c->len; off = l.end, touch(c))
		if (split(c, off, &l, false) && ((c->scan_mask >> line_status(&l)) & 1))
			return true;
	return false;
}

void listcache_close(struct listcache *c, bool complete)
{
	if (complete && !c->writing && (stamps_changed(c) || (c->map && stale(c))))
		begin_write(c);
	if (c->writing && complete) {
		struct line l;
		for (size_t off = 0; !c->bad && off < c->len; off = l.end, touch(c))
			if (split(c, off, &l, true) && !((c->scan_mask >> line_status(&l)) & 1))
				copy_line(c, off, l.end);
		write_trailer(c);
		flush(c, 0);
	}
	if (c->writing && c->outfd >= 0)
		spool_cache_commit(c->sp, c->outfd, c->outname, complete && !c->bad);
	if (c->map)
		munmap((void *)c->map, c->len);
	free(c->index);
	free(c->met);
	util_buf_free(&c->out);
	util_buf_free(&c->strs);
	memset(c, 0, sizeof *c);
}
