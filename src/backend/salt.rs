//! How a machine (a container or a VM) gets Salt: shared by the `salt` step and by the
//! Vagrantfile's provisioners, which both run it in the machine.

/// The Salt release installed in nodes that have no `salt-call`.
pub const SALT_VERSION: &str = "3007.8";
/// Where that installation goes.
pub const SALT_VENV: &str = "/opt/envctl-salt";

/// Shell that installs Salt when the machine has no `salt-call` (Debian-family only).
pub fn install_script() -> String {
    format!(
        r#"command -v salt-call >/dev/null 2>&1 && exit 0
[ -x {SALT_VENV}/bin/salt-call ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "the node's image has no salt-call and no apt-get to install it" >&2; exit 90
fi
echo "envctl: installing salt {SALT_VERSION}"
set -e
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv python3-tornado python3-msgpack python3-zmq python3-jinja2 python3-yaml python3-psutil python3-distro python3-requests python3-packaging python3-cryptography python3-pycryptodome python3-jmespath python3-markupsafe python3-aiohttp python3-setproctitle python3-dateutil python3-croniter python3-openssl python3-jaraco.text python3-jaraco.functools python3-gnupg python3-certifi >/dev/null
python3 -m venv --system-site-packages {SALT_VENV}
PIP_DISABLE_PIP_VERSION_CHECK=1 {SALT_VENV}/bin/pip install -q --no-deps salt=={SALT_VERSION} looseversion"#
    )
}

/// Shell that runs the installed (or the machine's own) `salt-call`.
pub fn salt_call() -> String {
    format!(r#""$(command -v salt-call || echo {SALT_VENV}/bin/salt-call)""#)
}
