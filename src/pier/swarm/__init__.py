"""Swarm mode on the cluster store: Docker's /swarm, /nodes, /services and /tasks
served by every pierd of a cluster whose state lives in etcd."""
