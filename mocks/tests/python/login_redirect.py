"""Login on the master and on a member (HOST_IS_SLAVE with the bare master address), wrong
passwords, and the SDK's transparent re-login on SESSION_INVALID."""
import XenAPI

from common import check, expect_failure, farm, login

f = farm()
master = login(f["hosts"]["xs1"])
pool = master.xenapi.pool.get_all()[0]
check("pool.get_all returns one pool", len(master.xenapi.pool.get_all()) == 1)
master_ref = master.xenapi.pool.get_master(pool)
check("master address", master.xenapi.host.get_address(master_ref) == "127.0.0.2")
check("int64 fields arrive as strings", isinstance(master.xenapi.host.compute_free_memory(master_ref), str))

member = XenAPI.Session(f["hosts"]["xs2"])
details = expect_failure(["HOST_IS_SLAVE"], member.xenapi.login_with_password, "root", "mock", "1.0", "t")
check("HOST_IS_SLAVE carries the bare master address", details == ["HOST_IS_SLAVE", "127.0.0.2"], details)

bad = XenAPI.Session(f["hosts"]["xs1"])
details = expect_failure(["SESSION_AUTHENTICATION_FAILED"], bad.xenapi.login_with_password, "root", "wrong", "1.0", "t")
check("authentication failure names the user", details[1] == "root", details)

records = master.xenapi.VM.get_all_records()
dom0 = [r for r in records.values() if r["is_control_domain"]]
check("get_all_records includes both control domains", len(dom0) == 2, dom0)
check("halted VMs have OpaqueRef:NULL resident_on",
      all(r["resident_on"] == "OpaqueRef:NULL" for r in records.values() if r["power_state"] == "Halted"))
master.xenapi.session.logout()
print("done")
