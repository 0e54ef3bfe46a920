/* spool_batch: calls for work on many receivers at once: read-ahead for
 * a scan that reads every file (spool_prefetch.c). (Moves made durable
 * together, after the last, are spool_move_unflushed and spool_sync in
 * spool.h.) */
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

#endif
