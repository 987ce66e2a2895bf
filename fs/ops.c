/*
 * ops.c - the connection set-up (INIT) and the operations table.
 *
 * Capabilities asked of the kernel: 1 MiB writes, async direct I/O with a
 * deep background queue (a client's large O_DIRECT request fans out into
 * parallel 1 MiB requests), opens without round trips, readdirplus,
 * parallel dirops, POSIX ACLs.
 */
#include "log.h"
#include "ops.h"
#include "transport/transport.h"

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct kvfs *fs = userdata;

	if (fs->p.max_write)
		conn->max_write = fs->p.max_write;
	conn->max_read = fs->p.max_read;	/* libfuse checks it matches */
	/*
	 * The kernel keeps the smaller of this and the bdi's read_ahead_kb,
	 * which mount/ raised before INIT was answered.
	 */
	if (fs->p.max_readahead)
		conn->max_readahead = fs->p.max_readahead;
	if (fs->p.max_background) {
		conn->max_background = fs->p.max_background;
		conn->congestion_threshold = fs->p.max_background * 3 / 4;
	}
	conn->want |= conn->capable & (FUSE_CAP_ASYNC_DIO |
				       FUSE_CAP_READDIRPLUS |
				       FUSE_CAP_READDIRPLUS_AUTO |
				       FUSE_CAP_PARALLEL_DIROPS |
				       FUSE_CAP_ASYNC_READ);
	/*
	 * No opendir/releasedir round trips, and the kernel caches listings
	 * (it does for directories it opens without asking us).
	 */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		fs->no_opendir = true;
	}
	/*
	 * Readers past the page cache need the OPEN round trip, to be told
	 * so (file_open_flags()), and a kernel that maps such files shared.
	 */
	if (!fs->p.read_cache) {
		fs->direct_reads = transport_offered(fs->tp) &
				   TRANSPORT_INIT_DIRECT_IO_MMAP;
		if (!fs->direct_reads)
			log_warn("this kernel cannot map direct I/O files "
				 "shared (6.6+): reads go through its page "
				 "cache");
	}
	/*
	 * Else no open/release round trips either (fcache.h). O_TRUNC then
	 * comes as a SETATTR, also from a kernel that still sends OPEN:
	 * without atomic_o_trunc, whose truncation an unsent OPEN would lose.
	 */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	if ((conn->capable & FUSE_CAP_NO_OPEN_SUPPORT) && !fs->direct_reads) {
		conn->want |= FUSE_CAP_NO_OPEN_SUPPORT;
		fs->no_open = true;
	}
	/* the daemon writes through O_DIRECT: no page cache games */
	conn->want &= ~(FUSE_CAP_WRITEBACK_CACHE | FUSE_CAP_SPLICE_READ |
			FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* ... except on devices whose storage is the page cache */
	for (unsigned d = 0; d < fs->ndev; d++)
		if (kv_dev(fs, d)->page_cache &&
		    (conn->capable & FUSE_CAP_SPLICE_WRITE))
			fs->splice_reads = true;
	if (fs->splice_reads)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	/*
	 * POSIX ACLs: the kernel enforces them and hands their xattrs to
	 * us; the backing file systems store them, keep the mode in step
	 * with them and give new entries the parent's default ACL, as long
	 * as entries are made with the caller's umask, which the kernel
	 * then leaves to us (caller_umask()).
	 */
	if ((conn->capable & KV_ACL_CAPS) == KV_ACL_CAPS) {
		conn->want |= KV_ACL_CAPS;
		fs->posix_acl = true;
	}
}

static const struct fuse_lowlevel_ops kvfs_ll_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write = fs_write,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.setxattr = fs_setxattr,
	.getxattr = fs_getxattr,
	.listxattr = fs_listxattr,
	.removexattr = fs_removexattr,
	.create = fs_create,
	.fallocate = fs_fallocate,
	.lseek = fs_lseek,
};

const struct fuse_lowlevel_ops *kvfs_ops(void)
{
	return &kvfs_ll_ops;
}
