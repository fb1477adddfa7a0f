"""Run a command under the kernel restrictions the unit asks systemd for, without systemd.

    python tests/systemd/sandbox.py SYSCALLS_FILE -- COMMAND...

* ``MemoryDenyWriteExecute=yes``: ``prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN)``,
  the kernel's own form of it (Linux 6.3+; systemd uses it where it can).
* ``SystemCallFilter=`` with ``SystemCallErrorNumber=EPERM``: a seccomp
  allow-list of the syscall names in SYSCALLS_FILE (one a line, resolved by
  libseccomp); any other syscall fails with EPERM, as under the unit.
* ``NoNewPrivileges=yes``: ``prctl(PR_SET_NO_NEW_PRIVS)``, which seccomp needs.

``ProtectProc=invisible`` / ``ProcSubset=pid`` are a /proc mount; the test makes
it with ``unshare`` before this script runs. Then the command is exec'd.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

PR_SET_NO_NEW_PRIVS = 38
PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1
SCMP_ACT_ERRNO_EPERM = 0x00050000 | 1
SCMP_ACT_ALLOW = 0x7FFF0000
NR_SCMP_ERROR = -1


def main(argv: list[str]) -> int:
    syscalls_file, sep, *command = argv
    assert sep == "--" and command, __doc__
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_NO_NEW_PRIVS")
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "PR_SET_MDWE (Linux 6.3+)")
    seccomp = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2")
    seccomp.seccomp_init.restype = ctypes.c_void_p
    seccomp.seccomp_init.argtypes = [ctypes.c_uint32]
    seccomp.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    seccomp.seccomp_rule_add.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
    ]
    seccomp.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = seccomp.seccomp_init(SCMP_ACT_ERRNO_EPERM)
    with open(syscalls_file) as f:
        names = [line.strip() for line in f if line.strip()]
    for name in names:
        nr = seccomp.seccomp_syscall_resolve_name(name.encode())
        if nr != NR_SCMP_ERROR:  # a name this architecture does not have
            seccomp.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)
    if seccomp.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")
    os.execvp(command[0], command)
    return 127


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
