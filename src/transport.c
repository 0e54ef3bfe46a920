/* transport: chooses the configured implementation and forwards to it.
 * Owns: the list of implementations (TRANSPORTS below) and the result
 * conventions every one of them follows (transport.h).
 * Never: knows a protocol, a library or a path; an implementation never
 * reaches back into this file or another implementation.
 * Rules: transport.h (outcomes, session_failed), man/msgspool.conf.5. */
#include "config.h"
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One line per implementation: the configuration value and its ops. */
#define TRANSPORTS(X)                          \
	X(CONF_TRANSPORT_SMTP, transport_smtp)   \
	X(CONF_TRANSPORT_MAILDIR, transport_maildir)

#define DECLARE(value, ops) extern const struct transport_ops ops;
TRANSPORTS(DECLARE)
#undef DECLARE

struct transport {
	const struct transport_ops *ops;
	void *impl;
	char desc[300];
	struct transport_result *pending;	/* its reply not read yet */
	struct transport_result *settled;	/* read by the last send, not taken yet */
};

static const struct transport_ops *ops_for(enum conf_transport which)
{
#define MATCH(value, ops) if (which == value) return &ops;
	TRANSPORTS(MATCH)
#undef MATCH
	return NULL;
}

struct transport *transport_open(const struct conf *c, char *err, size_t errsz)
{
	const struct transport_ops *ops = ops_for(c->transport);
	if (!ops) {
		snprintf(err, errsz, "transport: no such transport (%d)", (int)c->transport);
		return NULL;
	}
	void *impl = ops->open(c, err, errsz);
	if (!impl)
		return NULL;
	struct transport *t = util_xmalloc(sizeof *t);
	*t = (struct transport){0};
	t->ops = ops;
	t->impl = impl;
	ops->describe(impl, t->desc, sizeof t->desc);
	return t;
}

enum transport_outcome transport_send(struct transport *t, const char *envelope_from,
				      const char *rcpt, const char *msg, size_t len,
				      struct transport_result *res, bool hold)
{
	struct transport_result *prev = t->pending;
	res->code = 0;
	res->error[0] = '\0';
	res->session_failed = false;
	res->to_error = false;
	res->want_7bit = false;
	res->outcome = t->ops->send(t->impl, envelope_from, rcpt, msg, len, res, hold && t->ops->settle);
	if (prev) /* the implementation has read its reply with this one */
		t->settled = prev;
	t->pending = res->outcome == TRANSPORT_PENDING ? res : NULL;
	return res->outcome;
}

struct transport_result *transport_settled(struct transport *t)
{
	struct transport_result *r = t->settled;
	t->settled = NULL;
	return r;
}

struct transport_result *transport_settle(struct transport *t)
{
	struct transport_result *r = t->pending;
	if (r)
		t->ops->settle(t->impl);
	t->pending = NULL;
	return r;
}

bool transport_pending(const struct transport *t)
{
	return t && t->pending;
}

void transport_idle(struct transport *t)
{
	if (t && t->ops->idle)
		t->ops->idle(t->impl);
	if (t && t->pending) /* read by idle: the caller should have settled it */
		t->settled = t->pending;
	if (t)
		t->pending = NULL;
}

const char *transport_describe(const struct transport *t)
{
	return t->desc;
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	t->ops->close(t->impl);
	free(t);
}

void transport_result_free(struct transport_result *res)
{
	util_buf_free(&res->transcript);
}
