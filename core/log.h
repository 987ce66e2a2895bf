/*
 * log.h - leveled logging for every layer.
 *
 * core/ and fs/ log through these calls; mount/ decides where the lines go
 * (stderr in the foreground, syslog once daemonized) by installing a sink.
 */
#ifndef CORE_LOG_H
#define CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level {
	LOG_LVL_ERR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* Receives one formatted line without a trailing newline. */
typedef void (*log_sink_fn)(enum log_level level, const char *line);

/*
 * Install @sink (NULL restores the default, which writes "kvstripe: line"
 * to stderr) and the most verbose level that is still emitted.
 */
void log_setup(log_sink_fn sink, enum log_level max_level);

/* Whether a message at @level would be emitted: guards costly formatting. */
int log_enabled(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Format a message into @buf (@len bytes, truncated) for a caller that
 * returns it rather than logs it. NULL @buf or zero @len: nothing.
 */
void log_format(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

#endif /* CORE_LOG_H */
