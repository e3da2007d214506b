//! Node facts: the shell probe that learns each [`Fact`] inside a node (POSIX sh and
//! tools every Debian, RHEL or Alpine base has: /proc, getent, stat), the parser that
//! turns its output into attributes, and the evaluation of an assertion's expectations.
//! Probes print raw data; all interpretation happens here, in plain tested Rust.

use crate::model::assertion::fact::{Fact, NodeCheck, Proto};
use crate::model::assertion::matcher::Actual;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// What a probe found: whether the thing exists, and its attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub present: bool,
    pub attributes: BTreeMap<&'static str, Actual>,
}

/// Quotes a value for `sh`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The shell snippet that learns `fact`. Facts about the whole node (processes, sockets,
/// mounts) share one snippet, so a batch reads them once.
pub fn probe(fact: &Fact) -> String {
    match fact {
        Fact::Package(name) => {
            let q = quote(name);
            format!(
                "if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='dpkg ${{db:Status-Abbrev}}|${{Version}}\\n' {q} 2>/dev/null; fi; \
                 if command -v rpm >/dev/null 2>&1; then rpm -q --qf 'rpm %{{VERSION}}-%{{RELEASE}}\\n' {q} 2>/dev/null; fi; \
                 if command -v apk >/dev/null 2>&1; then apk info -e -v {q} 2>/dev/null | sed 's/^/apk /'; fi; true"
            )
        }
        Fact::Service(name) => {
            let q = quote(name);
            format!(
                "pid1=$(cat /proc/1/comm 2>/dev/null); echo \"pid1 $pid1\"; \
                 if [ \"$pid1\" = systemd ]; then echo \"active $(systemctl is-active {q} 2>/dev/null)\"; echo \"enabled $(systemctl is-enabled {q} 2>/dev/null)\"; \
                 else if [ -x /etc/init.d/{name} ]; then /etc/init.d/{name} status >/dev/null 2>&1; echo \"initscript $?\"; fi; \
                 for f in /etc/rc2.d/S[0-9][0-9]{name} /etc/rc3.d/S[0-9][0-9]{name}; do [ -e \"$f\" ] && echo \"rc $f\"; done; \
                 for l in 0 1 2 3 4 5 6 S; do for f in /etc/rc$l.d/S[0-9][0-9]{name}; do [ -e \"$f\" ] && echo \"runlevel $l\"; done; done; \
                 for p in /proc/[0-9]*; do c=$(cat \"$p/comm\" 2>/dev/null) && [ \"$c\" = {q} ] && echo proc; done; fi; true",
                name = shell_word(name)
            )
        }
        Fact::Process(_) => "for p in /proc/[0-9]*; do cat \"$p/comm\" 2>/dev/null; done; true".into(),
        Fact::Port { .. } => "for f in tcp tcp6 udp udp6; do echo \"== $f\"; cat /proc/net/$f 2>/dev/null; done; true".into(),
        Fact::User(name) => {
            let q = quote(name);
            format!("getent passwd {q} && echo \"groups $(id -Gn {q} 2>/dev/null)\"; true")
        }
        Fact::Group(name) => format!("getent group {}; true", quote(name)),
        Fact::Dns(host) => format!("getent ahosts {}; true", quote(host)),
        Fact::DnsQuery { kind, name, server } => {
            let (host, port) = match server.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => (h, p),
                _ => (server.as_str(), "53"),
            };
            format!(
                "if command -v dig >/dev/null 2>&1; then echo '@dig'; dig +short +time=2 +tries=1 -p {} @{} {} {}; echo \"@status $?\"; else echo '@nodig'; fi; true",
                quote(port),
                quote(host),
                quote(kind),
                quote(name)
            )
        }
        Fact::KernelParam(key) => format!(
            "cat {} 2>/dev/null && echo present; true",
            quote(&format!("/proc/sys/{}", key.replace('.', "/")))
        ),
        Fact::Mount(path) => format!(
            "cat /proc/self/mountinfo; echo '@usage'; stat -f -c '%b %f' -- {} 2>/dev/null; true",
            quote(path)
        ),
        Fact::Interface(name) => {
            let q = quote(name);
            format!(
                "if [ -d /sys/class/net/{q} ]; then echo present; echo \"mtu $(cat /sys/class/net/{q}/mtu)\"; fi; \
                 if command -v ip >/dev/null 2>&1; then echo '@ip'; ip -o addr show dev {q} 2>/dev/null; \
                 else echo '@route'; cat /proc/net/route; echo '@fib'; cat /proc/net/fib_trie; echo '@inet6'; cat /proc/net/if_inet6 2>/dev/null; fi; true"
            )
        }
        Fact::File {
            path,
            contents,
            digests,
        } => {
            // `~user/rest` is that user's home, as goss reads it.
            let set = match path.strip_prefix('~') {
                Some(rest) => {
                    let (user, tail) = rest.split_once('/').unwrap_or((rest, ""));
                    let home = if user.is_empty() {
                        "$HOME".to_string()
                    } else {
                        format!("$(getent passwd {} | cut -d: -f6)", quote(user))
                    };
                    let tail = if tail.is_empty() { String::new() } else { format!("/{tail}") };
                    format!("f=\"{home}\"{}; ", quote(&tail))
                }
                None => format!("f={}; ", quote(path)),
            };
            let cat = if *contents {
                "if [ -f \"$f\" ]; then echo '@contents'; cat -- \"$f\"; fi; ".to_string()
            } else {
                String::new()
            };
            let more = if *digests {
                "if [ -f \"$f\" ]; then echo \"md5 $(md5sum -- \"$f\" 2>/dev/null | cut -c1-32)\"; echo \"sha512 $(sha512sum -- \"$f\" 2>/dev/null | cut -c1-128)\"; fi; "
            } else {
                ""
            };
            format!(
                "{set}if [ -e \"$f\" ] || [ -L \"$f\" ]; then stat -c 'stat %F|%a|%U|%G|%s|%u|%g' -- \"$f\"; \
                 if [ -L \"$f\" ]; then echo \"link $(readlink -- \"$f\")\"; fi; \
                 if [ -f \"$f\" ] && command -v sha256sum >/dev/null 2>&1; then echo \"sha256 $(sha256sum -- \"$f\" | cut -c1-64)\"; fi; {more}{cat}fi; true"
            )
        }
        Fact::Addr { host, port, local: None } => format!(
            "if command -v bash >/dev/null 2>&1; then if bash -c {} 2>/dev/null; then echo open; else echo closed; fi; else echo nobash; fi",
            quote(&format!("exec 3<>/dev/tcp/{host}/{port}"))
        ),
        Fact::Addr { host, port, local: Some(local) } => format!(
            "if command -v nc >/dev/null 2>&1; then if nc -z -w 5 -s {} {} {} </dev/null 2>/dev/null; then echo open; else echo closed; fi; else echo nonc; fi",
            quote(local),
            quote(host),
            port
        ),
    }
}

/// A service name as a shell word inside a path (names with odd characters never
/// match an init script).
fn shell_word(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
        .collect()
}

/// Turns a probe's output into attributes.
///
/// # Errors
/// The probe could not learn the fact (e.g. no tool to reach an address).
pub fn observe(fact: &Fact, out: &str) -> Result<Observed, String> {
    let mut o = Observed::default();
    let lines = || out.lines().map(str::trim_end);
    match fact {
        Fact::Package(name) => {
            let mut versions = Vec::new();
            for line in lines() {
                if let Some(rest) = line.strip_prefix("dpkg ") {
                    let (status, version) = rest.split_once('|').unwrap_or((rest, ""));
                    let status = status.trim();
                    if status.starts_with("ii") || status.starts_with("hi") {
                        versions.push(version.to_string());
                    }
                } else if let Some(v) = line.strip_prefix("rpm ") {
                    versions.push(v.to_string());
                } else if let Some(v) = line.strip_prefix("apk ") {
                    versions.push(
                        v.strip_prefix(&format!("{name}-"))
                            .unwrap_or(v)
                            .to_string(),
                    );
                }
            }
            o.present = !versions.is_empty();
            o.attributes.insert("installed", Actual::Bool(o.present));
            o.attributes.insert("versions", Actual::List(versions));
        }
        Fact::Service(_) => {
            let (mut running, mut enabled, mut known) = (false, false, false);
            let mut runlevels: Vec<String> = Vec::new();
            let mut systemd = false;
            for line in lines() {
                match line.split_once(' ').unwrap_or((line, "")) {
                    ("active", a) => {
                        running = a == "active";
                        known |= !a.is_empty() && a != "unknown";
                    }
                    ("enabled", e) => {
                        enabled = matches!(e, "enabled" | "enabled-runtime" | "static" | "alias");
                        known |= !e.is_empty() && e != "not-found";
                    }
                    ("initscript", code) => {
                        known = true;
                        running |= code == "0";
                    }
                    ("rc", _) => {
                        known = true;
                        enabled = true;
                    }
                    ("proc", _) => running = true,
                    ("runlevel", l) if !runlevels.iter().any(|x| x == l) => runlevels.push(l.to_string()),
                    ("pid1", p) => systemd = p == "systemd",
                    _ => {}
                }
            }
            o.present = known || running;
            o.attributes.insert("running", Actual::Bool(running));
            o.attributes.insert("enabled", Actual::Bool(enabled));
            // Runlevels are sysv-init's; under systemd they are not known.
            if !systemd {
                o.attributes.insert("runlevels", Actual::List(runlevels));
            }
        }
        Fact::Process(name) => {
            // The kernel keeps 15 characters of a command name.
            let short: String = name.chars().take(15).collect();
            o.present = lines().any(|l| l == short);
            o.attributes.insert("running", Actual::Bool(o.present));
        }
        Fact::Port { proto, port } => {
            let ips = listening(out, *proto, *port);
            o.present = !ips.is_empty();
            o.attributes.insert("listening", Actual::Bool(o.present));
            o.attributes.insert("ip", Actual::List(ips));
        }
        Fact::User(_) => {
            let mut it = lines();
            if let Some(entry) = it.next().filter(|l| l.contains(':')) {
                let f: Vec<&str> = entry.split(':').collect();
                if f.len() >= 7 {
                    o.present = true;
                    o.attributes.insert("uid", number(f[2]));
                    o.attributes.insert("gid", number(f[3]));
                    o.attributes.insert("home", Actual::Text(f[5].into()));
                    o.attributes.insert("shell", Actual::Text(f[6].into()));
                    let groups = it
                        .find_map(|l| l.strip_prefix("groups"))
                        .unwrap_or_default()
                        .split_whitespace()
                        .map(str::to_string)
                        .collect();
                    o.attributes.insert("groups", Actual::List(groups));
                }
            }
            o.attributes.insert("exists", Actual::Bool(o.present));
        }
        Fact::Group(_) => {
            if let Some(entry) = lines().next().filter(|l| l.contains(':')) {
                let f: Vec<&str> = entry.split(':').collect();
                if f.len() >= 3 {
                    o.present = true;
                    o.attributes.insert("gid", number(f[2]));
                }
            }
            o.attributes.insert("exists", Actual::Bool(o.present));
        }
        Fact::Dns(_) => {
            let mut addrs: Vec<String> = Vec::new();
            for line in lines() {
                if let Some(a) = line.split_whitespace().next() {
                    if !addrs.iter().any(|x| x == a) {
                        addrs.push(a.to_string());
                    }
                }
            }
            o.present = !addrs.is_empty();
            o.attributes.insert("resolvable", Actual::Bool(o.present));
            o.attributes.insert("addrs", Actual::List(addrs));
        }
        Fact::DnsQuery { server, .. } => {
            if out.contains("@nodig") {
                return Err(format!(
                    "looking up records at {server} needs `dig` in the node (Debian: dnsutils, RHEL: bind-utils)"
                ));
            }
            let mut addrs = Vec::new();
            let mut status = 0;
            for line in lines() {
                if let Some(code) = line.strip_prefix("@status ") {
                    status = code.trim().parse().unwrap_or(1);
                } else if !line.starts_with("@dig") && !line.starts_with(';') && !line.trim().is_empty() {
                    addrs.push(line.trim().trim_matches('"').to_string());
                }
            }
            if status != 0 && addrs.is_empty() {
                return Err(format!("dig could not ask {server} (exit {status})"));
            }
            o.present = !addrs.is_empty();
            o.attributes.insert("resolvable", Actual::Bool(o.present));
            o.attributes.insert("addrs", Actual::List(addrs));
        }
        Fact::KernelParam(_) => {
            if let Some(value) = out.trim_end().strip_suffix("present") {
                o.present = true;
                o.attributes
                    .insert("value", Actual::Text(value.trim().to_string()));
            }
        }
        Fact::Mount(path) => {
            let (table, usage) = out.split_once("@usage").unwrap_or((out, ""));
            // mountinfo: ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPER
            if let Some(f) = table
                .lines()
                .map(|l| l.split(' ').map(unescape_mount).collect::<Vec<_>>())
                .rfind(|f| f.len() >= 6 && &f[4] == path)
            {
                if let Some(dash) = f.iter().position(|x| x == "-") {
                    o.present = true;
                    let opts = |s: &str| Actual::List(s.split(',').map(str::to_string).collect());
                    o.attributes.insert("opts", opts(&f[5]));
                    if let Some(fs) = f.get(dash + 1) {
                        o.attributes.insert("filesystem", Actual::Text(fs.clone()));
                    }
                    if let Some(src) = f.get(dash + 2) {
                        o.attributes.insert("source", Actual::Text(src.clone()));
                    }
                    if let Some(sup) = f.get(dash + 3) {
                        o.attributes.insert("vfs-opts", opts(sup));
                    }
                    let blocks: Vec<f64> = usage.split_whitespace().filter_map(|n| n.parse().ok()).collect();
                    if let [total, free] = blocks[..] {
                        if total > 0.0 {
                            o.attributes.insert("usage", Actual::Number(((1.0 - free / total) * 100.0).round()));
                        }
                    }
                }
            }
            o.attributes.insert("exists", Actual::Bool(o.present));
        }
        Fact::Interface(name) => {
            o.present = lines().any(|l| l == "present");
            if o.present {
                if let Some(mtu) = lines().find_map(|l| l.strip_prefix("mtu ")) {
                    o.attributes.insert("mtu", number(mtu));
                }
                o.attributes
                    .insert("addrs", Actual::List(interface_addrs(out, name)));
            }
            o.attributes.insert("exists", Actual::Bool(o.present));
        }
        Fact::File { .. } => {
            let (head, contents) = match out.split_once("@contents\n") {
                Some((h, c)) => (h, Some(c)),
                None => (out, None),
            };
            if let Some(stat) = head.lines().find_map(|l| l.strip_prefix("stat ")) {
                let f: Vec<&str> = stat.split('|').collect();
                if let [kind, mode, owner, group, size, uid, gid] = f.as_slice() {
                    o.present = true;
                    let filetype = match *kind {
                        k if k.starts_with("regular") => "file",
                        "directory" => "directory",
                        "symbolic link" => "symlink",
                        "socket" => "socket",
                        "fifo" => "pipe",
                        "character special file" => "character-device",
                        "block special file" => "block-device",
                        other => other,
                    };
                    o.attributes.insert("uid", number(uid));
                    o.attributes.insert("gid", number(gid));
                    o.attributes.insert(
                        "linked-to",
                        Actual::Text(
                            head.lines()
                                .find_map(|l| l.strip_prefix("link "))
                                .unwrap_or_default()
                                .to_string(),
                        ),
                    );
                    o.attributes
                        .insert("filetype", Actual::Text(filetype.into()));
                    let mode = u32::from_str_radix(mode, 8)
                        .map(|m| format!("{m:04o}"))
                        .unwrap_or_else(|_| mode.to_string());
                    o.attributes.insert("mode", Actual::Text(mode));
                    o.attributes.insert("owner", Actual::Text(owner.to_string()));
                    o.attributes.insert("group", Actual::Text(group.to_string()));
                    o.attributes.insert("size", number(size));
                }
                for digest in ["sha256", "md5", "sha512"] {
                    let prefix = format!("{digest} ");
                    if let Some(h) = head.lines().find_map(|l| l.strip_prefix(prefix.as_str())) {
                        o.attributes.insert(digest, Actual::Text(h.trim().into()));
                    }
                }
                if let Some(c) = contents {
                    o.attributes.insert("contents", Actual::Text(c.to_string()));
                }
            }
            o.attributes.insert("exists", Actual::Bool(o.present));
        }
        Fact::Addr { host, port, .. } => match out.trim() {
            "open" => {
                o.present = true;
                o.attributes.insert("reachable", Actual::Bool(true));
            }
            "closed" => {
                o.attributes.insert("reachable", Actual::Bool(false));
            }
            "nonc" => {
                return Err(format!(
                    "cannot test {host}:{port} from a local address: the node has no `nc` (netcat-openbsd)"
                ))
            }
            _ => {
                return Err(format!(
                    "cannot test {host}:{port} from inside the node: it has no bash (needed for /dev/tcp)"
                ))
            }
        },
    }
    Ok(o)
}

fn number(text: &str) -> Actual {
    text.trim()
        .parse()
        .map_or_else(|_| Actual::Text(text.trim().to_string()), Actual::Number)
}

/// `/proc/mounts` escapes spaces and tabs as octal.
fn unescape_mount(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\134", "\\")
}

/// Local addresses listening on `port` in `/proc/net/{tcp,tcp6,udp,udp6}` output.
pub fn listening(out: &str, proto: Proto, port: u16) -> Vec<String> {
    let wanted: &[&str] = match proto {
        Proto::Tcp => &["tcp", "tcp6"],
        Proto::Tcp4 => &["tcp"],
        Proto::Tcp6 => &["tcp6"],
        Proto::Udp => &["udp", "udp6"],
        Proto::Udp4 => &["udp"],
        Proto::Udp6 => &["udp6"],
    };
    let mut table = "";
    let mut ips = Vec::new();
    for line in out.lines() {
        if let Some(t) = line.strip_prefix("== ") {
            table = t.trim();
            continue;
        }
        if !wanted.contains(&table) {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 4 || !f[0].ends_with(':') {
            continue;
        }
        let state = f[3];
        let listens = if table.starts_with("tcp") {
            state == "0A"
        } else {
            state == "07"
        };
        let Some((addr, p)) = f[1].split_once(':') else {
            continue;
        };
        if !listens || u16::from_str_radix(p, 16).ok() != Some(port) {
            continue;
        }
        if let Some(ip) = hex_ip(addr) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips
}

/// An address as the kernel prints it in /proc/net: 32-bit words in host order.
fn hex_ip(hex: &str) -> Option<String> {
    let word = |h: &str| u32::from_str_radix(h, 16).ok().map(u32::to_le_bytes);
    match hex.len() {
        8 => Some(Ipv4Addr::from(word(hex)?).to_string()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(&hex[i * 8..i * 8 + 8])?);
            }
            Some(Ipv6Addr::from(bytes).to_string())
        }
        _ => None,
    }
}

/// `ADDR/PREFIX` of an interface, from `ip -o addr` or from /proc (route, fib_trie,
/// if_inet6) when `ip` is not installed.
fn interface_addrs(out: &str, name: &str) -> Vec<String> {
    let mut addrs = Vec::new();
    let mut section = "";
    let mut route: Vec<(String, u32, u32)> = Vec::new();
    let mut locals: Vec<Ipv4Addr> = Vec::new();
    let mut last_leaf: Option<Ipv4Addr> = None;
    for line in out.lines() {
        if let Some(s) = line.strip_prefix('@') {
            section = s.trim();
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        match section {
            "ip" => {
                if let Some(i) = f.iter().position(|w| *w == "inet" || *w == "inet6") {
                    if let Some(a) = f.get(i + 1) {
                        addrs.push(a.to_string());
                    }
                }
            }
            "route" if f.len() >= 8 && f[0] != "Iface" => {
                if let (Ok(dest), Ok(mask)) =
                    (u32::from_str_radix(f[1], 16), u32::from_str_radix(f[7], 16))
                {
                    route.push((f[0].to_string(), dest, mask));
                }
            }
            "fib" => {
                let t = line.trim();
                if let Some(a) = t.strip_prefix("|-- ") {
                    last_leaf = a.parse().ok();
                } else if t.starts_with("/32 host LOCAL") {
                    if let Some(a) = last_leaf {
                        if !locals.contains(&a) {
                            locals.push(a);
                        }
                    }
                }
            }
            "inet6" if f.len() >= 6 && f[5] == name => {
                if let (Some(ip), Ok(prefix)) = (parse_hex_v6(f[0]), u8::from_str_radix(f[2], 16)) {
                    addrs.push(format!("{ip}/{prefix}"));
                }
            }
            _ => {}
        }
    }
    for a in locals {
        let raw = u32::from_le_bytes(a.octets());
        if a.is_loopback() {
            if name == "lo" {
                addrs.insert(0, format!("{a}/8"));
            }
            continue;
        }
        if let Some((_, _, mask)) = route
            .iter()
            .find(|(iface, dest, mask)| iface == name && *mask != 0 && raw & mask == *dest)
        {
            addrs.insert(0, format!("{a}/{}", mask.count_ones()));
        }
    }
    addrs
}

fn parse_hex_v6(hex: &str) -> Option<Ipv6Addr> {
    (hex.len() == 32)
        .then(|| u128::from_str_radix(hex, 16).ok())
        .flatten()
        .map(Ipv6Addr::from)
}

/// Checks an assertion's expectations against what was observed.
///
/// # Errors
/// The first expectation that does not hold, with what was expected and found.
pub fn evaluate(check: &NodeCheck, observed: &Observed) -> Result<(), String> {
    let what = format!(
        "{} on {}",
        crate::model::assertion::describe_fact(&check.fact),
        check.node
    );
    // Every expectation is checked, so one run shows everything that is off; as in goss,
    // when the thing is missing (or its presence fails) the other attributes are skipped.
    let mut failures = Vec::new();
    for (i, e) in check.expect.iter().enumerate() {
        let presence = i == 0 && PRESENCE.contains(&e.attribute.as_str());
        let Some(actual) = observed.attributes.get(e.attribute.as_str()) else {
            let state = if observed.present {
                format!("{} is not known", e.attribute)
            } else {
                "missing".to_string()
            };
            failures.push(super::mismatch(
                &format!("{what} does not exist, so `{}` cannot hold", e.attribute),
                format!("{} {}", e.attribute, e.matcher),
                state,
            ));
            if !observed.present {
                break;
            }
            continue;
        };
        let value = actual.to_value();
        let result = e.matcher.check(&value);
        if result != Ok(true) {
            // Name the one part of an `and` or a list that fails, not the whole of it.
            let part = e
                .matcher
                .failing_part(&value)
                .unwrap_or_else(|| e.matcher.clone());
            let shown = match actual {
                Actual::Text(t) if t.len() > 80 || t.contains('\n') => super::excerpt(t),
                other => other.to_string(),
            };
            let shown = match &result {
                Err(why) => format!("{shown} ({why})"),
                Ok(_) => shown,
            };
            failures.push(super::mismatch(
                &format!("{what}: `{}` does not match", e.attribute),
                format!("{} {part}", e.attribute),
                format!("{} {shown}", e.attribute),
            ));
        }
        if presence && (result != Ok(true) || *actual == Actual::Bool(false)) {
            break;
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("\n"))
    }
}

/// Attributes that say whether the thing is there; when they fail, or it is not there,
/// the other attributes are skipped (goss's rule).
const PRESENCE: &[&str] = &["exists", "installed", "listening", "resolvable"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::assertion::fact::expectations;
    use serde_json::json;

    fn check(fact: Fact, attrs: serde_json::Value) -> NodeCheck {
        let kind = crate::model::assertion::describe_fact(&fact)
            .split(' ')
            .next()
            .unwrap()
            .to_string();
        let attrs: Vec<(String, serde_json::Value)> = attrs
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        NodeCheck {
            node: "web".into(),
            fact,
            expect: expectations(&kind, &attrs).unwrap(),
        }
    }

    #[test]
    fn dpkg_versions_and_missing_packages() {
        let fact = Fact::Package("nginx-light".into());
        let o = observe(&fact, "dpkg ii |1.22.1-9+deb12u1\n").unwrap();
        assert_eq!(
            o.attributes["versions"],
            Actual::List(vec!["1.22.1-9+deb12u1".into()])
        );
        let c = check(fact.clone(), json!({"versions": {"semver": ">=1.22"}}));
        assert!(evaluate(&c, &o).is_ok());
        let gone = observe(&fact, "dpkg un |\n").unwrap();
        let err = evaluate(&c, &gone).unwrap_err();
        assert!(err.contains("package nginx-light on web"), "{err}");
        assert!(err.contains("expected: installed true"), "{err}");
        assert!(err.contains("actual: installed false"), "{err}");
        let apk = observe(&Fact::Package("musl".into()), "apk musl-1.2.4-r2\n").unwrap();
        assert_eq!(
            apk.attributes["versions"],
            Actual::List(vec!["1.2.4-r2".into()])
        );
    }

    #[test]
    fn users_groups_and_attributes() {
        let fact = Fact::User("www-data".into());
        let o = observe(
            &fact,
            "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin\ngroups www-data adm\n",
        )
        .unwrap();
        let ok = check(
            fact.clone(),
            json!({"uid": 33, "home": "/var/www", "groups": ["adm"], "shell": "!/bin/bash"}),
        );
        assert!(evaluate(&ok, &o).is_ok());
        let bad = check(fact.clone(), json!({"uid": {"lt": 10}}));
        let err = evaluate(&bad, &o).unwrap_err();
        assert!(
            err.contains("expected: uid < 10") && err.contains("actual: uid 33"),
            "{err}"
        );
        let missing = observe(&fact, "").unwrap();
        assert!(!missing.present);
        assert!(evaluate(&check(fact, json!({"exists": false})), &missing).is_ok());
    }

    #[test]
    fn sockets_from_proc_net() {
        let out = "== tcp\n  sl  local_address rem_address   st\n   0: 00000000:0050 00000000:0000 0A 00000000:00000000\n   1: 0100007F:1F90 00000000:0000 0A 0\n   2: 0100007F:0050 0100007F:9999 01 0\n== tcp6\n   0: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 0\n== udp\n   0: 0B00007F:0035 00000000:0000 07 0\n== udp6\n";
        assert_eq!(listening(out, Proto::Tcp, 80), vec!["0.0.0.0", "::"]);
        assert_eq!(listening(out, Proto::Tcp6, 80), vec!["::"]);
        assert_eq!(listening(out, Proto::Tcp, 8080), vec!["127.0.0.1"]);
        assert_eq!(listening(out, Proto::Udp, 53), vec!["127.0.0.11"]);
        assert!(listening(out, Proto::Tcp, 22).is_empty());
    }

    #[test]
    fn files_with_contents_and_modes() {
        let fact = Fact::File {
            path: "/etc/x".into(),
            contents: true,
            digests: false,
        };
        let o = observe(
            &fact,
            "stat regular file|644|root|root|12|0|0\nsha256 abc\n@contents\nhello world\n",
        )
        .unwrap();
        let c = check(
            fact.clone(),
            json!({"mode": "0644", "owner": "root", "contents": ["hello", "!/bye/"], "filetype": "file"}),
        );
        assert!(evaluate(&c, &o).is_ok());
        let c = check(fact, json!({"contents": ["hello", "goodbye"]}));
        let err = evaluate(&c, &o).unwrap_err();
        assert!(err.contains("\"goodbye\""), "{err}");
        assert!(!err.contains("\"hello\""), "{err}");
    }

    #[test]
    fn services_under_plain_init_and_systemd() {
        let fact = Fact::Service("nginx".into());
        let init = observe(&fact, "pid1 sleep\ninitscript 3\nproc\n").unwrap();
        assert_eq!(init.attributes["running"], Actual::Bool(true));
        assert_eq!(init.attributes["enabled"], Actual::Bool(false));
        let sd = observe(&fact, "pid1 systemd\nactive inactive\nenabled enabled\n").unwrap();
        assert_eq!(sd.attributes["running"], Actual::Bool(false));
        assert_eq!(sd.attributes["enabled"], Actual::Bool(true));
    }

    #[test]
    fn mounts_interfaces_and_kernel_params() {
        let mounts = "101 80 0:52 / / rw,relatime master:1 - overlay overlay rw,lowerdir=x\n102 101 0:56 / /proc rw,nosuid,nodev - proc proc rw\n@usage\n1000 250\n";
        let o = observe(&Fact::Mount("/proc".into()), mounts).unwrap();
        assert_eq!(o.attributes["filesystem"], Actual::Text("proc".into()));
        assert_eq!(o.attributes["source"], Actual::Text("proc".into()));
        assert_eq!(
            o.attributes["opts"],
            Actual::List(vec!["rw".into(), "nosuid".into(), "nodev".into()])
        );
        assert_eq!(o.attributes["vfs-opts"], Actual::List(vec!["rw".into()]));
        assert_eq!(o.attributes["usage"], Actual::Number(75.0));
        let iface = "present\nmtu 1500\n@route\nIface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nzz\nDestination\neth0\t000012AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n@fib\nMain:\n     |-- 172.18.0.2\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n@inet6\n";
        let o = observe(&Fact::Interface("eth0".into()), iface).unwrap();
        assert_eq!(
            o.attributes["addrs"],
            Actual::List(vec!["172.18.0.2/16".into()])
        );
        assert_eq!(o.attributes["mtu"], Actual::Number(1500.0));
        let k = observe(
            &Fact::KernelParam("net.ipv4.ip_forward".into()),
            "1\npresent\n",
        )
        .unwrap();
        assert_eq!(k.attributes["value"], Actual::Text("1".into()));
    }
}
