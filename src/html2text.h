/* html2text: plain text from html, for receivers that come with html only
 * (Devilry converts with the html2text library). Parsing is libxml2's
 * forgiving HTML parser; the text layout rules are ours. */
#ifndef MSGSPOOL_HTML2TEXT_H
#define MSGSPOOL_HTML2TEXT_H

#include <stddef.h>

/* Returns a malloc'd UTF-8 string ending in one newline, or NULL with errno. */
char *html2text(const char *html, size_t len);

#endif
