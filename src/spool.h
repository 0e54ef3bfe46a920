/* spool: the only module that knows paths. It owns the directory tree, the
 * receiver ids and file names, the producer protocol (tmp/, fsync, rename
 * into new/), claiming by rename into active/, durable state changes and
 * quarantine. Everything above it speaks in ids and statuses. */
#ifndef MSGSPOOL_SPOOL_H
#define MSGSPOOL_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

/* spool_commit_batch, spool_pool_count and spool_clean_tmp are public too:
 * spool_types.h declares them, beneath the files that implement them. */
#include "spool_types.h"

/* Status names as commands and --json show them ("not_sent" for new/). */
const char *spool_status_name(enum spool_status st);
const char *spool_status_dir(enum spool_status st);
/* Accepts the status name or the directory name. */
int spool_status_parse(const char *s, enum spool_status *out);

/* Creates the tree (idempotent); the group, when not -1, may write tmp/,
 * new/ and messages/ (producers), and nothing else; those three have the
 * sticky bit, so nobody renames or removes another's file there. */
int spool_init(const char *root, gid_t group);
/* Gives the tree to uid (run as root): the root and every directory (their
 * group too, unless gid is -1), and every plain file in them that root
 * owns: what root's commands left behind. Producers' files are theirs. */
int spool_chown_tree(const char *root, uid_t uid, gid_t gid);
/* Run as root: becomes the owner of the spool at `root` (its groups, group
 * and user) for good; nothing when not root, no spool, or a spool of
 * root's. -1 and errno (EPERM when root could be regained). */
int spool_become_owner(const char *root);
/* Opens the tree into *out (freed by spool_close, which takes NULL). */
int spool_open(struct spool **out, const char *root);
void spool_close(struct spool *sp);
/* The root as given to spool_open, for messages. */
const char *spool_root(const struct spool *sp);
/* The spool's file system, and whether its renames reach the disk whole
 * (a journal) or claims are fenced (spool-layout/README.md rule 3). */
const char *spool_fs_name(struct spool *sp, bool *renames_whole);
/* The producers' directories (tmp/, new/, messages/) that others may write
 * but that lack the sticky bit (then a producer could rename or remove the
 * daemon's files there), as "tmp/ new/"; "" when none. */
void spool_unsafe_dirs(struct spool *sp, char *buf, size_t n);
/* The root directory's owner and mode: who may run changing commands. */
int spool_stat_root(struct spool *sp, struct stat *st);
/* Path of a status directory or file, for messages only (never opened). */
void spool_path(const struct spool *sp, enum spool_status st, const char *id, char *buf, size_t n);

bool spool_id_valid(const char *id);
/* Maps a directory entry to a receiver id; false for names to ignore. */
bool spool_name_to_id(const char *name, char *id, size_t idsz);
/* A new id: unique across processes and hosts, sorting by creation time. */
void spool_new_id(char *buf, size_t n);

/* Producer protocol. Fails with EEXIST if the id is in use in any status. */
int spool_enqueue(struct spool *sp, const char *id, const void *data, size_t len);

/* Reads a receiver without following links or blocking on FIFOs. EFBIG when
 * over max, EFTYPE-like EINVAL ("not a regular file") when not a file. */
int spool_read(struct spool *sp, enum spool_status st, const char *id, size_t max,
	       char **data, size_t *len, struct stat *stp);
/* Calls cb for every receiver name in a status directory, in no order. */
int spool_scan(struct spool *sp, enum spool_status st,
	       int (*cb)(const char *id, void *ctx), void *ctx);
/* Calls cb for every entry of a status directory that is not a receiver
 * name (the entries spool_scan passes over), "." and ".." aside. */
int spool_scan_strays(struct spool *sp, enum spool_status st, int (*cb)(const char *name, void *ctx), void *ctx);
bool spool_exists(struct spool *sp, enum spool_status st, const char *id);
/* Finds the status of an exact id; ENOENT when in no status directory. */
int spool_locate(struct spool *sp, const char *id, enum spool_status *st);

enum spool_find_result { SPOOL_FOUND = 0, SPOOL_NOT_FOUND = 1, SPOOL_AMBIGUOUS = 2 };
/* Resolves a unique id prefix across all statuses. -1 on I/O error. */
int spool_find(struct spool *sp, const char *prefix, enum spool_status *st, char *id, size_t idsz);

enum spool_claim_result { SPOOL_CLAIMED = 0, SPOOL_BUSY = 1 };
/* Renames from/ID into active/ under an exclusive lock. SPOOL_BUSY when
 * another process has it (it vanished, or it is locked). With from ==
 * SPOOL_ACTIVE the file is locked where it is (recovery). */
int spool_claim(struct spool *sp, enum spool_status from, const char *id, struct spool_claim *c);
/* Claims several receivers of `from` at once (at most SPOOL_AHEAD_MAX),
 * with one flush of active/ for all of them, and keeps each claim for the
 * spool_claim of its id (by any thread of this process), which then costs
 * nothing. Those it cannot claim are left alone: their spool_claim says
 * why. Returns how many it holds. */
#define SPOOL_AHEAD_MAX 16
size_t spool_claim_ahead(struct spool *sp, enum spool_status from, const char *const *ids, size_t n);
/* Puts a receiver claimed ahead and not asked for back where it came from
 * (nothing when it is not held). */
void spool_claim_ahead_give_back(struct spool *sp, enum spool_status from, const char *id);
/* Reads the claimed file. */
int spool_claim_read(struct spool_claim *c, size_t max, char **data, size_t *len);
/* 1 when the claimed file is complete (nobody has it open for writing, the
 * size and mtime of the claim unchanged), 0 while it is being written. */
int spool_claim_settled(struct spool_claim *c, bool young);
/* Writes new content durably over active/ID, then moves it into `to`. */
int spool_commit(struct spool *sp, struct spool_claim *c, const void *data, size_t len,
		 enum spool_status to);
/* Moves the claimed file unchanged into `to` (recovery, quarantine). When
 * the rename fails the claim is still held, for another try. */
int spool_release(struct spool *sp, struct spool_claim *c, enum spool_status to);
/* Removes every name in tmp/ of the claimed inode (a write-then-rename
 * that a power cut left with both names on disk: tmp/ is flushed by
 * compose while others' renames out of it are not yet) and updates the
 * claim's link count; how many it removed, -1 when tmp/ is unreadable. */
int spool_claim_unlink_tmp_names(struct spool *sp, struct spool_claim *c);
/* Gives up a claim where the file is (in active/, unlocked: recovery takes
 * it). Nothing when it is no longer held. */
void spool_claim_drop(struct spool_claim *c);

/* spool_move's rename (never replacing: EEXIST) without its flushes: the
 * move is durable only once the caller has flushed both `from` and `to`
 * with spool_sync, and must not be reported done before. */
int spool_move_unflushed(struct spool *sp, enum spool_status from, enum spool_status to, const char *id);
/* Moves a file between statuses without a claim; EEXIST never overwrites. */
int spool_move(struct spool *sp, enum spool_status from, enum spool_status to, const char *id);
int spool_remove(struct spool *sp, enum spool_status st, const char *id);

int spool_stat(struct spool *sp, enum spool_status st, const char *id, struct stat *s);

/* The list cache (SPOOL/.list-cache): columns already parsed, for list and
 * stats. Only a cache: every entry is checked against the file's stat. It
 * is opened only when the spool's owner (or root) owns it and nobody else
 * may write it; it is written new (spool_cache_create) and renamed. */
#define SPOOL_CACHE_TMP 64
int spool_cache_open(struct spool *sp, struct stat *st);
int spool_cache_create(struct spool *sp, char *name);
/* Removes the spool owner's new cache files a crash left, a minute old. */
void spool_cache_clean(struct spool *sp);
int spool_cache_commit(struct spool *sp, int fd, const char *name, bool keep);
/* A status directory's fstat (for the list cache's stamps). */
int spool_dir_stat(struct spool *sp, enum spool_status st, struct stat *s);

/* Small state files of the daemon in the spool's root (the rate counts),
 * by a fixed name: replaced whole, never torn. */
int spool_state_write(struct spool *sp, const char *name, const void *data, size_t len);
int spool_state_read(struct spool *sp, const char *name, size_t max, char **data, size_t *len);
/* The same, with the file's stat (a reader checks its owner). */
int spool_state_read_stat(struct spool *sp, const char *name, size_t max, char **data, size_t *len,
			  struct stat *st);
/* spool_state_lock (an exclusive lock on a state file's read, change and
 * write by several processes) is declared in spool_types.h. */
/* A secret in the spool's root by a fixed name (the Message-ID key): made
 * once, new, mode 0600, durable, never replacing one another process made
 * first (that one wins: 0), never through a link. Read it with
 * spool_state_read_stat. */
int spool_secret_create(struct spool *sp, const char *name, const void *data, size_t len);

/* Staging for all-or-nothing batches (compose): a receiver written and
 * fsynced as tmp/ID.yaml.TAG.staged, published later by renaming it into
 * new/ (never replacing), or dropped. The name is derived, so recovery can
 * finish a batch whose commit record says so. */
int spool_stage(struct spool *sp, const char *id, const char *tag, const void *data, size_t len);
/* ENOENT: nothing staged (already published); EEXIST: the id is taken. */
int spool_publish(struct spool *sp, const char *id, const char *tag);
int spool_unstage(struct spool *sp, const char *id, const char *tag);
/* Makes new/ durable after a batch of publishes. */
int spool_sync_new(struct spool *sp);
/* Makes tmp/ durable: the staged names before the record that names
 * them, and their removal after publishing. */
int spool_sync_staged(struct spool *sp);
/* Makes removals from a status directory durable. */
int spool_sync(struct spool *sp, enum spool_status st);

/* Message records in messages/: same id rules, same durability. _create
 * never replaces (EEXIST), which makes it a claim as safe as a receiver's. */
int spool_message_create(struct spool *sp, const char *id, const void *data, size_t len);
int spool_message_write(struct spool *sp, const char *id, const void *data, size_t len);
bool spool_message_exists(struct spool *sp, const char *id);
int spool_message_read(struct spool *sp, const char *id, size_t max, char **data, size_t *len);
int spool_message_scan(struct spool *sp, int (*cb)(const char *id, void *ctx), void *ctx);
int spool_message_remove(struct spool *sp, const char *id);
int spool_message_stat(struct spool *sp, const char *id, struct stat *st);
/* Makes removals from messages/ durable. */
int spool_sync_messages(struct spool *sp);

/* Appends "AT ACTION ID DIR/ BY VIA" to SPOOL/audit, durably (spool_audit.c). */
int spool_audit(struct spool *sp, const char *action, const char *id, enum spool_status from, const char *by,
		const char *via, time_t at);
/* Many lines, one flush (a command acting on thousands of receivers):
 * spool_audit_open, then spool_audit_add per action (one write(2) a line,
 * not flushed), then spool_audit_close flushes them all once. A failed
 * open leaves the batch unusable: every add then fails with its errno. */
struct spool_audit_batch {
	int fd;
	int err;	/* errno of the first failure, 0 while none */
};
int spool_audit_open(struct spool *sp, struct spool_audit_batch *b);
/* ID and DIR as in spool_audit; dir NULL writes "-" (a summary line, its
 * count in ID's place). */
int spool_audit_add(struct spool_audit_batch *b, const char *action, const char *id, const char *dir,
		    const char *by, const char *via, time_t at);
/* Flushes and closes: 0, or -1 when a line was not written or not flushed. */
int spool_audit_close(struct spool_audit_batch *b);

#endif
