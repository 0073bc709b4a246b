#!/usr/bin/python3
"""Cross-checks `tessera eval` against NumPy, expression by expression.

For every line of expressions.txt (format: see the top of that file) and for every chunking
that applies to it, runs

    $TESSERA_BIN_DIR/tessera eval --save OUT.npy -- '<line with {c} replaced>'

on an embedded local cluster, evaluates the same line with NumPy (`da.` is a small shim over
numpy whose creation functions drop `chunks=`), and compares the two:

- shape and dtype exactly (a dtype mismatch is a failure that names the expression);
- integer and bool results, and results of min/max reductions, exactly;
- float64 within relative 1e-12 (absolute 1e-12 near zero); float32 within relative 1e-5
  (absolute 1e-6 near zero); NaN matches NaN.

Prints one line per failing (expression, chunking) with the expected and the got values, and
exits 1 if anything failed. Exits 77 (ctest SKIP_RETURN_CODE) when numpy is not importable.

    /usr/bin/python3 tests/numpy/crosscheck.py [--shard I/N] [--jobs J] [--bin-dir DIR] [-v]
"""
import argparse
import ast
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile

try:
    import numpy as np
except ImportError:
    print("crosscheck: skipped: numpy is not importable by " + sys.executable)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CHUNKS = ["1", "3", "7"]


# ---- The expressions file ----

def parse_expressions(path):
    """Returns [(lineno, template, [chunk texts])]. `chunks: a | b | c` sets the chunkings of
    the lines that follow; `{c}` in a line is replaced by each of them."""
    cases = []
    chunks = list(DEFAULT_CHUNKS)
    with open(path) as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith("chunks:"):
                chunks = [c.strip() for c in line[len("chunks:"):].split("|") if c.strip()]
                if len(chunks) < 1:
                    raise SystemExit(f"{path}:{lineno}: 'chunks:' needs at least one value")
                continue
            if "{c}" not in line:
                raise SystemExit(f"{path}:{lineno}: no '{{c}}' placeholder: {line}")
            cases.append((lineno, line, list(chunks)))
    return cases


# ---- NumPy's side ----

class _Random:
    """da.random is not reproducible in NumPy (Tessera uses Philox, docs/random.md)."""

    def __getattr__(self, name):
        raise NotImplementedError(f"da.random.{name} has no NumPy equivalent here")


class _Arr(np.ndarray):
    """A NumPy array that also answers dask's chunk-only methods (rechunk is the identity)."""

    def rechunk(self, *args, **kwargs):
        return self


def _arr(a):
    return np.asarray(a).view(_Arr)


class _DaShim:
    """`da.` for NumPy: the creation functions drop `chunks=`; the rest is numpy's."""

    random = _Random()

    @staticmethod
    def ones(shape, dtype=None, chunks=None):
        return _arr(np.ones(shape, dtype=dtype or np.float64))

    @staticmethod
    def zeros(shape, dtype=None, chunks=None):
        return _arr(np.zeros(shape, dtype=dtype or np.float64))

    empty = zeros

    @staticmethod
    def full(shape, fill_value, dtype=None, chunks=None):
        return _arr(np.full(shape, fill_value, dtype=dtype))

    @staticmethod
    def arange(*args, chunks=None, dtype=None, **kwargs):
        return _arr(np.arange(*args, dtype=dtype, **kwargs))

    @staticmethod
    def linspace(start, stop, num=50, endpoint=True, chunks=None, dtype=None):
        return _arr(np.linspace(start, stop, num, endpoint=endpoint, dtype=dtype))

    @staticmethod
    def from_array(x, chunks=None, dtype=None):
        return _arr(np.asarray(x, dtype=dtype))

    asarray = from_array
    array = from_array

    @staticmethod
    def rechunk(x, chunks=None):
        return x

    @staticmethod
    def eye(N, chunks=None, M=None, k=0, dtype=float):
        return _arr(np.eye(N, M, k, dtype=dtype))

    @staticmethod
    def ones_like(a, dtype=None, chunks=None):
        return _arr(np.ones_like(a, dtype=dtype))

    @staticmethod
    def zeros_like(a, dtype=None, chunks=None):
        return _arr(np.zeros_like(a, dtype=dtype))

    @staticmethod
    def full_like(a, fill_value, dtype=None, chunks=None):
        return _arr(np.full_like(a, fill_value, dtype=dtype))

    def __getattr__(self, name):
        return getattr(np, name)


def numpy_eval(source):
    """Runs `source` (statements; the last one an expression) with `da` and `np` as numpy."""
    tree = ast.parse(source, mode="exec")
    if not tree.body or not isinstance(tree.body[-1], ast.Expr):
        raise ValueError("the last statement is not an expression")
    env = {"da": _DaShim(), "np": _DaShim(), "__builtins__": __builtins__}
    last = ast.Expression(tree.body.pop().value)
    with np.errstate(all="ignore"):
        exec(compile(tree, "<expr>", "exec"), env)
        value = eval(compile(last, "<expr>", "eval"), env)
    if isinstance(value, (bool, int, float)):
        value = np.asarray(value)  # int -> int64, float -> float64, bool -> bool, as --save
    return np.asarray(value)


# ---- Comparison ----

_MINMAX = re.compile(r"(\.|da\.)(min|max|amin|amax)\(")


def is_minmax(source):
    """True when the outermost operation of the last expression is a min/max reduction."""
    last = source.split(";")[-1].strip()
    m = None
    for m in _MINMAX.finditer(last):
        pass
    if m is None:
        return False
    if m.group(1) == "da." and not last.startswith(m.group(0)):
        return False
    # The call must close at the end of the expression: `x.max(axis=0)`, not `x.max() + 1`.
    depth = 0
    for i in range(m.end() - 1, len(last)):
        depth += {"(": 1, ")": -1}.get(last[i], 0)
        if depth == 0:
            return last[i + 1:].strip() == ""
    return False


def compare(expected, got, exact):
    """None if equal enough, else a reason."""
    if got.dtype != expected.dtype:
        return f"dtype: expected {expected.dtype}, got {got.dtype}"
    if got.shape != expected.shape:
        return f"shape: expected {expected.shape}, got {got.shape}"
    kind = expected.dtype.kind
    if kind in "biu" or exact:
        ok = np.array_equal(expected, got, equal_nan=(kind == "f"))
        return None if ok else "values differ (exact comparison)"
    if expected.dtype == np.float64:
        rtol, atol = 1e-12, 1e-12
    else:
        rtol, atol = 1e-5, 1e-6
    ok = np.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True)
    if ok:
        return None
    with np.errstate(all="ignore"):
        err = np.nanmax(np.abs(got.astype(np.float64) - expected.astype(np.float64)))
    return f"values differ beyond rtol={rtol:g} atol={atol:g} (max abs diff {err:.3g})"


def show(a):
    return np.array2string(np.asarray(a), threshold=40, precision=17, separator=", ") + \
        f" dtype={a.dtype} shape={a.shape}"


# ---- One case ----

def run_case(case):
    lineno, template, chunk, bin_dir = case
    source = template.replace("{c}", chunk)
    label = f"line {lineno} [c={chunk}]: {source}"
    try:
        expected = numpy_eval(source)
    except Exception as e:  # noqa: BLE001 - a bad line in the file is a failure too
        return label, f"NumPy could not evaluate it: {type(e).__name__}: {e}"
    with tempfile.TemporaryDirectory(prefix="tessera-xcheck-") as tmp:
        out = os.path.join(tmp, "result.npy")
        try:
            proc = subprocess.run([os.path.join(bin_dir, "tessera"), "eval", "--save", out, "--", source],
                                  capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            return label, "tessera timed out after 120 s"
        if proc.returncode != 0:
            return label, (f"tessera exited {proc.returncode}: {proc.stderr.strip()}\n"
                           f"    expected {show(expected)}")
        try:
            got = np.load(out, allow_pickle=False)
        except Exception as e:  # noqa: BLE001
            return label, f"np.load failed on tessera's file: {e}"
    reason = compare(expected, got, is_minmax(source))
    if reason is None:
        return label, None
    return label, f"{reason}\n    expected {show(expected)}\n    got      {show(got)}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default=os.path.join(HERE, "expressions.txt"))
    ap.add_argument("--bin-dir", default=os.environ.get("TESSERA_BIN_DIR"),
                    help="where `tessera` is (default: $TESSERA_BIN_DIR)")
    ap.add_argument("--shard", default="0/1", help="I/N: run expressions whose index %% N == I")
    ap.add_argument("--jobs", type=int, default=min(3, os.cpu_count() or 1))
    ap.add_argument("-v", "--verbose", action="store_true", help="print passing cases too")
    args = ap.parse_args()
    if not args.bin_dir or not os.access(os.path.join(args.bin_dir, "tessera"), os.X_OK):
        print(f"crosscheck: no tessera binary in --bin-dir / $TESSERA_BIN_DIR ({args.bin_dir!r})")
        return 2
    index, count = (int(x) for x in args.shard.split("/"))
    if not 0 <= index < count:
        print(f"crosscheck: bad --shard {args.shard}")
        return 2

    expressions = parse_expressions(args.file)
    mine = [e for i, e in enumerate(expressions) if i % count == index]
    cases = [(lineno, t, c, args.bin_dir) for lineno, t, chunks in mine for c in chunks]
    failures = 0
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for label, problem in pool.map(run_case, cases):
            if problem is None:
                if args.verbose:
                    print(f"ok   {label}")
                continue
            failures += 1
            print(f"FAIL {label}\n    {problem}", flush=True)
    print(f"crosscheck shard {args.shard}: {len(mine)} expressions, {len(cases)} cases, "
          f"{failures} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
