/* hdr: header fields written so that readers decode exactly what was
 * given (RFC 5322 folding, RFC 2047 encoded-words). Values hold no CR or
 * LF (callers refuse those first); each call appends "Name: value\r\n"
 * and returns 0, or -1: out of memory, or E2BIG when a line would pass 998
 * octets (a structured word too long to fold; the buffer then holds it). */
#ifndef MSGSPOOL_HDR_H
#define MSGSPOOL_HDR_H

#include <stdbool.h>
#include "util.h"

/* Unstructured text (Subject, X- headers): encoded where needed. */
int hdr_unstructured(struct util_buf *b, const char *name, const char *value);
/* A structured value (Message-ID, List-Unsubscribe...): as it is, folded
 * only before its own whitespace; the caller checks it is ASCII. */
int hdr_structured(struct util_buf *b, const char *name, const char *value);
/* "Display Name <addr>", or addr alone when display is NULL or empty. */
int hdr_mailbox(struct util_buf *b, const char *name, const char *display, const char *addr);
/* Printable ASCII and tabs only. */
bool hdr_is_ascii(const char *s);

#endif
