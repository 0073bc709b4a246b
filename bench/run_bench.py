#!/usr/bin/python3
"""B1-B6 of BENCHMARKS.md, Tessera against Dask distributed, one command, one run.

1. Starts a Tessera cluster (`scheduler` + N `cpu-worker --nthreads T`, as bench/run_cpu.py) and
   runs `tessera-bench --scheduler ADDR` on it (every workload, every result checked).
2. Stops it, starts a Dask LocalCluster(n_workers=N, threads_per_worker=T, processes=True) and
   runs the same configurations (sizes and chunks taken from tessera-bench's records), checked
   the same way.
3. Writes OUT/DATE-NAME.jsonl (one record per engine x workload x configuration, one shape for
   both engines) and runs bench/report.py on it (plus --extra files): OUT/DATE-NAME.md and the
   PNG charts.

Timed on both sides: building the expression, compute, and the result on the client, with the
client already connected; B5 from submitting to the results on the client (graph building
excluded). A wrong answer on either side stops the run with exit status 1.

    /usr/bin/python3 bench/run_bench.py --quick
    /usr/bin/python3 bench/run_bench.py --workload B1,B4 --size B1=20000 --repeat 5
    /usr/bin/python3 bench/run_bench.py --skip-dask --extra bench/results/gpu.jsonl
"""
import argparse
import importlib.util
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run_cpu import (TesseraCluster, add_cluster_args, add_output_args,  # noqa: E402
                     check_b3, check_cluster_args, cpu_model, tessera_commit)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WrongAnswer(Exception):
    pass


def summary(times):
    s = sorted(times)
    return {"min": s[0], "median": statistics.median(s), "max": s[-1], "runs": times}


# ---- B6 on Dask: functions the workers run (pickled by value from __main__) ----

def make_ints(seed, n):
    return np.random.default_rng(seed).integers(0, 1000, n, dtype=np.int64)


def int_sum(a):
    return int(a.sum())


def combine(a, b):
    # The same arithmetic as tessera-bench's (x[:n] * 1001 + x[n:]).sum().
    return float((a * 1001.0 + b).sum())


# ---- Dask's side of each configuration ----

def dask_timed(repeat, label, run):
    """run() -> (result, wrong or None), timed `repeat` times; raises WrongAnswer."""
    times, result = [], None
    for i in range(repeat):
        t0 = time.perf_counter()
        result, wrong = run()
        times.append(time.perf_counter() - t0)
        print(f"  dask {label}: run {i + 1}: {times[-1]:.3f} s", file=sys.stderr, flush=True)
        if wrong:
            raise WrongAnswer(f"Dask {label}: {wrong}")
    return times, result


def dask_record(client, rec, repeat, b1_chunks):
    """The Dask record for tessera-bench's record `rec` (same workload and configuration)."""
    import dask.array as da
    from distributed import wait

    w, n = rec["workload"], rec["size"]
    label = f"{w} {rec['configuration']}"
    out = {k: rec[k] for k in ("workload", "configuration", "size", "expression") if k in rec}
    rate = None
    if w == "B1":
        chunks = b1_chunks or "auto"
        out["chunk_shape"] = list(da.random.random((n, n), chunks=chunks).chunksize)

        bound = max(1e-4, 6 * 0.492 / n)  # as tessera-bench: 1e-4, or 6 sigma of the mean

        def run():
            y = float(da.exp(da.random.random((n, n), chunks=chunks)).mean().compute())
            return y, None if abs(y - (math.e - 1)) < bound else f"{y!r} is not e - 1"
        times, result = dask_timed(repeat, label, run)
        rate = ("elements/s", n * n)
    elif w == "B2":
        c = rec["chunk_shape"]
        out["chunk_shape"] = c

        def run():
            x = da.ones((n, n), chunks=tuple(c), name=f"ones-{uuid.uuid4().hex}")
            y = float((x * x[::-1, ::-1]).sum().compute())
            return y, None if y == float(n) * n else f"{y!r} is not n^2 exactly"
        times, result = dask_timed(repeat, label, run)
        rate = ("elements/s", n * n)
    elif w == "B3":
        c = tuple(rec["chunk_shape"])
        out["chunk_shape"] = list(c)

        def run():
            x = da.random.random((n, 20000, 10), chunks=c)
            y = da.random.random((n, 20000, 10), chunks=c)
            rows = (da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2)).compute()
            return ({"rows": len(rows), "mean": float(rows.mean()), "min": float(rows.min()),
                     "max": float(rows.max())}, check_b3(rows, n))
        times, result = dask_timed(repeat, label, run)
        rate = ("elements/s", 2 * n * 200000)
    elif w == "B4":
        c = rec["chunk_elements"]
        out["chunk_shape"] = [c]
        out["chunk_elements"] = c
        bound = 6 * math.sqrt(n / 12)

        def run():
            y = float(da.random.random(n, chunks=c).sum().compute())
            return y, None if abs(y - n / 2) <= bound else f"{y!r} is not n/2 within {bound:.0f}"
        times, result = dask_timed(repeat, label, run)
        rate = ("elements/s", n)
    elif w == "B5":
        from run_b5 import dask_runs
        which = rec["configuration"].split()[0]
        out["chunk_shape"] = None
        out["tasks"] = rec["tasks"]
        try:
            runs = dask_runs(client, which, n, repeat)  # asserts the results
        except AssertionError as e:
            raise WrongAnswer(f"Dask {label}: {e}")
        times, result = [r["seconds"] for r in runs], runs[-1].get("result")
        rate = ("tasks/s", rec["tasks"])
    elif w == "B6":
        elems = rec["bytes"] // 8
        out.update({"bytes": rec["bytes"], "transfer": rec["transfer"],
                    "chunk_shape": [elems], "loopback_gbps": rec["loopback_gbps"]})
        workers = list(client.scheduler_info()["workers"])
        if rec["transfer"] == "worker-to-client":
            x = da.random.randint(0, 1000, elems, chunks=elems, dtype=np.int64).persist()
            wait(x)
            expected = int(x.sum().compute())
            out["expression"] = "client.compute(x).result(), x persisted, one chunk"

            def run():
                got = int(client.compute(x).result().sum())
                return got, None if got == expected else f"checksum {got} != {expected}"
            times, result = dask_timed(repeat, label, run)
            del x
        else:
            if len(workers) < 2:
                return None
            out["expression"] = ("submit(combine, a, b, workers=[B]), a on worker A, b on B "
                                 "(a moves A -> B)")
            local_times, times, result = [], [], None
            for i in range(repeat):
                a = client.submit(make_ints, 2 * i, elems, workers=[workers[0]], pure=False)
                b = client.submit(make_ints, 2 * i + 1, elems, workers=[workers[1]], pure=False)
                wait([a, b])
                sa = client.submit(int_sum, a, workers=[workers[0]]).result()
                sb = client.submit(int_sum, b, workers=[workers[1]]).result()
                t0 = time.perf_counter()
                local = client.submit(combine, a, a, workers=[workers[0]], pure=False).result()
                local_times.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                result = client.submit(combine, a, b, workers=[workers[1]],
                                       allow_other_workers=False, pure=False).result()
                times.append(time.perf_counter() - t0)
                print(f"  dask {label}: run {i + 1}: {times[-1]:.3f} s (same task on one "
                      f"worker {local_times[-1]:.3f} s)", file=sys.stderr, flush=True)
                if local != 1002.0 * sa or result != 1001.0 * sa + sb:
                    raise WrongAnswer(f"Dask {label}: checksum {result!r}, want "
                                      f"{1001.0 * sa + sb!r}")
                del a, b
            gb = rec["bytes"] / 1e9
            med, lmed = statistics.median(times), statistics.median(local_times)
            out["rate"] = {"value": gb / med, "unit": "GB/s",
                           "note": "bytes / whole task seconds (transfer + arithmetic)",
                           "local_task_seconds": summary(local_times),
                           "transfer_only_gbps": gb / (med - lmed) if med > lmed else None}
        rate = rate or ("GB/s", rec["bytes"] / 1e9)
    else:
        return None
    out["seconds"] = summary(times)
    out["result"] = result
    out["ok"] = True
    if "rate" not in out:
        out["rate"] = {"value": rate[1] / out["seconds"]["median"], "unit": rate[0]}
    return out


# ---- Main ----

def main():
    ap = argparse.ArgumentParser(description="B1-B6: Tessera (tessera-bench) against Dask.")
    add_cluster_args(ap)
    ap.add_argument("--quick", action="store_true", help="tessera-bench's --quick sizes")
    ap.add_argument("--workload", default="B1,B2,B3,B4,B5,B6", help="comma list (default B1-B6)")
    ap.add_argument("--size", action="append", default=[],
                    help="passed to tessera-bench: N or ID=N (repeatable)")
    ap.add_argument("--chunks", default=None, help="passed to tessera-bench (B4: a list)")
    ap.add_argument("--skip-dask", action="store_true", help="Tessera only")
    ap.add_argument("--extra", action="append", default=[],
                    help="more JSON-lines records for the report (e.g. GPU records)")
    ap.add_argument("--gpu-label", default="", help="report.py's --gpu-label for --extra records")
    add_output_args(ap, "bench or bench-quick")
    args = ap.parse_args()
    check_cluster_args(ap, args, ("scheduler", "cpu-worker", "tessera", "tessera-bench"))
    # Before anything runs: the Dask side and the report's charts need Debian's packages.
    needed = ([] if args.skip_dask else ["dask", "distributed"]) + ["matplotlib"]
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        ap.error(f"Python module(s) {', '.join(missing)} missing from {sys.executable}: "
                 "install them with scripts/deps.sh --bench")
    name = args.name or ("bench-quick" if args.quick else "bench")
    command = "/usr/bin/python3 bench/run_bench.py " + " ".join(sys.argv[1:])
    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"{args.date}-{name}")

    argv = [os.path.join(args.bin_dir, "tessera-bench"), "--workload", args.workload,
            "--repeat", str(args.repeat)]
    if args.quick:
        argv.append("--quick")
    for s in args.size:
        argv += ["--size", s]
    if args.chunks:
        argv += ["--chunks", args.chunks]

    print(f"Tessera: scheduler + {args.workers} cpu-worker(s) x {args.threads} thread(s)",
          file=sys.stderr, flush=True)
    cluster = TesseraCluster(args.bin_dir, args.workers, args.threads)
    try:
        with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as out:
            proc = subprocess.run(argv + ["--scheduler", cluster.address, "--out", out.name],
                                  timeout=6 * 3600)
            records = [json.loads(line) for line in out if line.strip()]
    finally:
        cluster.close()
    if proc.returncode != 0:
        print(f"tessera-bench exited {proc.returncode}: no results written", file=sys.stderr)
        return 1
    commit = tessera_commit()
    for r in records:
        r.update({"date": args.date, "tessera_commit": commit, "command": command})

    if not args.skip_dask:
        import dask
        import distributed
        from distributed import Client, LocalCluster

        b1_chunks = int(args.chunks.split(",")[0]) if args.chunks else None
        print(f"Dask: LocalCluster({args.workers} x {args.threads}, processes=True)",
              file=sys.stderr, flush=True)
        context = {"engine": "dask", "machine": platform.node(), "cpu_model": cpu_model(),
                   "cores": os.cpu_count(), "gpus": [], "workers": {"cpu": args.workers},
                   "threads_per_worker": {"cpu": args.threads},
                   "cluster": "distributed.LocalCluster(processes=True)",
                   "repeat": args.repeat,
                   "version": f"dask {dask.__version__}, distributed {distributed.__version__}",
                   "date": args.date, "command": command}
        # B5's functions live in run_b5.py; Dask's worker processes must be able to import it.
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [os.path.dirname(os.path.abspath(__file__))] +
            ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else []))
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                          processes=True, dashboard_address=None,
                          silence_logs=logging.ERROR) as lc, Client(lc) as client:
            import dask.array as da
            da.ones(10, chunks=5).sum().compute()  # untimed, as tessera-bench's warm-up
            try:
                for rec in [r for r in records if r["engine"] == "tessera"]:
                    d = dask_record(client, rec, args.repeat, b1_chunks)
                    if d is not None:
                        # As tessera-bench's: the 1-minute load average when the runs ended.
                        records.append({**context, **d, "load_average": os.getloadavg()[0]})
            except WrongAnswer as e:
                print(f"WRONG ANSWER: {e}\nno results written: a fast wrong answer is a "
                      "failure", file=sys.stderr)
                return 1

    with open(base + ".jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    print(f"wrote {base}.jsonl", file=sys.stderr)
    import report
    return report.main([base + ".jsonl", *args.extra, "--out", base + ".md",
                        "--command", command, "--gpu-label", args.gpu_label])


if __name__ == "__main__":
    sys.exit(main())
