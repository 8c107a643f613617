"""A Python service with a leak, for tests/real/python.sh.

Three threads churn dicts, strings and JSON (round trips checked); a fourth
forks from inside its thread (the child works for 2.5 s, long enough to write
a dump of its own, and leaves with status 0; the parent waits for it); the
main thread adds to a module-level dict that is never trimmed: 250 strings
of 4200 bytes a second, caught up every 10 ms whatever the scheduling (above
pymalloc's 512-byte limit, so each is a malloc heapscope can sample), about
1 MiB/s.

Usage: leaky_registry.py SECONDS. Prints "ok entries=N churn=N fork=0" and
exits normally: the interpreter's finalization frees the registry before the
interposer's exit snapshot, so that snapshot shows the heap back at its
start. The report must still call it a leak: it judges the running program
and leaves the teardown out (docs/leak-detection.md, "The end of the run").
"""

import json
import os
import sys
import threading
import time

DURATION = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
registry = {}  # grows for the whole run: the leak the report must find
stop = threading.Event()
churned = [0, 0, 0]
fork_status = []
errors = []


def churn(n):
    count = 0
    try:
        while not stop.is_set():
            d = {
                "id": count,
                "name": "item-%d-%d" % (n, count),
                "tags": [str(i) * 40 for i in range(60)],
                "blob": "z" * (1000 + count % 3000),
            }
            back = json.loads(json.dumps(d))
            if back != d:
                raise ValueError("json round trip differs at %d" % count)
            count += 1
    except Exception as e:  # noqa: BLE001 - reported by the main thread
        errors.append(repr(e))
    churned[n] = count


def forker():
    time.sleep(1.0)
    pid = os.fork()
    if pid == 0:
        end = time.monotonic() + 2.5
        ok = True
        while time.monotonic() < end:
            x = {str(i): "c" * 600 for i in range(2000)}
            ok = ok and len(json.dumps(x)) > 1200000
        print("child %d" % os.getpid(), flush=True)
        os._exit(0 if ok else 7)
    _, status = os.waitpid(pid, 0)
    fork_status.append(status)


threads = [threading.Thread(target=churn, args=(i,)) for i in range(3)]
threads.append(threading.Thread(target=forker))
for t in threads:
    t.start()
start = time.monotonic()
i = 0
while time.monotonic() - start < DURATION:
    target = int((time.monotonic() - start) * 250)
    while i < target:
        registry["session-%07d" % i] = ("%07d" % i) * 600
        i += 1
    time.sleep(0.01)
stop.set()
for t in threads:
    t.join()
if errors:
    sys.exit("churn failed: %s" % errors)
if fork_status != [0]:
    sys.exit("fork child status %s" % fork_status)
if not all(churned):
    sys.exit("a churn thread did nothing: %s" % churned)
if len(registry) != i or registry["session-%07d" % (i - 1)] != ("%07d" % (i - 1)) * 600:
    sys.exit("registry lost entries")
print("ok entries=%d churn=%d fork=0" % (i, sum(churned)), flush=True)
