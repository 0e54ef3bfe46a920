/* ydoc_block: the root mapping's literal blocks read without libyaml (see
 * ydoc_block.c); only ydoc.c uses it. */
#ifndef MSGSPOOL_YDOC_BLOCK_H
#define MSGSPOOL_YDOC_BLOCK_H

#include <stddef.h>

#define YDOC_BLOCK_KEY 64

struct ydoc_block {
	char key[YDOC_BLOCK_KEY];
	size_t line;		/* of the key, 1-based */
	char *str;		/* the block's text, NUL-terminated */
	size_t len;
};

struct ydoc_blocks {
	struct ydoc_block *v;
	size_t n;
	char *doc;		/* the document with the blocks' lines emptied */
	size_t doc_len;
};

/* The literal blocks of buf in the form ydoc_block.c reads, and the
 * document for libyaml without them; returns how many (0: none, or one
 * not in that form: give libyaml buf itself). */
size_t ydoc_blocks_take(const char *buf, size_t len, struct ydoc_blocks *b);
void ydoc_blocks_free(struct ydoc_blocks *b);

#endif
