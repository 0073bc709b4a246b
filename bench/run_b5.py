#!/usr/bin/env python3
"""B5 of BENCHMARKS.md: scheduler throughput, Tessera against Dask distributed, same run.

Workloads (both sides, the same shape: N worker processes x T threads):
  noop  100 000 independent no-op function tasks: client.map(noop, range(n)) then gather
  tree  a pairwise tree sum over 100 000 inc leaves (199 999 tasks), delayed, result checked

Tessera runs bench/b5_throughput (built with the examples) against `scheduler` + `cpu-worker`
processes; Dask runs a LocalCluster(processes=True). Seconds are from submitting to having the
results on the client (graph construction excluded on both sides); tasks/s = tasks / seconds.
Run with Debian's Python (python3-distributed 2022.12):

  /usr/bin/python3 bench/run_b5.py --repeat 3 --bin-dir build/bin
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_cpu import TesseraCluster, cpu_model, tessera_commit  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def noop(x):
    return None


def inc(x):
    return x + 1


def add(x, y):
    return x + y


def tessera_runs(bin_dir, address, workload, n, repeat):
    proc = subprocess.run([os.path.join(bin_dir, "b5_throughput"), address, workload, str(n),
                           str(repeat)], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"b5_throughput {workload} failed: {proc.stderr.strip()}")
    runs = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert all(r["ok"] for r in runs), runs
    return runs


def dask_runs(client, workload, n, repeat):
    from dask import delayed
    runs = []
    for _ in range(repeat):
        if workload == "noop":
            t0 = time.perf_counter()
            futures = client.map(noop, range(n), pure=False)
            got = client.gather(futures)
            seconds = time.perf_counter() - t0
            assert all(g is None for g in got)
            del futures
            runs.append({"workload": "noop", "tasks": n, "seconds": seconds, "ok": True})
        else:
            b0 = time.perf_counter()
            level = [delayed(inc, pure=False)(i) for i in range(n)]
            while len(level) > 1:
                nxt = [delayed(add, pure=False)(level[k], level[k + 1])
                       for k in range(0, len(level) - 1, 2)]
                if len(level) % 2:
                    nxt.append(level[-1])
                level = nxt
            build = time.perf_counter() - b0
            t0 = time.perf_counter()
            result = client.compute(level[0]).result()
            seconds = time.perf_counter() - t0
            assert result == n * (n + 1) // 2, result
            runs.append({"workload": "tree", "tasks": 2 * n - 1, "seconds": seconds,
                         "build_seconds": build, "result": result, "ok": True})
        print(json.dumps({"side": "dask", **runs[-1]}), file=sys.stderr, flush=True)
    return runs


def summary(runs):
    secs = [r["seconds"] for r in runs]
    tasks = runs[0]["tasks"]
    return {"tasks": tasks, "seconds": {"min": min(secs), "median": statistics.median(secs),
                                        "max": max(secs), "runs": secs},
            "tasks_per_second": tasks / statistics.median(secs),
            "tasks_per_second_best": tasks / min(secs)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"))
    ap.add_argument("--skip-dask", action="store_true")
    ap.add_argument("--out-dir", default=os.path.join(REPO, "bench", "results"))
    ap.add_argument("--name", default="b5")
    args = ap.parse_args()

    meta = {"benchmark": "B5", "date": datetime.date.today().isoformat(),
            "machine": platform.node(), "cpu": cpu_model(), "cores": os.cpu_count(),
            "workers": args.workers, "threads": args.threads, "n": args.n,
            "repeat": args.repeat, "tessera_commit": tessera_commit(),
            "command": " ".join(["/usr/bin/python3"] + sys.argv)}
    records = []
    cluster = TesseraCluster(args.bin_dir, args.workers, args.threads)
    try:
        for workload in ("noop", "tree"):
            runs = tessera_runs(args.bin_dir, cluster.address, workload, args.n, args.repeat)
            records.append({"side": "tessera", "workload": workload, **summary(runs)})
            print(json.dumps(records[-1]), flush=True)
    finally:
        cluster.close()
    if not args.skip_dask:
        import distributed
        from distributed import Client, LocalCluster
        meta["dask_version"] = distributed.__version__
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                          processes=True, dashboard_address=None) as lc, Client(lc) as client:
            for workload in ("noop", "tree"):
                runs = dask_runs(client, workload, args.n, args.repeat)
                records.append({"side": "dask", "workload": workload, **summary(runs)})
                print(json.dumps(records[-1]), flush=True)

    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"{meta['date']}-{args.name}")
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=2)
    by = {(r["side"], r["workload"]): r for r in records}
    lines = [f"# B5 scheduler throughput ({meta['date']})", "",
             f"{meta['cpu']}, {meta['cores']} cores; {args.workers} workers x {args.threads} "
             f"thread on both sides; n = {args.n}; {args.repeat} runs each, median (best).",
             f"Tessera {meta['tessera_commit']}; Dask distributed {meta.get('dask_version', '-')}.",
             f"Command: `{meta['command']}`", "",
             "| workload | tasks | Tessera s | Tessera tasks/s | Dask s | Dask tasks/s | ratio |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for w in ("noop", "tree"):
        t = by.get(("tessera", w))
        d = by.get(("dask", w))
        ratio = f"{t['tasks_per_second'] / d['tasks_per_second']:.1f}x" if t and d else "-"
        lines.append(
            f"| {w} | {t['tasks']} | {t['seconds']['median']:.3f} | "
            f"{t['tasks_per_second']:,.0f} ({t['tasks_per_second_best']:,.0f}) | "
            + (f"{d['seconds']['median']:.2f} | {d['tasks_per_second']:,.0f} "
               f"({d['tasks_per_second_best']:,.0f}) | " if d else "- | - | ")
            + ratio + " |")
    with open(base + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
