/* cli: what every msgspool command shares: the loaded configuration, the
 * open spool, and messages to stderr in one format. */
#ifndef MSGSPOOL_CLI_H
#define MSGSPOOL_CLI_H

#include <stdbool.h>
#include "conf.h"
#include "spool.h"

struct cli {
	const char *prog;
	const char *conf_path;	/* -c, MSGSPOOL_CONFIG, or NULL */
	const char *spool_override; /* --spool */
	struct conf conf;
	struct spool sp;
	bool spool_open;
};

void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Opens the configured spool; returns a sysexits code, 0 on success. */
int cli_open_spool(struct cli *c);

#endif
