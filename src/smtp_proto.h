/* smtp_proto: SMTP commands and replies over libetpan's stream, EHLO
 * extensions and the EHLO name, for the SMTP transport. */
#ifndef MSGSPOOL_SMTP_PROTO_H
#define MSGSPOOL_SMTP_PROTO_H

#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stddef.h>
#include "util.h"

/* One reply, all its lines, into m->response and m->response_code; 0 when
 * the stream failed (response empty) or the line was not SMTP (response
 * holds it). */
int smtp_proto_reply(mailsmtp *m);
/* Writes one command and reads its reply; 0 as above. */
int smtp_proto_command(mailsmtp *m, const char *cmd);
/* The extensions of the EHLO reply in m->response into m's flags (where
 * libetpan reads STARTTLS, AUTH, SIZE) and the two libetpan lacks. */
void smtp_proto_extensions(mailsmtp *m, bool *smtputf8, bool *chunking);
/* The EHLO name: configured (checked), else this host's fully qualified
 * name, looked up once; -1 with the reason when there is none. */
int smtp_proto_helo_name(const char *configured, char *out, size_t n, char *err, size_t errsz);

/* Whether host names this machine (localhost, 127/8, ::1). */
bool smtp_proto_is_loopback(const char *host);
/* Appends str's lines to b, each after prefix, without its line end. */
void smtp_proto_append_lines(struct util_buf *b, const char *prefix, const char *str, size_t size);
/* "451 4.3.0 try later": m's reply on one line, after prefix. */
void smtp_proto_reply_line(const mailsmtp *m, char *buf, size_t n, const char *prefix);
/* Whether the message has a byte over 127 (an 8bit part, UTF-8 headers). */
bool smtp_proto_has_8bit(const char *msg, size_t len);
/* "MAIL FROM:<from>" with the parameters the message needs and m's server
 * offers (SIZE, SMTPUTF8, BODY=8BITMIME), into cmd; snprintf's count. */
int smtp_proto_mail_command(const mailsmtp *m, const char *from, const char *rcpt, size_t len, bool eight,
			    char *cmd, size_t n);

#endif
