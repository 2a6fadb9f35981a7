"""Merges the Rust and Python results of bench/compare.sh into one Markdown
table: each peer's median, and how many times slower (or bigger) it is than
permacache-rs in the same run. Then checks the targets."""

import json
import platform
import sys
import time

ROWS = [
    ("w1_hit_ns", "1. hit, `f(x, y=2)` -> 2 items, 10,000 entries, random keys", "time"),
    ("w2_miss_ns", "2. miss, including the write", "time"),
    ("w3_array_hit_ns", "3. hit, 10,000-float argument and result", "time"),
    ("w4_big_hit_ns", "4. hit returning an 8 MB float array", "time"),
    ("w5_bytes_per_entry", "5. bytes on disk per small entry", "bytes"),
    ("w6_threads_ns", "6a. 2 threads hitting one namespace (wall time per hit)", "time"),
    ("w6_processes_ns", "6b. 2 processes hitting one namespace (wall time per hit)", "time"),
    ("w7_hit_1m_ns", "7. hit with 1,000,000 entries", "time"),
    ("w8_ndarray_hit_ns", "8. hit, 100,000-float ndarray (numpy) argument and result", "time"),
]
# The floors (in "lmdb-floor"), with what each stands for.
FLOORS = [
    ("w1_hit_ns", "1", "read txn + get + key encoding"),
    ("w1_bare_get_ns", "1", "read txn + get alone"),
    ("w2_miss_ns", "2", "one fully synced LMDB commit of one small record"),
    ("w2_miss_nometasync_ns", "2", "the same commit without the meta page's sync"),
    ("w5_bytes_per_entry", "5", "LMDB holding the same records, one commit each"),
    ("w3_array_hit_ns", "3", "xxh3-128 of the argument + LMDB get + one copy of the result"),
    ("w4_big_hit_ns", "4", "one copy of 8 MB"),
    ("w8_ndarray_hit_ns", "8", "xxh3-128 of the argument + LMDB get + one copy of the result"),
]
# Peers that read their values from disk on every hit. Python's permacache
# keeps each value it has read in an in-process dict (its LockedShelf cache)
# and serves repeated hits from there.
DISK_PEERS = ("diskcache", "joblib", "cached-rs 4 (redb)")
MEMORY_NOTE = ("permacache-py serves a value it has read before from an in-process dict "
               "(LockedShelf's cache), so its repeated hits (workload 4) do not read the disk.")
BASE = "permacache-rs"


def show(value, kind):
    if value is None:
        return "n/a"
    if kind == "bytes":
        return f"{value:,.0f} B"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} ns"


def main():
    results = {}
    for path in sys.argv[1:]:
        results.update(json.load(open(path)))
    peers = [BASE] + [p for p in results if p not in (BASE, "lmdb-floor")]
    print(f"Run on {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
          f"{platform.system()}; medians; ratio = peer / permacache-rs in this run.\n")
    print("| workload | " + " | ".join(peers) + " |")
    print("|---|" + "---|" * len(peers))
    for key, label, kind in ROWS:
        base = results[BASE].get(key)
        cells = []
        for p in peers:
            v = results[p].get(key)
            cell = show(v, kind)
            if p != BASE and v is not None and base:
                cell += f" ({v / base:.1f}×)"
            cells.append(cell)
        print(f"| {label} | " + " | ".join(cells) + " |")
    floors = results.get("lmdb-floor", {})
    floor = floors.get("w1_hit_ns")
    plain = results[BASE].get("w3_array_hit_plain_key_ns")
    print()
    for key, n, what in FLOORS:
        mine = results[BASE].get(key.replace("_bare_get", "_hit").replace("_nometasync", ""))
        kind = "bytes" if key.startswith("w5") else "time"
        if floors.get(key) and mine:
            print(f"Floor of workload {n} ({what}): {show(floors[key], kind)}; "
                  f"permacache-rs is {mine / floors[key]:.2f}× it.")
    if plain:
        print(f"Workload 3 uses `#[fingerprint]` on the array; with the plain JSON key it takes {show(plain, 'time')}.")
    for p in peers:
        for k, v in results[p].items():
            if k.endswith("note"):
                print(f"{p}: {v}")
    if "permacache-py" in results:
        print(MEMORY_NOTE)

    print("\nTargets:")
    hit = results[BASE]["w1_hit_ns"]
    checks = []  # (target, figure, met)

    def faster(name, peer, key, need):
        if peer in results and results[peer].get(key):
            ratio = results[peer][key] / results[BASE][key]
            checks.append((name, f"{ratio:.1f}×", ratio >= need))

    faster("hit ≥ 100× faster than Python permacache", "permacache-py", "w1_hit_ns", 100)
    faster("hit ≥ 15× faster than diskcache", "diskcache", "w1_hit_ns", 15)
    if floor:
        checks.append(("hit within 1.15× of read txn + get + key encoding", f"{hit / floor:.2f}×",
                       hit / floor <= 1.15))
    bare = floors.get("w1_bare_get_ns")
    if bare:
        checks.append(("hit within 1.15× of a bare read txn + get", f"{hit / bare:.2f}×", hit / bare <= 1.15))
    commit = floors.get("w2_miss_ns")
    if commit:
        r = results[BASE]["w2_miss_ns"] / commit
        checks.append(("miss ≤ 0.6× one fully synced commit", f"{r:.2f}×", r <= 0.6))
    per_entry = results[BASE]["w5_bytes_per_entry"]
    checks.append(("≤ 128 bytes on disk per small entry", f"{per_entry:.0f} B", per_entry <= 128))
    for key, n, near in (("w3_array_hit_ns", "3", 1.5), ("w8_ndarray_hit_ns", "8", 1.15)):
        faster(f"workload {n} ≥ 10× faster than diskcache", "diskcache", key, 10)
        if floors.get(key) and results[BASE].get(key):
            r = results[BASE][key] / floors[key]
            checks.append((f"workload {n} within {near}× of its floor", f"{r:.2f}×", r <= near))
    for p in peers[1:]:
        if p in DISK_PEERS:
            faster(f"workload 4 faster than {p}", p, "w4_big_hit_ns", 1)
    if floors.get("w4_big_hit_ns"):
        r = results[BASE]["w4_big_hit_ns"] / floors["w4_big_hit_ns"]
        checks.append(("workload 4 within 1.5× of one 8 MB copy", f"{r:.2f}×", r <= 1.5))
    for name, figure, met in checks:
        print(f"- {name}: {'met' if met else 'MISSED'} ({figure})")


if __name__ == "__main__":
    main()
