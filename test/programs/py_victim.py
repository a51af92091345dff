# A workload for bcc's Python tools (ugc -l python): CPython's USDT probes (gc__start/gc__done,
# guarded by semaphores) fire from the interpreter binary. Each stdin line runs one batch and is
# answered by "done <line>":
#   gc N   N full collections (gc.collect())
#   q      exit
import gc
import os
import sys

print("ready pid=%d" % os.getpid(), flush=True)
for line in sys.stdin:
    words = line.split()
    if words == ["q"]:
        break
    if len(words) == 2 and words[0] == "gc":
        for _ in range(int(words[1])):
            gc.collect()
    print("done " + line.strip(), flush=True)
