/* spool_types: the spool's shared vocabulary (statuses, id size, a claim,
 * one commit of a batch), at the bottom so that spool.h (the public calls)
 * and spool_int.h (the spool's own machinery) both stand on it and neither
 * includes the other; and the public calls that spool_commit.c and
 * spool_fs.c implement, so that they stand below spool.h and never include
 * it. Declarations only: no definitions, no paths. */
#ifndef MSGSPOOL_SPOOL_TYPES_H
#define MSGSPOOL_SPOOL_TYPES_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

enum spool_status {
	SPOOL_NEW, SPOOL_ACTIVE, SPOOL_FAILED, SPOOL_ERROR, SPOOL_SENT, SPOOL_CORRUPT,
	SPOOL_HOLD,	/* "held": put aside by an operator; no sender looks here */
	SPOOL_NSTATUS
};

/* Status masks (1u << status): all of them, and those no command ever
 * deletes or resends (being sent, or quarantined for a human). */
#define SPOOL_ALL_MASK ((1u << SPOOL_NSTATUS) - 1)
#define SPOOL_UNTOUCHED_MASK ((1u << SPOOL_ACTIVE) | (1u << SPOOL_CORRUPT))

#define SPOOL_ID_MAX 200	/* bytes, without ".yaml" */

/* Opaque: only spool*.c know its directory descriptors and names. */
struct spool;

/* A claimed receiver: its file is in active/ and locked by this process. */
struct spool_claim {
	enum spool_status from;
	char id[SPOOL_ID_MAX + 1];
	int fd;			/* open, locked; read the content from here */
	struct stat st;
};

/* One commit of a batch; rc and err are its outcome (spool_commit's). */
struct spool_commit {
	struct spool_claim *c;
	const void *data;
	size_t len;
	enum spool_status to;
	int rc, err;
};

/* Public calls implemented beneath spool.c (spool.h includes this file). */

/* Commits many claims as one group: every file is written and flushed
 * together, then renamed, then each directory is flushed once for all of
 * them. Each commit succeeds or fails alone; returns how many failed.
 * (spool_commit.c) */
size_t spool_commit_batch(struct spool *sp, struct spool_commit *jobs, size_t n);
/* Inodes held for reuse by commits (tests watch it). (spool_commit.c) */
int spool_pool_count(struct spool *sp);
/* Removes tmp/ files older than max_age seconds; returns how many.
 * (spool_fs.c) */
int spool_clean_tmp(struct spool *sp, time_t max_age);
/* An exclusive lock for a read, change and write of a state file by
 * several processes: a descriptor to close, or -1 (spool_fs.c). */
int spool_state_lock(struct spool *sp, const char *name);

#endif
