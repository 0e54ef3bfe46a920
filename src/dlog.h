/* dlog: the daemon's log: syslog, or stderr in the foreground with a time
 * stamp, one write per line so that lines from threads never interleave. */
#ifndef MSGSPOOL_DLOG_H
#define MSGSPOOL_DLOG_H

#include <stdarg.h>
#include <stdbool.h>

/* To stderr in the foreground, else to syslog (facility mail). */
void dlog_open(bool foreground);
/* After a fork: the pid in each line is read once, not per line. */
void dlog_set_pid(void);
void dlog(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same as a msgspool_log_fn, for deliver and the committer. */
void dlog_fn(void *ctx, int prio, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
