/* webhtml: HTML for msgspool-web: escaping every value for its context,
 * the page frame (head, navigation, logout form), the stylesheet, and
 * times for people. It knows nothing of HTTP or the spool. */
#ifndef MSGSPOOL_WEBHTML_H
#define MSGSPOOL_WEBHTML_H

#include <stddef.h>
#include <time.h>
#include "util.h"

/* Text and attribute values (always quoted with "): & < > " ' escaped,
 * control characters other than tab and newline shown as U+FFFD, and
 * invalid UTF-8 replaced, so nothing can open a tag or end an attribute. */
void webhtml_esc(struct util_buf *b, const char *s);
void webhtml_escn(struct util_buf *b, const char *s, size_t n);
/* A value inside a URL's query string: everything but [A-Za-z0-9._~-]
 * percent-encoded (the result is also safe inside an attribute). */
void webhtml_url(struct util_buf *b, const char *s);
/* Local time "YYYY-MM-DD HH:MM", "-" for 0. */
void webhtml_time(struct util_buf *b, time_t t);

/* The page up to the start of <main>: title, navigation and, with a user,
 * the logout form carrying the CSRF token. */
void webhtml_head(struct util_buf *b, const char *title, const char *user, const char *csrf);
void webhtml_foot(struct util_buf *b);
/* A hidden csrf input. */
void webhtml_csrf(struct util_buf *b, const char *csrf);

extern const char webhtml_css[];
extern const char webhtml_js[];

#endif
