/* spool_batch: changes to many receivers at once that are made durable
 * together, by the caller, after the last (the web admin's bulk hold and
 * release): each flush of spool_move deferred to one spool_sync per
 * directory touched. Implemented in spool_records.c. */
#ifndef MSGSPOOL_SPOOL_BATCH_H
#define MSGSPOOL_SPOOL_BATCH_H

#include "spool.h"

/* spool_move's rename (never replacing: EEXIST) without its flushes: the
 * move is durable only once the caller has flushed both `from` and `to`
 * with spool_sync, and must not be reported done before. */
int spool_move_unflushed(struct spool *sp, enum spool_status from, enum spool_status to, const char *id);

#endif
