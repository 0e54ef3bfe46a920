/* status: the daemon's counters and its status file in the spool root
 * ("status", written whole through spool_state_write, so a reader never
 * sees a torn one). It must never trust the file it reads: only a regular
 * file of the spool's owner (no link), at most STATUS_MAX bytes, every
 * line a known key and a number, its pid alive and not marked stopped.
 * Rules: spool-layout/README.md (status), msgspool(1) stats. */
#include "config.h"
#include "status.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STATE "status"
#define STATUS_MAX 1024

static atomic_llong counts[STATUS_NOUTCOMES];
static atomic_long conns, conns_min, conns_max;
static atomic_bool dirty;
static time_t started;

static const char *const names[STATUS_NOUTCOMES] = {"sent", "failed", "error", "quarantined"};

const char *status_outcome_name(enum status_outcome o)
{
	return names[o];
}

void status_begin(long min, long max)
{
	started = time(NULL);
	status_range(min, max);
}

bool status_count(enum deliver_result r)
{
	static const int outcome[] = {[DELIVER_SENT] = STATUS_SENT + 1, [DELIVER_FAILED] = STATUS_FAILED + 1,
				      [DELIVER_ERROR] = STATUS_ERROR + 1, [DELIVER_QUARANTINED] = STATUS_QUARANTINED + 1,
				      [DELIVER_IOERR] = 0};
	if ((size_t)r >= sizeof outcome / sizeof *outcome || !outcome[r])
		return false;
	atomic_fetch_add(&counts[outcome[r] - 1], 1);
	return !atomic_exchange(&dirty, true);
}

bool status_conns(long allowed)
{
	return atomic_exchange(&conns, allowed) != allowed && !atomic_exchange(&dirty, true);
}

bool status_dirty(void)
{
	return atomic_load(&dirty);
}

int status_flush(struct spool *sp, bool stopped)
{
	if (!atomic_exchange(&dirty, false) && !stopped)
		return 0;
	char buf[STATUS_MAX];
	int len = snprintf(buf, sizeof buf,
			   "state %s\npid %ld\nstart %lld\nupdated %lld\nconnections %ld\nconnections_min %ld\n"
			   "connections_max %ld\n",
			   stopped ? "stopped" : "running", (long)getpid(), (long long)started, (long long)time(NULL),
			   atomic_load(&conns), atomic_load(&conns_min), atomic_load(&conns_max));
	for (int i = 0; i < STATUS_NOUTCOMES; i++)
		len += snprintf(buf + len, sizeof buf - (size_t)len, "%s %lld\n", names[i], atomic_load(&counts[i]));
	return spool_state_write(sp, STATE, buf, (size_t)len);
}

/* One "key number" line into its field; false for anything else. */
static bool parse_line(const char *line, struct status_info *si, unsigned *seen, bool *running)
{
	static const char *const keys[] = {"pid", "start", "updated", "connections", "connections_min",
					   "connections_max"};
	const char *sp = strchr(line, ' ');
	if (!sp)
		return false;
	size_t kl = (size_t)(sp - line);
	if (kl == 5 && !strncmp(line, "state", 5) && !(*seen & 1u)) {
		*seen |= 1u;
		*running = !strcmp(sp + 1, "running");
		return *running || !strcmp(sp + 1, "stopped");
	}
	char *end;
	errno = 0;
	long long v = strtoll(sp + 1, &end, 10);
	if (sp[1] < '0' || sp[1] > '9' || *end || errno || v < 0)
		return false;
	long long *ll[] = {NULL, &si->start, &si->updated, NULL, NULL, NULL};
	long *l[] = {&si->pid, NULL, NULL, &si->conns, &si->conns_min, &si->conns_max};
	for (unsigned i = 0; i < 6 + STATUS_NOUTCOMES; i++) {
		const char *k = i < 6 ? keys[i] : names[i - 6];
		unsigned bit = 1u << (i + 1);
		if (strlen(k) != kl || strncmp(line, k, kl) || (*seen & bit))
			continue;
		*seen |= bit;
		if (i >= 6)
			si->count[i - 6] = v;
		else if (ll[i])
			*ll[i] = v;
		else if (v <= 0x7fffffff)
			*l[i] = (long)v;
		else
			return false;
		return true;
	}
	return false;
}

/* When process `pid` started (Unix time, from /proc), -1 if unknown. */
static long long process_start(long pid)
{
	char path[64], buf[1024];
	long long btime = -1, ticks;
	FILE *f = fopen("/proc/stat", "re");
	while (f && fgets(buf, sizeof buf, f))
		if (sscanf(buf, "btime %lld", &btime) == 1)
			break;
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "/proc/%ld/stat", pid);
	if (btime < 0 || !(f = fopen(path, "re")))
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the name before it may hold anything */
	/* After the name: state, then 18 fields, then the start in clock ticks since boot. */
	if (!p || sscanf(p + 1, " %*c %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %lld",
			 &ticks) != 1)
		return -1;
	return btime + ticks / sysconf(_SC_CLK_TCK);
}

/* The pid lives and is the process that wrote `start` (not a later one
 * that got the number again): it started no later than that. */
static bool daemon_alive(const struct status_info *si)
{
	if (si->pid <= 0 || (kill((pid_t)si->pid, 0) < 0 && errno != EPERM))
		return false;
	long long began = process_start(si->pid);
	return began < 0 || began <= si->start + 1;
}

int status_read(struct spool *sp, struct status_info *si, const char **why)
{
	char *data;
	size_t len;
	struct stat st, root;
	const char *dummy;
	why = why ? why : &dummy;
	memset(si, 0, sizeof *si);
	if (spool_state_read_stat(sp, STATE, STATUS_MAX, &data, &len, &st) < 0) {
		*why = errno == ENOENT ? "no status file" : errno == ELOOP ? "status file is a link" : "status file unreadable";
		return -1;
	}
	int rc = -1;
	unsigned seen = 0;
	bool running = false, ok = spool_stat_root(sp, &root) == 0 && st.st_uid == root.st_uid &&
				   memchr(data, '\0', len) == NULL && len && data[len - 1] == '\n';
	*why = ok ? "status file malformed" : "status file not written by the spool's owner";
	for (char *save = NULL, *line = ok ? strtok_r(data, "\n", &save) : NULL; ok && line;
	     line = strtok_r(NULL, "\n", &save))
		ok = parse_line(line, si, &seen, &running);
	if (ok && seen == (1u << (7 + STATUS_NOUTCOMES)) - 1) {
		*why = "daemon not running";
		if (running && daemon_alive(si))
			rc = 0;
	}
	free(data);
	return rc;
}

void status_range(long min, long max)
{
	atomic_store(&conns_min, min);
	atomic_store(&conns_max, max);
	atomic_store(&dirty, true);
}
