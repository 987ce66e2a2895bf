/*
 * fuselog.c - libfuse's messages routed through core/log.h: assembled into
 * whole lines per thread, "fuse: " prefix dropped; or captured, so that a
 * failed libfuse call becomes one line of ours.
 */
#include <fuse_lowlevel.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "fuselog.h"
#include "log.h"

/*
 * libfuse's messages, assembled per thread (one message may come in
 * several fuse_log() calls, and with -d every worker thread logs).
 */
static __thread char fl_line[1024];
static __thread size_t fl_len;

/*
 * While on, libfuse's lines are kept instead of printed, so that a failed
 * call becomes one line of ours. Only the main thread turns it on, before
 * any worker exists.
 */
static struct {
	bool on;
	bool got_err;
	char msg[sizeof(fl_line)];
} capture;

static enum log_level fuselog_level(enum fuse_log_level level)
{
	if (level <= FUSE_LOG_ERR)
		return LOG_LVL_ERR;
	if (level == FUSE_LOG_WARNING)
		return LOG_LVL_WARN;
	if (level == FUSE_LOG_DEBUG)
		return LOG_LVL_DEBUG;
	return LOG_LVL_INFO;
}

static void fuselog_line(enum fuse_log_level level, char *line)
{
	if (!strncmp(line, "fuse: ", 6))
		line += 6;
	if (!*line)
		return;
	if (capture.on) {
		/* keep the first error, or else the first line */
		if (!capture.msg[0] || (!capture.got_err &&
					level <= FUSE_LOG_ERR)) {
			snprintf(capture.msg, sizeof(capture.msg), "%s", line);
			capture.got_err = level <= FUSE_LOG_ERR;
		}
		return;
	}
	log_msg(fuselog_level(level), "%s", line);
}

static void fuselog_func(enum fuse_log_level level, const char *fmt,
			 va_list ap)
{
	size_t room = sizeof(fl_line) - fl_len;
	char *nl;
	int n;

	n = vsnprintf(fl_line + fl_len, room, fmt, ap);
	if (n < 0)
		return;
	fl_len += (size_t)n < room ? (size_t)n : room - 1;
	while ((nl = memchr(fl_line, '\n', fl_len))) {
		size_t used = nl - fl_line + 1;

		*nl = '\0';
		fuselog_line(level, fl_line);
		memmove(fl_line, nl + 1, fl_len - used);
		fl_len -= used;
		fl_line[fl_len] = '\0';
	}
	if (fl_len == sizeof(fl_line) - 1) {
		/* no newline in sight: flush what we have */
		fuselog_line(level, fl_line);
		fl_len = 0;
	}
}

void fuselog_init(void)
{
	fuse_set_log_func(fuselog_func);
}

void fuselog_capture_start(void)
{
	capture.on = true;
	capture.got_err = false;
	capture.msg[0] = '\0';
}

const char *fuselog_capture_stop(void)
{
	static char out[sizeof(capture.msg) + 2];

	capture.on = false;
	if (!capture.msg[0])
		return "";
	snprintf(out, sizeof(out), ": %s", capture.msg);
	return out;
}
