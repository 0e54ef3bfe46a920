/* addr: RFC 5322 mailboxes parsed (quoted strings, escapes, comments,
 * RFC 6532 UTF-8) into a display name, a local part and an A-label domain. */
#ifndef MSGSPOOL_ADDR_H
#define MSGSPOOL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include "util.h"

struct addr {
	char *display;	/* the display name as the reader should show it; NULL when none */
	char *local;	/* as it goes on the wire: a dot-atom or a quoted-string */
	char *domain;	/* ASCII: A-labels, or an address literal */
	char *domain_u;	/* its U-labels, for display where SMTPUTF8 is used; NULL when ASCII */
	bool utf8_local;	/* the local part is not ASCII: SMTPUTF8 is needed */
};

/* Parses a mailbox ("Name <a@b>" when allow_name, else an addr-spec).
 * Returns 0, or -1 with the reason in err (which may be NULL). */
int addr_parse(const char *s, bool allow_name, struct addr *a, char *err, size_t errsz);
void addr_free(struct addr *a);
/* "local@domain", malloc'd. */
char *addr_spec_of(const struct addr *a);
/* "local@domain" with the domain's U-labels (RFC 6532 headers, only in a
 * message sent with SMTPUTF8), malloc'd. */
char *addr_spec_utf8(const struct addr *a);
bool addr_valid(const char *s, bool allow_name);
/* A domain in A-labels (malloc'd); NULL when it is not a valid IDN. */
char *addr_domain_ascii(const char *d);

#endif
