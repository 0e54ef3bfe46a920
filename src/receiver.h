/* receiver: the receiver record, format version 1 (spool-layout/README.md).
 * Loads a receiver file with every check the format asks for, gives typed
 * access to its fields, records attempts, and saves it back keeping unknown
 * keys and metadata as they were. */
#ifndef MSGSPOOL_RECEIVER_H
#define MSGSPOOL_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "spool.h"
#include "util.h"
#include "ydoc.h"

#define RECEIVER_ERRLEN 512

struct receiver {
	char id[SPOOL_ID_MAX + 1];
	struct ydoc_node *doc;	/* the whole file; the fields below point into it */
	const char *send_to, *subject, *text, *html, *user, *language, *message;
	const char *context_type, *message_type, *from, *reply_to;
	time_t created, sent_at;	/* sent_at 0 when never sent */
	time_t send_after, expires_at;	/* 0 when not set */
	enum receiver_priority { RECEIVER_HIGH, RECEIVER_NORMAL, RECEIVER_LOW } priority;
	long long failed_count, success_count;
	const struct ydoc_node *headers, *metadata, *errors;
	const char *last_outcome;	/* last_attempt.outcome, or NULL */
	bool pristine;	/* parsed without any key the senders write */
};

/* Parses and checks a receiver. `fname` names the file in errors, which are
 * "FNAME:LINE: key: reason". `mtime` stands in for a missing `created`. */
int receiver_parse(struct receiver *r, const char *id, const char *data, size_t len,
		   time_t mtime, const char *fname, char *err, size_t errsz);
/* A new receiver with the required keys; add others with receiver_set,
 * then check the whole with receiver_validate. */
int receiver_init(struct receiver *r, const char *id, const char *send_to,
		  const char *subject, time_t created);
/* Sets a string field; NULL removes it. */
void receiver_set(struct receiver *r, const char *key, const char *value);
int receiver_validate(struct receiver *r, const char *fname, char *err, size_t errsz);
void receiver_free(struct receiver *r);
int receiver_save(const struct receiver *r, struct util_buf *out);
/* Saves a receiver parsed from `src`: when it arrived without sender keys
 * (a first attempt), the file as the producer wrote it with the new keys
 * appended, byte for byte the same tree as receiver_save writes but without
 * encoding the bodies again. */
int receiver_save_appended(const struct receiver *r, const char *src, size_t len,
			   struct util_buf *out);

/* Loads a receiver file into `r`: read through the spool (no links, no
 * FIFOs, at most `max` bytes) and checked. Errors name the file and the
 * reason: "PATH: reason" or "PATH:LINE: key: reason". */
int receiver_load(struct receiver *r, struct spool *sp, enum spool_status st, const char *id,
		  size_t max, char *err, size_t errsz);
/* The same from a claimed file, named `fname` in errors; the bytes read are
 * kept in `src` (for receiver_save_appended; the caller frees them). errno
 * EINVAL: the content is bad; EFBIG: over `max`; else it could not be read. */
int receiver_load_claim(struct receiver *r, struct spool_claim *c, size_t max, const char *fname,
			struct util_buf *src, char *err, size_t errsz);
/* The priority a receiver's text asks for, without parsing it (to order a
 * backlog before the files are read); the parse checks it later. */
enum receiver_priority receiver_peek_priority(const char *data, size_t len);
/* When the last attempt was (last_attempt.at), 0 for never or unreadable. */
time_t receiver_last_attempt(const struct receiver *r);

/* The list's columns of a receiver file, read without building its tree
 * (receiver_head.c): r's send_to, subject, user, context_type, created,
 * sent_at and counts, their text in store; r.doc is NULL. */
struct receiver_head {
	struct receiver r;
	char store[14 * 999];
};
/* 1: the file is of the plain shape receiver_head knows, receiver_parse
 * would accept it, and h->r holds what it would give for those columns.
 * 0: not sure (the caller parses the file whole, which also says what is
 * wrong with a bad one). */
int receiver_head(struct receiver_head *h, const char *data, size_t len, time_t mtime);

/* Validity checks shared with compose and the command line. */
bool receiver_address_valid(const char *addr);

void receiver_record_success(struct receiver *r, time_t now);
/* outcome is the status the receiver goes to: "failed" or "error". */
void receiver_record_failure(struct receiver *r, time_t now, const char *error,
			     int smtp_code, const char *transcript, const char *outcome);

#endif
