#!/usr/bin/env python3
"""Compare two runs of CPython's test modules, test case by test case (tests/preload/cpython.sh).

    compare_results.py --modules "test_socket ..." --base-log LOG --pre-log LOG \
        --base X.xml [X.xml...] --pre Y.xml [Y.xml...] [--rerun-base R.xml --rerun-pre S.xml] \
        [--diff-out FILE]

Inputs: the JUnit XML files written by `python -m test --junit-xml` (and tests/preload/unittest_junit.py)
without ("base") and with the preload ("pre"), and regrtest's console logs (for modules that crashed,
hung or changed the environment: they leave no XML). Each case's result is pass, skip, fail or error.
A case is identical when both runs gave the same result. With --rerun-*, a case that differed in the
main runs counts as identical if the re-run of it, with and without the preload, gave the same result
twice (reported as flaky); otherwise it differs.
Prints one line per module ("ok - " / "not ok - "), then each differing case with the preloaded run's
failure text, then exactly "N passed, N failed": N passed = identical cases, N failed = differing
cases plus modules that crashed, hung or changed the environment with the preload only (or in both runs).
--diff-out writes the differing case ids (for a re-run), --crashed-out the test files that crashed or
hung with the preload (their missing cases are not counted one by one: the file counts once). Exit status 0 only if N failed is 0.
"""
import argparse
import collections
import re
import sys
import xml.etree.ElementTree as ET


def load(paths):
    res = {}
    for p in paths or []:
        try:
            root = ET.parse(p).getroot()
        except (OSError, ET.ParseError) as e:
            print("# cannot read %s: %s" % (p, e))
            continue
        for tc in root.iter("testcase"):
            name = tc.get("name")
            status, detail = "pass", ""
            for ch in tc:
                if ch.tag == "skipped" and status == "pass":
                    status, detail = "skip", ch.get("message") or (ch.text or "")
                elif ch.tag == "failure" and status in ("pass", "skip"):
                    status, detail = "fail", ch.text or ch.get("message") or ""
                elif ch.tag == "error":
                    status, detail = "error", ch.text or ch.get("message") or ""
            res[name] = (status, detail)
    return res


LINE = re.compile(r"\[\s*\d+/\d+(?:/\d+)?\] (test_[\w.]+) (.*?)(?: -- running.*)?$")


def module_outcomes(log):
    """regrtest's one-line verdict per test file: passed, skipped, failed, env changed, or a crash/timeout."""
    out = {}
    try:
        text = open(log, errors="replace").read()
    except OSError:
        return out
    for line in text.splitlines():
        m = LINE.search(line)
        if not m:
            continue
        mod, verdict = m.group(1), m.group(2).strip()
        if verdict.startswith("passed"):
            kind = "passed"
        elif verdict.startswith("skipped"):
            kind = "skipped"
        elif verdict.startswith("failed (env changed)"):
            kind = "env changed"
        elif verdict.startswith("failed"):
            kind = "failed"
        else:
            kind = "crashed/hung: " + verdict
        out[mod] = kind
    return out


def top_module(name, modules):
    for m in modules:
        if name.startswith("test.%s." % m) or name.startswith("test.%s" % m) and name[len("test.%s" % m):][:1] in ("", "."):
            return m
        if "(test.%s." % m in name or "(test.%s)" % m in name:
            return m
    return "other"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--modules", required=True)
    ap.add_argument("--base", nargs="+", required=True)
    ap.add_argument("--pre", nargs="+", required=True)
    ap.add_argument("--base-log", nargs="*", default=[])
    ap.add_argument("--pre-log", nargs="*", default=[])
    ap.add_argument("--rerun-base", nargs="*", default=[])
    ap.add_argument("--rerun-pre", nargs="*", default=[])
    ap.add_argument("--diff-out")
    ap.add_argument("--crashed-out", help="write the test files that crashed or hung with the preload")
    args = ap.parse_args()
    modules = args.modules.split()
    base, pre = load(args.base), load(args.pre)
    rb, rp = load(args.rerun_base), load(args.rerun_pre)
    bmods, pmods = {}, {}
    for log in args.base_log:
        bmods.update(module_outcomes(log))
    for log in args.pre_log:
        pmods.update(module_outcomes(log))

    # test files whose run crashed or hung: their missing cases are not counted one by one (the file
    # counts once, below)
    crashed_b = {f for f, k in bmods.items() if k.startswith("crashed")}
    crashed_p = {f for f, k in pmods.items() if k.startswith("crashed")}

    def test_file(name):
        best = None
        for f in list(bmods) + list(pmods):
            if name.startswith("test.%s." % f) and (best is None or len(f) > len(best)):
                best = f
        return best

    per = collections.OrderedDict((m, {"same": 0, "diff": 0, "flaky": 0, "base": collections.Counter(),
                                       "pre": collections.Counter(), "bad": []}) for m in modules)
    per["other"] = {"same": 0, "diff": 0, "flaky": 0, "base": collections.Counter(), "pre": collections.Counter(), "bad": []}
    diffs, flaky = [], []
    for name in sorted(set(base) | set(pre)):
        m = top_module(name, modules)
        b = base.get(name, ("absent", ""))
        p = pre.get(name, ("absent", ""))
        per[m]["base"][b[0]] += 1
        per[m]["pre"][p[0]] += 1
        f = test_file(name)
        if (b[0] == "absent" and f in crashed_b) or (p[0] == "absent" and f in crashed_p):
            per[m]["lost"] = per[m].get("lost", 0) + 1
            continue
        if b[0] == p[0]:
            per[m]["same"] += 1
        elif name in rb and name in rp and rb[name][0] == rp[name][0]:
            per[m]["same"] += 1
            per[m]["flaky"] += 1
            flaky.append((name, b[0], p[0], rb[name][0]))
        else:
            per[m]["diff"] += 1
            diffs.append((name, b, p, rb.get(name), rp.get(name)))

    # test files (regrtest verdicts) that crashed, hung or changed the environment
    for f in sorted(set(bmods) | set(pmods)):
        bk, pk = bmods.get(f, "absent"), pmods.get(f, "absent")
        m = top_module("test." + f + ".x", modules)
        bad = None
        if pk.startswith("crashed") or pk == "absent":
            bad = "%s with the preload: %s (without: %s)" % (f, pk, bk)
        elif bk.startswith("crashed") or bk == "absent":
            bad = "%s crashed or hung even without the preload: %s (exclude its hanging cases in cpython.sh)" % (f, bk)
        elif (pk == "env changed") != (bk == "env changed"):
            bad = "%s: regrtest says %r with the preload, %r without" % (f, pk, bk)
        if bad:
            per[m]["bad"].append(bad)

    total_same = total_fail = 0
    for m, d in per.items():
        n = d["same"] + d["diff"]
        if m == "other" and n == 0 and not d["bad"] and not d.get("lost"):
            continue
        summary = lambda c: " ".join("%d %s" % (c[k], k) for k in ("pass", "skip", "fail", "error", "absent") if c[k])
        line = "%s: %d cases, %d identical, %d differ%s%s (without: %s; with: %s)" % (
            m, n, d["same"], d["diff"], (", %d flaky" % d["flaky"]) if d["flaky"] else "",
            (", %d not run in one of the runs (crash/hang)" % d["lost"]) if d.get("lost") else "",
            summary(d["base"]) or "none", summary(d["pre"]) or "none")
        ok = d["diff"] == 0 and not d["bad"] and n > 0
        print(("ok - " if ok else "not ok - ") + line + ("" if n else " -- no test case ran"))
        for b in d["bad"]:
            print("not ok -   " + b)
        total_same += d["same"]
        total_fail += d["diff"] + len(d["bad"]) + (1 if n == 0 and not d["bad"] else 0)
    for name, b0, p0, r in flaky:
        print("# flaky (counted identical): %s: first %s without, %s with; re-run %s in both" % (name, b0, p0, r))
    for name, b, p, r1, r2 in diffs:
        print("# DIFFERS: %s: without preload %s, with preload %s%s" % (
            name, b[0], p[0], ("; re-run: without %s, with %s" % (r1[0] if r1 else "-", r2[0] if r2 else "-"))
            if (args.rerun_base or args.rerun_pre) else ""))
        for label, detail in (("with preload", p[1]), ("without preload", b[1])):
            if detail.strip():
                lines = [ln for ln in detail.strip().splitlines()]
                # drop unittest's own frames; keep the test's frames and the exception
                keep, skip = [], False
                for ln in lines:
                    if ln.startswith("  File "):
                        skip = "/unittest/" in ln
                    elif not ln.startswith("    "):
                        skip = False
                    if not skip:
                        keep.append(ln)
                for ln in keep[-20:]:
                    print("#   [%s] %s" % (label, ln))
    if args.crashed_out:
        with open(args.crashed_out, "w") as f:
            for name in sorted(crashed_p):
                f.write(name + "\n")
    if args.diff_out:
        with open(args.diff_out, "w") as f:
            for name, *_ in diffs:
                f.write(name + "\n")
    print("%d passed, %d failed" % (total_same, total_fail))
    return 0 if total_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
