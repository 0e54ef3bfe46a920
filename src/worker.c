/* worker: msgspoold's sending threads. Each takes receivers from the job
 * queue, keeps one transport session, tells conns.c how each attempt went
 * and backs everybody off when the server or the spool fails. It must never
 * decide when a receiver may be tried (policy.c) nor how an attempt goes
 * (deliver.c); the shared state and its locks are in daemon.h, the
 * behaviour in msgspoold(8). */
#include "config.h"
#include "daemon.h"
#include "deliver.h"
#include "dlog.h"
#include "policy.h"
#include "ratelimit.h"
#include "status.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

static void settle(struct worker *w, bool locked);

/* Takes the next job (under mu); asks for a rescan of new/ when the queue
 * of a backlog runs low. */
static bool pop(struct daemon *d, struct jobq_job *job, int *level)
{
	if (!jobq_pop_level(&d->q, job, level))
		return false;
	if (d->q.backlog && d->q.n == QUEUE_LOW) {
		d->q.backlog = false;
		d->want_rescan = true;
		evloop_wake(&d->ev);
	}
	return true;
}

/* Waits under mu for a job; false when stopping. Closes an idle
 * connection after idle_close seconds, and at once one that conns.c no
 * longer allows. */
static bool next_job(struct worker *w, struct jobq_job *job, int *level)
{
	struct daemon *d = w->d;
	bool may;
	while (!d->stopping && (!(may = conns_may_send(&d->cc, w->n)) || d->q.n == 0 || time(NULL) < d->backoff_until)) {
		if (transport_pending(w->t)) { /* its reply is read before waiting */
			pthread_mutex_unlock(&d->mu);
			settle(w, false);
			pthread_mutex_lock(&d->mu);
			continue;
		}
		if (!may && w->connected) {
			pthread_mutex_unlock(&d->mu);
			transport_idle(w->t);
			w->connected = false;
			pthread_mutex_lock(&d->mu);
			continue;
		}
		if (!may && d->q.n)
			pthread_cond_signal(&d->cv); /* a wake-up meant for a worker allowed to send */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		long wait = !may ? 3600 : d->q.n ? (long)(d->backoff_until - time(NULL)) : (w->connected ? d->idle_close : 3600);
		until.tv_sec += wait > 0 ? wait : 1;
		int rc = pthread_cond_timedwait(may ? &d->cv : &d->spare, &d->mu, &until);
		if (rc == ETIMEDOUT && w->connected && d->q.n == 0) {
			pthread_mutex_unlock(&d->mu);
			transport_idle(w->t);
			w->connected = false;
			pthread_mutex_lock(&d->mu);
			if (d->q.n == 0 && conns_idle(&d->cc))
				dlog(LOG_NOTICE, "connections: back to %ld (idle)", d->cc.allowed);
			if (status_conns(d->cc.allowed))
				evloop_wake(&d->ev);
		}
	}
	if (d->stopping)
		return false;
	return pop(d, job, level);
}

/* One attempt under the configuration's read lock, with a transport for
 * the configuration in use; `more`: another receiver waits, so this one's
 * reply may travel with the next one's envelope (deliver.h, hold). */
static enum deliver_result work(struct worker *w, const struct jobq_job *job, struct deliver_report *rep, bool more)
{
	struct daemon *d = w->d;
	pthread_rwlock_rdlock(&d->conf_lock);
	if (!w->t || w->gen != d->conf_gen) {
		char err[512] = "";
		settle(w, true);
		transport_free(w->t);
		w->t = transport_open(d->conf, err, sizeof err);
		w->gen = d->conf_gen;
		w->connected = false;
		if (!w->t)
			dlog(LOG_ERR, "worker %zu: %s", w->n, err);
	}
	memset(rep, 0, sizeof *rep);
	enum deliver_result r = DELIVER_DEFERRED;
	if (w->t) {
		struct deliver dl = {d->sp, d->conf, w->t, dlog_fn, NULL, d->committer, more && !d->conf->smtp.nrates};
		r = deliver_one(&dl, job->from, job->id, job->from == SPOOL_FAILED ? POLICY_RETRY_DUE : POLICY_SEND,
				rep);
		w->connected = true;
	}
	pthread_rwlock_unlock(&d->conf_lock);
	return r;
}

/* Tells conns.c how an attempt that began at t0 went (under mu); logs a
 * change of the connection count and wakes the workers it allows. */
static enum conns_change count_connections(struct daemon *d, enum deliver_result r, bool lost, bool fresh,
					   double t0)
{
	long before = d->cc.allowed;
	double now = util_now_ms();
	bool delivered = r == DELIVER_SENT || r == DELIVER_FAILED || (r == DELIVER_DEFERRED && !lost);
	enum conns_change ch = conns_after(&d->cc, delivered, lost, fresh, now - t0, d->q.n, now);
	bool counted = status_count(r); /* for msgspool stats, written by on_timer */
	if (status_conns(d->cc.allowed) || counted)
		evloop_wake(&d->ev);
	if (ch == CONNS_GREW) {
		pthread_cond_broadcast(&d->spare);
		dlog(LOG_NOTICE, "connections: %ld -> %ld (%zu waiting, more than the open ones send in a second)",
		     before, d->cc.allowed, d->q.n);
	} else if (ch == CONNS_LIMIT) {
		dlog(LOG_NOTICE, "connections: %ld -> %ld (the server refused one more; growing again in %ld s)",
		     before, d->cc.allowed, d->cc.hold / 1000);
	}
	return ch;
}

/* Reads, records and counts the reply still held on this worker's
 * connection (deliver.h, DELIVER_PENDING) before it waits, stops or is
 * replaced; `locked`: the caller holds the configuration's read lock. */
static void settle(struct worker *w, bool locked)
{
	struct daemon *d = w->d;
	struct deliver_report rep;
	if (!transport_pending(w->t))
		return;
	if (!locked)
		pthread_rwlock_rdlock(&d->conf_lock);
	deliver_settle(&(struct deliver){d->sp, d->conf, w->t, dlog_fn, NULL, d->committer, false}, &rep);
	if (!locked)
		pthread_rwlock_unlock(&d->conf_lock);
	pthread_mutex_lock(&d->mu);
	count_connections(d, rep.settled_result, false, false, util_now_ms() - (double)rep.settled_ms);
	pthread_mutex_unlock(&d->mu);
}

/* At most this many receivers a worker claims at once: with a backlog it
 * claims its next few from new/ together (spool_claim_ahead: one flush of
 * active/ for all, where a claim alone pays one each, without a journal)
 * and sends them before it takes from the queue again. Measured on
 * loopback (3,000 receivers into smtp-sink, 4 connections, builds in
 * turns): while each reply was held for the next envelope, 8 sent at
 * 0.5-0.6 times the rate of 1; since replies are held only where the
 * server is a round trip away, 8 sends at 1.07-1.4 times the rate of 1,
 * with half the context switches (BENCHMARKS.md). But a clean-clone CI
 * under ASan then found a power cut (tests/powercut) leaving a receiver
 * in new/ and active/ that recovery quarantined: back to 1, which has
 * passed every power-cut run, until that is understood. */
#define AHEAD 1

/* Under mu, with job just taken: while the backlog gives every allowed
 * connection more than two, takes up to AHEAD - 1 more of the same
 * priority for this worker into mine (job first, their levels in level)
 * and returns how many it holds; claims them ahead outside mu. Not under
 * smtp.rate: a claim would wait for its slot. */
static size_t take_ahead(struct worker *w, const struct jobq_job *job, struct jobq_job *mine, int *level)
{
	struct daemon *d = w->d;
	mine[0] = *job;
	size_t n = 1, allowed = d->cc.allowed > 0 ? (size_t)d->cc.allowed : 1;
	if (job->from != SPOOL_NEW || d->q.n < 2 * allowed)
		return n;
	/* Not conf_lock here: under mu it deadlocks against a worker that
	 * holds it and waits for mu while a SIGHUP waits to write it. */
	bool paced = d->paced;
	size_t want = d->q.n / allowed;
	while (!paced && n < AHEAD && n <= want && jobq_top_level(&d->q) == level[0] && pop(d, &mine[n], &level[n]))
		n++;
	if (n == 1)
		return n;
	const char *ids[AHEAD];
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (mine[i].from == SPOOL_NEW)
			ids[k++] = mine[i].id;
	pthread_mutex_unlock(&d->mu);
	spool_claim_ahead(d->sp, SPOOL_NEW, ids, k);
	pthread_mutex_lock(&d->mu);
	return n;
}

/* Under mu: the receivers this worker took and will not send now (the
 * server failed, it may no longer send, the daemon stops) go back: claims
 * made ahead into new/, the ids into the queue for any worker. */
static void give_back(struct worker *w, const struct jobq_job *jobs, const int *level, size_t n)
{
	struct daemon *d = w->d;
	if (n == 0)
		return;
	pthread_mutex_unlock(&d->mu);
	for (size_t i = 0; i < n; i++)
		spool_claim_ahead_give_back(d->sp, jobs[i].from, jobs[i].id);
	pthread_mutex_lock(&d->mu);
	for (size_t i = 0; i < n; i++) {
		jobq_done(&d->q, jobs[i].id);
		if (!d->stopping && jobq_push_at(&d->q, jobs[i].from, jobs[i].id, level[i]))
			pthread_cond_signal(&d->cv);
	}
}

/* ratelimit_room for ratelimit_claim_take: -1 once stopping. */
static int room(void *rl)
{
	return ratelimit_room(rl);
}

void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct daemon *d = w->d;
	struct jobq_job job, mine[AHEAD];
	int level[AHEAD];
	size_t nmine = 0, imine = 0;
	pthread_mutex_lock(&d->mu);
	for (;;) {
		/* Its own first, unless something more urgent came meanwhile
		 * (a high behind a burst of low waits one message at most). */
		if (imine < nmine && !d->stopping && conns_may_send(&d->cc, w->n) && time(NULL) >= d->backoff_until &&
		    jobq_top_level(&d->q) >= level[imine]) {
			job = mine[imine++];
		} else {
			give_back(w, mine + imine, level + imine, nmine - imine);
			imine = nmine = 0;
			if (!next_job(w, &job, &level[0]))
				break;
			nmine = take_ahead(w, &job, mine, level);
			imine = 1;
		}
		bool more = d->q.n > 0 || imine < nmine;
		/* Under smtp.rate it is claimed before its slot (none is claimed
		 * ahead then): a receiver a send took meanwhile spends none. */
		bool first = d->paced && nmine == 1;
		pthread_mutex_unlock(&d->mu);
		double at = 0;
		int slot = first ? ratelimit_claim_take(d->rl, d->sp, job.from, job.id, room, d->rl, &at)
				 : ratelimit_take(d->rl, &at);
		if (slot == -1) { /* stopping: the receiver stays where it is */
			pthread_mutex_lock(&d->mu);
			imine--; /* this one too */
			break;
		}
		struct deliver_report rep;
		bool fresh = !w->connected;
		double t0 = util_now_ms();
		enum deliver_result r = DELIVER_BUSY;
		if (slot == RATELIMIT_GONE)
			memset(&rep, 0, sizeof rep);
		else
			r = work(w, &job, &rep, more);
		/* Nothing went to the server: the slot of smtp.rate is not spent. */
		if (slot == 0 && deliver_unsent(r, &rep))
			ratelimit_give_back(d->rl, at);
		pthread_mutex_lock(&d->mu);
		if (rep.settled) /* the one held before, read with this one */
			count_connections(d, rep.settled_result, false, false, util_now_ms() - (double)rep.settled_ms);
		jobq_done(&d->q, job.id);
		if (rep.stuck)
			jobq_stuck_add(&d->q, job.id, &rep.stuck_st);
		if (r == DELIVER_SKIPPED && rep.not_before && job.from == SPOOL_NEW) {
			/* send_after: the timer wakes for it; no polling. */
			jobq_later_add(&d->q, job.id, rep.not_before);
			evloop_wake(&d->ev);
		}
		bool lost = r == DELIVER_DEFERRED && (rep.session_failed || !w->t);
		if (count_connections(d, r, lost, fresh, t0) == CONNS_LIMIT) {
			/* The others work: only this connection stops. */
			if (jobq_push(&d->q, job.from, job.id))
				pthread_cond_signal(&d->cv);
			w->connected = false;
		} else if (lost || r == DELIVER_IOERR) {
			/* The server is away, or the spool cannot be written (a full
			 * disk, a read-only mount): everybody waits, then this one
			 * goes first. */
			d->backoff = policy_session_backoff(d->backoff);
			d->backoff_until = time(NULL) + d->backoff;
			dlog(LOG_WARNING, "%s; next try in %ld s",
			     r == DELIVER_IOERR ? "spool not writable" : "mail server unusable", d->backoff);
			if (jobq_push(&d->q, job.from, job.id))
				pthread_cond_signal(&d->cv);
			w->connected = r == DELIVER_IOERR && w->connected;
		} else if (r == DELIVER_DEFERRED) {
			/* Still being written: another look in a second, not at
			 * once (our own rename back into new/ rings inotify). */
			jobq_later_add(&d->q, job.id, time(NULL) + 1);
			evloop_wake(&d->ev);
		} else if (r == DELIVER_SENT || r == DELIVER_FAILED || r == DELIVER_ERROR) {
			d->backoff = 0;
		}
	}
	give_back(w, mine + imine, level + imine, nmine - imine);
	pthread_mutex_unlock(&d->mu);
	settle(w, false);
	transport_free(w->t);
	return NULL;
}
