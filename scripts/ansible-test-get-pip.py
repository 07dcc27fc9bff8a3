"""Offline stand-in for ansible-test's get-pip-<version>.py bootstrap script.

ansible-test downloads get-pip from a host this machine cannot reach; this stand-in,
saved at ~/.ansible/test/cache/get_pip_<ver>.py, bootstraps pip from the Python's
own ensurepip and then installs the same packages from PyPI.
"""
import subprocess
import sys

ARGS = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + ARGS)
