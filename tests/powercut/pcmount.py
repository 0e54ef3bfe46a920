"""pcmount: start pcfs on a mount point, cut its power, boot it again.

Used by selftest.py, windows.py and run.py (with the checks' ok/FAIL lines); needs root and /dev/fuse."""
import ctypes
import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"

_libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(old, new, flags):
    """renameat2(2) by path; raises OSError like os.rename."""
    if _libc.renameat2(AT_FDCWD, os.fsencode(old), AT_FDCWD, os.fsencode(new), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), old)


counts = {"passed": 0, "failed": 0}


def check(name, got, want):
    """A TAP-like ok/FAIL line; counted for summary()."""
    if got == want:
        counts["passed"] += 1
        print("ok - %s" % name)
        return True
    counts["failed"] += 1
    print("FAIL - %s: got %r, want %r" % (name, got, want))
    return False


def summary():
    """Prints "N passed, N failed"; the exit status for it."""
    print("%d passed, %d failed" % (counts["passed"], counts["failed"]))
    return 1 if counts["failed"] else 0


def unmount(mnt):
    subprocess.run(["umount", "-l", mnt], stderr=subprocess.DEVNULL, check=False)


class Mount:
    def __init__(self, backing, mnt, log):
        self.backing, self.mnt, self.log = backing, mnt, log
        self.proc = None
        os.makedirs(backing, exist_ok=True)
        os.makedirs(mnt, exist_ok=True)

    def start(self):
        ready = os.path.join(os.path.dirname(os.path.abspath(self.backing)),
                             ".pcfs-ready.%d" % os.getpid())
        if os.path.exists(ready):
            os.unlink(ready)
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen([PY, os.path.join(HERE, "pcfs.py"), self.backing, self.mnt,
                                          "--ready", ready], stdout=log, stderr=log)
        for _ in range(300):
            if os.path.exists(ready):
                os.unlink(ready)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("pcfs did not mount %s (see %s)" % (self.mnt, self.log))

    def cut(self):
        """The power cut: pcfs stops between two requests; the mount is dead."""
        self.proc.send_signal(signal.SIGUSR1)
        self.proc.wait()
        self.proc = None

    def detach(self):
        unmount(self.mnt)

    def stop(self):
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        unmount(self.mnt)
