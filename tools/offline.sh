#!/bin/sh
# Run a command in a network namespace that has only the loopback interface, so that
# anything it tries to fetch from outside fails (`make test-offline`, issue 14).
#
#   tools/offline.sh make test-checks
#
# 1. `unshare -rn` (an unprivileged user namespace: no root needed);
# 2. where the kernel refuses unprivileged user namespaces (Ubuntu 24.04's AppArmor
#    default, GitHub's runners) and passwordless sudo exists: `sudo unshare -n`, then
#    back to the calling user with sudo inside the namespace;
# 3. otherwise it fails, saying why: it never runs the command with the network on.
#
# Inside, DLT_OFFLINE=1 is set, and the namespace is checked to hold no interface but
# lo before the command runs (tests/lib/test_offline.py relies on both).
set -eu

if [ "$#" -eq 0 ]; then
    echo "usage: tools/offline.sh COMMAND [ARGS...]" >&2
    exit 2
fi

# The check that runs first inside the namespace: loopback up, nothing else.
inner='ip link set lo up || exit 1
others=$(ip -o link show | cut -d: -f2 | tr -d "[:blank:]" | grep -vx lo || true)
if [ -n "$others" ]; then
    echo "tools/offline.sh: the namespace still has network interfaces: $others" >&2
    exit 1
fi
echo "tools/offline.sh: network namespace with loopback only; running: $*" >&2'

via=${DLT_OFFLINE_VIA:-auto}  # auto | unshare | sudo (to test one way)

if [ "$via" != sudo ] && unshare -rn true 2> /dev/null; then
    exec unshare -rn sh -c "$inner
exec env DLT_OFFLINE=1 \"\$@\"" offline "$@"
fi
if [ "$via" != unshare ] && command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
    echo "tools/offline.sh: unprivileged user namespaces are refused here;" \
        "using sudo unshare -n" >&2
    exec sudo -n unshare -n -- sh -c "$inner
exec sudo -n -u \"#$(id -u)\" -g \"#$(id -g)\" -- env PATH=\"$PATH\" HOME=\"$HOME\" \
DLT_OFFLINE=1 \"\$@\"" offline "$@"
fi
cat >&2 << 'EOF'
tools/offline.sh: cannot make a network namespace here, so the offline checks cannot
run (they never run with the network on). `unshare -rn true` failed: this kernel
refuses unprivileged user namespaces (on Ubuntu 24.04: sudo sysctl -w
kernel.apparmor_restrict_unprivileged_userns=0), and passwordless sudo is not there
for `sudo unshare -n`. To run the same checks with only pytest-socket guarding the
network: make test-checks
EOF
exit 1
