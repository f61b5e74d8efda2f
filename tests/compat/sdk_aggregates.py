"""openstacksdk's aggregate calls against a Keystone-less endpoint (admin_token auth).

Usage: sdk_aggregates.py ENDPOINT TOKEN HOST
Runs create / list / get / find / update / set_aggregate_metadata / add_host / remove_host /
delete and prints one JSON object per step on stdout, for the Rust test to compare with Nova's
answers. Any exception propagates (non-zero exit) with the SDK's message.
"""
import json
import sys

import openstack


def agg(a):
    return {
        "id": a.id,
        "uuid": a.uuid,
        "name": a.name,
        "availability_zone": a.availability_zone,
        "hosts": a.hosts,
        "metadata": a.metadata,
        "is_deleted": a.is_deleted,
    }


def main():
    endpoint, token, host = sys.argv[1:4]
    conn = openstack.connection.Connection(
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": token},
        compute_endpoint_override=endpoint,
    )
    c = conn.compute
    steps = []
    created = c.create_aggregate(name="sdk-agg", availability_zone="sdk-az")
    steps.append({"step": "create", **agg(created)})
    steps.append({"step": "list", "names": [a.name for a in c.aggregates()]})
    steps.append({"step": "get", **agg(c.get_aggregate(created.id))})
    steps.append({"step": "find", **agg(c.find_aggregate("sdk-agg"))})
    steps.append({"step": "update", **agg(c.update_aggregate(created.id, name="sdk-agg2"))})
    steps.append({"step": "set_metadata",
                  **agg(c.set_aggregate_metadata(created.id, {"ssd": "true", "gone": None}))})
    steps.append({"step": "add_host", **agg(c.add_host_to_aggregate(created.id, host))})
    steps.append({"step": "remove_host", **agg(c.remove_host_from_aggregate(created.id, host))})
    c.delete_aggregate(created.id)
    steps.append({"step": "delete", "remaining": [a.name for a in c.aggregates()]})
    for s in steps:
        print(json.dumps(s, sort_keys=True))


if __name__ == "__main__":
    main()
