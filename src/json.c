/* json: JSON output of strings and YAML trees, for --json. It owns the
 * mapping of YAML types to JSON and must never print anything that is not
 * exact JSON (control characters as \u escapes, invalid UTF-8 replaced).
 * Rules: RFC 8259; msgspool(1) for which commands print it. */
#include "config.h"
#include "json.h"
#include "receiver.h"

#include <string.h>


void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void json_value(FILE *f, const struct ydoc_node *n)
{
	long long i;
	bool b;
	switch (n->kind) {
	case YDOC_SCALAR:
		if (ydoc_is_null(n))
			fputs("null", f);
		else if (ydoc_to_bool(n, &b) == 0)
			fputs(b ? "true" : "false", f);
		else if (ydoc_to_int(n, &i) == 0)
			fprintf(f, "%lld", i);
		else
			json_string(f, n->str);
		return;
	case YDOC_SEQ:
	case YDOC_MAP: {
		bool map = n->kind == YDOC_MAP;
		fputc(map ? '{' : '[', f);
		for (size_t k = 0; k < n->n; k++) {
			if (k)
				fputc(',', f);
			if (map) {
				json_string(f, ydoc_key(n, k));
				fputc(':', f);
			}
			json_value(f, map ? ydoc_val(n, k) : n->items[k]);
		}
		fputc(map ? '}' : ']', f);
		return;
	}
	}
}

/* One receiver as list --json, show --json and the web API print it: id
 * and status, then every key of the file; an unreadable one says why. */
void json_receiver(FILE *f, struct spool *sp, size_t max_size, enum spool_status st, const char *id)
{
	struct receiver r;
	char err[RECEIVER_ERRLEN];
	fputs("{\"id\":", f);
	json_string(f, id);
	fprintf(f, ",\"status\":\"%s\"", spool_status_name(st));
	if (receiver_load(&r, sp, st, id, max_size, err, sizeof err) < 0) {
		fputs(",\"unreadable\":", f);
		json_string(f, err);
		fputc('}', f);
		return;
	}
	for (size_t k = 0; k < r.doc->n; k++) {
		const char *key = ydoc_key(r.doc, k);
		if (!strcmp(key, "id") || !strcmp(key, "status"))
			continue;
		fputc(',', f);
		json_string(f, key);
		fputc(':', f);
		json_value(f, ydoc_val(r.doc, k));
	}
	fputc('}', f);
	receiver_free(&r);
}
