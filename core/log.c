/*
 * log.c - leveled logging with a replaceable sink.
 *
 * The sink and level are set once at start-up, before any worker thread
 * exists, so reading them without a lock is safe.
 */
#include <stdio.h>

#include "log.h"

static log_sink_fn log_sink;
static enum log_level log_max = LOG_LVL_INFO;

void log_setup(log_sink_fn sink, enum log_level max_level)
{
	log_sink = sink;
	log_max = max_level;
}

int log_enabled(enum log_level level)
{
	return level <= log_max;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_sink)
		log_sink(level, line);
	else
		fprintf(stderr, "kvstripe: %s\n", line);
}

void log_format(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}
