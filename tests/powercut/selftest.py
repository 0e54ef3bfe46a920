#!/usr/bin/python3
"""selftest: proves pcfs loses exactly what was not made durable.

Usage: selftest.py WORKDIR. Prints ok/FAIL lines and "N passed, N failed"."""
import errno
import fcntl
import os
import subprocess
import sys

from pcmount import Mount, check, summary, renameat2, RENAME_EXCHANGE, RENAME_NOREPLACE

work = sys.argv[1]


def write(path, data, sync):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    os.write(fd, data)
    if sync:
        os.fsync(fd)
    os.close(fd)


def dsync(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(fd)
    os.close(fd)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def errno_of(fn, *args):
    try:
        fn(*args)
        return 0
    except OSError as e:
        return errno.errorcode[e.errno]


m = Mount(os.path.join(work, "backing"), os.path.join(work, "mnt"), os.path.join(work, "pcfs.log"))
M = m.mnt
m.start()
try:
    for d in ("tmp", "new", "sent", "lost", "empty", "src", "dst", "xchg", "links"):
        os.mkdir(M + "/" + d)
    dsync(M)

    # 1. Written and renamed without any fsync: gone after the cut.
    write(M + "/tmp/a", b"A\n", False)
    os.rename(M + "/tmp/a", M + "/lost/a.yaml")
    # 2. File fsynced, renamed, target directory fsynced: survives whole.
    write(M + "/tmp/b", b"B\n", True)
    os.rename(M + "/tmp/b", M + "/new/b.yaml")
    dsync(M + "/new")
    # 3. File fsynced, directory not: gone.
    write(M + "/tmp/c", b"C\n", True)
    os.rename(M + "/tmp/c", M + "/lost/c.yaml")
    # 4. Directory fsynced, file data not: the name survives, empty.
    write(M + "/tmp/d", b"D\n", False)
    os.rename(M + "/tmp/d", M + "/empty/d.yaml")
    dsync(M + "/empty")
    # 5. A durable file rewritten in place without fsync: old content.
    fd = os.open(M + "/new/b.yaml", os.O_WRONLY)
    os.write(fd, b"changed\n")
    os.close(fd)
    check("before the cut the change is visible", read(M + "/new/b.yaml"), b"changed\n")
    # 6. Durable, then moved with only the target fsynced: in both.
    write(M + "/src/e.yaml", b"E\n", True)
    dsync(M + "/src")
    os.rename(M + "/src/e.yaml", M + "/dst/e.yaml")
    dsync(M + "/dst")
    # 7. RENAME_EXCHANGE, then both directories fsynced: exchanged.
    write(M + "/tmp/f1", b"F-new\n", True)
    write(M + "/xchg/f.yaml", b"F-old\n", True)
    dsync(M + "/xchg")
    dsync(M + "/tmp")
    renameat2(M + "/tmp/f1", M + "/xchg/f.yaml", RENAME_EXCHANGE)
    check("exchange: new content in place", read(M + "/xchg/f.yaml"), b"F-new\n")
    check("exchange: old content in tmp/", read(M + "/tmp/f1"), b"F-old\n")
    dsync(M + "/xchg")
    dsync(M + "/tmp")
    # 8. RENAME_NOREPLACE refuses an existing name; O_EXCL too.
    write(M + "/links/g0", b"G\n", True)
    check("noreplace refuses", errno_of(renameat2, M + "/links/g0", M + "/new/b.yaml", RENAME_NOREPLACE), "EEXIST")
    check("O_EXCL refuses", errno_of(write, M + "/new/b.yaml", b"x", False), "EEXIST")
    check("exchange needs both", errno_of(renameat2, M + "/links/g0", M + "/new/nope", RENAME_EXCHANGE), "ENOENT")
    # 9. A hard link made durable by its directory; the other name not.
    os.link(M + "/links/g0", M + "/new/g.yaml")
    check("hard link count", os.stat(M + "/new/g.yaml").st_nlink, 2)
    dsync(M + "/new")
    # 10. flock works across processes (kept by the kernel).
    fd = os.open(M + "/new/b.yaml", os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    other = subprocess.run(["flock", "-n", M + "/new/b.yaml", "true"]).returncode
    check("flock held against another process", other, 1)
    os.close(fd)
    # 11. An unlink not made durable: the file comes back.
    os.unlink(M + "/empty/d.yaml")
    check("unlinked before the cut", read(M + "/empty/d.yaml"), None)

    m.cut()
    check("after the cut the mount is dead", errno_of(os.listdir, M), "ENOTCONN")
    m.detach()
    m.start()

    check("unsynced file lost", read(M + "/lost/a.yaml"), None)
    check("unsynced rename source lost too", read(M + "/tmp/a"), None)
    check("fsynced file and directory survive, in-place change lost", read(M + "/new/b.yaml"), b"B\n")
    check("file fsynced, directory not: lost", read(M + "/lost/c.yaml"), None)
    check("directory fsynced, data not: empty; its unlink undone", read(M + "/empty/d.yaml"), b"")
    check("rename with only the target fsynced: in both", (read(M + "/src/e.yaml"), read(M + "/dst/e.yaml")),
          (b"E\n", b"E\n"))
    check("exchange durable", (read(M + "/xchg/f.yaml"), read(M + "/tmp/f1")), (b"F-new\n", b"F-old\n"))
    check("durable hard link", read(M + "/new/g.yaml"), b"G\n")
    check("its unsynced first name lost", read(M + "/links/g0"), None)
    check("backing tree holds only what is durable",
          sorted(os.listdir(os.path.join(m.backing, "tree", "new"))), ["b.yaml", "g.yaml"])
    check("backing: nothing in lost/", os.listdir(os.path.join(m.backing, "tree", "lost")), [])
    # A second cut with nothing new changes nothing.
    m.cut()
    m.detach()
    m.start()
    check("second boot the same", sorted(os.listdir(M + "/new")), ["b.yaml", "g.yaml"])
finally:
    m.stop()
sys.exit(summary())
