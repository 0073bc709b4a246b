#!/usr/bin/python3
"""Turns benchmark records (JSON lines) into a Markdown table and PNG charts.

Understands two record shapes and ignores other lines with a warning:
  - tessera-bench's and run_bench.py's: {"engine": "tessera" | "dask" | "loopback-tcp",
    "workload": "B4", "configuration": ..., "seconds": {"min", "median", "max"}, "rate": ...}
  - bench/gpu_kernels.cc's (the CUDA worker's device work): {"workload": "B1 exp(random)...",
    "shape": ..., "elements": ..., "seconds": {...}, "elements_per_second": ...}

Writes OUT.md (Dask / Tessera ratios against the targets of BENCHMARKS.md) and beside it
OUT-b4.png (B4 time against chunk size, log-log), OUT-b1b3.png (B1-B3 element rates: Tessera
CPU, Dask, and the GPU where records are given) and OUT-b5.png (B5 tasks/s).

    /usr/bin/python3 bench/report.py bench/results/2026-11-28-bench.jsonl \\
        bench/results/gpu.jsonl --out bench/results/2026-11-28-bench.md
"""
import argparse
import json
import os
import sys

# BENCHMARKS.md's CPU targets: Dask / Tessera at least this (same workers and threads).
RATIO_TARGETS = {"B1": 5, "B2": 10, "B3": 5}
B4_TARGET = 50          # at 1e3-element chunks
B5_TARGET = 100_000     # Tessera tasks per second
B6_TARGET = 0.5         # of loopback TCP bandwidth

NOISE = ("The machine is a shared 2-core VM: another engineer's builds and tests ran beside parts "
         "of this run, on either engine's turn, so absolute times drift by tens of percent and a "
         "ratio is off by as much where only one side had company. Where records carry it, "
         "\"(load L)\" after the seconds is the machine's 1-minute load average when that "
         "configuration's runs ended (2 cores: above 2, the runs had company), and \"steal S%\" "
         "the share of the VM's CPU time that the host took away while they ran.")


def load(paths):
    """Returns (bench records, gpu records) from JSON-lines files; warns about the rest."""
    bench, gpu = [], []
    for path in paths:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    print(f"report: {path}:{number}: not a JSON line; ignored", file=sys.stderr)
                    continue
                seconds = r.get("seconds") if isinstance(r, dict) else None
                if not isinstance(seconds, dict) or "median" not in seconds:
                    print(f"report: {path}:{number}: no seconds.median; ignored", file=sys.stderr)
                elif r.get("engine") in ("tessera", "dask", "loopback-tcp") and "workload" in r:
                    bench.append(r)
                elif str(r.get("workload", "")).startswith("B") and "elements_per_second" in r:
                    gpu.append({**r, "id": r["workload"].split()[0], "source": path})
                else:
                    print(f"report: {path}:{number}: unknown record shape; ignored",
                          file=sys.stderr)
    return bench, gpu


def sci(v):
    """1e5 for 100000; other values as they are."""
    text = f"{v:.0e}".replace("e+0", "e").replace("e+", "e")
    return text if float(text) == v else str(v)


def fmt_s(s):
    return f"{s:.3f}" if s < 10 else f"{s:.1f}"


def fmt_rate(rate):
    if not rate:
        return "-"
    v, unit = rate["value"], rate["unit"]
    return f"{v:.2f} {unit}" if unit.startswith("GB") else f"{v:.3g} {unit}"


def fmt_seconds(r):
    s = r["seconds"]
    notes = []
    if "load_average" in r:
        notes.append(f"load {r['load_average']:.1f}")
    if "steal_percent" in r:
        notes.append(f"steal {r['steal_percent']:.0f}%")
    load = f" ({', '.join(notes)})" if notes else ""
    return f"{fmt_s(s['min'])} / {fmt_s(s['median'])} / {fmt_s(s['max'])}{load}"


def pairs(bench):
    """[(tessera, dask or None)] in tessera-bench's order."""
    dask = {(r["workload"], r["configuration"]): r for r in bench if r["engine"] == "dask"}
    return [(r, dask.get((r["workload"], r["configuration"])))
            for r in bench if r["engine"] == "tessera"]


def target_text(t, d, loopback):
    """(target, met) for one pair, or ("-", "") where BENCHMARKS.md sets none."""
    w = t["workload"]
    ratio = d["seconds"]["median"] / t["seconds"]["median"] if d else None
    if w in RATIO_TARGETS:
        goal = RATIO_TARGETS[w]
        return f">= {goal}x", "-" if ratio is None else ("yes" if ratio >= goal else "no")
    if w == "B4" and t.get("chunk_elements") == 1000:
        return f">= {B4_TARGET}x", "-" if ratio is None else ("yes" if ratio >= B4_TARGET else "no")
    if w == "B5":
        tps = t["rate"]["value"]
        return f">= {B5_TARGET:,} tasks/s", "yes" if tps >= B5_TARGET else "no"
    if w == "B6" and loopback:
        frac = t["rate"]["value"] / loopback
        return f">= {B6_TARGET:.0%} of loopback", f"{'yes' if frac >= B6_TARGET else 'no'} ({frac:.0%})"
    return "-", ""


def markdown(bench, gpu, command, charts, gpu_label, report_command):
    lines = []
    first = next((r for r in bench if r["engine"] == "tessera"), None) or (bench or [{}])[0]
    dask = next((r for r in bench if r["engine"] == "dask"), None)
    lines.append(f"# Tessera against Dask: B1-B6 ({first.get('date', '')})")
    lines.append("")
    if first:
        workers = ", ".join(f"{n} {k}" for k, n in first.get("workers", {}).items())
        threads = ", ".join(f"{k} {n}" for k, n in first.get("threads_per_worker", {}).items())
        lines.append(f"Machine `{first.get('machine')}`: `{first.get('cpu_model')}`, "
                     f"{first.get('cores')} cores. Tessera `{first.get('tessera_commit', '?')}` "
                     f"({first.get('cluster', '')}: {workers} worker(s), threads per worker "
                     f"{threads}); "
                     + (f"{dask['version']} ({dask['cluster']}, the same workers and threads)."
                        if dask else "no Dask records."))
        lines.append("")
    lines.append("Seconds are min / median / max of the runs; ratios are Dask / Tessera of the "
                 "medians. Both sides time building the expression, computing it and having the "
                 "result on the client, with the client already connected (B5: from submitting "
                 "to the results, graph building excluded). Every result was checked. " + NOISE)
    lines.append("")
    if command:
        lines.append(f"Command: `{command}`")
        lines.append("")
    if report_command:
        lines.append(f"This report: `{report_command}`")
        lines.append("")
    loop = next((r for r in bench if r["engine"] == "loopback-tcp"), None)
    loopback = loop["rate"]["value"] if loop else None
    lines.append("| id | configuration | chunks (Tessera / Dask) | Tessera s | Dask s | "
                 "Dask / Tessera | target | met | Tessera rate | Dask rate |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for t, d in pairs(bench):
        tc, dc = t.get("chunk_shape"), (d or {}).get("chunk_shape")
        chunks = "-" if tc is None else (
            str(tuple(tc)) if d is None or tc == dc else f"{tuple(tc)} / {tuple(dc)}")
        ratio = f"{d['seconds']['median'] / t['seconds']['median']:.1f}x" if d else "-"
        goal, met = target_text(t, d, loopback)
        lines.append(f"| {t['workload']} | {t['configuration']} | {chunks} | {fmt_seconds(t)} | "
                     f"{fmt_seconds(d) if d else '-'} | {ratio} | {goal} | {met} | "
                     f"{fmt_rate(t.get('rate'))} | {fmt_rate((d or {}).get('rate'))} |")
    if loop:
        lines.append(f"| B6 | {loop['configuration']} (the physical limit) | - | "
                     f"{fmt_seconds(loop)} | - | - | - | | {fmt_rate(loop['rate'])} | - |")
    lines.append("")
    b4 = {r["chunk_elements"]: r for r in bench
          if r["engine"] == "tessera" and r["workload"] == "B4"}
    if 1000 in b4 and 10000 in b4 and max(b4) >= 100000:
        ref = b4[max(k for k in b4 if k <= 1_000_000)]
        lines.append(f"B4 flatness (Tessera): 1e3-element chunks take "
                     f"{b4[1000]['seconds']['median'] / ref['seconds']['median']:.1f}x and 1e4 "
                     f"take {b4[10000]['seconds']['median'] / ref['seconds']['median']:.1f}x the "
                     f"time of {sci(ref['chunk_elements'])}-element chunks.")
        lines.append("")
    for t, _ in pairs(bench):
        if t["workload"] == "B6" and t.get("transfer") == "worker-to-worker":
            extra = t["rate"].get("transfer_only_gbps")
            lines.append("B6 worker to worker: the public API cannot pin a task to a worker, so "
                         "the transfer is forced by data (one task needs two persisted chunks "
                         "held by different workers). Its rate counts the whole task; less the "
                         "same task on one worker "
                         + (f"it is {extra:.2f} GB/s." if extra else "no difference remained."))
            lines.append("")
    if gpu:
        lines.append("## GPU records (device work of the CUDA worker, bench/gpu_kernels.cc)")
        lines.append("")
        if gpu_label:
            lines.append(f"GPU: {gpu_label}.")
            lines.append("")
        lines.append("| workload | shape | seconds (min / median / max) | elements/s | from |")
        lines.append("| --- | --- | --- | --- | --- |")
        for g in gpu:
            lines.append(f"| {g['workload']} | {g.get('shape', '-')} | {fmt_seconds(g)} | "
                         f"{g['elements_per_second']:.3g} | {os.path.basename(g['source'])} |")
        lines.append("")
        lines.append("The GPU records time the device work alone (no scheduler, no transfer to "
                     "a client) and come from another run on another machine: set their element "
                     "rates beside the CPU ones, not their seconds.")
        lines.append("")
    for title, path in charts:
        lines.append(f"![{title}]({os.path.basename(path)})")
        lines.append("")
    return "\n".join(lines)


def write_charts(bench, gpu, stem, gpu_label):
    """PNG charts next to the Markdown; returns [(title, path)] of those written."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("report: matplotlib is not importable; no charts", file=sys.stderr)
        return []
    written = []
    labels = {"tessera": "Tessera CPU", "dask": "Dask distributed"}

    b4 = [r for r in bench if r["workload"] == "B4" and r["engine"] in labels]
    if b4:
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for engine, marker in (("tessera", "o"), ("dask", "s")):
            rs = sorted((r for r in b4 if r["engine"] == engine), key=lambda r: r["chunk_elements"])
            if not rs:
                continue
            med = [r["seconds"]["median"] for r in rs]
            ax.errorbar([r["chunk_elements"] for r in rs], med, marker=marker, capsize=3,
                        yerr=[[m - r["seconds"]["min"] for m, r in zip(med, rs)],
                              [r["seconds"]["max"] - m for m, r in zip(med, rs)]],
                        label=labels[engine])
        ax.set(xscale="log", yscale="log", xlabel="chunk size (elements)",
               ylabel="seconds (median, min-max bars)",
               title=f"B4: da.random.random({sci(b4[0]['size'])}, chunks=c).sum()")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        written.append(("B4: time against chunk size", _save(fig, plt, stem + "-b4.png")))

    rates = {}  # (id, engine) -> elements/s
    for r in bench:
        if r["workload"] in ("B1", "B2", "B3") and r["engine"] in labels and r.get("rate"):
            rates[(r["workload"], labels[r["engine"]])] = r["rate"]["value"]
    for g in gpu:
        if g["id"] in ("B1", "B2", "B3"):
            # The first record of an id: gpu_kernel_bench writes the per-task run (the code a
            # cuda-worker runs) before the one-kernel figure.
            rates.setdefault((g["id"], "Tessera GPU (device work)"), g["elements_per_second"])
    if rates:
        ids = sorted({k[0] for k in rates})
        series = [s for s in ("Tessera CPU", "Dask distributed", "Tessera GPU (device work)")
                  if any(k[1] == s for k in rates)]
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        width = 0.8 / len(series)
        for i, s in enumerate(series):
            xs = [j + i * width for j in range(len(ids))]
            ax.bar(xs, [rates.get((w, s), 0) for w in ids], width, label=s)
        ax.set_xticks([j + width * (len(series) - 1) / 2 for j in range(len(ids))], ids)
        ax.set(yscale="log", ylabel="elements per second (median)",
               title="B1-B3: element rate, CPU against GPU and Dask")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(series), fontsize=8)
        if gpu and gpu_label:
            ax.set_title(f"B1-B3: element rate, CPU against GPU and Dask\n(GPU: {gpu_label}, "
                         "from another run)", fontsize=10)
        written.append(("B1-B3: element rates", _save(fig, plt, stem + "-b1b3.png")))

    b5 = [r for r in bench if r["workload"] == "B5" and r["engine"] in labels]
    if b5:
        configs = list(dict.fromkeys(r["configuration"] for r in b5))
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        for i, engine in enumerate(("tessera", "dask")):
            by = {r["configuration"]: r["rate"]["value"] for r in b5 if r["engine"] == engine}
            ax.bar([j + i * 0.4 for j in range(len(configs))], [by.get(c, 0) for c in configs],
                   0.4, label=labels[engine])
        ax.axhline(B5_TARGET, color="grey", linestyle="--", label="target (Tessera)")
        ax.set_xticks([j + 0.2 for j in range(len(configs))], configs)
        ax.set(yscale="log", ylabel="tasks per second (median)", title="B5: scheduler throughput")
        ax.grid(True, axis="y", which="both", alpha=0.3)
        ax.legend()
        written.append(("B5: tasks per second", _save(fig, plt, stem + "-b5.png")))
    return written


def _save(fig, plt, path):
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}", file=sys.stderr)
    return path


def main(argv=None):
    ap = argparse.ArgumentParser(description="Benchmark records -> Markdown table and charts.")
    ap.add_argument("files", nargs="+", help="JSON-lines files (tessera-bench, run_bench.py, "
                                             "gpu_kernel_bench records)")
    ap.add_argument("--out", required=True, help="the Markdown file; charts go beside it")
    ap.add_argument("--command", default="", help="the command that produced the records")
    ap.add_argument("--gpu-label", default="",
                    help="what the GPU records ran on (their lines do not say), e.g. "
                         "'NVIDIA H200, driver 580.159.04'")
    args = ap.parse_args(argv)
    # Run by hand, say how; run by run_bench.py (argv given), its command says it.
    report_command = "" if argv is not None else "/usr/bin/python3 bench/report.py " + " ".join(
        a if " " not in a else f'"{a}"' for a in sys.argv[1:])
    bench, gpu = load(args.files)
    if not bench and not gpu:
        print("report: no records understood", file=sys.stderr)
        return 1
    command = args.command or next((r["command"] for r in bench if "command" in r), "")
    stem = args.out[:-3] if args.out.endswith(".md") else args.out
    charts = write_charts(bench, gpu, stem, args.gpu_label)
    with open(args.out, "w") as f:
        f.write(markdown(bench, gpu, command, charts, args.gpu_label, report_command) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
