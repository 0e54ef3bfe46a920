/* listcache: the list cache (SPOOL/.list-cache): the columns of list and
 * stats already parsed, one line per receiver, so that a listing reads no
 * receiver that did not change. Only a cache: an entry is used only while
 * the file's stat (inode, size, mtime and ctime to the nanosecond) is the
 * one it was made from. Its format is its own (spool-layout/README.md). */
#ifndef MSGSPOOL_LISTCACHE_H
#define MSGSPOOL_LISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include "receiver.h"
#include "spool.h"

struct listcache_entry {
	struct listcache_entry *next;	/* hash chain */
	struct listcache_entry *alone;	/* entries allocated one by one (not loaded) */
	unsigned status;
	bool seen;
	bool borrowed;	/* the strings point into the loaded cache file */
	unsigned long long ino;
	long long size, mtime_ns, ctime_ns;
	long long created, sent_at, failed, success;
	char *subject, *user, *send_to, *type;
	char *id;	/* in the loaded file, or right after the entry */
};

/* The file is written in the order the scan met the files, and a directory
 * lists in the same order while it is unchanged: so the scan mostly finds
 * its entry at a cursor, without hashing or a cache miss per file. */
struct listcache {
	struct listcache_entry **b;
	char *data;	/* the cache file as read: loaded entries' strings live here */
	struct listcache_entry *loaded;	/* entries of the file, in its order */
	size_t nloaded, cursor;
	struct listcache_entry *alone;	/* entries added by the scan (a list) */
	struct listcache_entry **order;	/* every entry the scan met, in its order */
	size_t norder, order_cap;
	size_t out_of_order;	/* found by hash: the file's order is stale */
	bool dirty;
};

/* Reads the cache file (none is an empty cache); -1 only without memory. */
int listcache_load(struct listcache *c, struct spool *sp);
/* The entry for a receiver the scan meets next, or NULL. */
struct listcache_entry *listcache_next(struct listcache *c, unsigned st, const char *id);
/* True while the file is the one the entry was made from. */
bool listcache_fresh(const struct listcache_entry *e, const struct stat *s);
/* Records what a receiver parsed just now holds. */
struct listcache_entry *listcache_put(struct listcache *c, unsigned st, const char *id, const struct stat *s,
				      const struct receiver *r);
/* Notes that the scan met e (the saved file follows the scan's order). */
int listcache_met(struct listcache *c, struct listcache_entry *e);
/* Writes back what is still true, when it changed. */
void listcache_save(struct listcache *c, struct spool *sp, unsigned scanned_mask);
/* Hands over the loaded file's buffer, which entries with `borrowed` point
 * into; the caller frees it. */
char *listcache_arena(struct listcache *c);
void listcache_free(struct listcache *c);

#endif
