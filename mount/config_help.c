/*
 * config_help.c - --help made from the table of [kvstripe] keys: each
 * option with its value, its text wrapped, and its default (config.h).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_i.h"

#define KV_HELP_INDENT	26	/* where an option's text starts */
#define KV_HELP_WIDTH	78

void kv_config_help_item(FILE *out, const char *left, const char *text)
{
	const char *p = text;
	int col = KV_HELP_INDENT;
	bool first = true;

	if (strlen(left) + 6 > KV_HELP_INDENT)
		fprintf(out, "    %s\n%*s", left, KV_HELP_INDENT, "");
	else
		fprintf(out, "    %-*s", KV_HELP_INDENT - 4, left);
	while (*p) {
		int n = (int)strcspn(p, " ");

		if (!first && col + 1 + n > KV_HELP_WIDTH) {
			fprintf(out, "\n%*s", KV_HELP_INDENT, "");
			col = KV_HELP_INDENT;
			first = true;
		}
		col += fprintf(out, "%s%.*s", first ? "" : " ", n, p);
		first = false;
		for (p += n; *p == ' '; p++)
			;
	}
	fputc('\n', out);
}

/* @k's default, as --help shows it. */
static void kv_help_default(const struct kv_key *k, char *buf, size_t len)
{
	struct kv_config def;
	const char *field;

	kv_config_init(&def);
	field = (const char *)&def + k->off;
	switch (k->type) {
	case KV_UINT:
		snprintf(buf, len, "%u", *(const unsigned *)field);
		break;
	case KV_SECONDS:
		snprintf(buf, len, "%g", *(const double *)field);
		break;
	case KV_BOOL:
		snprintf(buf, len, "%s", *(const bool *)field ? "yes" : "no");
		break;
	case KV_STR:
	case KV_OPTS:
		snprintf(buf, len, "none");
		break;
	case KV_SPACE:
		snprintf(buf, len, "min(4G,5%%)");
		break;
	}
}

/* "-d, -o debug", "-o gpus=N": how the command line gives @k; "" if not. */
static void kv_help_left(const struct kv_key *k, char *buf, size_t len)
{
	const char *sep = k->opt ? ", " : "";

	if (k->bare)
		snprintf(buf, len, "%s%s-o %s[=%s]", k->opt ? k->opt : "",
			 sep, k->name, k->arg);
	else if (k->flags & KV_CLI_BARE)
		snprintf(buf, len, "%s%s-o %s", k->opt ? k->opt : "", sep,
			 k->name);
	else if (k->flags & KV_CLI_VALUE)
		snprintf(buf, len, "%s%s-o %s=%s", k->opt ? k->opt : "", sep,
			 k->name, k->arg);
	else
		snprintf(buf, len, "%s", k->opt ? k->opt : "");
}

void kv_config_help(FILE *out)
{
	char left[64], text[512], def[32];
	const char *mark;
	size_t i;

	for (i = 0; kv_config_key(i); i++) {
		const struct kv_key *k = kv_config_key(i);

		kv_help_left(k, left, sizeof(left));
		if (!left[0])
			continue;	/* an argument, or -o OPT */
		mark = strstr(k->help, "{default}");
		if (mark) {
			kv_help_default(k, def, sizeof(def));
			snprintf(text, sizeof(text), "%.*s%s%s",
				 (int)(mark - k->help), k->help, def,
				 mark + strlen("{default}"));
		} else {
			snprintf(text, sizeof(text), "%s", k->help);
		}
		kv_config_help_item(out, left, text);
	}
}
