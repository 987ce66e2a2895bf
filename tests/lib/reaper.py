#!/usr/bin/env python3
#
# reaper.py - run a launcher as a child subreaper and report what it leaves.
#
#   python3 tests/lib/reaper.py REPORT CMD [ARG...]
#
# A daemonized kvstripe (no -f, or started by mount(8) through its helper)
# forks away from its launcher; under this process it is adopted here
# instead of by init, so a test learns its PID (/proc/PID/task/PID/children)
# and its exit status. REPORT gets "launcher PID STATUS" when CMD exits,
# "exited PID STATUS" for each adopted process as it exits (STATUS
# negative: killed by that signal), and "done" once none is left.
import ctypes, os, subprocess, sys
PR_SET_CHILD_SUBREAPER = 36
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_CHILD_SUBREAPER): errno %d" % ctypes.get_errno())
report = open(sys.argv[1], "w", buffering=1)
launcher = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL)
report.write("launcher %d %d\n" % (launcher.pid, launcher.wait()))
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    report.write("exited %d %d\n" % (pid, os.waitstatus_to_exitcode(status)))
report.write("done\n")
