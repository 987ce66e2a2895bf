/*
 * statscmd.h - `kvstripe stats MNT [--json | --prometheus] [--watch N]`:
 * read a mount's statistics from its root's user.kvstripe.stats and
 * print them (mount/statsfmt.h). Needs nothing but read access to the
 * mount's root.
 */
#ifndef MOUNT_STATSCMD_H
#define MOUNT_STATSCMD_H

/*
 * Run `kvstripe stats`: @argv[0] is "stats", the arguments follow.
 * Returns the exit status: 0, 1 when the mount cannot be read, 2 for bad
 * arguments; errors are one line each on stderr, "kvstripe stats: ...".
 */
int stats_main(int argc, char *argv[]);

#endif /* MOUNT_STATSCMD_H */
