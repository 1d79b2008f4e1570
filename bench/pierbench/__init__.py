"""Pier's benchmark: the same workloads against Pier, Docker and Podman, alternately."""
