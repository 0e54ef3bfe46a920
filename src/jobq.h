/* jobq: the daemon's queue of receiver ids waiting for a worker, with a
 * set so that no id is queued or in flight twice. Bounded: beyond `high`
 * ids the rest wait in new/ and `backlog` says so. Not locked: the caller
 * holds its own lock around every call. */
#ifndef MSGSPOOL_JOBQ_H
#define MSGSPOOL_JOBQ_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <sys/stat.h>
#include "spool.h"

struct jobq_job {
	char id[SPOOL_ID_MAX + 1];
	enum spool_status from;
};

struct jobq_entry;
struct jobq_later {
	char id[SPOOL_ID_MAX + 1];
	time_t at;
};

/* One ring per priority (0 high, 1 normal, 2 low). */
#define JOBQ_LEVELS 3
struct jobq_ring {
	struct jobq_job *jobs;
	size_t head, n, cap;
};

struct jobq {
	struct jobq_ring ring[JOBQ_LEVELS];
	size_t n, high;			/* n: in all rings */
	struct jobq_entry **set;	/* queued or in flight */
	size_t nset;
	bool backlog;			/* an id was refused: new/ may hold more */
	struct jobq_entry **stuck;	/* entries passed over until they change */
	size_t nstuck;
	struct jobq_later *later;	/* ids that get another look at a time */
	size_t nlater, caplater;
};

void jobq_init(struct jobq *q, size_t high);
void jobq_free(struct jobq *q);
/* Queues an id unless it is queued or in flight already; false when the
 * queue is full (then backlog is set). */
bool jobq_push(struct jobq *q, enum spool_status from, const char *id);
/* The same at a priority level: a job of a lower level is taken first. */
bool jobq_push_at(struct jobq *q, enum spool_status from, const char *id, int level);
/* Takes the next job, of the first level that has one; it stays in the set
 * until jobq_done. False if empty. */
bool jobq_pop(struct jobq *q, struct jobq_job *job);
/* The same, telling the job's level (for jobq_push_at). */
bool jobq_pop_level(struct jobq *q, struct jobq_job *job, int *level);
/* The first level that has a job; JOBQ_LEVELS when empty. */
int jobq_top_level(const struct jobq *q);
/* Whether `id` is queued or in flight. */
bool jobq_has(struct jobq *q, const char *id);
/* The attempt on `id` is over: it may be queued again. */
void jobq_done(struct jobq *q, const char *id);

/* Remembers an entry that could be neither sent nor quarantined, as it
 * looked, so that it is tried (and logged) again only once it changes. */
void jobq_stuck_add(struct jobq *q, const char *id, const struct stat *st);
/* True when `id` is stuck and `now` (its current look) is unchanged;
 * forgets it when it changed. */
bool jobq_stuck_same(struct jobq *q, const char *id, const struct stat *now);
bool jobq_stuck_has(const struct jobq *q, const char *id);

/* An id of new/ that gets another look at `at` and not before (a file
 * still being written): jobq_push of it is refused until then. */
void jobq_later_add(struct jobq *q, const char *id, time_t at);
bool jobq_later_waits(const struct jobq *q, const char *id, time_t now);
/* Queues the ids whose time has come; returns the next time, or 0. */
time_t jobq_later_run(struct jobq *q, time_t now);

#endif
