/* deliver: one attempt from claim to durable outcome. */
#include "config.h"
#include "deliver.h"
#include "mime.h"
#include "receiver.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

const char *deliver_result_name(enum deliver_result r)
{
	static const char *const names[] = {"sent", "failed", "error", "busy", "skipped", "quarantined",
					    "deferred", "spool-error"};
	return names[r];
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t1;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Puts a claimed receiver into `to` unchanged; when it cannot be moved the
 * claim is given up where it is (active/, unlocked, for recovery). */
static int release(struct spool *sp, struct spool_claim *c, enum spool_status to)
{
	if (spool_release(sp, c, to) == 0)
		return 0;
	int e = errno;
	spool_claim_drop(c);
	errno = e;
	return -1;
}

static enum deliver_result quarantine(struct deliver *d, struct spool_claim *c, const char *why)
{
	char path[4200];
	spool_path(d->sp, c->from, c->id, path, sizeof path);
	if (release(d->sp, c, SPOOL_CORRUPT) < 0) {
		d->log(d->log_ctx, LOG_ERR, "%s: cannot quarantine into corrupt/: %s (left in active/)", path, strerror(errno));
		return DELIVER_IOERR;
	}
	d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path, why);
	return DELIVER_QUARANTINED;
}

/* A record that could not be written: the receiver goes on unchanged, so
 * it is never lost (at worst sent again). */
static enum deliver_result record_failed(struct spool *sp, deliver_log_fn *log, void *log_ctx,
					 struct spool_claim *c, enum spool_status to, enum deliver_result ok, int e)
{
	char path[4200];
	spool_path(sp, to, c->id, path, sizeof path);
	/* The server has it: sent/ unchanged (a rename needs no space) beats a
	 * second copy. Anything else goes back unchanged, not counted. */
	enum spool_status back = ok == DELIVER_SENT ? SPOOL_SENT : c->from;
	log(log_ctx, LOG_ERR, "%s: cannot record the outcome (%s): %s; moving it to %s/ unchanged", path,
	    deliver_result_name(ok), strerror(e), spool_status_dir(back));
	if (c->fd >= 0 && release(sp, c, back) < 0)
		log(log_ctx, LOG_ERR, "%s: left in active/ for recovery: %s", c->id, strerror(errno));
	return DELIVER_IOERR;
}

/* Writes the outcome durably and moves the receiver to `to`. */
static enum deliver_result commit(struct deliver *d, struct spool_claim *c, struct receiver *r,
				  const struct util_buf *src, enum spool_status to, enum deliver_result ok)
{
	struct util_buf out = {0};
	int rc = receiver_save_appended(r, src->data, src->len, &out);
	if (rc == 0)
		rc = spool_commit(d->sp, c, out.data, out.len, to);
	int e = errno;
	util_buf_free(&out);
	return rc == 0 ? ok : record_failed(d->sp, d->log, d->log_ctx, c, to, ok, e);
}

/* ---- the committer ---- */

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

struct deliver_committer {
	struct spool *sp;
	deliver_log_fn *log;
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

static void committer_set_failing(struct deliver_committer *cm, bool failing)
{
	pthread_mutex_lock(&cm->mu);
	cm->failing = failing;
	pthread_mutex_unlock(&cm->mu);
}

static void *committer_main(void *arg)
{
	struct deliver_committer *cm = arg;
	struct commit_job *batch[COMMIT_QUEUE];
	struct spool_commit jobs[COMMIT_QUEUE];
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
		for (size_t i = 0; i < n; i++)
			jobs[i] = (struct spool_commit){&batch[i]->c, batch[i]->out.data, batch[i]->out.len, SPOOL_SENT, 0, 0};
		committer_set_failing(cm, spool_commit_batch(cm->sp, jobs, n) > 0);
		for (size_t i = 0; i < n; i++) {
			struct commit_job *j = batch[i];
			if (jobs[i].rc < 0)
				record_failed(cm->sp, cm->log, cm->log_ctx, &j->c, SPOOL_SENT, DELIVER_SENT, jobs[i].err);
			else
				cm->log(cm->log_ctx, LOG_INFO, "%s to=<%s> outcome=sent code=%d ms=%ld", j->c.id, j->to, j->code,
					j->ms);
			util_buf_free(&j->out);
			free(j);
		}
		pthread_mutex_lock(&cm->mu);
	}
	pthread_mutex_unlock(&cm->mu);
	return NULL;
}

struct deliver_committer *deliver_committer_start(struct spool *sp, deliver_log_fn *log, void *log_ctx)
{
	struct deliver_committer *cm = calloc(1, sizeof *cm);
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

void deliver_committer_stop(struct deliver_committer *cm)
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

/* Hands a sent receiver's record to the committer; waits only while its
 * queue is full. -1 when the record cannot be built (then commit here). */
static int commit_later(struct deliver *d, struct spool_claim *c, struct receiver *r,
			const struct util_buf *src, int code, long ms)
{
	struct deliver_committer *cm = d->cm;
	pthread_mutex_lock(&cm->mu);
	bool failing = cm->failing;
	pthread_mutex_unlock(&cm->mu);
	struct commit_job *j = failing ? NULL : calloc(1, sizeof *j);
	if (!j)
		return -1;
	if (receiver_save_appended(r, src->data, src->len, &j->out) < 0) {
		free(j);
		return -1;
	}
	j->c = *c;
	snprintf(j->to, sizeof j->to, "%s", r->send_to);
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

/* Records a failed attempt where the policy puts it; force_error for what
 * retrying cannot fix. */
static enum deliver_result failure(struct deliver *d, struct spool_claim *c, struct receiver *r,
				   const struct util_buf *src, const char *error, int code,
				   const char *transcript, bool force_error)
{
	struct policy_decision pd = policy_decide(d->conf, r, POLICY_SEND, time(NULL));
	bool to_error = pd.on_failure == SPOOL_ERROR || force_error;
	receiver_record_failure(r, time(NULL), error, code, transcript, to_error ? "error" : "failed");
	return commit(d, c, r, src, to_error ? SPOOL_ERROR : SPOOL_FAILED, to_error ? DELIVER_ERROR : DELIVER_FAILED);
}

enum deliver_result deliver_one(struct deliver *d, enum spool_status from, const char *id,
				enum policy_mode mode, struct deliver_report *rep)
{
	struct spool_claim c;
	struct timespec t0;
	char path[4200], err[RECEIVER_ERRLEN] = "";
	memset(rep, 0, sizeof *rep);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	spool_path(d->sp, from, id, path, sizeof path);

	int rc = spool_claim(d->sp, from, id, &c);
	if (rc == SPOOL_CLAIMED)
		util_test_stop("deliver-claimed");
	if (rc == SPOOL_BUSY)
		return rep->result = DELIVER_BUSY;
	if (rc < 0) {
		int e = errno;
		if ((e == ELOOP || e == EINVAL) && spool_move(d->sp, from, SPOOL_CORRUPT, id) == 0) {
			d->log(d->log_ctx, LOG_WARNING, "%s: quarantined into corrupt/: %s", path,
			       e == ELOOP ? "a symbolic link (never followed)" : "not a regular file");
			return rep->result = DELIVER_QUARANTINED;
		}
		d->log(d->log_ctx, LOG_ERR, "%s: cannot claim: %s", path, strerror(e));
		return rep->result = DELIVER_IOERR;
	}
	/* A second name means someone else holds this inode: a hard link to a
	 * file we must not send (a link+unlink rename on NFS shows two for a
	 * moment, so a young file gets another look). */
	if (from == SPOOL_NEW && c.st.st_nlink > 1) {
		if (time(NULL) - c.st.st_mtime < 2 && spool_release(d->sp, &c, from) == 0)
			return rep->result = DELIVER_DEFERRED;
		return rep->result = quarantine(d, &c, "has other hard links (never sent)");
	}
	/* A producer may have reused a name that is taken elsewhere. */
	for (int s = 0; from == SPOOL_NEW && s < SPOOL_NSTATUS; s++) {
		if (s == SPOOL_NEW || s == SPOOL_ACTIVE || !spool_exists(d->sp, (enum spool_status)s, id))
			continue;
		char why[256];
		snprintf(why, sizeof why, "the id is already used by %s/%s.yaml", spool_status_dir((enum spool_status)s), id);
		return rep->result = quarantine(d, &c, why);
	}
	struct util_buf src = {0};
	if (spool_claim_read(&c, d->conf->max_receiver_size, &src.data, &src.len) < 0) {
		if (errno == EFBIG)
			return rep->result = quarantine(d, &c, "larger than max_receiver_size");
		d->log(d->log_ctx, LOG_ERR, "%s: cannot read: %s", path, strerror(errno));
		release(d->sp, &c, from);
		return rep->result = DELIVER_IOERR;
	}
	struct receiver r;
	rc = receiver_parse(&r, id, src.data, src.len, c.st.st_mtime, path, err, sizeof err);
	if (rc < 0) {
		util_buf_free(&src);
		/* A producer writing straight into new/ may not be done yet: a young
		 * unreadable file gets another look (inotify's IN_CLOSE_WRITE or the
		 * rescan) before it is quarantined. */
		if (from == SPOOL_NEW && time(NULL) - c.st.st_mtime < 2 && spool_release(d->sp, &c, from) == 0)
			return rep->result = DELIVER_DEFERRED;
		return rep->result = quarantine(d, &c, err);
	}
	if (policy_decide(d->conf, &r, mode, time(NULL)).verdict != POLICY_NOW) {
		receiver_free(&r);
		util_buf_free(&src);
		release(d->sp, &c, from);
		return rep->result = DELIVER_SKIPPED;
	}

	struct mime_options mo = {d->conf->from, d->conf->subject_prefix, d->conf->message_id_domain};
	struct util_buf msg = {0};
	struct transport_result res = {0};
	struct mime_envelope env;
	enum deliver_result result;
	bool later = false;
	if (mime_render(&r, &mo, time(NULL), &msg, &env, err, sizeof err) < 0) {
		/* Sending again cannot help a message that cannot be built. */
		char line[600];
		snprintf(line, sizeof line, "not sent: %s", err);
		result = failure(d, &c, &r, &src, line, 0, line, true);
	} else {
		enum transport_outcome out = transport_send(d->t, env.from, env.to, msg.data, msg.len, &res);
		rep->code = res.code;
		rep->session_failed = res.session_failed;
		const char *transcript = util_buf_cstr(&res.transcript);
		if (out == TRANSPORT_SENT) {
			util_test_stop("deliver-after-250");
			receiver_record_success(&r, time(NULL));
			/* The committer logs it once it is durable. */
			later = d->cm && commit_later(d, &c, &r, &src, res.code, ms_since(&t0)) == 0;
			result = later ? DELIVER_SENT : commit(d, &c, &r, &src, SPOOL_SENT, DELIVER_SENT);
			if (d->cm && !later && result == DELIVER_SENT)
				committer_set_failing(d->cm, false);
		} else if (res.session_failed) {
			result = DELIVER_DEFERRED;
			if (release(d->sp, &c, from) < 0) {
				d->log(d->log_ctx, LOG_ERR, "%s: cannot put back into %s/: %s (left in active/ for recovery)",
				       id, spool_status_dir(from), strerror(errno));
				result = DELIVER_IOERR;
			}
		} else {
			result = failure(d, &c, &r, &src, res.error, res.code, transcript,
					 out == TRANSPORT_PERM && d->conf->permanent_to_error);
		}
	}
	rep->ms = ms_since(&t0);
	rep->result = result;
	if (!later)
		d->log(d->log_ctx, result == DELIVER_SENT ? LOG_INFO : result == DELIVER_DEFERRED ? LOG_WARNING : LOG_NOTICE,
	       "%s to=<%s> outcome=%s code=%d ms=%ld%s%s", id, r.send_to, deliver_result_name(result),
	       rep->code, rep->ms, result == DELIVER_SENT ? "" : " error=",
	       result == DELIVER_SENT ? "" : (res.error[0] ? res.error : err));
	transport_result_free(&res);
	util_buf_free(&msg);
	util_buf_free(&src);
	receiver_free(&r);
	return result;
}

struct recover_ctx {
	struct deliver *d;
	int moved;
	int failed;
};

static int recover_cb(const char *id, void *vctx)
{
	struct recover_ctx *rc = vctx;
	struct deliver *d = rc->d;
	struct spool_claim c;
	char *data, err[RECEIVER_ERRLEN];
	size_t len;
	int r = spool_claim(d->sp, SPOOL_ACTIVE, id, &c);
	if (r == SPOOL_BUSY)
		return 0; /* a live sender holds it */
	if (r < 0) {
		if (errno == ELOOP || errno == EINVAL)
			spool_move(d->sp, SPOOL_ACTIVE, SPOOL_CORRUPT, id);
		return 0;
	}
	enum spool_status to = SPOOL_NEW;
	struct receiver rec;
	if (spool_claim_read(&c, d->conf->max_receiver_size, &data, &len) == 0) {
		if (receiver_parse(&rec, id, data, len, c.st.st_mtime, id, err, sizeof err) == 0) {
			if (rec.last_outcome && !strcmp(rec.last_outcome, "sent"))
				to = SPOOL_SENT;
			else if (rec.last_outcome && !strcmp(rec.last_outcome, "failed"))
				to = SPOOL_FAILED;
			else if (rec.last_outcome && !strcmp(rec.last_outcome, "error"))
				to = SPOOL_ERROR;
			receiver_free(&rec);
		}
		free(data);
	}
	if (release(d->sp, &c, to) < 0) {
		d->log(d->log_ctx, LOG_ERR, "active/%s.yaml: recovery cannot move it to %s/: %s", id,
		       spool_status_dir(to), strerror(errno));
		rc->failed++;
		return 0;
	}
	d->log(d->log_ctx, LOG_NOTICE, "active/%s.yaml: recovered into %s/", id, spool_status_dir(to));
	rc->moved++;
	return 0;
}

int deliver_recover(struct deliver *d)
{
	struct recover_ctx rc = {.d = d};
	if (spool_scan(d->sp, SPOOL_ACTIVE, recover_cb, &rc) < 0)
		return -1;
	return rc.failed ? -1 : rc.moved;
}
