"""The cluster store: etcd spoken to through its v3 JSON gateway, a supervised etcd
member, and node liveness on leases. Nothing here knows Docker's swarm JSON."""
