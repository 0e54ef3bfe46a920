/* webspool: the web admin's actions on the spool. It goes through spool,
 * query, receiver and deliver only, so the web has no second parser and no
 * second idea of a status. The audit entry is written under a claim, like
 * any change to a receiver file, so it is atomic and durable and never
 * races a sender; every action also appends a line to the spool's audit
 * file, the durable record of a delete, whose file is gone. A bulk delete,
 * hold or release flushes each directory it touched once after its last
 * unlink or rename, then writes its audit lines as one batch (settle):
 * a constant number of flushes however many receivers, and nothing said
 * done before it is durable.
 * A resend takes a slot of smtp.rate for each receiver, as the commands
 * do, so the web never adds to what the smarthost allows; it counts it
 * once the receiver is claimed (ratelimit_claim_take), so a receiver the
 * daemon took first spends none.
 * A resend runs without the server's lock: nothing here touches the web's
 * shared state, only the spool (safe from many threads) and its own
 * transport. */
#include "config.h"
#include "webspool.h"
#include "deliver.h"
#include "json.h"
#include "query.h"
#include "ratelimit.h"
#include "receiver.h"
#include "spool_batch.h"
#include "transport.h"
#include "util.h"
#include "webhttp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int webspool_locate(struct spool *sp, const char *id, enum spool_status *st)
{
	if (!id || !spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return spool_locate(sp, id, st);
}

/* The events list with one more entry, for ydoc_set to put in place. */
static struct ydoc_node *events_plus(const struct receiver *r, const char *action, const char *user, time_t now)
{
	const struct ydoc_node *old = ydoc_get(r->doc, "events");
	struct ydoc_node *seq = old && old->kind == YDOC_SEQ ? ydoc_clone(old) : ydoc_seq();
	struct ydoc_node *e = ydoc_map();
	char at[UTIL_TIME_LEN];
	util_time_format(now, at);
	ydoc_set(e, "at", ydoc_string(at));
	ydoc_set(e, "action", ydoc_string(action));
	ydoc_set(e, "by", ydoc_string(user));
	ydoc_set(e, "via", ydoc_string("web"));
	ydoc_push(seq, e);
	return seq;
}

int webspool_event(struct spool *sp, size_t max_size, enum spool_status st, const char *id,
		   const char *action, const char *user, time_t now, struct deliver *pin, char *err, size_t errsz)
{
	struct spool_claim c;
	char *data = NULL, path[4096];
	size_t len;
	spool_path(sp, st, id, path, sizeof path);
	int rc = spool_claim(sp, st, id, &c);
	if (rc != SPOOL_CLAIMED) {
		snprintf(err, errsz, "%s: %s", path, rc == SPOOL_BUSY ? "a sender has it" : strerror(errno));
		errno = rc == SPOOL_BUSY ? EBUSY : errno;
		return -1;
	}
	struct receiver r;
	struct util_buf out = {0};
	rc = -1;
	if (spool_claim_read(&c, max_size, &data, &len) < 0)
		snprintf(err, errsz, "%s: %s", path, strerror(errno));
	else if (receiver_parse(&r, id, data, len, c.st.st_mtime, path, err, errsz) == 0) {
		ydoc_set(r.doc, "events", events_plus(&r, action, user, now));
		if (pin)
			deliver_pin_message_id(pin, &r);
		if (receiver_save_appended(&r, data, len, &out) < 0)
			snprintf(err, errsz, "%s: cannot write the event", path);
		else if (spool_commit(sp, &c, out.data, out.len, st) < 0)
			snprintf(err, errsz, "%s: %s", path, strerror(errno));
		else
			rc = 0;
		receiver_free(&r);
	}
	/* Not recorded: the file goes back unchanged, still where it was. */
	if (rc < 0 && c.fd >= 0 && spool_release(sp, &c, st) < 0)
		spool_claim_drop(&c);
	free(data);
	util_buf_free(&out);
	return rc;
}

/* The spool's audit line (SPOOL/audit); a failure is logged, the action
 * already done stays done. */
static void audit(struct spool *sp, const char *action, const char *id, enum spool_status from, const char *user)
{
	if (spool_audit(sp, action, id, from, user, "web", time(NULL)) < 0)
		webhttp_log("%s: %s by %s: not recorded in the spool's audit file: %s", id, action, user,
			    strerror(errno));
}

static void deliver_log(void *ctx, int prio, const char *fmt, ...)
{
	(void)ctx;
	(void)prio;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	webhttp_log("%s", line);
}

/* Which hourly or daily limit is used up, and until when, for the page. */
static void rate_note(struct spool *sp, const struct conf *conf, double until, struct webspool_counts *out)
{
	struct ratelimit_use u[4];
	char when[UTIL_TIME_LEN];
	int n = ratelimit_usage(sp, conf, u);
	util_time_format((time_t)until, when);
	snprintf(out->rate_note, sizeof out->rate_note, "smtp.rate is used up until %s", when);
	for (int i = 0; i < n; i++)
		if (u[i].per >= 3600 && u[i].count >= u[i].limit)
			snprintf(out->rate_note, sizeof out->rate_note, "smtp.rate %ld/%s is used up until %s", u[i].limit,
				 u[i].per == 3600 ? "hour" : "day", when);
}

/* smtp.rate's room for a resend (ratelimit_claim_take's wait): 0 when a
 * slot is free, 1 with *until when a limit is used up for longer than a
 * minute. */
struct room {
	struct ratelimit *rl;
	double *until;
};

static int room(void *ctx)
{
	struct room *r = ctx;
	return ratelimit_wait_room(r->rl, 61, r->until, NULL, NULL);
}

/* One receiver of a resend: room in smtp.rate, the audit entry, then its
 * slot, counted once the receiver is claimed (none when the daemon took
 * it first), and the send. *until set (nothing done) when a limit is
 * used up. */
static enum deliver_result resend_one(struct deliver *d, struct ratelimit *rl, double *until, const char *user,
				      const char *id, size_t max_size, struct webspool_counts *out)
{
	enum spool_status st = SPOOL_NEW;
	char err[RECEIVER_ERRLEN];
	int lr = webspool_locate(d->sp, id, &st);
	if (lr < 0 || st == SPOOL_CORRUPT || st == SPOOL_ACTIVE) {
		const char *why = lr < 0 ? (errno == EINVAL ? "not a receiver id" : "no such receiver")
				: st == SPOOL_CORRUPT ? "in corrupt/" : "a sender has it";
		webhttp_log("%s: resend by %s refused: %s", id, user, why);
		out->busy += lr == 0 && st == SPOOL_ACTIVE;
		out->refused += lr < 0 || st == SPOOL_CORRUPT;
		return DELIVER_SKIPPED;
	}
	struct room rm = {rl, until};
	if (rl && room(&rm))
		return DELIVER_SKIPPED; /* *until stays set: the caller stops */
	*until = 0;
	if (webspool_event(d->sp, max_size, st, id, "resend", user, time(NULL), d, err, sizeof err) < 0) {
		webhttp_log("%s: resend by %s not done: %s", id, user, err);
		out->busy += errno == EBUSY;
		out->other += errno != EBUSY;
		return DELIVER_SKIPPED;
	}
	audit(d->sp, "resend", id, st, user);
	double at = 0;
	int slot = rl ? ratelimit_claim_take(rl, d->sp, st, id, room, &rm, &at) : 0;
	if (slot > 0)
		return DELIVER_SKIPPED; /* another sender took the room meanwhile: recorded, not sent; the caller stops */
	struct deliver_report rep = {0};
	enum deliver_result r = slot == RATELIMIT_GONE ? DELIVER_BUSY : deliver_one(d, st, id, -1, &rep);
	/* Nothing went to the server: its slot is not spent. */
	if (rl && slot == 0 && deliver_unsent(r, &rep))
		ratelimit_give_back(rl, at);
	webhttp_log("%s: resent by %s from %s/: %s", id, user, spool_status_dir(st), deliver_result_name(r));
	out->sent += r == DELIVER_SENT;
	out->failed += r == DELIVER_FAILED;
	out->error += r == DELIVER_ERROR;
	out->busy += r == DELIVER_BUSY;
	out->other += r != DELIVER_SENT && r != DELIVER_FAILED && r != DELIVER_ERROR && r != DELIVER_BUSY;
	return r == DELIVER_DEFERRED && rep.session_failed ? DELIVER_DEFERRED : r;
}

int webspool_resend(struct spool *sp, const struct conf *conf, const char *user, char **ids, size_t n,
		    struct webspool_counts *out, char *err, size_t errsz)
{
	memset(out, 0, sizeof *out);
	struct deliver d = {.sp = sp, .conf = conf, .log = deliver_log};
	d.t = transport_open(conf, err, errsz);
	if (!d.t)
		return -1;
	struct ratelimit *rl = conf->smtp.nrates ? ratelimit_new(sp, conf) : NULL;
	double until = 0;
	for (size_t i = 0; i < n; i++) {
		until = 0;
		enum deliver_result r = resend_one(&d, rl, &until, user, ids[i], conf->max_receiver_size, out);
		if (r == DELIVER_SKIPPED && until > 0) {
			out->rate = n - i; /* left where they were, for later */
			rate_note(sp, conf, until, out);
			webhttp_log("resend by %s: %zu not sent: %s", user, out->rate, out->rate_note);
			break;
		}
		if (r == DELIVER_DEFERRED) {
			out->other += n - i - 1; /* the server is down: the rest stay as they are */
			break;
		}
	}
	ratelimit_free(rl);
	transport_free(d.t);
	return 0;
}

/* A receiver a bulk action changed, not yet durable. */
struct deed {
	const char *id;
	enum spool_status from;
};

/* The end of a bulk delete, hold or release, after all its unlinks or
 * renames: one flush per directory touched (`to` SPOOL_NSTATUS for a
 * delete), then the audit lines of the durable ones in one batch (one
 * fdatasync), so an action on thousands costs a few flushes, not three a
 * receiver, and nothing is logged, audited or counted done before it is
 * durable. A receiver whose directory would not flush is counted in
 * *refused. Returns how many are done. */
static size_t settle(struct spool *sp, const char *user, const char *what, const char *done_as,
		     enum spool_status to, const struct deed *d, size_t n, size_t *refused)
{
	unsigned touched = 0, tobit = to < SPOOL_NSTATUS ? 1u << to : 0;
	for (size_t i = 0; i < n; i++)
		touched |= 1u << d[i].from | tobit;
	unsigned failed = spool_sync_batch(sp, touched, to); /* `to` first */
	int e = errno;
	for (int s = 0; s < SPOOL_NSTATUS; s++)
		if (failed & 1u << s)
			webhttp_log("%s/: %s by %s: cannot flush the directory: %s", spool_status_dir((enum spool_status)s),
				    what, user, strerror(e));
	struct spool_audit_batch b = {.fd = -1};
	if (n && spool_audit_open(sp, &b) < 0)
		webhttp_log("%s by %s: not recorded in the spool's audit file: %s", what, user, strerror(errno));
	time_t now = time(NULL);
	size_t done = 0;
	for (size_t i = 0; i < n; i++) {
		const char *from = spool_status_dir(d[i].from);
		if (failed & (1u << d[i].from | tobit)) {
			webhttp_log("%s: %s by %s: not known to be durable (a directory would not flush)", d[i].id, what,
				    user);
			(*refused)++;
			continue;
		}
		if (to < SPOOL_NSTATUS)
			webhttp_log("%s: %s by %s: %s/ -> %s/", d[i].id, done_as, user, from, spool_status_dir(to));
		else
			webhttp_log("%s: %s by %s from %s/", d[i].id, done_as, user, from);
		if (b.fd >= 0 && spool_audit_add(&b, what, d[i].id, from, user, "web", now) < 0)
			webhttp_log("%s: %s by %s: not recorded in the spool's audit file: %s", d[i].id, what, user,
				    strerror(errno));
		done++;
	}
	if (b.fd >= 0 && spool_audit_close(&b) < 0)
		webhttp_log("%s by %s: the spool's audit file not flushed: %s", what, user, strerror(errno));
	return done;
}

size_t webspool_delete(struct spool *sp, const char *user, char **ids, size_t n, size_t *refused)
{
	struct deed *d = util_xmalloc((n ? n : 1) * sizeof *d);
	size_t m = 0;
	*refused = 0;
	for (size_t i = 0; i < n; i++) {
		enum spool_status st = SPOOL_NEW;
		int lr = webspool_locate(sp, ids[i], &st);
		if (lr < 0 || st == SPOOL_ACTIVE || st == SPOOL_CORRUPT) {
			webhttp_log("%s: delete by %s refused: %s", ids[i], user,
				    lr < 0 ? (errno == EINVAL ? "not a receiver id" : "no such receiver")
				    : "in active/ or corrupt/ (never deleted)");
			(*refused)++;
			continue;
		}
		if (spool_remove(sp, st, ids[i]) < 0) {
			webhttp_log("%s/%s.yaml: delete by %s failed: %s", spool_status_dir(st), ids[i], user, strerror(errno));
			(*refused)++;
			continue;
		}
		d[m++] = (struct deed){ids[i], st};
	}
	size_t done = settle(sp, user, "delete", "deleted", SPOOL_NSTATUS, d, m, refused);
	free(d);
	return done;
}

/* The moves of `msgspool hold` and `release` (cmd_queue.c): hold takes a
 * receiver from new/ or failed/ into hold/, release from hold/ into new/,
 * by a rename that never replaces; the file is not changed. The
 * directories are flushed once, after the last rename (settle). */
size_t webspool_move(struct spool *sp, const char *user, char **ids, size_t n, bool hold, size_t *refused)
{
	unsigned from = hold ? (1u << SPOOL_NEW) | (1u << SPOOL_FAILED) : 1u << SPOOL_HOLD;
	enum spool_status to = hold ? SPOOL_HOLD : SPOOL_NEW;
	const char *what = hold ? "hold" : "release";
	struct deed *d = util_xmalloc((n ? n : 1) * sizeof *d);
	size_t m = 0;
	*refused = 0;
	for (size_t i = 0; i < n; i++) {
		enum spool_status st = SPOOL_NEW;
		int lr = webspool_locate(sp, ids[i], &st);
		if (lr < 0 || !(from & (1u << st))) {
			webhttp_log("%s: %s by %s refused: %s", ids[i], what, user,
				    lr < 0 ? (errno == EINVAL ? "not a receiver id" : "no such receiver")
				    : hold ? "not waiting (only not_sent and failed are held)" : "not held");
			(*refused)++;
			continue;
		}
		if (spool_move_unflushed(sp, st, to, ids[i]) < 0) {
			webhttp_log("%s/%s.yaml: %s by %s failed: %s", spool_status_dir(st), ids[i], what, user,
				    errno == ENOENT ? "gone meanwhile (a sender took it)" : strerror(errno));
			(*refused)++;
			continue;
		}
		d[m++] = (struct deed){ids[i], st};
	}
	size_t done = settle(sp, user, what, hold ? "held" : "released", to, d, m, refused);
	free(d);
	return done;
}
