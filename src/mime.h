/* mime: a receiver becomes an RFC 5322 message: header fields written by
 * hdr.c (RFC 2047 where needed), addresses parsed by addr.c, the body
 * parts (text/plain, or multipart/alternative of text and html, UTF-8)
 * ours. Nothing with a line break reaches a header. */
#ifndef MSGSPOOL_MIME_H
#define MSGSPOOL_MIME_H

#include <stdbool.h>
#include <time.h>
#include "conf.h"
#include "receiver.h"
#include "util.h"

struct mime_options {
	const char *from;		/* configured From, "Name <addr>" or "addr" */
	const char *subject_prefix;
	const char *msgid_domain;	/* NULL: the From address's domain */
	bool eightbit;			/* the transport takes 8bit parts (8BITMIME) */
};

/* The SMTP envelope of a rendered message: addresses with A-label
 * domains; smtputf8 when a local part is not ASCII (RFC 6531). */
struct mime_envelope {
	char from[300], to[300];
	char message_id[300];	/* to be recorded in the receiver (key message_id) */
	bool smtputf8;
	bool eightbit;		/* a part went 8bit (mime_options eightbit): needs 8BITMIME */
};

/* The message, CRLF line endings, and its envelope. On a receiver that
 * cannot be rendered (a bad address, a header outside the safe list)
 * fills err and returns -1 with errno EINVAL. */
int mime_render(const struct receiver *r, const struct mime_options *o, time_t now,
		struct util_buf *msg, struct mime_envelope *env, char *err, size_t errsz);
/* The same, with the 96 bits (msgid.h, MSGID_BITS_LEN hex digits) of the
 * Message-ID of a receiver without a valid message_id; mime_render draws
 * them from getrandom. */
int mime_render_bits(const struct receiver *r, const struct mime_options *o, const char *msgid_bits,
		     time_t now, struct util_buf *msg, struct mime_envelope *env, char *err, size_t errsz);

/* What a producer is told at once rather than finding in error/ later:
 * renders r as the sender will (configured from, prefix, domain) and
 * checks the size against smtp.max_message_size (0: no limit). Returns 0,
 * or -1 with the reason in err. A receiver without message_id gets the
 * one rendered (96 bits from getrandom), to be written with the file. */
int mime_check(struct receiver *r, const struct conf *c, char *err, size_t errsz);
bool mime_header_allowed(const char *name);
/* A msg-id as msgspool writes them (RFC 5322 3.6.4): "<" dot-atom-text
 * "@" dot-atom-text ">". */
bool mime_msgid_valid(const char *m);
/* True when msg can follow SMTP's DATA as it is: CRLF line ends only, no
 * line starting with a dot (mime_render's output always is); others are
 * dot-stuffed and mended by the transport on the way. */
bool mime_wire_ready(const char *msg, size_t len);

#endif
