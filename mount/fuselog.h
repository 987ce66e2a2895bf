/*
 * fuselog.h - libfuse's own messages, routed through core/log.h.
 */
#ifndef MOUNT_FUSELOG_H
#define MOUNT_FUSELOG_H

/*
 * Route libfuse's own messages through core/log.h, one line each, without
 * their "fuse: " prefix. Call first thing in main(), before any libfuse call.
 */
void daemon_log_init(void);

void capture_start(void);

/* Stop capturing; returns ": <what libfuse said>" or "". */
const char *capture_stop(void);

#endif /* MOUNT_FUSELOG_H */
