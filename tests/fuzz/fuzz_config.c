/*
 * fuzz_config.c - libFuzzer target for the INI loader: the input is the
 * config file, handed over as a memfd opened by its /proc path, then
 * merged with an empty command line as the daemon does. A file with a
 * control character other than tab, LF or CR must be refused.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Whether @data holds a control character other than tab, newline and
 * carriage return: a file that does is never accepted.
 */
static int t_has_ctrl(const uint8_t *data, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++)
		if ((data[i] < 0x20 && data[i] != '\t' && data[i] != '\n' &&
		     data[i] != '\r') || data[i] == 0x7f)
			return 1;
	return 0;
}

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
	if (!kv_config_load(&file, path, err, sizeof(err))) {
		if (t_has_ctrl(data, size))
			abort();
		if (!kv_config_merge(&out, &cli, &file))
			kv_config_release(&out);
	}
	kv_config_release(&file);
	kv_config_release(&cli);
	close(fd);
	return 0;
}
