/* smtp_proto: SMTP commands and replies over libetpan's stream, EHLO
 * extensions and the EHLO name, for the SMTP transport. */
#ifndef MSGSPOOL_SMTP_PROTO_H
#define MSGSPOOL_SMTP_PROTO_H

#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stddef.h>

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

#endif
