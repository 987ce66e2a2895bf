/*
 * fuzz_config.c - libFuzzer target for the INI loader: the input is the
 * config file, handed over as a memfd opened by its /proc path, then
 * merged with an empty command line as the daemon does.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kv_config file, cli, out;
	char path[64], err[512];
	int fd = memfd_create("kvstripe.ini", 0);

	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	kv_config_init(&file);
	kv_config_init(&cli);
	if (!kv_config_load(&file, path, err, sizeof(err)) &&
	    !kv_config_merge(&out, &cli, &file))
		kv_config_release(&out);
	kv_config_release(&file);
	kv_config_release(&cli);
	close(fd);
	return 0;
}
