/*
 * wire.h - the session's own reads and writes of /dev/fuse (wire.c).
 */
#ifndef FS_WIRE_H
#define FS_WIRE_H

#include "fs_i.h"

/*
 * Hook the reads and writes in, before the session reads its first
 * request. Returns 0 or -errno.
 */
int wire_attach(struct fuse_session *se);
/*
 * Note the request @buf that this thread is about to process (the read
 * hook does it for /dev/fuse, fring.c for the ring).
 */
void wire_request(const char *buf, size_t len);
/*
 * The request being handled on this thread is a WRITE carrying
 * FUSE_WRITE_KILL_SUIDGID (only ever with fs->killpriv).
 */
bool wire_kill_asked(void);

#endif /* FS_WIRE_H */
