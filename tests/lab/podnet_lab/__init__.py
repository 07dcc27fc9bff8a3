"""The podnet.doctor lab: privileged podman containers running systemd, one network
namespace each, used as real Kubernetes nodes with real faults.

Everything talks to podman through :func:`podnet_lab.podman.run`, which applies the
machine's quirks (runc, ulimits) via the lab's containers.conf.
"""
