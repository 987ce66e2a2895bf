/*
 * fsck.h - `kvstripe fsck SOURCES [--repair] [-j N] [-v] [-o OPTS]`: check
 * the backing directories of an unmounted kvstripe (core/check.h) and
 * print what was found, one line per problem and a summary per device.
 */
#ifndef MOUNT_FSCK_H
#define MOUNT_FSCK_H

/* fsck(8)'s exit codes, ORed where several hold. */
enum fsck_status {
	FSCK_CLEAN	= 0,	/* nothing torn, corrupt or stale */
	FSCK_CORRECTED	= 1,	/* some, and --repair removed them all */
	FSCK_LEFT	= 4,	/* some left: no --repair, or a removal failed */
	FSCK_OPERROR	= 8,	/* bad arguments, a source missing, unreadable
				   or in use by a mount, a file unreadable */
};

/*
 * Run `kvstripe fsck`: @argv[0] is "fsck", the arguments follow. Returns
 * the exit status (enum fsck_status); operational errors are one line
 * each on stderr, "kvstripe fsck: ...".
 */
int fsck_main(int argc, char *argv[]);

#endif /* MOUNT_FSCK_H */
