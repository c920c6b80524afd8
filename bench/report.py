#!/usr/bin/env python3
"""The report of `make bench` (bench/run.sh): reads RESULTS_DIR/raw.tsv (one line per client run),
RESULTS_DIR/meta.txt and, when bench/preload.sh ran, RESULTS_DIR/preload.csv; prints one table with,
per workload, the median (min-max) of sslsock, the OpenSSL client, rustls-direct and plain TCP, the
ratios sslsock/OpenSSL and sslsock/rustls, and the goals (issues 6, 7 and 13) with a mark; then, when
the run had rustls' unbuffered API as a client too (bench_rustls_client --unbuffered), a second table
of client CPU: rustls' buffered API, its unbuffered API and sslsock, and their ratios, which tell what
the API sslsock is built on costs by itself. Writes results.csv, results.md (the tables in Markdown,
for docs/benchmarks.md) and chart.png.

    python3 bench/report.py bench/results
"""

import csv
import math
import os
import re
import shutil
import statistics
import subprocess
import sys

CLIENTS = ["sslsock", "openssl", "rustls", "plain"]
# rustls' unbuffered API, used directly: its own table (api_lines), not a column of the main one.
UNBUFFERED = "rustlsub"
API_TITLE = "rustls' two APIs used directly, and sslsock (on the unbuffered one): client CPU"
HEAD = {"sslsock": "sslsock", "openssl": "OpenSSL", "rustls": "rustls", "plain": "plain TCP",
        UNBUFFERED: "rustls unbuffered"}
OK, NO = "\u2713", "\u2717"


def parse_kv(text):
    out = {}
    for part in (text or "").split():
        if "=" in part:
            k, v = part.split("=", 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def load_raw(path):
    runs = {}
    info = {}
    with open(path) as f:
        rows = csv.DictReader(f, delimiter="\t")
        for r in rows:
            res = parse_kv(r["result"])
            res["_server"] = parse_kv(r.get("server", ""))
            runs.setdefault((r["workload"], r["client"]), []).append(res)
            if r.get("info"):
                info.setdefault(r["client"], r["info"])
    return runs, info


def load_meta(path):
    meta = {}
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                meta[k] = v
    return meta


# ---- metrics: one number per run ----

def mbps(r):
    return r["bytes"] / r["wall"] / 1e6


def cpu_ms_per_gb(r):
    return r["cpu"] / r["bytes"] * 1e9 * 1e3


def us_per_rt(r):
    return r["wall"] / r["n"] * 1e6


def cpu_us_per_rt(r):
    return r["cpu"] / r["n"] * 1e6


def per_s(r):
    return r["n"] / r["wall"]


def cpu_us_per_hs(r):
    return r["cpu"] / r["n"] * 1e6


def kib_per_socket(r):
    return r["kib_per_socket"]


def wall_s(r):
    return r["wall"] if r.get("ok", 0) == r.get("n", -1) else float("nan")


class Row:
    def __init__(self, key, label, unit, fn, better, goal=None, cpu=False):
        self.key, self.label, self.unit, self.fn, self.better = key, label, unit, fn, better
        self.goal, self.cpu = goal, cpu
        self.stats = {}  # client -> (median, min, max, n)
        self.goal_text, self.met, self.note = "", None, ""


def summarize(values):
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return None
    return (statistics.median(values), min(values), max(values), len(values))


def fmt(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(s):
    if s is None:
        return "-"
    med, lo, hi, _ = s
    return f"{fmt(med)} ({fmt(lo)}-{fmt(hi)})"


def ratio(row, a, b):
    sa, sb = row.stats.get(a), row.stats.get(b)
    if not sa or not sb or not sb[0]:
        return None
    return sa[0] / sb[0]


def build_rows(runs, meta):
    bulk_mib = float(meta.get("bulk_bytes", 1 << 30)) / (1 << 20)
    size = f"{bulk_mib / 1024:g} GiB" if bulk_mib >= 1024 else f"{bulk_mib:g} MiB"
    rows = []

    def bulk(key, label):
        rows.append(Row(key, label, "MB/s", mbps, "high"))
        rows.append(Row(key, "  client CPU", "ms/GB", cpu_ms_per_gb, "low", "bulk_cpu", cpu=True))

    bulk("dl16k", f"download {size}, 16 KiB recv")
    bulk("dl1k", f"download {size}, 1 KiB recv")
    bulk("ul16k", f"upload {size}, 16 KiB send")
    bulk("ul1k", f"upload {size}, 1 KiB send")
    rows.append(Row("pingpong", f"1-byte ping-pong ({int(float(meta.get('pingpong_n', 0)))} RT)",
                    "us/RT", us_per_rt, "low"))
    rows.append(Row("pingpong", "  client CPU", "us/RT", cpu_us_per_rt, "low", "cpu_rustls",
                    cpu=True))
    for v in ("13", "12"):
        for k, kname in (("e", "ECDSA"), ("r", "RSA")):
            for m in ("full", "resume"):
                key = f"hs_{m}_{v}_{k}"
                what = "full" if m == "full" else "resumed"
                rows.append(Row(key, f"TLS 1.{v[1]} {kname} {what} handshakes", "/s", per_s, "high",
                                "hs_full" if m == "full" else "hs_resume"))
                rows.append(Row(key, "  client CPU", "us/hs", cpu_us_per_hs, "low", "cpu_rustls",
                                cpu=True))
    rows.append(Row("tcp_connect", "TCP connect/close (no TLS)", "/s", per_s, "high"))
    rows.append(Row("soak", f"soak: {int(float(meta.get('soak_n', 0)))} connect/handshake/close cycles, RSS "
                    "growth after the first tenth", "KiB", lambda r: r["growth_kib"], "low", "soak"))
    # Against `openssl s_server -WWW` (the issue's own check: the server is OpenSSL's, shared).
    rows.append(Row("ss_dl", "s_server -WWW: GET a 256 MiB file, 16 KiB recv", "MB/s", mbps, "high"))
    rows.append(Row("ss_dl", "  client CPU", "ms/GB", cpu_ms_per_gb, "low", "bulk_cpu", cpu=True))
    rows.append(Row("ss_hs", "s_server -WWW: full handshake + GET of 3 bytes", "/s", per_s, "high",
                    "hs_full"))
    rows.append(Row("ss_hs", "  client CPU", "us/hs", cpu_us_per_hs, "low", "cpu_rustls",
                    cpu=True))
    rows.append(Row("memory", f"idle secure socket ({int(float(meta.get('idle_sockets', 0)))} open)",
                    "KiB/sock", kib_per_socket, "low", "memory"))
    rows.append(Row("concurrent",
                    f"{int(float(meta.get('conc_sockets', 0)))} sockets open at once: time",
                    "s", wall_s, "low", "concurrent"))
    for t in (2, 8, 64):
        rows.append(Row(f"threads{t}", f"{t} threads x own socket, download", "MB/s", mbps, "high",
                        "bulk_threads"))
        rows.append(Row(f"threads{t}", "  client CPU", "ms/GB", cpu_ms_per_gb, "low", None,
                        cpu=True))
    for row in rows:
        for cl in CLIENTS + [UNBUFFERED]:
            rs = runs.get((row.key, cl))
            if not rs:
                continue
            vals = []
            for r in rs:
                try:
                    vals.append(float("nan") if r.get("failed") else row.fn(r))
                except (KeyError, ZeroDivisionError, TypeError):
                    vals.append(float("nan"))
            s = summarize(vals)
            if s:
                row.stats[cl] = s
            failed = sum(1 for r in rs if r.get("failed"))
            if failed:
                row.note += f" {HEAD[cl]}: {failed} failed run(s)."
    return [r for r in rows if r.stats]


def mark(ok):
    return OK if ok else NO


def evaluate(rows, runs):
    by_key = {}
    for r in rows:
        if not r.cpu:
            by_key[r.key] = r
    for row in rows:
        g = row.goal
        so, sr = ratio(row, "sslsock", "openssl"), ratio(row, "sslsock", "rustls")
        # Issue 13's goals: client CPU against rustls used directly (its buffered API, system allocator).
        if g == "bulk_threads" and so is not None and sr is not None:
            row.met = so >= 1.10 and sr >= 0.95
            row.goal_text = ">=1.10x OpenSSL, >=0.95x rustls"
        elif g == "bulk_cpu" and sr is not None:
            row.met = sr <= 0.95
            row.goal_text = f"CPU sslsock/rustls {sr:.2f} <= 0.95 (ambition 0.85)"
        elif g == "cpu_rustls" and sr is not None:
            row.met = sr <= 1.0
            row.goal_text = f"CPU sslsock/rustls {sr:.2f} <= 1.0"
        elif g == "hs_full" and so is not None:
            row.met = so >= 1.0
            row.goal_text = ">=1.0x OpenSSL"
            srv = [r["_server"] for r in runs.get((row.key, "sslsock"), [])]
            res = sum(s.get("resumed", 0) for s in srv)
            if res:
                row.met = False
                row.note += f" server saw {int(res)} resumed handshakes from sslsock (expected 0)."
        elif g == "hs_resume":
            full = by_key.get(row.key.replace("resume", "full"))
            s, f = row.stats.get("sslsock"), full.stats.get("sslsock") if full else None
            if s and f:
                need = 1.2 if "_13_" in row.key else 2.0
                rf = s[0] / f[0]
                srv = [r["_server"] for r in runs.get((row.key, "sslsock"), [])]
                tot = sum(x.get("full", 0) + x.get("resumed", 0) for x in srv)
                res = sum(x.get("resumed", 0) for x in srv)
                share = res / tot if tot else 0.0
                row.met = rf >= need and share >= 0.95
                row.goal_text = f"resumed/full {rf:.2f} >= {need:g}"
                row.note += f" server: {share * 100:.0f} % of sslsock's handshakes resumed."
        elif g == "soak":
            rs = [r for r in runs.get((row.key, "sslsock"), []) if not r.get("failed")]
            if rs:
                growth = max(r["growth_kib"] for r in rs)
                fds_ok = all(r["fds_after"] == r["fds_before"] for r in rs)
                row.met = growth <= 1024 and fds_ok
                row.goal_text = "no growth (<= 1 MiB), descriptors back to where they were"
                row.note += (f" sslsock: RSS {rs[0]['rss_warm_kib']:.0f} -> {rs[0]['rss_end_kib']:.0f} KiB, "
                             f"descriptors {rs[0]['fds_before']:.0f} -> {rs[0]['fds_after']:.0f}.")
        elif g == "memory":
            s = row.stats.get("sslsock")
            r = row.stats.get("rustls")
            if s:
                row.met = s[0] <= 8 and (r is None or s[0] < r[0])
                row.goal_text = "<= 8 KiB per socket, below rustls"
        elif g == "concurrent":
            rs = runs.get((row.key, "sslsock"), [])
            if rs:
                allok = all(r.get("ok") == r.get("n") for r in rs if not r.get("failed"))
                allok = allok and not any(r.get("failed") for r in rs)
                opened = min(int(r.get("ok", 0)) for r in rs)
                row.met = allok
                row.goal_text = f"all open at once ({opened}/{int(rs[0].get('n', 0))} in every run)"


def preload_rows(outdir):
    path = os.path.join(outdir, "preload.csv")
    if not os.path.exists(path + ".used"):
        return []
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            kind = r["benchmark"]
            m = re.search(r"(\d+)", r["unit"])
            n = float(m.group(1)) if m else 1.0
            plain = [float(x) for x in r["no_preload_runs_s"].split()]
            pre = [float(x) for x in r["preload_runs_s"].split()]
            if kind == "pingpong":
                row = Row("preload_" + kind, f"plain ping-pong, preloaded ({int(n)} RT)", "us/RT",
                          None, "low")
                conv = lambda t: t / n * 1e6  # noqa: E731
            else:
                row = Row("preload_" + kind, f"plain transfer, preloaded ({n / 1048576:g} MiB)",
                          "MB/s", None, "high")
                conv = lambda t: n / t / 1e6  # noqa: E731
            row.stats["sslsock"] = summarize([conv(t) for t in pre])
            row.stats["plain"] = summarize([conv(t) for t in plain])
            rat = float(r["ratio"])
            row.met = rat <= 1.02
            row.goal_text = f"time preload/plain {rat:.3f} <= 1.02"
            row.note = " sslsock column: netbench under tools/sslsock-run; plain TCP: without (bench/preload.sh)."
            rows.append(row)
    return rows


def table_lines(rows, md=False):
    cols = ["workload", "unit", HEAD["sslsock"], HEAD["openssl"], HEAD["rustls"], HEAD["plain"],
            "sslsock/OpenSSL", "sslsock/rustls", "goal", ""]
    data = []
    for r in rows:
        so, sr = ratio(r, "sslsock", "openssl"), ratio(r, "sslsock", "rustls")
        data.append([r.label, r.unit] + [cell(r.stats.get(c)) for c in CLIENTS] +
                    [fmt(so) if so is not None else "-", fmt(sr) if sr is not None else "-",
                     r.goal_text, "" if r.met is None else mark(r.met)])
    return render(cols, data, {2, 3, 4, 5, 6, 7}, md)


def render(cols, data, right, md):
    """A table: Markdown, or text in aligned columns (those numbered in `right` aligned right)."""
    if md:
        out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for d in data:
            d = [x.replace("  client CPU", "&nbsp;&nbsp;client CPU") for x in d]
            out.append("| " + " | ".join(d) + " |")
        return out
    widths = [max(len(str(x)) for x in col) for col in zip(cols, *data)]
    def line(vals):
        return "  ".join((str(v).rjust(w) if i in right else str(v).ljust(w))
                         for i, (v, w) in enumerate(zip(vals, widths))).rstrip()
    return [line(cols), "  ".join("-" * w for w in widths)] + [line(d) for d in data]


def api_lines(rows, md=False):
    """Client CPU of rustls' buffered API, its unbuffered API and sslsock, where all three ran."""
    cols = ["workload", "unit", "rustls (buffered)", HEAD[UNBUFFERED], HEAD["sslsock"],
            "unbuffered/buffered", "sslsock/unbuffered"]
    data = []
    last = ""
    for r in rows:
        if not r.label.startswith("  "):
            last = r.label
        if not r.cpu or not all(r.stats.get(c) for c in ("rustls", UNBUFFERED, "sslsock")):
            continue
        ub, su = ratio(r, UNBUFFERED, "rustls"), ratio(r, "sslsock", UNBUFFERED)
        data.append([f"{last}: client CPU", r.unit, cell(r.stats["rustls"]), cell(r.stats[UNBUFFERED]),
                     cell(r.stats["sslsock"]), fmt(ub), fmt(su)])
    return render(cols, data, set(range(1, len(cols))), md) if data else []


def write_csv(rows, path):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        head = ["workload", "label", "unit", "better"]
        for c in CLIENTS:
            head += [f"{c}_median", f"{c}_min", f"{c}_max", f"{c}_runs"]
        head += ["sslsock_over_openssl", "sslsock_over_rustls", "goal", "met", "note"]
        w.writerow(head)
        for r in rows:
            line = [r.key + ("_cpu" if r.cpu else ""), r.label.strip(), r.unit, r.better]
            for c in CLIENTS:
                s = r.stats.get(c)
                line += list(s) if s else ["", "", "", ""]
            so, sr = ratio(r, "sslsock", "openssl"), ratio(r, "sslsock", "rustls")
            line += ["" if so is None else f"{so:.4f}", "" if sr is None else f"{sr:.4f}",
                     r.goal_text, "" if r.met is None else ("yes" if r.met else "no"), r.note.strip()]
            w.writerow(line)


def chart_matplotlib(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"sslsock": "#1f77b4", "openssl": "#d62728", "rustls": "#ff7f0e", "plain": "#7f7f7f"}
    fig, axes = plt.subplots(2, 3, figsize=(18, 10))

    def bars(ax, sel, clients, ylabel, ttl, labels=None):
        width = 0.8 / len(clients)
        for i, c in enumerate(clients):
            xs, ys, lo, hi = [], [], [], []
            for j, r in enumerate(sel):
                s = r.stats.get(c)
                if not s:
                    continue
                xs.append(j + (i - (len(clients) - 1) / 2) * width)
                ys.append(s[0])
                lo.append(s[0] - s[1])
                hi.append(s[2] - s[0])
            ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=HEAD[c], color=colors[c])
        ax.set_xticks(range(len(sel)))
        ax.set_xticklabels(labels or [r.label for r in sel], rotation=25, ha="right", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.set_title(ttl, fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)

    main = [r for r in rows if not r.cpu]
    bulk = [r for r in main if r.key[:2] in ("dl", "ul")]
    thr = [r for r in main if r.key.startswith("threads")]
    hs = [r for r in main if r.key.startswith("hs_")]
    if bulk:
        bars(axes[0][0], bulk, CLIENTS, "MB/s (median, min-max)", "bulk transfer, one socket")
    if thr:
        bars(axes[0][1], thr, CLIENTS, "MB/s aggregate", "N threads, each on its own socket")
    if hs:
        bars(axes[0][2], hs, CLIENTS[:3], "handshakes/s", "sequential handshakes",
             [r.label.replace(" handshakes", "") for r in hs])
    cpu = [r for r in rows if r.cpu and (r.key[:2] in ("dl", "ul") or r.key.startswith("hs_full"))]
    if cpu:
        ax = axes[1][0]
        width = 0.25
        for i, c in enumerate(["sslsock", "openssl", "rustls"]):
            ys = []
            for r in cpu:
                s, base = r.stats.get(c), r.stats.get("openssl")
                ys.append(s[0] / base[0] if s and base else 0)
            ax.bar([j + (i - 1) * width for j in range(len(cpu))], ys, width, label=HEAD[c],
                   color=colors[c])
        ax.axhline(1 / 1.10, color="k", ls="--", lw=0.8, label="goal for downloads (1/1.10)")
        ax.set_xticks(range(len(cpu)))
        ax.set_xticklabels([f"{r.key} CPU" for r in cpu], rotation=25, ha="right", fontsize=8)
        ax.set_ylabel("client CPU relative to OpenSSL (lower is better)")
        ax.set_title("client CPU cost per GB / per handshake", fontsize=10)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    small = [r for r in main if r.key in ("pingpong", "memory") or r.key.startswith("preload_ping")]
    if small:
        bars(axes[1][1], small, CLIENTS, "us per round trip / KiB per socket",
             "latency and memory (lower is better)", [f"{r.label} [{r.unit}]" for r in small])
    ax = axes[1][2]
    rel = [r for r in main if r.stats.get("sslsock") and (r.stats.get("openssl") or r.stats.get("rustls"))]
    names, vo, vr = [], [], []
    for r in rel:
        so, sr = ratio(r, "sslsock", "openssl"), ratio(r, "sslsock", "rustls")
        inv = r.better == "low"
        names.append(r.key)
        vo.append((1 / so if inv else so) if so else 0)
        vr.append((1 / sr if inv else sr) if sr else 0)
    ys = range(len(names))
    ax.barh([y - 0.2 for y in ys], vo, 0.4, label="vs OpenSSL", color=colors["openssl"])
    ax.barh([y + 0.2 for y in ys], vr, 0.4, label="vs rustls", color=colors["rustls"])
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(list(ys))
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("sslsock relative performance (>1: sslsock better)")
    ax.set_title("sslsock relative to OpenSSL and rustls-direct", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def chart_gnuplot(rows, path, title, outdir):
    data = os.path.join(outdir, "chart.dat")
    with open(data, "w") as f:
        for r in rows:
            if r.cpu:
                continue
            so, sr = ratio(r, "sslsock", "openssl"), ratio(r, "sslsock", "rustls")
            if so is None and sr is None:
                continue
            inv = r.better == "low"
            g = lambda x: (1 / x if inv else x) if x else 0  # noqa: E731
            f.write(f'"{r.key}" {g(so):.4f} {g(sr):.4f}\n')
    script = f"""set terminal png size 1400,700
set output '{path}'
set title "{title} - sslsock relative performance (>1: sslsock better)"
set style data histograms
set style fill solid
set xtics rotate by -30
set grid ytics
plot '{data}' using 2:xtic(1) title 'vs OpenSSL', '' using 3 title 'vs rustls'
"""
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def main(argv):
    outdir = argv[1] if len(argv) > 1 else "bench/results"
    runs, info = load_raw(os.path.join(outdir, "raw.tsv"))
    meta = load_meta(os.path.join(outdir, "meta.txt"))
    rows = build_rows(runs, meta)
    evaluate(rows, runs)
    rows += preload_rows(outdir)
    title = (f"sslsock benchmarks - {meta.get('date', '')}, {meta.get('cpus', '?')} CPUs, "
             f"{meta.get('runs', '?')} runs each, median (min-max)"
             + (", QUICK" if meta.get("quick") == "1" else ""))
    print(f"# {title}")
    print(f"# {meta.get('openssl', '')}; {meta.get('rustc', '')}; kernel {meta.get('kernel', '')}; "
          f"clients TCP_NODELAY={meta.get('nodelay', '?')}; git {meta.get('git', '')}")
    for c in ("sslsock", "openssl", "rustls"):
        if c in info:
            print(f"# negotiated by {HEAD[c]}: {info[c]}")
    lines = table_lines(rows)
    print("\n".join(lines))
    api = api_lines(rows)
    if api:
        print(f"# {API_TITLE}")
        print("\n".join(api))
    notes = [f"{r.label.strip()} ({r.key}):{r.note}" for r in rows if r.note.strip()]
    for n in notes:
        print(f"# note: {n}")
    goals = [r for r in rows if r.met is not None]
    met = sum(1 for r in goals if r.met)
    print(f"# goals: {met} of {len(goals)} met; missed: "
          + (", ".join(f"{r.key}{'_cpu' if r.cpu else ''}" for r in goals if not r.met) or "none"))
    write_csv(rows, os.path.join(outdir, "results.csv"))
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(f"{title}\n\n")
        for c in ("sslsock", "openssl", "rustls"):
            if c in info:
                f.write(f"- negotiated by {HEAD[c]}: `{info[c]}`\n")
        f.write("\n" + "\n".join(table_lines(rows, md=True)) + "\n")
        if notes:
            f.write("\n" + "\n".join(f"- {n}" for n in notes) + "\n")
        api = api_lines(rows, md=True)
        if api:
            f.write(f"\n{API_TITLE}\n\n" + "\n".join(api) + "\n")
    chart = os.path.join(outdir, "chart.png")
    made = False
    try:
        chart_matplotlib(rows, chart, title)
        made = True
    except ImportError:
        # matplotlib missing: try to install it for this user, then gnuplot.
        if subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--user", "matplotlib"],
                          capture_output=True).returncode == 0:
            try:
                subprocess.run([sys.executable, os.path.abspath(__file__), "--chart-only", outdir],
                               check=True)
                made = True
            except subprocess.CalledProcessError:
                pass
        if not made and shutil.which("gnuplot"):
            try:
                chart_gnuplot(rows, chart, title, outdir)
                made = True
            except (subprocess.CalledProcessError, OSError):
                pass
    if made:
        print(f"# written: {outdir}/results.csv, results.md, chart.png, raw.tsv")
    else:
        print(f"# written: {outdir}/results.csv, results.md, raw.tsv; no chart "
              "(pip install matplotlib, or apt-get install gnuplot-nox)")
    return 0


def chart_only(outdir):
    runs, _ = load_raw(os.path.join(outdir, "raw.tsv"))
    meta = load_meta(os.path.join(outdir, "meta.txt"))
    rows = build_rows(runs, meta)
    evaluate(rows, runs)
    rows += preload_rows(outdir)
    chart_matplotlib(rows, os.path.join(outdir, "chart.png"), f"sslsock benchmarks - {meta.get('date', '')}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--chart-only":
        sys.exit(chart_only(sys.argv[2]))
    sys.exit(main(sys.argv))
