"""pyjson: the CPython workload of tests/bench/compare.sh.

Fixed work, no timing inside: `pyjson.py [ROUNDS [DEPTH]]` runs ROUNDS rounds (default 24,
about 3.5 s of CPU on a 2020s x86 core) of
  - building a nested document (dicts, lists, strings, ints, floats) through
    map() and a class whose __init__ recurses, so that every nesting level puts
    C frames (map, vectorcall, the eval loop) between the Python frames,
  - json.dumps of it with a default= hook (the C encoder recursing through the
    nesting and calling back into Python for the custom objects),
  - json.loads with an object_hook (the C scanner recursing and calling back),
  - dict churn: a table of string-keyed records updated, replaced and deleted.
DEPTH (default 7, 1-12) is the nesting of the document; each level less divides a round's
work by 3 (the callgrind runs use a smaller one).
Run it with PYTHONMALLOC=malloc so that every object goes through malloc; the
stacks at an allocation are then 30-60 frames deep (median 31, 90th percentile 59
with heapscope at depth 7). It prints one line,
`pyjson rounds=N depth=D checksum=C nodes=V maxrss_kib=K`: the checksum is a
CRC of everything produced and is the same on every run with the same ROUNDS and DEPTH
(a profiler that changes the program's behaviour shows up), maxrss_kib is
this process's own peak RSS (getrusage), so a profiler's helper processes
(heaptrack's interpreter) do not count in it.
"""
import json
import random
import resource
import sys
import zlib

FANOUT = 3


class Node:
    """A custom object the encoder cannot serialise: default= turns it into a dict."""

    __slots__ = ("name", "depth", "children", "values")

    def __init__(self, rng, depth):
        self.name = "node-%d-%d" % (depth, rng.randrange(1 << 30))
        self.depth = depth
        self.values = [rng.random() for _ in range(3)] + ["v" * rng.randrange(1, 40)]
        if depth > 0:
            # map() calls back into the eval loop: C frames between the Python ones.
            self.children = list(map(lambda _i: Node(rng, depth - 1), range(FANOUT - 1)))
        else:
            self.children = []


def build(rng, depth):
    if depth == 0:
        return {"leaf": "x" * rng.randrange(4, 64), "n": rng.randrange(1000), "f": rng.random()}
    doc = {
        "id": rng.randrange(1 << 31),
        "tag": "t%d" % depth,
        "items": list(map(lambda _i: build(rng, depth - 1), range(FANOUT))),
        "words": ["w%d" % rng.randrange(10000) for _ in range(4)],
    }
    if depth % 3 == 0:
        doc["node"] = Node(rng, 2)
    return doc


def encode_default(obj):
    if isinstance(obj, Node):
        return {"name": obj.name, "depth": obj.depth, "values": obj.values, "children": obj.children}
    raise TypeError(type(obj).__name__)


def on_object(d):
    # Called by the C scanner for every decoded object, deepest first.
    if "leaf" in d:
        d["len"] = len(d["leaf"])
    return d


def walk(doc):
    """Sums the decoded document through a recursion that goes through C (map/sum)."""
    if isinstance(doc, dict):
        return len(doc) + sum(map(walk, doc.values()))
    if isinstance(doc, list):
        return len(doc) + sum(map(walk, doc))
    if isinstance(doc, str):
        return len(doc)
    return 1


def churn(rng, table, count):
    crc = 0
    for i in range(count):
        key = "k%05d" % rng.randrange(4096)
        op = rng.randrange(8)
        if op < 4:
            table[key] = {"key": key, "seq": i, "payload": ["p"] * rng.randrange(1, 16), "s": key * 3}
        elif op < 6:
            rec = table.get(key)
            if rec is not None:
                rec["seq"] = i
                rec["payload"].append(key)
        else:
            rec = table.pop(key, None)
            if rec is not None:
                crc = zlib.crc32(rec["s"].encode(), crc)
    return crc


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    depth = int(sys.argv[2]) if len(sys.argv) > 2 else 7
    if rounds < 1 or not 1 <= depth <= 12:
        sys.exit("usage: pyjson.py [ROUNDS >= 1 [DEPTH 1-12]]")
    churn_ops = 30000 // 3 ** (7 - depth) if depth <= 7 else 30000 * 3 ** (depth - 7)
    rng = random.Random(20240611)
    crc = 0
    table = {}
    total = 0
    for _ in range(rounds):
        doc = build(rng, depth)
        text = json.dumps(doc, default=encode_default)
        crc = zlib.crc32(text.encode(), crc)
        back = json.loads(text, object_hook=on_object)
        total += walk(back)
        text2 = json.dumps(back, separators=(",", ":"), sort_keys=True)
        crc = zlib.crc32(text2.encode(), crc)
        crc = churn(rng, table, churn_ops) ^ crc
        del doc, back, text, text2
    crc = zlib.crc32(("%d %d" % (total, len(table))).encode(), crc)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("pyjson rounds=%d depth=%d checksum=%08x nodes=%d maxrss_kib=%d" % (rounds, depth, crc, total, rss))


if __name__ == "__main__":
    main()
