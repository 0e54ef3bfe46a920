#!/usr/bin/python3
"""pcfs: a FUSE file system that loses, at a power cut, what was not made durable.

Usage: pcfs.py BACKING MOUNTPOINT [--ready FILE]

It keeps the whole file system in memory and treats BACKING as the disk:
BACKING/tree is the durable tree, and each regular file in it is a hard link
to BACKING/inodes/N, the durable content of inode N. Nothing reaches BACKING
until it is made durable, the way a strict reading of POSIX, and ext4
without a journal, allow:

  - fsync/fdatasync of a file makes its data, size and mode durable (never
    its name: a file created and fsynced but whose directory was not
    fsynced is gone after a cut);
  - fsync of a directory makes its entries durable as they are now: names
    added, removed, renamed in or out, exchanged. A rename between two
    directories is two independent changes: fsyncing only the target leaves
    the name in both after a cut, fsyncing only the source in neither (an
    inode no durable entry names is freed, as fsck would);
  - an entry made durable for an inode whose data never was shows an empty
    file (delayed allocation);
  - everything else (writes, truncates, creates, renames, unlinks, links,
    mkdir, rmdir) lives only in memory until then.

This is stricter than ext4 in one way on purpose: ext4 without a journal
also writes the parent directory's entry when a newly created file is
fsynced; pcfs does not, so a program must fsync the directory itself.

SIGUSR1 is the power cut: the process exits at once, between two requests
(requests are handled one at a time and each durable step is finished
before the next request is read), leaving BACKING as the disk would be. The
mount is then dead; unmount it (umount -l) and start pcfs again on the same
BACKING to "boot" with what survived. SIGTERM unmounts cleanly without
making anything more durable either.

flock is left to the kernel (pyfuse3 does not ask for FUSE_FLOCK_LOCKS), so
locks work between processes of this machine. rename honours
RENAME_NOREPLACE and RENAME_EXCHANGE; create honours O_EXCL; link makes
hard links."""
import errno
import os
import signal
import stat
import sys
import time

import pyfuse3
import trio

TIMEOUT = 1.0


class Node:
    __slots__ = ("ino", "mode", "uid", "gid", "rdev", "data", "target", "entries", "nlink",
                 "atime", "mtime", "ctime", "subdirs", "dirty")

    def __init__(self, ino, mode, uid, gid):
        self.ino = ino
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.rdev = 0
        self.data = bytearray()
        self.target = b""
        self.entries = {} if stat.S_ISDIR(mode) else None
        self.nlink = 0
        self.subdirs = 0
        self.dirty = set()  # directory: names changed since its last fsync
        now = time.time_ns()
        self.atime = self.mtime = self.ctime = now

    def isdir(self):
        return stat.S_ISDIR(self.mode)

    def isreg(self):
        return stat.S_ISREG(self.mode)


def err(code):
    return pyfuse3.FUSEError(code)


class PowerCutFS(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, backing):
        super().__init__()
        self.backing = os.fsencode(os.path.abspath(backing))
        self.tree = os.path.join(self.backing, b"tree")
        self.store = os.path.join(self.backing, b"inodes")
        os.makedirs(self.tree, exist_ok=True)
        os.makedirs(self.store, exist_ok=True)
        self.nodes = {}
        self.handles = {}
        self.next_fh = 1
        self.dur_entries = {}  # dir ino -> {name: ino}, as on "disk"
        self.dur_path = {}     # dir ino -> its path under tree, when the disk reaches it
        self.dur_file = set()  # file inos with a store file
        self.load()

    # ---- the disk ----

    def store_path(self, ino):
        return os.path.join(self.store, b"%d" % ino)

    def load(self):
        """Boot: the durable tree becomes the file system; what no durable
        entry names is freed."""
        by_backing_ino = {}
        top = 1
        for name in os.listdir(self.store):
            st = os.lstat(os.path.join(self.store, name))
            if st.st_nlink <= 1:
                os.unlink(os.path.join(self.store, name))
                continue
            by_backing_ino[st.st_ino] = int(name)
            top = max(top, int(name))
        self.next_ino = top + 1
        st = os.lstat(self.tree)
        root = Node(pyfuse3.ROOT_INODE, st.st_mode, st.st_uid, st.st_gid)
        root.nlink = 2
        self.nodes[root.ino] = root
        self.load_dir(root, self.tree, by_backing_ino)

    def load_dir(self, dnode, path, by_backing_ino):
        self.dur_path[dnode.ino] = path
        for name in os.listdir(path):
            p = os.path.join(path, name)
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                ino = by_backing_ino.get(st.st_ino)
                if ino is None:  # put there by hand: adopt it
                    ino = self.new_ino()
                    os.link(p, self.store_path(ino))
                    by_backing_ino[st.st_ino] = ino
                node = self.nodes.get(ino)
                if node is None:
                    node = Node(ino, st.st_mode, st.st_uid, st.st_gid)
                    with open(p, "rb") as f:
                        node.data = bytearray(f.read())
                    node.mtime = node.ctime = node.atime = st.st_mtime_ns
                    self.nodes[ino] = node
                    self.dur_file.add(ino)
            else:
                node = Node(self.new_ino(), st.st_mode, st.st_uid, st.st_gid)
                node.mtime = node.ctime = node.atime = st.st_mtime_ns
                self.nodes[node.ino] = node
                if stat.S_ISLNK(st.st_mode):
                    node.target = os.readlink(p)
                elif stat.S_ISDIR(st.st_mode):
                    node.nlink = 1
                    dnode.subdirs += 1
                    self.load_dir(node, p, by_backing_ino)
                else:
                    node.rdev = st.st_rdev
            node.nlink += 1
            dnode.entries[name] = node.ino
        self.dur_entries[dnode.ino] = dict(dnode.entries)

    def new_ino(self):
        ino = self.next_ino
        self.next_ino += 1
        return ino

    def persist_file(self, node):
        """fsync of a file: its data, size, mode and times reach the disk."""
        path = self.store_path(node.ino)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.pwrite(fd, bytes(node.data), 0)
            os.ftruncate(fd, len(node.data))
            os.fchmod(fd, stat.S_IMODE(node.mode))
            os.fchown(fd, node.uid, node.gid)
            os.utime(fd, ns=(node.atime, node.mtime))
        finally:
            os.close(fd)
        self.dur_file.add(node.ino)

    def ensure_stored(self, node):
        """An entry reaches the disk before the data: an empty inode."""
        if node.ino in self.dur_file:
            return
        path = self.store_path(node.ino)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, stat.S_IMODE(node.mode))
        os.fchown(fd, node.uid, node.gid)
        os.close(fd)
        self.dur_file.add(node.ino)

    def materialize(self, ino, path):
        """Writes the durable form of inode ino at path (a fresh name)."""
        node = self.nodes[ino]
        if node.isreg():
            self.ensure_stored(node)
            os.link(self.store_path(ino), path)
        elif node.isdir():
            os.mkdir(path)
            os.chmod(path, stat.S_IMODE(node.mode))
            os.chown(path, node.uid, node.gid)
            self.dur_path[ino] = path
            for name, child in self.dur_entries.setdefault(ino, {}).items():
                self.materialize(child, os.path.join(path, name))
        elif stat.S_ISLNK(node.mode):
            os.symlink(node.target, path)
        else:
            os.mknod(path, node.mode, node.rdev)

    def forget_paths(self, ino):
        if self.dur_path.pop(ino, None) is None:
            return
        for child in self.dur_entries.get(ino, {}).values():
            if child in self.nodes and self.nodes[child].isdir():
                self.forget_paths(child)

    def remove_path(self, ino, path):
        if ino in self.nodes and self.nodes[ino].isdir():
            self.forget_paths(ino)
            for root, dirs, files in os.walk(path, topdown=False):
                for f in files:
                    os.unlink(os.path.join(root, f))
                for d in dirs:
                    p = os.path.join(root, d)
                    os.unlink(p) if os.path.islink(p) else os.rmdir(p)
            os.rmdir(path)
        else:
            os.unlink(path)

    def persist_dir(self, dnode):
        """fsync of a directory: its entries, as they are now, reach the disk."""
        dur = self.dur_entries.setdefault(dnode.ino, {})
        base = self.dur_path.get(dnode.ino)
        for name in sorted(dnode.dirty):
            cur, old = dnode.entries.get(name), dur.get(name)
            if cur == old:
                continue
            if base is not None:
                path = os.path.join(base, name)
                if old is not None:
                    self.remove_path(old, path)
                if cur is not None:
                    self.materialize(cur, path)
            elif cur is not None and self.nodes[cur].isreg():
                self.ensure_stored(self.nodes[cur])
            if cur is None:
                del dur[name]
            else:
                dur[name] = cur
        dnode.dirty.clear()

    # ---- attributes ----

    def attrs(self, node):
        a = pyfuse3.EntryAttributes()
        a.st_ino = node.ino
        a.generation = 0
        a.entry_timeout = TIMEOUT
        a.attr_timeout = TIMEOUT
        a.st_mode = node.mode
        a.st_nlink = node.nlink + node.subdirs
        a.st_uid = node.uid
        a.st_gid = node.gid
        a.st_rdev = node.rdev
        size = len(node.data) if node.isreg() else (len(node.target) if stat.S_ISLNK(node.mode) else 4096)
        a.st_size = size
        a.st_blksize = 4096
        a.st_blocks = (size + 511) // 512
        a.st_atime_ns = node.atime
        a.st_mtime_ns = node.mtime
        a.st_ctime_ns = node.ctime
        return a

    def node(self, ino):
        n = self.nodes.get(ino)
        if n is None:
            raise err(errno.ENOENT)
        return n

    def dir(self, ino):
        n = self.node(ino)
        if not n.isdir():
            raise err(errno.ENOTDIR)
        return n

    def touch_dir(self, d, name):
        d.dirty.add(name)
        d.mtime = d.ctime = time.time_ns()

    def add_entry(self, d, name, node):
        d.entries[name] = node.ino
        node.nlink += 1
        if node.isdir():
            d.subdirs += 1
        self.touch_dir(d, name)

    def del_entry(self, d, name):
        node = self.nodes[d.entries.pop(name)]
        node.nlink -= 1
        node.ctime = time.time_ns()
        if node.isdir():
            d.subdirs -= 1
        self.touch_dir(d, name)
        return node

    def make(self, parent, name, mode, ctx):
        d = self.dir(parent)
        if name in d.entries:
            raise err(errno.EEXIST)
        gid = ctx.gid
        if d.mode & stat.S_ISGID:
            gid = d.gid
            if stat.S_ISDIR(mode):
                mode |= stat.S_ISGID
        node = Node(self.new_ino(), mode, ctx.uid, gid)
        if node.isdir():
            node.nlink = 1  # its own "."
        self.nodes[node.ino] = node
        self.add_entry(d, name, node)
        return node

    # ---- operations ----

    async def lookup(self, parent_inode, name, ctx):
        d = self.dir(parent_inode)
        if name == b".":
            return self.attrs(d)
        ino = d.entries.get(name)
        if ino is None:
            raise err(errno.ENOENT)
        return self.attrs(self.nodes[ino])

    async def getattr(self, inode, ctx):
        return self.attrs(self.node(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        node = self.node(inode)
        now = time.time_ns()
        if fields.update_size:
            if not node.isreg():
                raise err(errno.EINVAL)
            n = attr.st_size
            if n < len(node.data):
                del node.data[n:]
            else:
                node.data.extend(bytes(n - len(node.data)))
            node.mtime = now
        if fields.update_mode:
            node.mode = stat.S_IFMT(node.mode) | stat.S_IMODE(attr.st_mode)
        if fields.update_uid:
            node.uid = attr.st_uid
        if fields.update_gid:
            node.gid = attr.st_gid
        if fields.update_atime:
            node.atime = attr.st_atime_ns
        if fields.update_mtime:
            node.mtime = attr.st_mtime_ns
        node.ctime = attr.st_ctime_ns if fields.update_ctime else now
        return self.attrs(node)

    async def readlink(self, inode, ctx):
        return self.node(inode).target

    async def opendir(self, inode, ctx):
        self.dir(inode)
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = [inode, []]
        return fh

    async def readdir(self, fh, start_id, token):
        h = self.handles[fh]
        d = self.dir(h[0])
        if start_id == 0:  # (re)start: rewinddir sees the directory as it is now
            h[1] = sorted(d.entries.items())
        listing = h[1]
        for i in range(start_id, len(listing)):
            name, ino = listing[i]
            node = self.nodes.get(ino)
            if node is None:
                continue
            if not pyfuse3.readdir_reply(token, name, self.attrs(node), i + 1):
                break

    async def releasedir(self, fh):
        self.handles.pop(fh, None)

    async def fsyncdir(self, fh, datasync):
        self.persist_dir(self.dir(self.handles[fh][0]))

    async def mkdir(self, parent_inode, name, mode, ctx):
        return self.attrs(self.make(parent_inode, name, stat.S_IFDIR | stat.S_IMODE(mode), ctx))

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        node = self.make(parent_inode, name, mode, ctx)
        node.rdev = rdev
        return self.attrs(node)

    async def symlink(self, parent_inode, name, target, ctx):
        node = self.make(parent_inode, name, stat.S_IFLNK | 0o777, ctx)
        node.target = target
        return self.attrs(node)

    async def unlink(self, parent_inode, name, ctx):
        d = self.dir(parent_inode)
        ino = d.entries.get(name)
        if ino is None:
            raise err(errno.ENOENT)
        if self.nodes[ino].isdir():
            raise err(errno.EISDIR)
        self.del_entry(d, name)

    async def rmdir(self, parent_inode, name, ctx):
        d = self.dir(parent_inode)
        ino = d.entries.get(name)
        if ino is None:
            raise err(errno.ENOENT)
        node = self.nodes[ino]
        if not node.isdir():
            raise err(errno.ENOTDIR)
        if node.entries:
            raise err(errno.ENOTEMPTY)
        self.del_entry(d, name)

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        src, dst = self.dir(parent_inode_old), self.dir(parent_inode_new)
        a = src.entries.get(name_old)
        if a is None:
            raise err(errno.ENOENT)
        b = dst.entries.get(name_new)
        if flags & pyfuse3.RENAME_EXCHANGE:
            if b is None:
                raise err(errno.ENOENT)
            na, nb = self.nodes[a], self.nodes[b]
            if src is not dst and na.isdir() != nb.isdir():
                src.subdirs += nb.isdir() - na.isdir()
                dst.subdirs += na.isdir() - nb.isdir()
            src.entries[name_old], dst.entries[name_new] = b, a
            self.touch_dir(src, name_old)
            self.touch_dir(dst, name_new)
            na.ctime = nb.ctime = time.time_ns()
            return
        if b is not None:
            if flags & pyfuse3.RENAME_NOREPLACE:
                raise err(errno.EEXIST)
            if a == b:
                return  # two names of one inode: POSIX says do nothing
            nb = self.nodes[b]
            if nb.isdir():
                if not self.nodes[a].isdir():
                    raise err(errno.EISDIR)
                if nb.entries:
                    raise err(errno.ENOTEMPTY)
            elif self.nodes[a].isdir():
                raise err(errno.ENOTDIR)
            self.del_entry(dst, name_new)
        node = self.del_entry(src, name_old)
        self.add_entry(dst, name_new, node)

    async def link(self, inode, new_parent_inode, new_name, ctx):
        node = self.node(inode)
        d = self.dir(new_parent_inode)
        if node.isdir():
            raise err(errno.EPERM)
        if new_name in d.entries:
            raise err(errno.EEXIST)
        self.add_entry(d, new_name, node)
        node.ctime = time.time_ns()
        return self.attrs(node)

    def new_fh(self, ino):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = [ino, None]
        return pyfuse3.FileInfo(fh=fh)

    async def open(self, inode, flags, ctx):
        node = self.node(inode)
        if flags & os.O_TRUNC and node.isreg():
            node.data.clear()
            node.mtime = node.ctime = time.time_ns()
        return self.new_fh(inode)

    async def create(self, parent_inode, name, mode, flags, ctx):
        node = self.make(parent_inode, name, stat.S_IFREG | stat.S_IMODE(mode), ctx)
        return self.new_fh(node.ino), self.attrs(node)

    async def read(self, fh, off, size):
        node = self.nodes[self.handles[fh][0]]
        return bytes(node.data[off:off + size])

    async def write(self, fh, off, buf):
        node = self.nodes[self.handles[fh][0]]
        end = off + len(buf)
        if off > len(node.data):
            node.data.extend(bytes(off - len(node.data)))
        node.data[off:end] = buf
        node.mtime = node.ctime = time.time_ns()
        return len(buf)

    async def fsync(self, fh, datasync):
        node = self.nodes[self.handles[fh][0]]
        if node.isreg():
            self.persist_file(node)

    async def flush(self, fh):
        pass

    async def release(self, fh):
        self.handles.pop(fh, None)

    async def access(self, inode, mode, ctx):
        return True

    async def forget(self, inode_list):
        pass  # inodes live until the next boot

    async def statfs(self, ctx):
        s = os.statvfs(self.backing)
        r = pyfuse3.StatvfsData()
        r.f_bsize, r.f_frsize = s.f_bsize, s.f_frsize
        r.f_blocks, r.f_bfree, r.f_bavail = s.f_blocks, s.f_bfree, s.f_bavail
        r.f_files, r.f_ffree, r.f_favail = s.f_files, s.f_ffree, s.f_favail
        r.f_namemax = 255
        return r


async def cut_on_signal():
    with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGTERM) as signals:
        async for sig in signals:
            if sig == signal.SIGUSR1:
                os._exit(0)  # the power cut: nothing more reaches BACKING
            pyfuse3.terminate()
            return


async def run():
    async with trio.open_nursery() as n:
        n.start_soon(cut_on_signal)
        await pyfuse3.main()
        n.cancel_scope.cancel()


def main():
    args = sys.argv[1:]
    ready = None
    if "--ready" in args:
        i = args.index("--ready")
        ready = args[i + 1]
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit("usage: pcfs.py BACKING MOUNTPOINT [--ready FILE]")
    fs = PowerCutFS(args[0])
    opts = set(pyfuse3.default_options)
    opts |= {"fsname=pcfs", "allow_other"}
    pyfuse3.init(fs, args[1], opts)
    if ready:
        with open(ready, "w") as f:
            f.write("%d\n" % os.getpid())
    try:
        trio.run(run)
    finally:
        pyfuse3.close(unmount=True)


if __name__ == "__main__":
    main()
