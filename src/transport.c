/* transport: chooses the configured implementation and forwards to it. */
#include "config.h"
#include "transport.h"

#include <stdlib.h>
#include <string.h>

struct transport {
	struct smtp *smtp;
	struct maildir *maildir;
};

struct transport *transport_open(const struct conf *c, char *err, size_t errsz)
{
	struct transport *t = util_xmalloc(sizeof *t);
	if (c->transport == CONF_TRANSPORT_SMTP)
		t->smtp = smtp_open(c, err, errsz);
	else
		t->maildir = maildir_open(c, err, errsz);
	if (!t->smtp && !t->maildir) {
		free(t);
		return NULL;
	}
	return t;
}

enum transport_outcome transport_send(struct transport *t, const char *envelope_from,
				      const char *rcpt, const char *msg, size_t len,
				      struct transport_result *res)
{
	res->code = 0;
	res->error[0] = '\0';
	res->session_failed = false;
	res->outcome = t->smtp ? smtp_send(t->smtp, envelope_from, rcpt, msg, len, res)
			       : maildir_send(t->maildir, envelope_from, rcpt, msg, len, res);
	return res->outcome;
}

void transport_idle(struct transport *t)
{
	if (t->smtp)
		smtp_idle(t->smtp);
}

void transport_free(struct transport *t)
{
	if (!t)
		return;
	if (t->smtp)
		smtp_free(t->smtp);
	if (t->maildir)
		maildir_free(t->maildir);
	free(t);
}

void transport_result_free(struct transport_result *res)
{
	util_buf_free(&res->transcript);
}
