/* status: msgspoold's own picture for msgspool stats: the SMTP connection
 * count and the outcome counters since it started, kept in the spool's
 * status file (through spool.c's state calls). The daemon counts and
 * writes; readers trust the file only when the spool's owner wrote it, it
 * parses strictly and its daemon still runs. Rules: spool-layout/README.md. */
#ifndef MSGSPOOL_STATUS_H
#define MSGSPOOL_STATUS_H

#include "deliver.h"
#include "spool.h"

#include <stdbool.h>
#include <time.h>

enum status_outcome { STATUS_SENT, STATUS_FAILED, STATUS_ERROR, STATUS_QUARANTINED, STATUS_NOUTCOMES };

struct status_info {
	long pid;
	long long start, updated;
	long conns, conns_min, conns_max;
	long long count[STATUS_NOUTCOMES];
};

/* The daemon: counters start at 0 now. */
void status_begin(long conns_min, long conns_max);
/* From any thread: an attempt's outcome (those deliver.c logs as
 * outcome=...; others are not counted), the connection count. True when
 * this made the state dirty: the caller wakes the thread that flushes. */
bool status_count(enum deliver_result r);
bool status_conns(long allowed);
/* A reload changed smtp.connections: the range stats shows from now on. */
void status_range(long conns_min, long conns_max);
/* Writes the file if something changed since the last write (or at stop,
 * marked stopped). -1 with errno when it could not be written. */
int status_flush(struct spool *sp, bool stopped);
/* True when something waits to be written. */
bool status_dirty(void);
/* A reader: 0 with *si filled when a running daemon wrote a trusted file;
 * -1 when there is none (a missing, stopped, stale or untrusted file; the
 * reason in *why when not NULL). */
int status_read(struct spool *sp, struct status_info *si, const char **why);
const char *status_outcome_name(enum status_outcome o);

#endif
