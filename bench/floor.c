/* floor: a measuring device, not a mail sender. It does the least work a
 * durable spool sender built on this project's fixed choices must do per
 * receiver, and nothing else: claim by rename, read the file, parse it with
 * libyaml (events only: no tree, no MIME), send it with MAIL, RCPT and DATA
 * in one write, append a record and fsync it, rename it into sent/, and
 * fsync the two directories once per group. No logging, no rendering, no
 * recovery, no checks; the appended record is not crash-atomic. Its rate is
 * an upper bound for msgspoold on the same machine, so bench/run.sh floor
 * can say how much of a gap to smtp-source any implementation could close.
 *
 * floor [-t threads] [-g group] [-Y] [-S] [-C] SPOOL PORT
 *   -Y no libyaml parse, -S no fsync at all, -C no claim rename:
 *   each takes one fixed cost away, to measure what it costs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

static int opt_threads = 4, opt_group = 8, port;
static bool no_yaml, no_sync, no_claim;
static int dir_new, dir_active, dir_sent;
static char **ids;
static size_t nids;

static void die(const char *what)
{
	perror(what);
	exit(EX_SOFTWARE);
}

/* Reads until `want` reply lines have arrived; each must start with 2 or 3. */
static void replies(int fd, int want)
{
	char buf[1024];
	int got = 0;
	while (got < want) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n <= 0)
			die("read reply");
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				got++;
		if (buf[0] != '2' && buf[0] != '3') {
			fprintf(stderr, "floor: server said %.*s\n", (int)n, buf);
			exit(EX_PROTOCOL);
		}
	}
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		p += n;
		len -= (size_t)n;
	}
}

static void parse(const char *buf, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	if (!yaml_parser_initialize(&p))
		die("yaml_parser_initialize");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			fprintf(stderr, "floor: YAML error: %s\n", p.problem);
			exit(EX_DATAERR);
		}
		bool end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&p);
}

static void *worker(void *arg)
{
	size_t first = (size_t)(long)arg;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("connect");
	int one = 1;
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	replies(s, 1);
	static const char ehlo[] = "EHLO floor.example.org\r\n";
	write_all(s, ehlo, sizeof ehlo - 1);
	/* smtp-sink's EHLO reply is several lines; read until "250 " starts one. */
	char rb[2048];
	size_t have = 0;
	while (!memmem(rb, have, "\n250 ", 5)) {
		ssize_t n = read(s, rb + have, sizeof rb - have);
		if (n <= 0)
			die("read EHLO");
		have += (size_t)n;
	}
	char *buf = malloc(1 << 16);
	if (!buf)
		die("malloc");
	int pending = 0;
	for (size_t i = first; i < nids; i += (size_t)opt_threads) {
		const char *id = ids[i];
		int from = dir_new;
		if (!no_claim) {
			if (renameat(dir_new, id, dir_active, id) < 0)
				die("claim");
			from = dir_active;
		}
		int fd = openat(from, id, O_RDONLY);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size >= (1 << 16) - 8)
			die("open");
		ssize_t len = read(fd, buf, (size_t)st.st_size);
		if (len != st.st_size)
			die("read");
		close(fd);
		if (!no_yaml)
			parse(buf, (size_t)len);
		char env[256];
		int el = snprintf(env, sizeof env, "MAIL FROM:<noreply@example.org>\r\nRCPT TO:<%.100s@example.com>\r\nDATA\r\n", id);
		write_all(s, env, (size_t)el);
		replies(s, 3);
		memcpy(buf + len, "\r\n.\r\n", 5);
		write_all(s, buf, (size_t)len + 5);
		replies(s, 1);
		fd = openat(from, id, O_WRONLY | O_APPEND);
		if (fd < 0)
			die("open record");
		static const char rec[] = "sent_count: 1\nsent_at: 2026-11-29T03:00:00Z\nattempts: 1\n"
					  "last_attempt: {at: 2026-11-29T03:00:00Z, outcome: sent, reply: 250 2.0.0 Ok}\n";
		write_all(fd, rec, sizeof rec - 1);
		if (!no_sync && fsync(fd) < 0)
			die("fsync");
		close(fd);
		if (renameat(from, id, dir_sent, id) < 0)
			die("rename to sent");
		if (++pending == opt_group) {
			if (!no_sync && (fsync(dir_sent) < 0 || fsync(from) < 0))
				die("fsync dir");
			pending = 0;
		}
	}
	if (pending && !no_sync)
		fsync(dir_sent);
	free(buf);
	write_all(s, "QUIT\r\n", 6);
	close(s);
	return NULL;
}

static int usage(void)
{
	fprintf(stderr, "usage: floor [-t threads] [-g group] [-Y] [-S] [-C] SPOOL PORT\n");
	return EX_USAGE;
}

static int opendir_at(const char *spool, const char *name)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", spool, name);
	int fd = open(path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		die(path);
	return fd;
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "t:g:YSC")) != -1) {
		switch (c) {
		case 't': opt_threads = atoi(optarg); break;
		case 'g': opt_group = atoi(optarg); break;
		case 'Y': no_yaml = true; break;
		case 'S': no_sync = true; break;
		case 'C': no_claim = true; break;
		default:
			return usage();
		}
	}
	if (argc - optind != 2 || opt_threads < 1 || opt_group < 1)
		return usage();
	port = atoi(argv[optind + 1]);
	dir_new = opendir_at(argv[optind], "new");
	dir_active = opendir_at(argv[optind], "active");
	dir_sent = opendir_at(argv[optind], "sent");
	DIR *d = fdopendir(dup(dir_new));
	if (!d)
		die("fdopendir");
	size_t cap = 1024;
	ids = malloc(cap * sizeof *ids);
	struct dirent *de;
	while (ids && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (nids == cap)
			ids = realloc(ids, (cap *= 2) * sizeof *ids);
		if (!ids || !(ids[nids++] = strdup(de->d_name)))
			die("malloc");
	}
	closedir(d);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t th[64];
	if (opt_threads > 64)
		opt_threads = 64;
	for (long i = 0; i < opt_threads; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
			die("pthread_create");
	for (int i = 0; i < opt_threads; i++)
		pthread_join(th[i], NULL);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double cpu = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
	/* receivers, seconds, and CPU seconds (user + system) of this process */
	printf("%zu %.4f %.4f\n", nids, secs, cpu);
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	return 0;
}
