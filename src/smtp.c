/* smtp: the libetpan SMTP transport. One session carries many messages;
 * every network step is bounded by the configured timeout (plain reads
 * included, which libetpan's own timeout does not cover); with TLS the
 * certificate chain and host name are verified with GnuTLS and SNI is sent
 * (libetpan verifies nothing); STARTTLS asked for and not offered is a
 * failure, never a downgrade; AUTH credentials never reach the transcript.
 * MAIL, RCPT and DATA are pipelined when the server offers PIPELINING,
 * written over libetpan's stream (the library sends one command a write);
 * with CHUNKING too, MAIL, RCPT, BDAT and the message leave in one write
 * (one round trip a message); without it, a send with hold leaves the
 * reply to its end unread (TRANSPORT_PENDING) and reads it after writing
 * the next envelope, also one round trip a message, where the server's
 * answers lately (answered: the quickest of the last 32 to 64) take
 * SMTP_HOLD_MIN_MS or more (a round trip worth saving; on a
 * loopback or a LAN, holding ties each message to the next for nothing
 * and cost 30-40% of the rate: BENCHMARKS.md). After a refused
 * envelope the RSET leads the next one's group (RFC 2920), no round trip
 * of its own; a refused RSET ends the session and the message behind it
 * goes again on a new one, uncounted. A message that needs
 * no dot-stuffing (every one mime.c renders) is written as it is.
 * Owns: libetpan's SMTP session (the only module that knows it, with
 * smtp_tls.c for the certificate check), the transcript of an attempt.
 * Never: decides from libetpan's error values (they do not tell 450 from
 * 550): outcomes come from the reply code alone; never sends a password in
 * clear to a host that is not loopback, nor an address holding a line break.
 * Rules: RFC 5321, 2920 (pipelining), 3030 (chunking), 3207 (STARTTLS),
 * transport.h (what an outcome means), man/msgspool.yaml.5 (smtp.*). */
#include "config.h"
#include "hdr.h"
#include "mime.h"
#include "smtp_proto.h"
#include "smtp_tls.h"
#include "transport.h"

#include <errno.h>
#include <fcntl.h>
#include <libetpan/libetpan.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct smtp {
	const struct conf *c;
	mailsmtp *s;		/* NULL when not connected */
	long sent_on_session;
	char *password;
	struct util_buf setup;	/* transcript of connecting, replayed into the first attempt */
	struct util_buf *log;	/* where the logger writes now */
	bool in_data;		/* message body: logged as a size, not the text */
	bool in_auth;		/* credentials: redacted */
	size_t data_bytes;
	char helo[256];		/* our name in EHLO/HELO */
	bool smtputf8;		/* the server offers SMTPUTF8 (RFC 6531) */
	bool chunking;		/* the server offers CHUNKING (RFC 3030) */
	bool lost_first;	/* the connection died before any reply to MAIL */
	long timeout;		/* smtp.timeout, kept: a pending reply may outlive c */
	struct transport_result *pending;	/* written to its end, reply unread */
	bool rset_pending;	/* a refused envelope's RSET, to write with the next one (RFC 2920) */
	double answer_ms;	/* the server's quickest answer to a group lately (answered); < 0: none yet */
	double window_ms;	/* the quickest in the window under way; < 0: none yet */
	int window_n;		/* answers in the window under way */
	double hold_min_ms;	/* SMTP_HOLD_MIN_MS, or MSGSPOOL_TEST_HOLD_MS for a test on a busy machine */
};

/* Hold a reply (see above) only where the server takes this long to answer
 * a group of commands: a network's round trip, not a loopback's or a LAN's. */
#define SMTP_HOLD_MIN_MS 1.0

/* Answers a window of the quickest answer spans: a fast EHLO before slow
 * envelopes (a server checking each recipient), or a slow start on a busy
 * machine, decides for one window, not for the whole connection. */
#define SMTP_ANSWER_WINDOW 32

/* The lowest of the answer times seen in the window under way and the one
 * before it: the round trip and the server's own time, without our own
 * scheduling delays, which only ever add. */
static void answered(struct smtp *s, double since)
{
	double ms = util_now_ms() - since;
	if (s->answer_ms < 0 || ms < s->answer_ms)
		s->answer_ms = ms;
	if (s->window_ms < 0 || ms < s->window_ms)
		s->window_ms = ms;
	if (++s->window_n >= SMTP_ANSWER_WINDOW) {
		s->answer_ms = s->window_ms;
		s->window_ms = -1;
		s->window_n = 0;
	}
}


/* Chooses the EHLO name: smtp.helo, else this host's FQDN; none: refuse. */
static int choose_helo(struct smtp *s, char *err, size_t errsz)
{
	return smtp_proto_helo_name(s->c->smtp.helo, s->helo, sizeof s->helo, err, errsz);
}

static void smtp_close(void *impl);

static void *smtp_open(const struct conf *c, char *err, size_t errsz)
{
	/* A write to a server that has gone must not kill the process. */
	signal(SIGPIPE, SIG_IGN);
	/* libetpan's plain reads wait this long whatever the session says. */
	mailstream_network_delay.tv_sec = c->smtp.timeout;
	mailstream_network_delay.tv_usec = 0;
	struct smtp *s = util_xmalloc(sizeof *s);
	s->c = c;
	s->timeout = c->smtp.timeout;
	const char *hold = getenv("MSGSPOOL_TEST_HOLD_MS");
	s->hold_min_ms = hold ? atof(hold) : SMTP_HOLD_MIN_MS;
	if (c->smtp.username) {
		if (!c->smtp.password_file) {
			snprintf(err, errsz, "smtp.username is set but smtp.password_file is not");
			free(s);
			return NULL;
		}
		if (c->smtp.tls == CONF_TLS_NONE && !smtp_proto_is_loopback(c->smtp.host)) {
			snprintf(err, errsz, "smtp: AUTH over a plain connection to %s would send the password in clear; set smtp.tls", c->smtp.host);
			free(s);
			return NULL;
		}
		/* The daemon reads the secret before it drops privileges. */
		s->password = c->smtp.password ? util_strdup(c->smtp.password)
					       : conf_read_password(c->smtp.password_file, err, errsz);
		if (!s->password) {
			free(s);
			return NULL;
		}
	}
	if (choose_helo(s, err, errsz) < 0) {
		smtp_close(s);
		return NULL;
	}
	return s;
}

static void logger(mailsmtp *session, int type, const char *str, size_t size, void *ctx)
{
	struct smtp *s = ctx;
	(void)session;
	if (!s->log)
		return;
	switch (type) {
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		smtp_proto_append_lines(s->log, "<<< ", str, size);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT:
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		if (s->in_data) {
			s->data_bytes += size;
		} else if (s->in_auth || type == MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE) {
			/* Keep the mechanism name, never what follows it. */
			if (size > 5 && !strncasecmp(str, "AUTH ", 5)) {
				const char *sp = memchr(str + 5, ' ', size - 5);
				size_t keep = sp ? (size_t)(sp - str) : size;
				util_buf_add(s->log, ">>> ", 4);
				util_buf_add(s->log, str, keep);
				while (keep && (str[keep - 1] == '\n' || str[keep - 1] == '\r'))
					keep--;
				util_buf_adds(s->log, sp ? " <credentials redacted>\n" : "\n");
			} else {
				util_buf_adds(s->log, ">>> <credentials redacted>\n");
			}
		} else {
			smtp_proto_append_lines(s->log, ">>> ", str, size);
		}
		break;
	case MAILSTREAM_LOG_TYPE_ERROR_RECEIVED:
		util_buf_adds(s->log, "*** error while reading\n");
		break;
	case MAILSTREAM_LOG_TYPE_ERROR_SENT:
		util_buf_adds(s->log, "*** error while writing\n");
		break;
	default:
		break;
	}
}

/* Every write is a whole group the server waits for: Nagle's algorithm
 * would hold the tail of one (a message past the stream's buffer, then
 * its end) until the server acknowledged the rest, a round trip more. */
static void no_delay(struct smtp *s)
{
	int one = 1, fd = mailstream_low_get_fd(mailstream_get_low(s->s->stream));
	if (fd >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void drop_session(struct smtp *s)
{
	struct transport_result *res = s->pending;
	if (res) {
		/* Its message went to its end; whether the server took it is not
		 * known: a failure, counted, as a connection lost after the data. */
		s->pending = NULL;
		snprintf(res->error, sizeof res->error, "end of data: no reply (the connection ended before it)");
		util_buf_printf(&res->transcript, "*** end of data failed: %s\n", res->error);
		res->outcome = TRANSPORT_TEMP;
	}
	s->rset_pending = false;
	if (s->s) {
		mailsmtp_free(s->s);
		s->s = NULL;
	}
	s->sent_on_session = 0;
	util_buf_free(&s->setup);
}

static void settle_pending(struct smtp *s);

static void smtp_idle(void *impl)
{
	struct smtp *s = impl;
	settle_pending(s);
	if (s->s) {
		/* libetpan's QUIT does not wait for the 221: read it, within the
		 * timeout, so the server ends the session, not a broken pipe. */
		s->log = &s->setup;
		smtp_proto_command(s->s, "QUIT\r\n");
		s->log = NULL;
	}
	drop_session(s);
}

static void smtp_close(void *impl)
{
	struct smtp *s = impl;
	if (!s)
		return;
	smtp_idle(s);
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

/* Bounds reads on the current low stream, which libetpan leaves unbounded
 * on plain connections and replaces after STARTTLS. */
static void bound_reads(struct smtp *s)
{
	mailstream_low *low = s->s && s->s->stream ? mailstream_get_low(s->s->stream) : NULL;
	if (low)
		mailstream_low_set_timeout(low, s->c->smtp.timeout);
}

/* EHLO with our name, or HELO when the server refuses EHLO (not when it is
 * gone or says 421): written over the stream, because libetpan's own
 * always sends gethostname(). Returns the reply code, 0 without one. */
static int ehlo(struct smtp *s)
{
	char cmd[300];
	snprintf(cmd, sizeof cmd, "EHLO %s\r\n", s->helo);
	double t0 = util_now_ms();
	int code = smtp_proto_command(s->s, cmd);
	if (code == 250) {
		answered(s, t0);
		smtp_proto_extensions(s->s, &s->smtputf8, &s->chunking);
		return code;
	}
	if (code == 0 || code == 421)
		return code;
	snprintf(cmd, sizeof cmd, "HELO %s\r\n", s->helo);
	s->s->esmtp = 0;
	s->s->auth = MAILSMTP_AUTH_CHECKED;
	return smtp_proto_command(s->s, cmd);
}

/* Fills res for a failure while setting up the session. */
static enum transport_outcome session_fail(struct smtp *s, struct transport_result *res,
					   const char *step, const char *local)
{
	int code = s->s ? s->s->response_code : 0;
	res->code = code;
	res->session_failed = true;
	if (local)
		snprintf(res->error, sizeof res->error, "%s", local);
	else if (code) {
		char pre[64];
		snprintf(pre, sizeof pre, "%s: ", step);
		smtp_proto_reply_line(s->s, res->error, sizeof res->error, pre);
	}
	else
		snprintf(res->error, sizeof res->error, "%s: no reply from %s:%ld (connection lost or timed out after %ld s)",
			 step, s->c->smtp.host, s->c->smtp.port, s->c->smtp.timeout);
	util_buf_add(&res->transcript, s->setup.data ? s->setup.data : "", s->setup.len);
	util_buf_printf(&res->transcript, "*** %s\n", res->error);
	s->log = NULL;
	drop_session(s);
	/* A server that rejects the session with 5xx still says nothing about
	 * this message: retry it later like any other session failure. */
	return TRANSPORT_TEMP;
}

static enum transport_outcome connect_session(struct smtp *s, struct transport_result *res)
{
	const struct conf *c = s->c;
	char err[512];
	s->rset_pending = false; /* a new session has no transaction to reset */
	s->answer_ms = s->window_ms = -1;
	s->window_n = 0;
	s->s = mailsmtp_new(0, NULL);
	if (!s->s)
		return session_fail(s, res, "connect", "out of memory");
	mailsmtp_set_timeout(s->s, c->smtp.timeout);
	mailsmtp_set_logger(s->s, logger, s);
	s->log = &s->setup;
	util_buf_printf(&s->setup, "*** connecting to %s:%ld (smtp.tls: %s)\n", c->smtp.host, c->smtp.port,
			conf_tls_name(c->smtp.tls));
	int r = c->smtp.tls == CONF_TLS_TLS
		? mailsmtp_ssl_connect_with_callback(s->s, c->smtp.host, (uint16_t)c->smtp.port, smtp_tls_sni, c->smtp.host)
		: mailsmtp_socket_connect(s->s, c->smtp.host, (uint16_t)c->smtp.port);
	if (r != MAILSMTP_NO_ERROR) {
		if (r == MAILSMTP_ERROR_CONNECTION_REFUSED)
			snprintf(err, sizeof err, "connect: %s:%ld refused the connection", c->smtp.host, c->smtp.port);
		else if (r == MAILSMTP_ERROR_SSL)
			snprintf(err, sizeof err, "connect: TLS handshake with %s:%ld failed", c->smtp.host, c->smtp.port);
		else if (s->s->response_code)
			smtp_proto_reply_line(s->s, err, sizeof err, "greeting: ");
		else
			snprintf(err, sizeof err, "connect: no greeting from %s:%ld (%s)", c->smtp.host, c->smtp.port,
				 mailsmtp_strerror(r) ? mailsmtp_strerror(r) : "error");
		return session_fail(s, res, "connect", err);
	}
	bound_reads(s);
	no_delay(s);
	if (c->smtp.tls == CONF_TLS_TLS && c->smtp.verify && smtp_tls_verify(s->s->stream, s->c, err, sizeof err) < 0)
		return session_fail(s, res, "tls", err);
	if (ehlo(s) != 250)
		return session_fail(s, res, "EHLO", NULL);
	if (c->smtp.tls == CONF_TLS_STARTTLS) {
		if (!(s->s->esmtp & MAILSMTP_ESMTP_STARTTLS))
			return session_fail(s, res, "STARTTLS",
					    "STARTTLS: the server does not offer STARTTLS (smtp.tls: starttls); not sending in clear");
		s->s->response_code = 0;
		r = mailsmtp_socket_starttls_with_callback(s->s, smtp_tls_sni, c->smtp.host);
		if (r != MAILSMTP_NO_ERROR) {
			if (s->s->response_code)
				return session_fail(s, res, "STARTTLS", NULL);
			return session_fail(s, res, "STARTTLS", "STARTTLS: TLS handshake failed");
		}
		bound_reads(s);
		if (c->smtp.verify && smtp_tls_verify(s->s->stream, s->c, err, sizeof err) < 0)
			return session_fail(s, res, "tls", err);
		/* libetpan does not repeat EHLO after STARTTLS; RFC 3207 requires it. */
		if (ehlo(s) != 250)
			return session_fail(s, res, "EHLO", NULL);
	}
	if (c->smtp.username) {
		const char *mech = (s->s->auth & MAILSMTP_AUTH_PLAIN) ? "PLAIN"
				 : (s->s->auth & MAILSMTP_AUTH_LOGIN) ? "LOGIN" : NULL;
		if (!mech)
			return session_fail(s, res, "AUTH", "AUTH: the server offers neither PLAIN nor LOGIN");
		s->in_auth = true;
		s->s->response_code = 0;
		r = mailesmtp_auth_sasl(s->s, mech, c->smtp.host, NULL, NULL, c->smtp.username,
					c->smtp.username, s->password, NULL);
		s->in_auth = false;
		if (r != MAILSMTP_NO_ERROR) {
			if (r == MAILSMTP_ERROR_STREAM)
				return session_fail(s, res, "AUTH", NULL); /* no reply: says so */
			if (!s->s->response_code || s->s->response_code / 100 == 2)
				return session_fail(s, res, "AUTH", "AUTH: failed before anything was sent (are the Cyrus SASL modules, libsasl2-modules, installed?)");
			return session_fail(s, res, "AUTH", NULL);
		}
	}
	s->log = NULL;
	return TRANSPORT_SENT;
}

/* What a failed step leaves of the session: nothing, a transaction to
 * reset, or none (the end of data closes it whatever the reply). */
enum after_fail { AFTER_DROP, AFTER_RESET, AFTER_KEEP };

/* Decides the outcome of a failed step from the reply code; the session is
 * kept when the server still follows us (after a RSET if `then` asks for
 * one), else closed. */
static enum transport_outcome step_fail(struct smtp *s, struct transport_result *res, const char *step,
					enum after_fail then)
{
	int code = s->s->response_code;
	const char *said = s->s->response ? s->s->response : "";
	res->code = code;
	if (code)
		smtp_proto_reply_line(s->s, res->error, sizeof res->error, "");
	else if (*said)
		snprintf(res->error, sizeof res->error, "%s: the server's reply is not SMTP: %.300s", step, said);
	else
		snprintf(res->error, sizeof res->error, "%s: no reply (connection lost or timed out after %ld s)",
			 step, s->timeout);
	s->lost_first = !code && !*said && !strcmp(step, "MAIL FROM");
	/* A refusal of our session (a HELO name a policy rejects, AUTH wanted)
	 * that the server gives at MAIL or RCPT says nothing about this message. */
	res->session_failed = code == 530 || strstr(said, "Helo command rejected") != NULL;
	util_buf_printf(&res->transcript, "*** %s failed: %s\n", step, res->error);
	s->log = NULL;
	if (then != AFTER_DROP && (code / 100 == 4 || code / 100 == 5)) {
		/* The session is still good: reset the transaction and go on. */
		s->log = &res->transcript;
		bool pipe = (s->s->esmtp & MAILSMTP_ESMTP_PIPELINING) && s->c->smtp.pipelining;
		if (code == 421)
			drop_session(s);
		else if (then == AFTER_RESET && pipe) {
			/* RFC 2920: RSET may lead the next group; no round trip of its own. */
			s->rset_pending = true;
			util_buf_add(&res->transcript, ">>> RSET (written with the next envelope)\n",
				     strlen(">>> RSET (written with the next envelope)\n"));
		} else if (then == AFTER_RESET && smtp_proto_command(s->s, "RSET\r\n") != 250)
			drop_session(s);
		s->log = NULL;
		return code / 100 == 5 && !res->session_failed ? TRANSPORT_PERM : TRANSPORT_TEMP;
	}
	drop_session(s);
	return code / 100 == 5 && !res->session_failed ? TRANSPORT_PERM : TRANSPORT_TEMP;
}

/* A message this server cannot take, said before MAIL: error/ at once. */
static bool refuse_early(const struct smtp *s, const char *from, const char *rcpt, size_t len, bool eight,
			 struct transport_result *res)
{
	const char *need = !hdr_is_ascii(from) ? from : !hdr_is_ascii(rcpt) ? rcpt : NULL;
	bool again = false; /* the session's fault, not the message's */
	if (need && !s->smtputf8)
		snprintf(res->error, sizeof res->error, "the server does not offer SMTPUTF8, needed for <%s>", need);
	else if ((s->s->esmtp & MAILSMTP_ESMTP_SIZE) && s->s->smtp_max_msg_size && len > s->s->smtp_max_msg_size)
		snprintf(res->error, sizeof res->error,
			 "refused before DATA: the message is %zu bytes, more than the server's limit of %zu (SIZE)",
			 len, s->s->smtp_max_msg_size);
	else if ((again = eight && !need && !(s->s->esmtp & MAILSMTP_ESMTP_8BITMIME)))
		/* Rendered for the server of the last session; this one wants 7
		 * bits: not the message's fault, rendered again next time. */
		snprintf(res->error, sizeof res->error, "the server no longer offers 8BITMIME; the message goes again in 7 bits");
	else
		return false;
	res->session_failed |= again;
	res->want_7bit = again;
	res->to_error = !again;
	util_buf_printf(&res->transcript, "*** not sent: %s\n", res->error);
	return true;
}

/* One command of a pipelined group: its name in failures and the replies
 * that let the transaction go on. */
struct step {
	const char *name;
	int ok, ok2;
};
static const struct step step_mail = {"MAIL FROM", 250, 250}, step_rcpt = {"RCPT TO", 250, 251},
			 step_data = {"DATA", 354, 354}, step_bdat = {"BDAT", 250, 250}, step_rset = {"RSET", 250, 250};

/* Reads the reply to the pending message's end of data into its result.
 * The end of data closes the transaction whatever the reply, and the next
 * envelope may be in the server's hands already: no RSET; a 421 or no
 * reply ends the session. */
static void settle_pending(struct smtp *s)
{
	struct transport_result *res = s->pending;
	if (!res || !s->s)
		return;
	struct util_buf *was = s->log;
	s->log = &res->transcript;
	s->pending = NULL;
	if (smtp_proto_reply(s->s) == 250) {
		res->code = 250;
		smtp_proto_reply_line(s->s, res->error, sizeof res->error, "");
		res->outcome = TRANSPORT_SENT;
	} else {
		res->outcome = step_fail(s, res, "end of data", AFTER_KEEP);
	}
	s->log = was;
}

/* Reads one reply per step of a group written at once (wrote: the write
 * went out), in order (RFC 2920), after the pending message's, which was
 * written before it. The first refusal is the outcome, whatever followed
 * it, also when the server then closes. */
static enum transport_outcome read_replies(struct smtp *s, bool wrote, const struct step *const *steps, int n,
					   struct transport_result *res)
{
	if (s->pending) {
		settle_pending(s);
		s->log = &res->transcript;
		if (!s->s) {
			/* Nothing of this one was answered: sent again on a new
			 * connection, uncounted (smtp_send). */
			s->lost_first = true;
			snprintf(res->error, sizeof res->error, "MAIL FROM: no reply (the connection ended with the message before)");
			util_buf_printf(&res->transcript, "*** %s\n", res->error);
			return TRANSPORT_TEMP;
		}
	}
	mailsmtp *m = s->s;
	int failed = -1, code = 0;
	char *saved = NULL;
	if (n > 0 && steps[0] == &step_rset) {
		/* The reset of a refused envelope before, written ahead of this
		 * one: refused, the server's state is not known, and nothing of
		 * this message is its fault: once more on a new connection. */
		if ((wrote ? smtp_proto_reply(m) : 0) != 250) {
			snprintf(res->error, sizeof res->error, "RSET (of the envelope before) refused: %d", m->response_code);
			util_buf_printf(&res->transcript, "*** %s\n", res->error);
			drop_session(s);
			s->lost_first = true;
			return TRANSPORT_TEMP;
		}
		steps++;
		n--;
	}
	for (int i = 0; i < n; i++) {
		int c = wrote ? smtp_proto_reply(m) : 0;
		if (c == 0 && failed < 0) /* lost, or not SMTP: that is the outcome */
			return step_fail(s, res, steps[i]->name, AFTER_DROP);
		if (c == 0)
			break;
		if (c != steps[i]->ok && c != steps[i]->ok2 && failed < 0) {
			failed = i;
			code = c;
			saved = strdup(m->response ? m->response : "");
		}
	}
	if (failed < 0)
		return TRANSPORT_SENT;
	/* A server that took DATA after refusing the envelope waits for a
	 * message: anything more would be read as its text, so close. Without
	 * a final dot what it has is discarded. */
	bool usable = m->response_code != 0 && m->response_code != 354;
	if (!usable && m->stream) {
		mailstream_close(m->stream); /* without QUIT, which would be text too */
		m->stream = NULL;
	}
	mmap_string_assign(m->response_buffer, saved ? saved : "");
	free(saved);
	m->response = m->response_buffer->str;
	m->response_code = code;
	return step_fail(s, res, steps[failed]->name, usable ? AFTER_RESET : AFTER_DROP);
}

/* RFC 2920 PIPELINING: MAIL, RCPT and DATA in one write and their replies
 * read in order, one round trip instead of three. */
static enum transport_outcome envelope_pipelined(struct smtp *s, const char *mail, const char *rcpt,
						 struct transport_result *res)
{
	static const struct step *const steps[] = {&step_rset, &step_mail, &step_rcpt, &step_data};
	mailsmtp *m = s->s;
	char cmd[1400];
	bool rset = s->rset_pending;
	s->rset_pending = false;
	int n = snprintf(cmd, sizeof cmd, "%s%s\r\nRCPT TO:<%s>\r\nDATA\r\n", rset ? "RSET\r\n" : "", mail, rcpt);
	mailstream_set_privacy(m->stream, 1);
	bool wrote = mailstream_write(m->stream, cmd, (size_t)n) == n && mailstream_flush(m->stream) == 0;
	return read_replies(s, wrote, steps + !rset, 3 + rset, res);
}

/* RFC 3030 CHUNKING: MAIL, RCPT, "BDAT n LAST" and the message in one
 * write, the three replies read in order: one round trip per message, and
 * no dot-stuffing (the size tells the end). The commands are logged here
 * and the message as its size, since they leave in one buffer. */
static enum transport_outcome send_chunked(struct smtp *s, const char *mail, const char *rcpt, const char *msg,
					   size_t len, struct transport_result *res)
{
	static const struct step *const steps[] = {&step_rset, &step_mail, &step_rcpt, &step_bdat};
	mailsmtp *m = s->s;
	bool crlf = len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n';
	char cmd[1400];
	bool rset = s->rset_pending;
	s->rset_pending = false;
	int n = snprintf(cmd, sizeof cmd, "%s%s\r\nRCPT TO:<%s>\r\nBDAT %zu LAST\r\n", rset ? "RSET\r\n" : "", mail, rcpt,
			 len + (crlf ? 0 : 2));
	smtp_proto_append_lines(&res->transcript, ">>> ", cmd, (size_t)n);
	util_buf_printf(&res->transcript, ">>> (message, %zu bytes)\n", len + (crlf ? 0 : 2));
	mailstream_set_privacy(m->stream, 1);
	s->in_data = true;
	bool wrote = mailstream_write(m->stream, cmd, (size_t)n) == n &&
		     mailstream_write(m->stream, msg, len) == (ssize_t)len &&
		     (crlf || mailstream_write(m->stream, "\r\n", 2) == 2) && mailstream_flush(m->stream) == 0;
	s->in_data = false;
	return read_replies(s, wrote, steps + !rset, 3 + rset, res);
}

/* MAIL, RCPT and DATA one at a time, for servers without PIPELINING. */
static enum transport_outcome envelope_stepwise(struct smtp *s, const char *mail, const char *rcpt,
						struct transport_result *res)
{
	char cmd[1400];
	snprintf(cmd, sizeof cmd, "%s\r\n", mail);
	int c = smtp_proto_command(s->s, cmd);
	if (c != 250)
		return step_fail(s, res, "MAIL FROM", AFTER_RESET);
	snprintf(cmd, sizeof cmd, "RCPT TO:<%s>\r\n", rcpt);
	c = smtp_proto_command(s->s, cmd);
	if (c != 250 && c != 251)
		return step_fail(s, res, "RCPT TO", AFTER_RESET);
	if (smtp_proto_command(s->s, "DATA\r\n") != 354)
		return step_fail(s, res, "DATA", AFTER_RESET);
	return TRANSPORT_SENT;
}

/* The message and its end: written as it is when it is wire-ready (one
 * memchr pass instead of libetpan's byte-at-a-time dot-stuffing, and no
 * empty line added before the dot), else through libetpan's encoder.
 * With hold (wire-ready only) the reply is left for later: 1. */
static int send_message(mailsmtp *m, const char *msg, size_t len, bool ready, bool hold)
{
	if (!ready)
		return mailsmtp_data_message(m, msg, len) == MAILSMTP_NO_ERROR ? 0 : -1;
	bool crlf = len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n';
	const char *dot = crlf ? ".\r\n" : "\r\n.\r\n";
	if (mailstream_write(m->stream, msg, len) != (ssize_t)len ||
	    mailstream_write(m->stream, dot, strlen(dot)) != (ssize_t)strlen(dot) || mailstream_flush(m->stream) != 0)
		return -1;
	if (hold)
		return 1;
	return smtp_proto_reply(m) == 250 ? 0 : -1;
}

/* One try on the open session (connecting first when there is none). */
static enum transport_outcome send_once(struct smtp *s, const char *from, const char *rcpt,
					const char *msg, size_t len, struct transport_result *res, bool hold)
{
	if (s->s && s->sent_on_session >= s->c->smtp.messages_per_connection)
		smtp_idle(s);
	bool fresh = !s->s;
	s->lost_first = false;
	if (fresh && connect_session(s, res) != TRANSPORT_SENT)
		return TRANSPORT_TEMP;
	if (fresh)
		util_buf_add(&res->transcript, s->setup.data ? s->setup.data : "", s->setup.len);
	else
		util_buf_printf(&res->transcript, "*** on a connection already open (%ld messages sent on it)\n",
				s->sent_on_session);
	/* Each a pass over the whole message: once. */
	bool eight = smtp_proto_has_8bit(msg, len), ready = mime_wire_ready(msg, len);
	if (refuse_early(s, from, rcpt, len, eight, res))
		return res->session_failed ? TRANSPORT_TEMP : TRANSPORT_PERM;
	char mail[700];
	if (smtp_proto_mail_command(s->s, from, rcpt, len, eight, mail, sizeof mail) >= (int)sizeof mail - 1) {
		snprintf(res->error, sizeof res->error, "refused: an address longer than SMTP allows");
		return TRANSPORT_PERM;
	}
	s->log = &res->transcript;
	s->sent_on_session++;
	bool pipe = (s->s->esmtp & MAILSMTP_ESMTP_PIPELINING) && s->c->smtp.pipelining;
	bool chunk = pipe && s->chunking && s->c->smtp.chunking && ready;
	double t0 = util_now_ms();
	enum transport_outcome o = chunk ? send_chunked(s, mail, rcpt, msg, len, res)
				 : pipe ? envelope_pipelined(s, mail, rcpt, res) : envelope_stepwise(s, mail, rcpt, res);
	if (o == TRANSPORT_SENT && pipe && !chunk)
		answered(s, t0);
	if (o != TRANSPORT_SENT) {
		s->lost_first &= !fresh;
		return o;
	}
	if (!chunk) {
		/* Its reply may travel with the next envelope (RFC 2920): one
		 * round trip a message without CHUNKING too. */
		bool keep = hold && pipe && s->sent_on_session < s->c->smtp.messages_per_connection && ready &&
			    s->answer_ms >= s->hold_min_ms;
		s->in_data = true;
		s->data_bytes = 0;
		s->s->response_code = 0;
		int r = send_message(s->s, msg, len, ready, keep);
		s->in_data = false;
		util_buf_printf(&res->transcript, ">>> (message, %zu bytes)\n", s->data_bytes);
		if (r < 0)
			return step_fail(s, res, "end of data", AFTER_RESET);
		if (r == 1) {
			s->pending = res;
			s->log = NULL;
			return TRANSPORT_PENDING;
		}
	}
	res->code = s->s->response_code;
	smtp_proto_reply_line(s->s, res->error, sizeof res->error, "");
	s->log = NULL;
	return TRANSPORT_SENT;
}

static enum transport_outcome send_checked(struct smtp *s, const char *from, const char *rcpt,
					   const char *msg, size_t len, struct transport_result *res, bool hold)
{
	if (util_has_crlf(from) || util_has_crlf(rcpt)) {
		snprintf(res->error, sizeof res->error, "refused: a line break in an address");
		return TRANSPORT_PERM;
	}
	enum transport_outcome o = send_once(s, from, rcpt, msg, len, res, hold);
	if (o == TRANSPORT_SENT || o == TRANSPORT_PENDING || !s->lost_first)
		return o;
	/* A pooled connection the server had closed while idle, or one lost
	 * with the message before this one: not this message's fault; once
	 * more on a new connection, uncounted. */
	util_buf_printf(&res->transcript, "*** the open connection was gone; sending again on a new one\n");
	res->code = 0;
	res->error[0] = '\0';
	res->session_failed = false;
	return send_once(s, from, rcpt, msg, len, res, hold);
}

/* One message, after which the reply of the one before it (pending) has
 * been read: with this one's envelope, or else here. */
static enum transport_outcome smtp_send(void *impl, const char *from, const char *rcpt,
					const char *msg, size_t len, struct transport_result *res, bool hold)
{
	struct smtp *s = impl;
	struct transport_result *prev = s->pending;
	enum transport_outcome o = send_checked(s, from, rcpt, msg, len, res, hold);
	if (prev && s->pending == prev)
		settle_pending(s);
	return o;
}

static void smtp_describe(const void *impl, char *buf, size_t n)
{
	const struct conf *c = ((const struct smtp *)impl)->c;
	snprintf(buf, n, "smtp %s:%ld (tls: %s)", c->smtp.host, c->smtp.port, conf_tls_name(c->smtp.tls));
}

static void smtp_settle(void *impl)
{
	settle_pending(impl);
}

const struct transport_ops transport_smtp = {
	.open = smtp_open,
	.send = smtp_send,
	.settle = smtp_settle,
	.idle = smtp_idle,
	.close = smtp_close,
	.describe = smtp_describe,
};
