/* committer: the thread that writes sent receivers' records in groups.
 * It owns the queue between the senders and the disk and the "failing"
 * state that hands recording back to the senders when a group cannot be
 * written. It must never decide an outcome (deliver.c does) nor write
 * anything but through spool_commit_batch and spool_release. Its rules are
 * those of spool-layout/README.md ("Rules"). */
#include "config.h"
#include "committer.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

/* Records waiting for the committer (~5 KB each); workers wait beyond it.
 * 128 cost 0.5-0.8 MB more peak RSS and no throughput. */
#define COMMIT_QUEUE 32

struct commit_job {
	struct spool_claim c;
	struct util_buf out;
	char to[256];	/* the address, for the log line */
	int code;
	long ms;
};

struct committer {
	struct spool *sp;
	msgspool_log_fn *log;
	void *log_ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t work, room;
	struct commit_job *q[COMMIT_QUEUE];
	size_t n;
	bool stopping;
	/* The last group could not be written (a full disk, a read-only
	 * mount): senders record their own again, so they see the error
	 * and back off, until one succeeds. */
	bool failing;
};

void committer_record_failed(struct spool *sp, msgspool_log_fn *log, void *log_ctx, struct spool_claim *c,
			     enum spool_status to, const char *outcome, int e)
{
	char path[4200];
	spool_path(sp, to, c->id, path, sizeof path);
	/* The server has it: sent/ unchanged (a rename needs no space) beats a
	 * second copy. Anything else goes back unchanged, not counted. */
	enum spool_status back = to == SPOOL_SENT ? SPOOL_SENT : c->from;
	log(log_ctx, LOG_ERR, "%s: cannot record the outcome (%s): %s; moving it to %s/ unchanged", path,
	    outcome, strerror(e), spool_status_dir(back));
	if (c->fd < 0)
		return;
	if (spool_release(sp, c, back) < 0) {
		int re = errno;
		spool_claim_drop(c);
		log(log_ctx, LOG_ERR, "%s: left in active/ for recovery: %s", c->id, strerror(re));
	}
}

static void set_failing(struct committer *cm, bool failing)
{
	pthread_mutex_lock(&cm->mu);
	cm->failing = failing;
	pthread_mutex_unlock(&cm->mu);
}

void committer_recovered(struct committer *cm)
{
	set_failing(cm, false);
}

/* Writes one group and logs each outcome. */
static void write_group(struct committer *cm, struct commit_job **batch, size_t n)
{
	struct spool_commit jobs[COMMIT_QUEUE];
	for (size_t i = 0; i < n; i++)
		jobs[i] = (struct spool_commit){&batch[i]->c, batch[i]->out.data, batch[i]->out.len, SPOOL_SENT, 0, 0};
	set_failing(cm, spool_commit_batch(cm->sp, jobs, n) > 0);
	for (size_t i = 0; i < n; i++) {
		struct commit_job *j = batch[i];
		if (jobs[i].rc < 0)
			committer_record_failed(cm->sp, cm->log, cm->log_ctx, &j->c, SPOOL_SENT, "sent", jobs[i].err);
		else
			cm->log(cm->log_ctx, LOG_INFO, "%s to=<%s> outcome=sent code=%d ms=%ld", j->c.id, j->to, j->code,
				j->ms);
		util_buf_free(&j->out);
		free(j);
	}
}

static void *committer_main(void *arg)
{
	struct committer *cm = arg;
	struct commit_job *batch[COMMIT_QUEUE];
	pthread_mutex_lock(&cm->mu);
	for (;;) {
		while (cm->n == 0 && !cm->stopping)
			pthread_cond_wait(&cm->work, &cm->mu);
		if (cm->n == 0)
			break;
		/* Everything waiting goes in one group. */
		size_t n = cm->n;
		memcpy(batch, cm->q, n * sizeof *batch);
		cm->n = 0;
		pthread_cond_broadcast(&cm->room);
		pthread_mutex_unlock(&cm->mu);
		write_group(cm, batch, n);
		pthread_mutex_lock(&cm->mu);
	}
	pthread_mutex_unlock(&cm->mu);
	return NULL;
}

struct committer *committer_start(struct spool *sp, msgspool_log_fn *log, void *log_ctx)
{
	struct committer *cm = calloc(1, sizeof *cm);
	if (!cm)
		return NULL;
	cm->sp = sp;
	cm->log = log;
	cm->log_ctx = log_ctx;
	pthread_mutex_init(&cm->mu, NULL);
	pthread_cond_init(&cm->work, NULL);
	pthread_cond_init(&cm->room, NULL);
	if (pthread_create(&cm->thread, NULL, committer_main, cm) != 0) {
		pthread_cond_destroy(&cm->work);
		pthread_cond_destroy(&cm->room);
		pthread_mutex_destroy(&cm->mu);
		free(cm);
		return NULL;
	}
	return cm;
}

void committer_stop(struct committer *cm)
{
	if (!cm)
		return;
	pthread_mutex_lock(&cm->mu);
	cm->stopping = true;
	pthread_cond_signal(&cm->work);
	pthread_mutex_unlock(&cm->mu);
	pthread_join(cm->thread, NULL);
	pthread_cond_destroy(&cm->work);
	pthread_cond_destroy(&cm->room);
	pthread_mutex_destroy(&cm->mu);
	free(cm);
}

int committer_submit(struct committer *cm, struct spool_claim *c, struct util_buf *out, const char *to,
		     int code, long ms)
{
	pthread_mutex_lock(&cm->mu);
	bool failing = cm->failing;
	pthread_mutex_unlock(&cm->mu);
	struct commit_job *j = failing ? NULL : calloc(1, sizeof *j);
	if (!j)
		return -1;
	j->out = *out;
	memset(out, 0, sizeof *out);
	j->c = *c;
	snprintf(j->to, sizeof j->to, "%s", to);
	j->code = code;
	j->ms = ms;
	pthread_mutex_lock(&cm->mu);
	while (cm->n == COMMIT_QUEUE)
		pthread_cond_wait(&cm->room, &cm->mu);
	cm->q[cm->n++] = j;
	pthread_cond_signal(&cm->work);
	pthread_mutex_unlock(&cm->mu);
	c->fd = -1; /* the committer owns the claim now */
	return 0;
}
