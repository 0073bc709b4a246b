#!/usr/bin/python3
"""B1-B4 of BENCHMARKS.md on the CPU: a Tessera cluster against a Dask LocalCluster, same run.

Starts a Tessera cluster (`scheduler --host 127.0.0.1 --port 0` plus N `cpu-worker --nthreads T`)
and a dask.distributed LocalCluster(n_workers=N, threads_per_worker=T, processes=True), runs each
workload --repeat times on each side, checks every result (a wrong answer on either side stops
the run with exit 1), and writes

    bench/results/<date>-<name>.json   one record per workload x configuration
    bench/results/<date>-<name>.md     a table of Dask / Tessera ratios
    bench/results/<date>-<name>-b4.png B4 time against chunk size (if matplotlib is there)

What is timed:
  Tessera  the whole `tessera --scheduler ADDR eval --save R.npy EXPR` process: start, parse,
           connect, schedule, compute, fetch the result, write it (so small workloads carry a
           few milliseconds of process cost; the `overhead` row measures it).
  Dask     building the dask.array expression and `.compute()` on an existing Client; the
           Client and LocalCluster creation are excluded.

    /usr/bin/python3 bench/run_cpu.py --quick --repeat 3
    /usr/bin/python3 bench/run_cpu.py --only B1,B4 --workers 2 --threads 1 --bin-dir build/bin
"""
import argparse
import datetime
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WrongAnswer(Exception):
    pass


# ---- Workloads ----
#
# Each configuration: id, config (a short label), tessera (the program for `tessera eval`),
# dask (a function building the dask.array value), check (result -> None or the reason it is
# wrong), chunks (tessera / dask expressions of the input array, for its chunk shape).

B3_ROW = 200000 * math.pi / 2
# sum over a row of 20000 x 10 elements of arcsin(U) + arccos(V), U, V uniform [0, 1): mean pi/2,
# variance 2 * ((pi^2/4 - 2) - (pi/2 - 1)^2) per element.
B3_ROW_SIGMA = math.sqrt(200000 * 2 * ((math.pi ** 2 / 4 - 2) - (math.pi / 2 - 1) ** 2))


def check_b1(r):
    r = float(r)
    return None if abs(r - (math.e - 1)) < 1e-4 else f"{r!r} is not e - 1 = {math.e - 1!r} (1e-4)"


def check_exact(expected):
    def check(r):
        return None if float(r) == expected else f"{float(r)!r} != {expected!r} exactly"
    return check


def check_b3(rows, nrows):
    rows = np.asarray(rows, dtype=np.float64)
    if rows.shape != (nrows,):
        return f"shape {rows.shape}, want ({nrows},)"
    # BENCHMARKS.md: rows ~ 200000 pi / 2. The mean of the rows within 1e-3 relative; each row
    # within 1e-3 relative or 6 sigma of a row sum of 200000 random terms (sigma is 7.6e-4
    # relative, so a 1e-3 bound alone would reject about one honest row in five).
    mean = rows.mean()
    if abs(mean - B3_ROW) > 1e-3 * B3_ROW:
        return f"mean of rows {mean!r} is not {B3_ROW!r} within 1e-3 relative"
    bound = max(1e-3 * B3_ROW, 6 * B3_ROW_SIGMA)
    worst = int(np.argmax(np.abs(rows - B3_ROW)))
    if abs(rows[worst] - B3_ROW) > bound:
        return f"row {worst} = {rows[worst]!r} is not {B3_ROW!r} within {bound:.1f}"
    return None


def check_b4(n):
    def check(r):
        r = float(r)
        return None if abs(r - n / 2) <= 1e-3 * n / 2 else f"{r!r} is not n/2 = {n / 2} (1e-3 rel)"
    return check


def workloads(quick):
    import dask.array as da

    out = []
    out.append(dict(
        id="overhead", config="da.ones(1).sum()",
        tessera="da.ones(1).sum()",
        dask=lambda: da.ones(1, name=f"ones-{uuid.uuid4().hex}").sum(),
        check=check_exact(1.0), chunks=("da.ones(1)", lambda: da.ones(1))))
    for n in ([20000] if quick else [20000, 50000]):
        out.append(dict(
            id="B1", config=f"{n}x{n}",
            tessera=f"da.exp(da.random.random(({n}, {n}))).mean()",
            dask=lambda n=n: da.exp(da.random.random((n, n))).mean(),
            check=check_b1,
            chunks=(f"da.random.random(({n}, {n}))", lambda n=n: da.random.random((n, n)))))
    for n in ([40000] if quick else [40000, 200000]):
        out.append(dict(
            id="B2", config=f"{n}x{n}",
            tessera=f"x = da.ones(({n}, {n}), chunks=(10000, 10000)); (x * x[::-1, ::-1]).sum()",
            dask=lambda n=n: _b2_dask(da, n),
            check=check_exact(float(n) * n),
            chunks=(f"da.ones(({n}, {n}), chunks=(10000, 10000))",
                    lambda n=n: da.ones((n, n), chunks=(10000, 10000)))))
    for rows in ([1000] if quick else [1000, 10000]):
        shape = f"({rows}, 20000, 10)"
        out.append(dict(
            id="B3", config=f"{rows}x20000x10",
            tessera=(f"x = da.random.random({shape}, chunks=(1000, 1000, 5)); "
                     f"y = da.random.random({shape}, chunks=(1000, 1000, 5)); "
                     "(da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2))"),
            dask=lambda rows=rows: _b3_dask(da, rows),
            check=lambda r, rows=rows: check_b3(r, rows),
            chunks=(f"da.random.random({shape}, chunks=(1000, 1000, 5))",
                    lambda rows=rows: da.random.random((rows, 20000, 10),
                                                       chunks=(1000, 1000, 5)))))
    n = 10_000_000
    for c in [1000, 10_000, 100_000, 1_000_000, 10_000_000]:
        out.append(dict(
            id="B4", config=f"chunks={c:.0e}".replace("e+0", "e"),
            tessera=f"da.random.random({n}, chunks={c}).sum()",
            dask=lambda c=c: da.random.random(n, chunks=c).sum(),
            check=check_b4(n), chunk_elems=c,
            chunks=(f"da.random.random({n}, chunks={c})",
                    lambda c=c: da.random.random(n, chunks=c))))
    return out


def _b2_dask(da, n):
    # A fresh name per repetition: da.ones is named by its arguments, and a repeated run must
    # not find the key still held from the previous one.
    x = da.ones((n, n), chunks=(10000, 10000), name=f"ones-{uuid.uuid4().hex}")
    return (x * x[::-1, ::-1]).sum()


def _b3_dask(da, rows):
    x = da.random.random((rows, 20000, 10), chunks=(1000, 1000, 5))
    y = da.random.random((rows, 20000, 10), chunks=(1000, 1000, 5))
    return (da.arcsin(x) + da.arccos(y)).sum(axis=(1, 2))


# ---- The Tessera cluster ----

class TesseraCluster:
    def __init__(self, bin_dir, workers, threads):
        self.bin_dir = bin_dir
        self.procs = []
        self.log = tempfile.TemporaryFile(mode="w+")
        sched = subprocess.Popen([os.path.join(bin_dir, "scheduler"), "--host", "127.0.0.1",
                                  "--port", "0"], stdout=subprocess.PIPE, stderr=self.log,
                                 text=True)
        self.procs.append(sched)
        line = sched.stdout.readline()  # "Scheduler at tcp://127.0.0.1:PORT", flushed
        if not line.startswith("Scheduler at "):
            self.close()
            raise RuntimeError(f"scheduler did not print its address: {line!r}")
        self.address = line.split()[-1]
        for _ in range(workers):
            self.procs.append(subprocess.Popen(
                [os.path.join(bin_dir, "cpu-worker"), "--scheduler", self.address,
                 "--nthreads", str(threads)], stdout=self.log, stderr=self.log))
        deadline = time.time() + 30
        while True:
            info = self.tessera(["info"]).stdout
            if f"Workers:   {workers}" in info:
                break
            if time.time() > deadline:
                self.close()
                raise RuntimeError(f"{workers} workers did not register in 30 s:\n{info}")
            time.sleep(0.1)

    def tessera(self, args, timeout=3600):
        return subprocess.run([os.path.join(self.bin_dir, "tessera"), "--scheduler", self.address]
                              + args, capture_output=True, text=True, timeout=timeout)

    def eval(self, program, save):
        """Runs `program`, returns (seconds of the whole process, the saved result)."""
        argv = [os.path.join(self.bin_dir, "tessera"), "--scheduler", self.address, "eval",
                "--save", save, "--", program]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"tessera eval failed ({proc.returncode}): {proc.stderr.strip()}")
        return seconds, np.load(save)

    def close(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


# ---- The machine ----

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_bytes():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def tessera_commit():
    try:
        sha = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no",
                                "--", "src", "include", "proto", "CMakeLists.txt"],
                               capture_output=True, text=True).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summary(times):
    return {"min": min(times), "median": statistics.median(times), "max": max(times),
            "runs": times}


# ---- Output ----

def fmt_s(s):
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def fmt_result(r):
    r = np.asarray(r)
    if r.ndim == 0:
        v = r.item()
        return f"{v:.0f}" if float(v).is_integer() and abs(v) > 1e6 else f"{v:.6g}"
    return f"{r.shape[0]} rows, mean {r.mean():.6g}"


def write_markdown(path, meta, records):
    lines = [f"# Tessera against Dask on the CPU: {meta['name']} ({meta['date']})", ""]
    lines.append(f"Machine: `{meta['cpu_model']}`, {meta['cores']} cores, "
                 f"{meta['memory_gib']:.0f} GiB, {meta['platform']}. Tessera at "
                 f"`{meta['tessera_commit']}`; Dask {meta['dask_version']}, NumPy "
                 f"{meta['numpy_version']}, Python {meta['python_version']}.")
    lines.append("")
    lines.append(f"Both clusters: {meta['workers']} worker processes x {meta['threads']} "
                 f"thread(s) on 127.0.0.1. Seconds as min / median / max of {meta['repeat']} "
                 "runs. **Timing is not symmetric:** Tessera is the whole `tessera --scheduler "
                 "ADDR eval --save R.npy EXPR` process (start, parse, connect, compute, fetch, "
                 "write; see the `overhead` row for its fixed cost); Dask is building the "
                 "expression plus `.compute()` on a Client that already exists (Client and "
                 "LocalCluster creation excluded). Every result was checked (BENCHMARKS.md).")
    lines.append("")
    lines.append(f"Command: `{meta['command']}`")
    lines.append("")
    lines.append("| id | configuration | chunks (Tessera / Dask) | Tessera s | Dask s | "
                 "Dask / Tessera (median) | result (Tessera / Dask) |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for r in records:
        t, d = r["tessera"]["seconds"], r["dask"]["seconds"]
        ratio = d["median"] / t["median"]
        chunks = r["tessera"]["chunk_shape"], r["dask"]["chunk_shape"]
        chunk_text = (str(tuple(chunks[0])) if chunks[0] == chunks[1]
                      else f"{tuple(chunks[0])} / {tuple(chunks[1])}")
        lines.append(
            f"| {r['workload']} | {r['configuration']} | {chunk_text} | "
            f"{fmt_s(t['min'])} / {fmt_s(t['median'])} / {fmt_s(t['max'])} | "
            f"{fmt_s(d['min'])} / {fmt_s(d['median'])} / {fmt_s(d['max'])} | "
            f"{ratio:.1f}x | {r['tessera']['result_text']} / {r['dask']['result_text']} |")
    lines.append("")
    with open(path, "w") as f:
        f.write("\n".join(lines))


def write_chart(path, records):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("chart: matplotlib is not importable by /usr/bin/python3; no B4 chart")
        return False
    b4 = [r for r in records if r["workload"] == "B4"]
    if not b4:
        return False
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for side, marker in (("tessera", "o"), ("dask", "s")):
        xs = [r["chunk_elements"] for r in b4]
        med = [r[side]["seconds"]["median"] for r in b4]
        lo = [m - r[side]["seconds"]["min"] for m, r in zip(med, b4)]
        hi = [r[side]["seconds"]["max"] - m for m, r in zip(med, b4)]
        ax.errorbar(xs, med, yerr=[lo, hi], marker=marker, capsize=3,
                    label="Tessera (whole process)" if side == "tessera"
                    else "Dask distributed (compute only)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("chunk size (elements)")
    ax.set_ylabel("seconds (median, min-max bars)")
    ax.set_title("B4: da.random.random(1e7, chunks=c).sum()")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# ---- Main ----

def add_cluster_args(ap):
    """The flags run_cpu.py and run_bench.py share: the programs, both clusters' shape, repeats."""
    ap.add_argument("--bin-dir", default=os.path.join(REPO, "build", "bin"),
                    help="Tessera's programs (default build/bin)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes on each side")
    ap.add_argument("--threads", type=int, default=1, help="threads per worker on each side")
    ap.add_argument("--repeat", type=int, default=3,
                    help="timed runs per side and configuration (at least 3)")


def add_output_args(ap, default_name):
    """Where the results go: OUT-DIR/DATE-NAME.*."""
    ap.add_argument("--name", default=None, help=f"results name (default: {default_name})")
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    ap.add_argument("--out-dir", default=os.path.join(REPO, "bench", "results"))


def check_cluster_args(ap, args, programs):
    if args.repeat < 3:
        ap.error(f"--repeat {args.repeat}: at least 3 (min / median / max)")
    for prog in programs:
        if not os.access(os.path.join(args.bin_dir, prog), os.X_OK):
            ap.error(f"no {prog} in {args.bin_dir} (build it, or give --bin-dir)")

def main():
    ap = argparse.ArgumentParser(description="B1-B4 on the CPU, Tessera against Dask.")
    add_cluster_args(ap)
    ap.add_argument("--quick", action="store_true",
                    help="small sizes only: B1 20000^2, B2 40000^2, B3 1000x20000x10, B4")
    ap.add_argument("--only", default="", help="comma-separated ids, e.g. B1,B4 (the overhead row always runs)")
    add_output_args(ap, "cpu or cpu-quick")
    args = ap.parse_args()
    check_cluster_args(ap, args, ("scheduler", "cpu-worker", "tessera"))
    name = args.name or ("cpu-quick" if args.quick else "cpu")

    import dask
    import distributed
    from distributed import Client, LocalCluster

    chosen = workloads(args.quick)
    if args.only:
        wanted = {w.strip().upper() for w in args.only.split(",") if w.strip()}
        # The overhead row (Tessera's fixed process cost) always runs: it is a few milliseconds.
        chosen = [w for w in chosen if w["id"].upper() in wanted or w["id"] == "overhead"]
        if len(chosen) <= 1:
            ap.error(f"--only {args.only}: no such workload")

    meta = {
        "name": name, "date": args.date, "machine": platform.node(), "cpu_model": cpu_model(),
        "cores": os.cpu_count(), "memory_gib": (memory_bytes() or 0) / 2 ** 30,
        "platform": f"{platform.system()} {platform.release()}",
        "workers": args.workers, "threads": args.threads, "repeat": args.repeat,
        "tessera_commit": tessera_commit(), "dask_version": dask.__version__,
        "distributed_version": distributed.__version__, "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "command": "/usr/bin/python3 bench/run_cpu.py " + " ".join(sys.argv[1:]),
    }

    print(f"starting Tessera ({args.workers} x {args.threads}) and Dask clusters ...", flush=True)
    tessera = TesseraCluster(args.bin_dir, args.workers, args.threads)
    cluster = client = None
    records = []
    failed = []
    try:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=args.threads,
                               processes=True, dashboard_address=":0",
                               silence_logs=logging.ERROR)
        client = Client(cluster)
        with tempfile.TemporaryDirectory(prefix="tessera-bench-") as tmp:
            save = os.path.join(tmp, "result.npy")
            # One untimed run each, so imports and connections are warm.
            tessera.eval("da.ones(10, chunks=5).sum()", save)
            dask.array.ones(10, chunks=5).sum().compute()
            for w in chosen:
                label = f"{w['id']} {w['config']}"
                t_chunks = tessera.tessera(["eval", w["chunks"][0] + ".chunksize"]).stdout.strip()
                d_chunks = list(w["chunks"][1]().chunksize)
                t_times, d_times = [], []
                t_result = d_result = None
                for i in range(args.repeat):
                    s, t_result = tessera.eval(w["tessera"], save)
                    bad = w["check"](t_result)
                    if bad:
                        raise WrongAnswer(f"{label}: Tessera's answer is wrong: {bad}")
                    t_times.append(s)
                    print(f"  {label}: tessera run {i + 1}: {s:.3f} s", flush=True)
                for i in range(args.repeat):
                    t0 = time.perf_counter()
                    d_result = w["dask"]().compute()
                    s = time.perf_counter() - t0
                    bad = w["check"](d_result)
                    if bad:
                        raise WrongAnswer(f"{label}: Dask's answer is wrong: {bad}")
                    d_times.append(s)
                    print(f"  {label}: dask    run {i + 1}: {s:.3f} s", flush=True)
                rec = {
                    "workload": w["id"], "configuration": w["config"],
                    "tessera_expression": w["tessera"],
                    **{k: meta[k] for k in ("machine", "cpu_model", "cores", "workers",
                                            "threads", "tessera_commit", "date")},
                    "tessera": {"chunk_shape": list(eval(t_chunks)) if t_chunks else None,
                                "seconds": summary(t_times),
                                "timing": "whole `tessera --scheduler ADDR eval` process",
                                "result": np.asarray(t_result).tolist() if np.ndim(t_result) == 0
                                else {"rows": len(t_result),
                                      "mean": float(np.mean(t_result)),
                                      "min": float(np.min(t_result)),
                                      "max": float(np.max(t_result))},
                                "result_text": fmt_result(t_result)},
                    "dask": {"chunk_shape": d_chunks, "seconds": summary(d_times),
                             "timing": "expression + .compute(), Client creation excluded",
                             "result": np.asarray(d_result).tolist() if np.ndim(d_result) == 0
                             else {"rows": len(d_result),
                                   "mean": float(np.mean(d_result)),
                                   "min": float(np.min(d_result)),
                                   "max": float(np.max(d_result))},
                             "result_text": fmt_result(d_result),
                             "versions": {"dask": meta["dask_version"],
                                          "distributed": meta["distributed_version"]}},
                    "ratio_dask_over_tessera_median":
                        statistics.median(d_times) / statistics.median(t_times),
                }
                if "chunk_elems" in w:
                    rec["chunk_elements"] = w["chunk_elems"]
                records.append(rec)
                print(f"{label}: tessera median {statistics.median(t_times):.3f} s, dask median "
                      f"{statistics.median(d_times):.3f} s, ratio "
                      f"{rec['ratio_dask_over_tessera_median']:.1f}x", flush=True)
    except WrongAnswer as e:
        failed.append(str(e))
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
        tessera.close()

    if failed:
        for f in failed:
            print(f"WRONG ANSWER: {f}", file=sys.stderr)
        print("no results written: a fast wrong answer is a failure", file=sys.stderr)
        return 1

    os.makedirs(args.out_dir, exist_ok=True)
    base = os.path.join(args.out_dir, f"{args.date}-{name}")
    with open(base + ".json", "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=2)
        f.write("\n")
    write_markdown(base + ".md", meta, records)
    print(f"wrote {base}.json and {base}.md")
    if write_chart(base + "-b4.png", records):
        print(f"wrote {base}-b4.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
