/* spool_prefetch: read-ahead for a scan that reads every receiver of some
 * statuses (delete-receivers with no list cache). Read one by one, each
 * small file is a disk read the scan waits for, with a context switch and
 * a device interrupt of its own; asked for a few thousand files ahead,
 * the kernel reads them while the scan parses, so its reads find them in
 * memory. A prefetcher lists the same directories as spool_scan, in the
 * same order, counts the same names, and for a regular file opens it
 * (never through a link, never blocking on a FIFO), asks for its first
 * 64 KB with posix_fadvise(WILLNEED), which does not wait, and closes it.
 * It reads nothing itself and changes nothing: only a hint, whose
 * failure costs time, never a result. Declared in spool_batch.h. */
#include "config.h"
#include "spool.h"
#include "spool_batch.h"
#include "spool_int.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#define PREFETCH_BYTES 65536

void spool_prefetch_begin(struct spool *sp, unsigned mask, struct spool_prefetch *p)
{
	*p = (struct spool_prefetch){.sp = sp, .mask = mask, .st = -1};
}

/* The next status of the mask opened for listing; false when none is left. */
static bool next_dir(struct spool_prefetch *p)
{
	while (p->st < SPOOL_NSTATUS && ++p->st < SPOOL_NSTATUS) {
		if (!(p->mask & (1u << p->st)))
			continue;
		/* The directory opened anew ("." of the one the spool holds, no
		 * name to resolve): a dup of the spool's descriptor
		 * (spool_opendir) would share its offset with the scan's. */
		int fd = openat(p->sp->dirfd[p->st], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		p->dir = fd < 0 ? NULL : fdopendir(fd);
		if (p->dir)
			return true;
		if (fd >= 0)
			close(fd);
	}
	return false;
}

void spool_prefetch_to(struct spool_prefetch *p, size_t from, size_t upto)
{
	char id[SPOOL_ID_MAX + 1];
	while (p->asked < upto) {
		if (!p->dir && !next_dir(p))
			return;
		struct dirent *de = readdir(p->dir);
		if (!de) {
			closedir(p->dir);
			p->dir = NULL;
			continue;
		}
		if (!spool_name_to_id(de->d_name, id, sizeof id))
			continue; /* spool_scan does not count it either */
		if (p->asked++ < from || de->d_type != DT_REG)
			continue; /* the scan is past it, or not a regular file */
		int fd = spool_openat(p->sp->dirfd[p->st], de->d_name,
				      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0);
		if (fd < 0)
			continue;
		posix_fadvise(fd, 0, PREFETCH_BYTES, POSIX_FADV_WILLNEED);
		close(fd);
	}
}

void spool_prefetch_end(struct spool_prefetch *p)
{
	if (p->dir)
		closedir(p->dir);
	p->dir = NULL;
	p->mask = 0;
}
