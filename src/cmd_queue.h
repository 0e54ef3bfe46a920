/* cmd_queue: hold, release and delete, the operator's queue control. */
#ifndef MSGSPOOL_CMD_QUEUE_H
#define MSGSPOOL_CMD_QUEUE_H

#include "cli.h"

CLI_COMMAND(hold);
CLI_COMMAND(release);
CLI_COMMAND(delete);

#endif
