/* roundtrip_etpan MAILDIR: every message of MAILDIR parsed back by
 * libetpan's own parser, the third reader of tests/roundtrip.sh beside
 * Python's email and Perl's Email::MIME: the header with
 * mailimf_fields_parse, each field's encoded-words decoded to UTF-8 with
 * mailmime_encoded_phrase_parse (what libetpan's users call to show a
 * subject or a name). Prints JSON keyed by To, as tests/roundtrip.pl
 * does: subject, x (X-Roundtrip), from and reply_to (display names) and
 * their addresses; tests/roundtrip.py compares them with the producer's
 * strings.
 * roundtrip_etpan --phrases FILE: the display name libetpan reads from
 * "From: PHRASE <a@example.org>" for each line of FILE (tests/roundtrip.py
 * prove-generate), as a JSON list in the same order (null when it reads
 * no mailbox). */
#include <dirent.h>
#include <stdbool.h>
#include <libetpan/libetpan.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void json_str(const char *s)
{
	if (!s) {
		fputs("null", stdout);
		return;
	}
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

/* A field's text as libetpan's users show it: encoded-words decoded. */
static char *decoded(const char *v)
{
	size_t idx = 0;
	char *out = NULL;
	if (!v)
		return NULL;
	if (mailmime_encoded_phrase_parse("utf-8", v, strlen(v), &idx, "utf-8", &out) != MAILIMF_NO_ERROR)
		return strdup("(libetpan: no decoding)");
	return out;
}

static struct mailimf_mailbox *first_mailbox(struct mailimf_address_list *al)
{
	if (!al || clist_isempty(al->ad_list))
		return NULL;
	struct mailimf_address *a = clist_content(clist_begin(al->ad_list));
	return a->ad_type == MAILIMF_ADDRESS_MAILBOX ? a->ad_data.ad_mailbox : NULL;
}

static void one(const char *path, bool *first)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	static char buf[1 << 20];
	size_t n = fread(buf, 1, sizeof buf - 1, f), idx = 0;
	fclose(f);
	buf[n] = '\0';
	struct mailimf_fields *fields = NULL;
	if (mailimf_fields_parse(buf, n, &idx, &fields) != MAILIMF_NO_ERROR) {
		fprintf(stderr, "%s: libetpan cannot parse the header\n", path);
		return;
	}
	const char *to = NULL, *subject = NULL, *x = NULL;
	struct mailimf_mailbox *from = NULL, *reply = NULL;
	for (clistiter *it = clist_begin(fields->fld_list); it; it = clist_next(it)) {
		struct mailimf_field *fd = clist_content(it);
		switch (fd->fld_type) {
		case MAILIMF_FIELD_SUBJECT:
			subject = fd->fld_data.fld_subject->sbj_value;
			break;
		case MAILIMF_FIELD_FROM: {
			struct mailimf_mailbox_list *ml = fd->fld_data.fld_from->frm_mb_list;
			if (ml && !clist_isempty(ml->mb_list))
				from = clist_content(clist_begin(ml->mb_list));
			break;
		}
		case MAILIMF_FIELD_REPLY_TO:
			reply = first_mailbox(fd->fld_data.fld_reply_to->rt_addr_list);
			break;
		case MAILIMF_FIELD_TO: {
			struct mailimf_mailbox *m = first_mailbox(fd->fld_data.fld_to->to_addr_list);
			to = m ? m->mb_addr_spec : NULL;
			break;
		}
		case MAILIMF_FIELD_OPTIONAL_FIELD:
			if (!strcasecmp(fd->fld_data.fld_optional_field->fld_name, "X-Roundtrip"))
				x = fd->fld_data.fld_optional_field->fld_value;
			break;
		default:
			break;
		}
	}
	if (to) {
		char *s = decoded(subject), *xv = decoded(x);
		char *fn = from ? decoded(from->mb_display_name) : NULL, *rn = reply ? decoded(reply->mb_display_name) : NULL;
		printf("%s", *first ? "" : ",\n");
		*first = false;
		json_str(to);
		fputs(": {\"subject\": ", stdout);
		json_str(s);
		fputs(", \"x\": ", stdout);
		json_str(xv);
		fputs(", \"from\": ", stdout);
		json_str(fn ? fn : "");
		fputs(", \"from_addr\": ", stdout);
		json_str(from ? from->mb_addr_spec : NULL);
		fputs(", \"reply_to\": ", stdout);
		json_str(rn ? rn : "");
		fputs(", \"reply_to_addr\": ", stdout);
		json_str(reply ? reply->mb_addr_spec : NULL);
		fputs("}", stdout);
		free(s), free(xv), free(fn), free(rn);
	} else {
		fprintf(stderr, "%s: libetpan finds no To address\n", path);
	}
	mailimf_fields_free(fields);
}

static int phrases(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static char line[8192], buf[9000];
	bool first = true;
	fputs("[", stdout);
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		int n = snprintf(buf, sizeof buf, "From: %s <a@example.org>\r\nTo: b@example.org\r\n\r\n", line);
		size_t idx = 0;
		struct mailimf_fields *fields = NULL;
		char *name = NULL;
		if (n > 0 && (size_t)n < sizeof buf &&
		    mailimf_fields_parse(buf, (size_t)n, &idx, &fields) == MAILIMF_NO_ERROR) {
			struct mailimf_field *fd = clist_isempty(fields->fld_list) ? NULL : clist_content(clist_begin(fields->fld_list));
			if (fd && fd->fld_type == MAILIMF_FIELD_FROM && fd->fld_data.fld_from->frm_mb_list &&
			    !clist_isempty(fd->fld_data.fld_from->frm_mb_list->mb_list)) {
				struct mailimf_mailbox *m = clist_content(clist_begin(fd->fld_data.fld_from->frm_mb_list->mb_list));
				name = m->mb_display_name ? decoded(m->mb_display_name) : strdup("");
			}
		}
		fputs(first ? "" : ",", stdout);
		first = false;
		json_str(name);
		free(name);
		if (fields)
			mailimf_fields_free(fields);
	}
	fputs("]\n", stdout);
	fclose(f);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--phrases"))
		return phrases(argv[2]);
	if (argc != 2) {
		fprintf(stderr, "usage: roundtrip_etpan MAILDIR | --phrases FILE\n");
		return 2;
	}
	DIR *d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	struct dirent *de;
	bool first = true;
	char path[4096];
	fputs("{", stdout);
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
			one(path, &first);
		}
	fputs("}\n", stdout);
	closedir(d);
	return 0;
}
