#!/usr/bin/env python3
"""Run test modules with plain unittest and write the per-case results as regrtest's JUnit XML does.

    python3 tests/preload/unittest_junit.py OUT.xml [--ignorefile FILE] [--matchfile FILE] [--timeout S] MODULE...

For tests/preload/cpython.sh: CPython's test_socketserver asks for the regrtest resource "network"
at module level, so `python3 -m test test_socketserver` skips it whole unless `-u network` is given
(which this suite never gives: it would also let other modules reach the internet). Its cases only
use 127.0.0.1 and Unix sockets; run outside regrtest, test.support enables every resource, so this
runner runs them, test case by test case.

--ignorefile: glob patterns (one per line, '#' comments) matched against the test id or one of its
dotted components, as regrtest's --ignorefile; --matchfile: the same syntax, only matching cases run. --timeout: a case running longer dumps every thread's
stack (faulthandler) and ends the process, as regrtest's --timeout.
Writes <testsuites><testsuite><testcase name="test.module.Class.method" ...> with a <skipped>,
<failure> or <error> child as in regrtest's --junit-xml output.
"""
import argparse
import faulthandler
import fnmatch
import sys
import time
import traceback
import unittest
import xml.etree.ElementTree as ET


def load_patterns(path):
    pats = []
    if path:
        with open(path) as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if line:
                    pats.append(line)
    return pats


def ignored(test_id, pats):
    parts = test_id.split(".")
    for p in pats:
        if fnmatch.fnmatchcase(test_id, p) or any(fnmatch.fnmatchcase(x, p) for x in parts):
            return True
    return False


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


class Result(unittest.TextTestResult):
    def __init__(self, *a, timeout=0, **kw):
        super().__init__(*a, **kw)
        self.cases = {}
        self.t0 = {}
        self.timeout = timeout

    def _case(self, test):
        return self.cases.setdefault(test.id(), {"status": "pass", "time": 0.0, "detail": ""})

    def startTest(self, test):
        self.t0[test.id()] = time.monotonic()
        if self.timeout:
            faulthandler.dump_traceback_later(self.timeout, exit=True)
        self._case(test)
        super().startTest(test)

    def stopTest(self, test):
        if self.timeout:
            faulthandler.cancel_dump_traceback_later()
        self._case(test)["time"] = time.monotonic() - self.t0.get(test.id(), time.monotonic())
        super().stopTest(test)

    def _set(self, test, status, detail):
        c = self._case(test)
        rank = {"pass": 0, "skip": 1, "fail": 2, "error": 3}
        if rank[status] >= rank[c["status"]]:
            c["status"] = status
            c["detail"] = detail

    def addError(self, test, err):
        super().addError(test, err)
        self._set(test, "error", "".join(traceback.format_exception(*err)))

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._set(test, "fail", "".join(traceback.format_exception(*err)))

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._set(test, "skip", reason)

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            status = "fail" if issubclass(err[0], test.failureException) else "error"
            self._set(test, status, "".join(traceback.format_exception(*err)))

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._set(test, "fail", "unexpected success")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("modules", nargs="+")
    ap.add_argument("--ignorefile")
    ap.add_argument("--matchfile")
    ap.add_argument("--timeout", type=float, default=0)
    args = ap.parse_args()
    pats = load_patterns(args.ignorefile)
    match = load_patterns(args.matchfile)
    loader = unittest.TestLoader()
    suite = unittest.TestSuite()
    for m in args.modules:
        name = m if m.startswith("test.") else "test." + m
        for t in flatten(loader.loadTestsFromName(name)):
            if not ignored(t.id(), pats) and (not args.matchfile or ignored(t.id(), match)):
                suite.addTest(t)
    runner = unittest.TextTestRunner(verbosity=2, stream=sys.stdout,
                                     resultclass=lambda *a, **kw: Result(*a, timeout=args.timeout, **kw))
    result = runner.run(suite)
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", tests=str(len(result.cases)))
    for name, c in result.cases.items():
        tc = ET.SubElement(ts, "testcase", name=name, status="run", result="completed", time="%.6f" % c["time"])
        tag = {"skip": "skipped", "fail": "failure", "error": "error"}.get(c["status"])
        if tag:
            ET.SubElement(tc, tag, message=c["detail"].strip().splitlines()[-1] if c["detail"].strip() else "").text = c["detail"]
    ET.ElementTree(root).write(args.out, encoding="utf-8", xml_declaration=True)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
