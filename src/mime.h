/* mime: a receiver becomes an RFC 5322 message. Headers are built here,
 * RFC 2047-encoded where they hold more than ASCII; the body parts
 * (multipart/alternative, UTF-8, quoted-printable) are built with
 * libetpan's MIME writer. Nothing with a line break reaches a header. */
#ifndef MSGSPOOL_MIME_H
#define MSGSPOOL_MIME_H

#include <stdbool.h>
#include <time.h>
#include "receiver.h"
#include "util.h"

struct mime_options {
	const char *from;		/* configured From, "Name <addr>" or "addr" */
	const char *subject_prefix;
	const char *msgid_domain;	/* NULL: the From address's domain */
};

/* The envelope sender and the message, CRLF line endings, 7-bit. On a
 * receiver that cannot be rendered (bad From, a header outside the safe
 * list) fills err and returns -1 with errno EINVAL. */
int mime_render(const struct receiver *r, const struct mime_options *o, time_t now,
		struct util_buf *msg, char *envelope_from, size_t efsz, char *err, size_t errsz);

/* RFC 2047 encoding of an unstructured header value (subject, display
 * name); ASCII without "=?" is returned as it is. Malloc'd. */
char *mime_encode_header(const char *s, bool phrase);
bool mime_header_allowed(const char *name);
/* True when msg can follow SMTP's DATA as it is: CRLF line ends only, no
 * line starting with a dot (mime_render's output always is); others are
 * dot-stuffed and mended by the transport on the way. */
bool mime_wire_ready(const char *msg, size_t len);

#endif
