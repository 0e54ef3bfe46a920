/* smtp_tls: verifies a TLS server's certificate for the SMTP transport. */
#ifndef MSGSPOOL_SMTP_TLS_H
#define MSGSPOOL_SMTP_TLS_H

#include <libetpan/libetpan.h>
#include <stddef.h>
#include "conf.h"

/* Verifies the server's chain on stream against the system trust or
 * c->smtp.ca_file and c->smtp.host. Returns 0, or -1 with the reason in err. */
int smtp_tls_verify(mailstream *stream, const struct conf *c, char *err, size_t errsz);

/* For libetpan's TLS connect and STARTTLS: sends data (the host name) as
 * the SNI server name. */
void smtp_tls_sni(struct mailstream_ssl_context *ctx, void *data);

#endif
