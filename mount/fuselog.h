/*
 * fuselog.h - libfuse's own messages, routed through core/log.h (and so to
 * wherever mount/ sends our lines), or captured while a libfuse call that
 * may fail runs, to become part of our one error line.
 */
#ifndef MOUNT_FUSELOG_H
#define MOUNT_FUSELOG_H

/*
 * Route libfuse's messages through core/log.h, one line each, without
 * their "fuse: " prefix. Call first thing in main(), before any libfuse call.
 */
void fuselog_init(void);

/*
 * Keep libfuse's lines (its first error, else its first line) instead of
 * logging them, until fuselog_capture_stop(). Main thread only, before any
 * worker thread exists.
 */
void fuselog_capture_start(void);

/*
 * Stop capturing. Returns ": <what libfuse said>", or "" if it said
 * nothing; the string is static, valid until the next call.
 */
const char *fuselog_capture_stop(void);

#endif /* MOUNT_FUSELOG_H */
