"""HTTPS with a self-signed certificate: the SDK refuses it by default and works with ignore_ssl."""
import ssl

import XenAPI

from common import check, farm

f = farm()
url = f["hosts"]["xs1"]
check("URLs are https with --tls", url.startswith("https://"), url)
check("fingerprints are reported", f["fingerprints"]["xs1"].startswith("sha256:"), f)
try:
    XenAPI.Session(url).xenapi.login_with_password("root", "mock", "1.0", "t")
    raise AssertionError("a self-signed certificate was accepted without ignore_ssl")
except ssl.SSLError:
    check("verification refuses the self-signed certificate", True)
s = XenAPI.Session(url, ignore_ssl=True)
s.xenapi.login_with_password("root", "mock", "1.0", "t")
check("ignore_ssl logs in", len(s.xenapi.host.get_all()) == 1)
s.xenapi.session.logout()
print("done")
