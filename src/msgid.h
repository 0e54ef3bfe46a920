/* msgid: the 96 random bits of a Message-ID (<time.bits.attempt@domain>,
 * mime.c writes the rest). A receiver made by msgspool enqueue or compose
 * carries its own from the start (message_id, getrandom(2)), durable with
 * the file at no extra cost. For a file a producer wrote without one the
 * bits are derived from the file itself, keyed by the spool's secret
 * (SPOOL/.message-id-key, spool-layout/README.md): every attempt on the
 * same file (a retry, a duplicate after a crash between the server's 250
 * and the durable record) gets the same bits, another file under a reused
 * id gets others, and nobody without the key can guess them. */
#ifndef MSGSPOOL_MSGID_H
#define MSGSPOOL_MSGID_H

#include <stddef.h>
#include "spool.h"

#define MSGID_BITS_LEN 24	/* 96 bits in hex */

/* 96 bits from getrandom(2), as 24 lower-case hex digits. */
int msgid_random(char out[MSGID_BITS_LEN + 1]);

/* 96 bits of HMAC-SHA-256, keyed by the spool's secret (created owner-only
 * at first need), over the open file fd's birth time (statx, ns; 0 where
 * the file system keeps none), device and inode, and its content src.
 * Returns 0, or 1 when the key cannot be had or trusted (not this user's
 * to read: a sender that is not the spool's owner; or anyone may write
 * it), out untouched: bits derived without the key could be computed by
 * anyone who can stat the file, so the caller draws them (msgid_random)
 * and records them with the attempt; -1 when fd cannot be examined. */
int msgid_derive(struct spool *sp, int fd, const char *src, size_t len, char out[MSGID_BITS_LEN + 1]);

/* Makes the spool's key when it has none, as this process's user, who
 * must be the spool's owner: msgspool init and msgspoold at start, so
 * that it is there before any sender needs it (one that is not the owner
 * cannot make it). 0 when a key this process can read and trust is there,
 * else -1 with errno (EPERM: one it cannot trust). */
int msgid_key_make(struct spool *sp);

#endif
