/* transport: how a rendered message leaves, behind one table of operations:
 * over SMTP (smtp.c, the only code that knows libetpan's SMTP side) or into
 * a Maildir (maildir.c). Each send returns an outcome decided from the
 * server's reply code, the reply as one line, and the transcript of the
 * attempt. */
#ifndef MSGSPOOL_TRANSPORT_H
#define MSGSPOOL_TRANSPORT_H

#include <stddef.h>
#include "conf.h"
#include "util.h"

enum transport_outcome {
	TRANSPORT_SENT,		/* 2xx after the data */
	TRANSPORT_TEMP,		/* 4xx, or no reply: try again later */
	TRANSPORT_PERM,		/* 5xx to MAIL, RCPT or DATA: this message is refused */
};

struct transport_result {
	enum transport_outcome outcome;
	int code;		/* the reply code, 0 when there was no reply */
	bool session_failed;	/* the connection, TLS or AUTH failed: not this message's fault */
	bool to_error;		/* this server can never take it (SMTPUTF8, SIZE): error/ at once */
	char error[512];	/* one line: "451 4.3.0 try later", "connect: ..." */
	struct util_buf transcript;
};

struct transport;

/* Prepares the configured transport (reads the SMTP password file); no
 * network yet. */
struct transport *transport_open(const struct conf *c, char *err, size_t errsz);
/* Sends one message to one recipient; fills res (transcript appended). */
enum transport_outcome transport_send(struct transport *t, const char *envelope_from,
				      const char *rcpt, const char *msg, size_t len,
				      struct transport_result *res);
/* Ends an open connection politely (QUIT). */
void transport_idle(struct transport *t);
/* Whether the next message may have 8bit parts: the server offered
 * 8BITMIME on its last session (a Maildir always may). */
bool transport_8bitmime(const struct transport *t);
/* "smtp mail.example.org:587 (starttls)": where messages go, for logs. */
const char *transport_describe(const struct transport *t);
void transport_free(struct transport *t);
void transport_result_free(struct transport_result *res);

/* What an implementation provides (one file each: smtp.c, maildir.c), and
 * one line in transport.c's list names it. `idle` and `eightbit` may be NULL. */
struct transport_ops {
	void *(*open)(const struct conf *c, char *err, size_t errsz);
	enum transport_outcome (*send)(void *impl, const char *from, const char *rcpt,
				       const char *msg, size_t len, struct transport_result *res);
	void (*idle)(void *impl);
	void (*close)(void *impl);
	void (*describe)(const void *impl, char *buf, size_t n);
	bool (*eightbit)(const void *impl);	/* NULL: never */
};

#endif
