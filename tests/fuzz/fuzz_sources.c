/*
 * fuzz_sources.c - libFuzzer target for the source-list parser (LMCache's
 * local_disk syntax: comma list, "file://", path normalisation). The list
 * comes from the command line or the config file of a root daemon; an
 * accepted one holds no control character but tab.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev.h"
#include "sources.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A control character other than tab: no accepted path holds one. */
static int t_has_ctrl(const char *s)
{
	for (; *s; s++)
		if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *list = strndup((const char *)data, size), err[256];
	char **paths;
	unsigned count, i;

	if (!list)
		return 0;
	if (!sources_parse(list, &paths, &count, err, sizeof(err))) {
		if (!count || count > DEV_MAX)
			abort();
		for (i = 0; i < count; i++)
			if (!paths[i][0] || strchr(paths[i], ',') ||
			    t_has_ctrl(paths[i]))
				abort();
		sources_free(paths, count);
	}
	free(list);
	return 0;
}
