"""Shared helpers for the conformance scripts: the farm description comes as JSON in argv[1]."""
import json
import sys

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
