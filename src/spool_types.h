/* spool_types: the spool's shared vocabulary (statuses, id size, a claim,
 * one commit of a batch), at the bottom so that spool.h (the public calls)
 * and spool_int.h (the spool's own machinery) both stand on it and neither
 * includes the other. Declarations only: no calls, no paths. */
#ifndef MSGSPOOL_SPOOL_TYPES_H
#define MSGSPOOL_SPOOL_TYPES_H

#include <stddef.h>
#include <sys/stat.h>

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

#endif
