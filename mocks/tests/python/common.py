"""Shared helpers for the conformance scripts: the farm description comes as JSON in argv[1]."""
import json
import sys
import time
import urllib.request

import XenAPI


def farm():
    return json.loads(sys.argv[1])


def login(url, user="root", password="mock"):
    session = XenAPI.Session(url)
    session.xenapi.login_with_password(user, password, "1.0", "xenpool-conformance")
    return session


def expect_failure(details, fn, *args):
    """Calls fn(*args); it must raise XenAPI.Failure whose details start with `details`."""
    try:
        fn(*args)
    except XenAPI.Failure as e:
        got = e.details[: len(details)]
        if got != details:
            raise AssertionError(f"expected {details}, got {e.details}") from e
        return e.details
    raise AssertionError(f"expected failure {details}, got success")


def check(name, cond, detail=""):
    if not cond:
        raise AssertionError(f"{name}: {detail}")
    print(f"ok {name}", flush=True)


def state(f):
    """The farm's control-API state."""
    with urllib.request.urlopen(f["control"] + "/state", timeout=5) as r:
        return json.load(r)


def restarts(f):
    return {h["name"]: h["restarts"] for h in state(f)["hosts"]}


def wait_restarted(f, before, names, timeout=10.0):
    """Waits until each host in `names` restarted since `before` and every host is back."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        hosts = {h["name"]: h for h in state(f)["hosts"]}
        if all(hosts[n]["restarts"] > before[n] for n in names) and all(
            h["online"] and h["enabled"] for h in hosts.values()
        ):
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {names} to restart")
