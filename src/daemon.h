/* daemon: the state msgspoold's main thread (msgspoold.c: signals, timers,
 * scanning, configuration) shares with its sending threads (worker.c),
 * and the locks that guard it. Nothing here decides when a receiver may be
 * tried (policy.c) nor how an attempt goes (deliver.c). */
#ifndef MSGSPOOL_DAEMON_H
#define MSGSPOOL_DAEMON_H

#include "conf.h"
#include "conns.h"
#include "evloop.h"
#include "jobq.h"
#include "spool.h"
#include "transport.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>

/* At most this many ids wait in memory; the rest wait in new/, found by a
 * rescan when the queue runs low. Memory does not grow with the backlog. */
#define QUEUE_HIGH 4096
#define QUEUE_LOW 512
/* conf.c's bound on smtp.connections: room for every worker a reload may
 * start, so the arrays never move under a running thread. */
#define DAEMON_WORKERS_MAX CONF_CONNECTIONS_MAX

struct daemon;

/* One sending thread: its transport, for the configuration of gen. */
struct worker {
	struct daemon *d;
	size_t n;
	struct transport *t;
	unsigned long gen;
	bool connected;
};

struct daemon {
	struct spool *sp;
	struct conf *conf;		/* current configuration (swapped under conf_lock) */
	pthread_rwlock_t conf_lock;	/* workers hold it for reading during an attempt */
	unsigned long conf_gen;
	const char *conf_path, *spool_override;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct jobq q;			/* under mu */
	bool stopping;
	time_t backoff_until;		/* the server failed: nobody sends before this */
	long backoff;			/* seconds, see policy_session_backoff */
	long idle_close;		/* copy of daemon.idle_close, read under mu */
	bool paced;			/* copy of "smtp.rate is set", read under mu */
	size_t workers;			/* threads started: the main thread's alone */
	pthread_t threads[DAEMON_WORKERS_MAX];
	struct ratelimit *rl;		/* smtp.rate over all workers */
	struct evloop ev;		/* workers ring it: a rescan, or a new timer */
	bool want_rescan;		/* under mu: the queue ran low with new/ fuller */
	struct committer *committer;	/* records sent receivers in groups */
	struct conns cc;		/* how many may be connected now (conns.c), under mu */
	pthread_cond_t spare;		/* workers conns.c does not allow wait here */
	time_t next_rescan, next_full, next_retry, next_status;
	struct worker ws[DAEMON_WORKERS_MAX];
};

/* A worker's thread: takes receivers from the queue and sends them until
 * the daemon stops, then settles what its connection still holds. */
void *worker_main(void *arg);

#endif
