/* spool_batch: calls for work on many receivers at once: read-ahead for
 * a scan that reads every file (spool_prefetch.c), and the flushes that
 * make a batch of spool_move_unflushed or spool_remove durable after the
 * last (spool_batch.c). */
#ifndef MSGSPOOL_SPOOL_BATCH_H
#define MSGSPOOL_SPOOL_BATCH_H

#include "spool.h"

#include <dirent.h>
#include <stddef.h>


/* Read-ahead for a scan (spool_scan, query_each) of the statuses in mask
 * that reads every file: spool_prefetch_to asks the kernel to read, without
 * waiting, the files from the from-th to the upto-th the scan will meet
 * (counted as spool_scan counts them, status by status in order; those
 * before `from`, which the scan has passed, are only counted); the caller
 * keeps it a few thousand ahead of the scan. Only a hint: nothing fails. */
struct spool_prefetch {
	struct spool *sp;
	unsigned mask;	/* 0: does nothing */
	int st;		/* the status being listed */
	DIR *dir;
	size_t asked;	/* files met so far */
};
void spool_prefetch_begin(struct spool *sp, unsigned mask, struct spool_prefetch *p);
void spool_prefetch_to(struct spool_prefetch *p, size_t from, size_t upto);
void spool_prefetch_end(struct spool_prefetch *p);

/* Flushes each status directory of `touched` (bits 1 << status) once,
 * `to` first (SPOOL_NSTATUS: none, a removal). Returns the bits of those
 * that would not flush (errno: the first one's), 0 when all did: a
 * receiver moved from or into one of them must not be reported done. */
unsigned spool_sync_batch(struct spool *sp, unsigned touched, enum spool_status to);

#endif
