/* json: writes JSON for --json output: strings escaped, and YAML trees
 * mapped to JSON values (plain numbers, booleans and nulls keep their type). */
#ifndef MSGSPOOL_JSON_H
#define MSGSPOOL_JSON_H

#include <stdio.h>
#include "spool.h"
#include "ydoc.h"

void json_string(FILE *f, const char *s);
void json_value(FILE *f, const struct ydoc_node *n);
/* A receiver file as one JSON object (list --json, show --json, the web API). */
void json_receiver(FILE *f, struct spool *sp, size_t max_size, enum spool_status st, const char *id);

#endif
