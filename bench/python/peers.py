"""The Python peers on the comparison workloads (see bench/rust/src/main.rs for
the list): Python's permacache (the original), joblib.Memory and diskcache,
each used as its documentation shows. Prints one JSON object,
{peer: {metric: value}}, on stdout. Run by bench/compare.sh.

Usage: peers.py WORKDIR [--million-budget SECONDS]
"""

import json
import multiprocessing as mp
import os
import shutil
import sys
import threading
import time

import numpy as np

WARM = 10_000
MILLION = 1_000_000
SHARED_HITS = 20_000


class Rng:
    """xorshift64, the same sequence as the Rust harness."""

    def __init__(self, seed):
        self.s = seed

    def below(self, n):
        m = (1 << 64) - 1
        self.s ^= (self.s << 13) & m
        self.s ^= self.s >> 7
        self.s ^= (self.s << 17) & m
        return self.s % n


def median_ns(batches, per_batch, call):
    means = []
    for _ in range(batches):
        t = time.perf_counter_ns()
        for _ in range(per_batch):
            call()
        means.append((time.perf_counter_ns() - t) / per_batch)
    means.sort()
    return means[len(means) // 2]


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.stat(os.path.join(root, f)).st_blocks * 512
            except FileNotFoundError:
                pass
    return total


def small_body(x, y=2):
    return [x, y]


def array_body(a):
    return a * 2.0


def big_body(k):
    return np.arange(1_000_000, dtype=np.float64) + k


def make(peer, workdir):
    """The peer's cached functions: small(x, y=2), array(a), big(k)."""
    if peer == "permacache-py":
        import permacache.cache as pc

        pc.CACHE = workdir
        from permacache import permacache

        return (
            permacache("compare/small")(small_body),
            permacache("compare/array")(array_body),
            permacache("compare/big")(big_body),
        )
    if peer == "joblib":
        import joblib

        memory = joblib.Memory(workdir, verbose=0)
        return memory.cache(small_body), memory.cache(array_body), memory.cache(big_body)
    if peer == "diskcache":
        import diskcache

        cache = diskcache.Cache(workdir)
        return (
            cache.memoize(name="small")(small_body),
            cache.memoize(name="array")(array_body),
            cache.memoize(name="big")(big_body),
        )
    raise ValueError(peer)


def worker(peer, workdir, seed):
    small, _, _ = make(peer, workdir)
    rng = Rng(seed)
    for _ in range(SHARED_HITS):
        small(rng.below(WARM))


def run_peer(peer, workdir, million_budget):
    out = {}
    small, array, big = make(peer, workdir)
    t = time.perf_counter()
    for x in range(WARM):
        small(x)
    warm_rate = WARM / (time.perf_counter() - t)
    rng = Rng(42)
    out["w1_hit_ns"] = median_ns(21, 2000 if peer != "joblib" else 200, lambda: small(rng.below(WARM)))
    nxt = [WARM]

    def miss():
        nxt[0] += 1
        small(nxt[0])

    out["w2_miss_ns"] = median_ns(11, 50, miss)
    arrays = [np.arange(10_000, dtype=np.float64) * 0.001 + seed for seed in range(50)]
    for a in arrays:
        array(a)
    out["w3_array_hit_ns"] = median_ns(11, 100, lambda: array(arrays[rng.below(50)].copy()))
    big(1)
    out["w4_big_hit_ns"] = median_ns(15, 1, lambda: big(1))
    nds = [np.arange(100_000, dtype=np.float64) * 0.001 + seed for seed in range(20)]
    for a in nds:
        array(a)
    out["w8_ndarray_hit_ns"] = median_ns(11, 20, lambda: array(nds[rng.below(20)].copy()))
    # Bytes per entry: a fresh store holding only the 10,000 small entries.
    sizedir = workdir + "-size"
    s_small, _, _ = make(peer, sizedir)
    for x in range(WARM):
        s_small(x)
    out["w5_bytes_per_entry"] = du(sizedir) / WARM
    shutil.rmtree(sizedir, ignore_errors=True)

    def threads():
        def hit(seed):
            r = Rng(seed)
            for _ in range(SHARED_HITS):
                small(r.below(WARM))

        ts = [threading.Thread(target=hit, args=(s,)) for s in (7, 8)]
        t0 = time.perf_counter_ns()
        for t_ in ts:
            t_.start()
        for t_ in ts:
            t_.join()
        return (time.perf_counter_ns() - t0) / (2 * SHARED_HITS)

    out["w6_threads_ns"] = threads()
    ctx = mp.get_context("spawn")
    ps = [ctx.Process(target=worker, args=(peer, workdir, s)) for s in (7, 8)]
    t0 = time.perf_counter_ns()
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    out["w6_processes_ns"] = (time.perf_counter_ns() - t0) / (2 * SHARED_HITS)

    projected = MILLION / warm_rate
    if projected > million_budget:
        out["w7_hit_1m_ns"] = None
        out["w7_note"] = (
            f"not run: filling 1,000,000 entries at the measured {warm_rate:.0f}/s "
            f"would take {projected / 60:.0f} min (budget {million_budget / 60:.0f} min)"
        )
    else:
        mdir = workdir + "-million"
        m_small, _, _ = make(peer, mdir)
        for x in range(MILLION):
            m_small(x)
        out["w7_hit_1m_ns"] = median_ns(21, 2000, lambda: m_small(rng.below(MILLION)))
        shutil.rmtree(mdir, ignore_errors=True)
    return out


def main():
    workdir = sys.argv[1]
    budget = 600.0
    if "--million-budget" in sys.argv:
        budget = float(sys.argv[sys.argv.index("--million-budget") + 1])
    results = {}
    for peer in ("permacache-py", "joblib", "diskcache"):
        d = os.path.join(workdir, peer)
        os.makedirs(d, exist_ok=True)
        results[peer] = run_peer(peer, d, budget)
        print(f"{peer}: done", file=sys.stderr)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
