/* policy: the resend limit (Devilry's counting rule: a receiver whose
 * failed count would pass resend_limit goes to error/), the retry delay
 * (daemon.retry_failed_after doubled per failure), send_after (not before)
 * and expires_at (error/, never sent, once passed). It owns these rules and
 * nothing else: it never reads files nor touches the spool; callers give it
 * a parsed receiver. The rules are written in spool-layout/README.md. */
#include "config.h"
#include "policy.h"

struct policy_decision policy_decide(const struct conf *c, const struct receiver *r,
				     enum policy_mode mode, time_t now)
{
	struct policy_decision d = {POLICY_NOW, 0, SPOOL_FAILED};
	if (r->failed_count + 1 > c->resend_limit)
		d.on_failure = SPOOL_ERROR;
	if (mode == POLICY_RETRY || mode == POLICY_RETRY_DUE) {
		if (r->failed_count > c->resend_limit) {
			d.verdict = POLICY_NEVER;
			return d;
		}
	}
	if (mode != POLICY_FORCE && r->expires_at && now >= r->expires_at) {
		d.verdict = POLICY_EXPIRED;
		d.on_failure = SPOOL_ERROR;
		return d;
	}
	if (mode != POLICY_FORCE && r->send_after && now < r->send_after) {
		d.verdict = POLICY_LATER;
		d.not_before = r->send_after;
	}
	if (mode == POLICY_RETRY_DUE) {
		/* Due once retry_failed_after * 2^(count-1) seconds have passed
		 * since the last attempt. */
		long long shift = r->failed_count > 1 ? r->failed_count - 1 : 0;
		long long delay = (long long)c->daemon.retry_failed_after << (shift > 20 ? 20 : shift);
		time_t due = receiver_last_attempt(r) + (time_t)delay;
		if (now < due && due > d.not_before) {
			d.verdict = POLICY_LATER;
			d.not_before = due;
		}
	}
	return d;
}

long policy_session_backoff(long prev)
{
	return prev ? (prev * 2 > 60 ? 60 : prev * 2) : 1;
}
