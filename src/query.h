/* query: scanning the spool for receivers that match a filter, for list,
 * resend-by-filter, cleanup and stats. It reads through the spool and
 * receiver modules and knows neither paths nor YAML. */
#ifndef MSGSPOOL_QUERY_H
#define MSGSPOOL_QUERY_H

#include <stdbool.h>
#include <sys/stat.h>
#include <time.h>
#include "receiver.h"
#include "spool.h"

enum query_sent { QUERY_SENT_ANY = 0, QUERY_SENT_TODAY, QUERY_SENT_7D, QUERY_SENT_MONTH,
		  QUERY_SENT_YEAR, QUERY_SENT_NONE };

struct query_filter {
	unsigned status_mask;	/* bit per spool_status; 0 means all */
	const char *type;	/* context_type */
	const char *search;	/* substring of id, user, address or subject (case-insensitive) */
	enum query_sent sent;
	time_t since, until;	/* on created; 0 = open */
	time_t now;		/* reference for --sent */
	bool unsorted;		/* rows in any order (counting needs none) */
	bool forget_matches;	/* matching rows are about to be removed: the list
				 * cache need not learn the files it reads for them */
	/* Called every 1024 files scanned, for a progress line. */
	void (*progress)(size_t scanned, void *ctx);
	void *progress_ctx;
};

/* One matching receiver: the columns of the admin list. Unreadable files
 * are rows too, with `err` set and only id and status known. */
struct query_row {
	char *id;
	enum spool_status status;
	time_t created, sent_at;
	long long failed_count, success_count;
	char *subject, *user, *send_to, *type, *err;
	/* The file's stat when the scan made one (a file of a directory
	 * read from the cache alone, or unreadable, has none: NULL), so that
	 * a caller need not stat it again; only during the callback. */
	const struct stat *stat;
};

struct query_chunk;
struct query_result {
	struct query_row *rows;
	size_t n, cap;
	size_t scanned;
	struct query_chunk *arena;	/* the rows' strings */
};

/* Called with each matching row; its strings live until it returns. A
 * non-zero return stops the scan and is query_each's. */
typedef int (*query_cb)(const struct query_row *row, void *ctx);

int query_parse_sent(const char *s, enum query_sent *out);
/* Hands every matching row to cb, in the scan's order, keeping none: the
 * memory of a scan does not grow with the spool. *scanned: files met. */
int query_each(struct spool *sp, size_t max_size, const struct query_filter *f, query_cb cb, void *ctx,
	       size_t *scanned);
/* Collects matching rows, newest first (unless f->unsorted). */
int query_run(struct spool *sp, size_t max_size, const struct query_filter *f,
	      struct query_result *res);
void query_result_free(struct query_result *res);
/* Room for row n in a growing array of rows; -1 without memory. */
int query_rows_room(struct query_row **rows, size_t *cap, size_t n);
/* Loads the receiver of a row (for --json and show). */
int query_load(struct spool *sp, size_t max_size, enum spool_status st, const char *id,
	       struct receiver *r, char *err, size_t errsz);
/* Whether sent_at passes f's `sent` filter (for counts per choice). */
bool query_sent_match(const struct query_filter *f, time_t sent_at);
/* Whether a row of an unfiltered run passes f (count and filter in one scan). */
bool query_row_match(const struct query_filter *f, const struct query_row *row);

#endif
