/*
 * statsfile.h - -o stats_file=PATH: a thread that writes the mount's
 * statistics in the Prometheus text format (mount/statsfmt.h) to PATH
 * every stats_interval seconds, as node_exporter's textfile collector
 * wants it: into PATH.PID.tmp in the same directory, then renamed over
 * PATH, so a reader sees the old file or the new one, never a part.
 */
#ifndef MOUNT_STATSFILE_H
#define MOUNT_STATSFILE_H

#include <stddef.h>

struct kvfs;
struct statsfile;

/*
 * Whether @path can be a stats file: absolute (the daemon changes to /),
 * its directory existing and writable. Returns 0, or -1 with a line in
 * @err (@len bytes).
 */
int statsfile_check(const char *path, char *err, size_t len);

/*
 * Start the thread over @fs (signals blocked by the caller): it writes
 * @path at once, then every @interval seconds. A failed write is logged
 * (the first of a run of failures, and when it works again). Returns 0
 * and the writer in *@out, or -errno.
 */
int statsfile_start(struct kvfs *fs, const char *path, unsigned interval,
		    struct statsfile **out);

/* Write once more (the last numbers), end the thread, free. NULL: no-op. */
void statsfile_stop(struct statsfile *sf);

#endif /* MOUNT_STATSFILE_H */
