/* transport: how a rendered message leaves, behind one table of operations:
 * over SMTP (smtp.c, the only code that knows libetpan's SMTP side) or into
 * a Maildir (maildir.c). Each send returns an outcome decided from the
 * server's reply code, the reply as one line, and the transcript of the
 * attempt. A send may leave its reply unread (TRANSPORT_PENDING) so that
 * it travels with the next message's envelope: at most one is pending on
 * a transport, and the next send or transport_settle reads it. */
#ifndef MSGSPOOL_TRANSPORT_H
#define MSGSPOOL_TRANSPORT_H

#include <stddef.h>
#include "conf.h"
#include "util.h"

enum transport_outcome {
	TRANSPORT_SENT,		/* 2xx after the data */
	TRANSPORT_TEMP,		/* 4xx, or no reply: try again later */
	TRANSPORT_PERM,		/* 5xx to MAIL, RCPT or DATA: this message is refused */
	TRANSPORT_PENDING,	/* written to its end, the reply not read yet (transport_send) */
};

struct transport_result {
	enum transport_outcome outcome;
	int code;		/* the reply code, 0 when there was no reply */
	bool session_failed;	/* the connection, TLS or AUTH failed: not this message's fault */
	bool to_error;		/* this server can never take it (SMTPUTF8, SIZE): error/ at once */
	bool want_7bit;		/* refused before MAIL, nothing sent: the message has 8bit parts and
				 * this session's server offers no 8BITMIME; rendered in 7 bits it
				 * may go at once on the same connection */
	char error[512];	/* one line: "451 4.3.0 try later", "connect: ..." */
	struct util_buf transcript;
};

struct transport;

/* Prepares the configured transport (reads the SMTP password file); no
 * network yet. */
struct transport *transport_open(const struct conf *c, char *err, size_t errsz);
/* Sends one message to one recipient; fills res (transcript appended).
 * With hold (another message waits for this connection) it may return
 * TRANSPORT_PENDING: the message is written to its end and its reply is
 * read with the next message's envelope (RFC 2920), one round trip for
 * both. The next transport_send, or transport_settle, reads that reply
 * into the same res (outcome, code, error, transcript), which the caller
 * keeps until then; transport_settled hands it back. */
enum transport_outcome transport_send(struct transport *t, const char *envelope_from,
				      const char *rcpt, const char *msg, size_t len,
				      struct transport_result *res, bool hold);
/* The pending result the last transport_send read, once; else NULL. */
struct transport_result *transport_settled(struct transport *t);
/* Reads the pending message's reply now: its result, or NULL when none is
 * pending. Call it before the connection waits, idles or is freed. */
struct transport_result *transport_settle(struct transport *t);
bool transport_pending(const struct transport *t);
/* Ends an open connection politely (QUIT); a pending reply is read first. */
void transport_idle(struct transport *t);
/* "smtp mail.example.org:587 (starttls)": where messages go, for logs. */
const char *transport_describe(const struct transport *t);
void transport_free(struct transport *t);
void transport_result_free(struct transport_result *res);

/* What an implementation provides (one file each: smtp.c, maildir.c), and
 * one line in transport.c's list names it. Only open, send, close and
 * describe are required. One that holds replies (send with hold may return
 * TRANSPORT_PENDING) has `settle`, and fills a pending result itself,
 * outcome included, by the end of the next send, settle, idle or close. */
struct transport_ops {
	void *(*open)(const struct conf *c, char *err, size_t errsz);
	enum transport_outcome (*send)(void *impl, const char *from, const char *rcpt,
				       const char *msg, size_t len, struct transport_result *res, bool hold);
	void (*settle)(void *impl);
	void (*idle)(void *impl);
	void (*close)(void *impl);
	void (*describe)(const void *impl, char *buf, size_t n);
};

#endif
