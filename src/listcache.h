/* listcache: the list cache (SPOOL/.list-cache): the columns of list and
 * stats already parsed, one line per receiver, so that a listing reads no
 * receiver that did not change. Only a cache: an entry is used only while
 * the file's stat (inode, size, mtime and ctime to the nanosecond) is the
 * one it was made from. Its format is its own (spool-layout/README.md).
 * It is mapped, never loaded: a scan holds one entry at a time, and the
 * new file is written as the scan goes, so memory does not grow with the
 * spool (but for an index of 4 bytes an entry, built only on a miss). */
#ifndef MSGSPOOL_LISTCACHE_H
#define MSGSPOOL_LISTCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>
#include "receiver.h"
#include "spool.h"
#include "util.h"

/* One receiver's columns; the strings live until the next call. */
struct listcache_entry {
	unsigned status;
	unsigned long long ino;
	long long size, mtime_ns, ctime_ns;
	long long created, sent_at, failed, success;
	const char *subject, *user, *send_to, *type;
	size_t off, end;	/* its line in the mapped file; end 0: parsed just now */
};

/* A status in the file's trailer, a line "d1 ST STAMP INO MTIME CTIME
 * START END N" (tabs) after the entries: its N lines are [start, end) (a
 * scan of a reordered file seeks there instead of hashing every line; a
 * scan that met fewer knows a receiver went), and
 * STAMP 1 says its directory's inode, mtime and ctime (ns) were those
 * when the file listed it whole, every file in it the spool owner's, not
 * writable by others, and readable, and the directory had not changed for
 * a while before that listing began (a change in the same clock tick
 * would leave its times alike). */
struct listcache_dir {
	bool set, stamp;
	long long ino, mtime_ns, ctime_ns;
	size_t start, end, n;
};

/* The file is written in the order the scan met the files, and a directory
 * lists in the same order while it is unchanged: so the scan mostly finds
 * its entry at a cursor, without hashing or a cache miss per file. */
struct listcache {
	struct spool *sp;
	unsigned scan_mask;	/* the statuses this scan reads */
	const char *map;	/* the cache file, mapped read-only (NULL: none) */
	size_t len, cursor;
	size_t touched;		/* lines read since the mapping's pages were last dropped */
	uint32_t *index;	/* line offset + 1 by hash (status, id); built on the first miss */
	size_t index_mask, nlines, in_scan, hits, out_of_order;
	uint32_t *met;		/* lines the scan met before writing began */
	size_t nmet, met_cap;
	int outfd;		/* the new file, once something changed */
	bool writing, bad;
	char outname[SPOOL_CACHE_TMP];
	struct util_buf out, strs;
	struct listcache_entry cur;
	size_t flushed;		/* bytes of the new file written so far */
	struct listcache_dir old[SPOOL_NSTATUS];	/* the trailer read */
	struct listcache_dir now[SPOOL_NSTATUS];	/* the trailer to write */
	bool broken[SPOOL_NSTATUS];	/* a status's lines not in one run in the new file */
	bool lines[SPOOL_NSTATUS];	/* the new file has lines of the status */
};

/* Opens the cache for a scan of the statuses in scan_mask (none or a bad
 * one is an empty cache); -1 only without memory. */
int listcache_open(struct listcache *c, struct spool *sp, unsigned scan_mask);
/* The entry for a receiver the scan meets next, or NULL. */
const struct listcache_entry *listcache_next(struct listcache *c, unsigned st, const char *id);
/* True while the file is the one the entry was made from. */
bool listcache_fresh(const struct listcache_entry *e, const struct stat *s);
/* Records what a receiver parsed just now holds; the entry's strings are
 * r's. NULL without memory. */
const struct listcache_entry *listcache_put(struct listcache *c, unsigned st, const char *id,
					    const struct stat *s, const struct receiver *r);
/* Notes that the scan met e (the new file follows the scan's order). */
int listcache_met(struct listcache *c, const struct listcache_entry *e);
/* Whether the directory of status st is as the cache last saw it whole
 * (dir: its fstat now): then its lines are its receivers, as they are. */
bool listcache_dir_fresh(const struct listcache *c, unsigned st, const struct stat *dir);
/* Hands each entry of status st from the file to cb (after
 * listcache_dir_fresh said yes), noting each as met; cb's non-zero return
 * stops it and is returned. */
int listcache_each_in_dir(struct listcache *c, unsigned st,
			  int (*cb)(const char *id, const struct listcache_entry *, void *), void *ctx);
/* Before a file-by-file scan of status st: the cursor to its lines. */
void listcache_seek(struct listcache *c, unsigned st);
/* After the scan of status st: dir is the directory's fstat taken before
 * it began, at `now`; `trusted` when every file in it was the owner's,
 * unwritable by others and readable. Records the stamp the new file's
 * trailer will carry, when the directory is old enough to be trusted. */
void listcache_dir_seen(struct listcache *c, unsigned st, const struct stat *dir, const struct timespec *now,
			bool trusted);
/* Ends the scan: when it read every status of scan_mask (`complete`),
 * puts the new file in place if anything changed. Frees everything. */
void listcache_close(struct listcache *c, bool complete);

#endif
