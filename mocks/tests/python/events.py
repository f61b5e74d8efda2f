"""event.from through the SDK: initial adds, tokens, a change, timeouts and a bad token."""
from common import check, expect_failure, farm, login

f = farm()
s = login(f["hosts"]["xs1"])
event_from = getattr(s.xenapi.event, "from")  # `from` is a Python keyword
first = event_from(["vm", "host"], "", 1.0)
check("initial events are adds", all(e["operation"] == "add" for e in first["events"]))
check("token has XAPI's shape", len(first["token"]) == 41 and "," in first["token"], first["token"])
check("valid_ref_counts counts VMs", int(first["valid_ref_counts"]["vm"]) == 3, first["valid_ref_counts"])
vm = s.xenapi.VM.get_by_name_label("xs1-vm1")[0]
s.xenapi.VM.add_to_other_config(vm, "home", "xs1")
later = event_from(["VM"], first["token"], 1.0)
changed = [e for e in later["events"] if e["ref"] == vm]
check("the change arrives as mod with a snapshot",
      len(changed) == 1 and changed[0]["operation"] == "mod" and changed[0]["snapshot"]["other_config"]["home"] == "xs1",
      later)
quiet = event_from(["vm"], later["token"], 0.1)
check("a quiet timeout returns no events", quiet["events"] == [], quiet)
expect_failure(["EVENT_FROM_TOKEN_PARSE_FAILURE", "bogus"], event_from, ["*"], "bogus", 0.1)
check("a bad token is refused", True)
print("done")
