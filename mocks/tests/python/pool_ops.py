"""join (and its refusals), migrate (and its refusals), designate and eject through the SDK."""
import time

import XenAPI

from common import check, expect_failure, farm, login, restarts, wait_restarted


def wait(what, cond, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if cond():
                return
        except (XenAPI.Failure, OSError):
            pass
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


f = farm()
xs1, xs2, xs3 = (f["hosts"][h] for h in ("xs1", "xs2", "xs3"))

# xs3 has running VMs: the join is refused.
joiner = login(xs3)
expect_failure(["JOINING_HOST_CANNOT_HAVE_RUNNING_VMS"], joiner.xenapi.pool.join, "127.0.0.2", "root", "mock")
check("join refused with running VMs", True)

# xs2 differs in CPU vendor: join refuses, join_force accepts.
s2 = login(xs2)
details = expect_failure(["HOSTS_NOT_HOMOGENEOUS"], s2.xenapi.pool.join, "127.0.0.2", "root", "mock")
check("join refused for another CPU vendor", details == ["HOSTS_NOT_HOMOGENEOUS", "CPUs differ"], details)
before = restarts(f)
s2.xenapi.pool.join_force("127.0.0.2", "root", "mock")
wait_restarted(f, before, ["xs2"])
m = login(xs1)
check("join_force joined xs2", len(m.xenapi.host.get_all()) == 2)

host2 = m.xenapi.host.get_by_name_label("xs2")[0]
vm = m.xenapi.VM.get_by_name_label("xs1-vm1")[0]
m.xenapi.host.disable(host2)
details = expect_failure(["HOST_DISABLED"], m.xenapi.VM.pool_migrate, vm, host2, {"live": "true", "force": "true"})
check("migrate to a disabled host", details == ["HOST_DISABLED", host2], details)
m.xenapi.host.enable(host2)
details = expect_failure(["VM_INCOMPATIBLE_WITH_THIS_HOST"], m.xenapi.VM.pool_migrate, vm, host2, {"live": "true"})
check("migrate across CPU vendors needs force", details[1:3] == [vm, host2], details)
task = m.xenapi.Async.VM.pool_migrate(vm, host2, {"live": "true", "force": "true"})
wait("the migration task", lambda: m.xenapi.task.get_status(task) != "pending")
check("async migrate succeeded", m.xenapi.task.get_status(task) == "success", m.xenapi.task.get_error_info(task))
check("the VM moved", m.xenapi.VM.get_resident_on(vm) == host2)

master_ref = m.xenapi.host.get_by_name_label("xs1")[0]
details = expect_failure(["INTERNAL_ERROR"], m.xenapi.pool.eject, master_ref)
check("the master cannot be ejected", details == ["INTERNAL_ERROR", "Xapi_pool.Cannot_eject_master"], details)
details = expect_failure(["OPERATION_NOT_ALLOWED"], m.xenapi.pool.eject, host2)
check("a host with running VMs cannot be ejected", details == ["OPERATION_NOT_ALLOWED", "VM resident on host"])

before = restarts(f)
m.xenapi.pool.designate_new_master(host2)
wait_restarted(f, before, ["xs1", "xs2"])
old = XenAPI.Session(xs1)
details = expect_failure(["HOST_IS_SLAVE"], old.xenapi.login_with_password, "root", "mock", "1.0", "t")
check("the old master redirects to the new one", details == ["HOST_IS_SLAVE", "127.0.0.3"], details)

new = login(xs2)
for ref, rec in new.xenapi.VM.get_all_records().items():
    if rec["resident_on"] == new.xenapi.host.get_by_name_label("xs1")[0] and not rec["is_control_domain"]:
        new.xenapi.VM.hard_shutdown(ref)
xs1_ref = new.xenapi.host.get_by_name_label("xs1")[0]
new.xenapi.pool.eject(xs1_ref)
expect_failure(["HANDLE_INVALID"], new.xenapi.host.get_record, xs1_ref)
check("eject removed the host record", len(new.xenapi.host.get_all()) == 1)
print("done")
