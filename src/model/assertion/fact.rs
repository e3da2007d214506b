//! Facts about a node (a package, a user, a listening port...) and the expectations an
//! assertion has of their attributes. TOML specs and goss files both resolve to these;
//! `check::facts` learns them with shell probes batched per node.

use super::matcher::Matcher;

/// Something envctl learns about a node from inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Fact {
    Package(String),
    Service(String),
    Process(String),
    Port {
        proto: Proto,
        port: u16,
    },
    User(String),
    Group(String),
    Dns(String),
    /// A DNS record looked up at a given server (goss's `server`, `MX:example.com`).
    DnsQuery {
        kind: String,
        name: String,
        server: String,
    },
    KernelParam(String),
    Mount(String),
    Interface(String),
    File {
        /// Absolute, or `~user/...` (that user's home).
        path: String,
        /// Read the contents too.
        contents: bool,
        /// Compute md5 and sha512 too (sha256 always is).
        digests: bool,
    },
    /// Whether `host:port` accepts TCP connections from inside the node.
    Addr {
        host: String,
        port: u16,
        /// Connect from this local address.
        local: Option<String>,
    },
}

/// Socket families of a `port` fact: in TOML specs `tcp` and `udp` include their IPv6
/// sockets; goss's `tcp` and `udp` are the IPv4 tables only (`Tcp4`, `Udp4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    Tcp,
    Tcp6,
    Udp,
    Udp6,
    Tcp4,
    Udp4,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp | Proto::Tcp4 => "tcp",
            Proto::Tcp6 => "tcp6",
            Proto::Udp | Proto::Udp4 => "udp",
            Proto::Udp6 => "udp6",
        }
    }
}

/// One attribute an assertion expects, and how it must look.
#[derive(Debug, Clone)]
pub struct Expectation {
    pub attribute: String,
    pub matcher: Matcher,
}

/// An assertion about facts of one node (a replica name).
#[derive(Debug, Clone)]
pub struct NodeCheck {
    pub node: String,
    pub fact: Fact,
    pub expect: Vec<Expectation>,
}

/// What a fact kind is called, which key identifies it, and the attributes it has.
#[derive(Debug, Clone, Copy)]
pub struct KindInfo {
    pub kind: &'static str,
    /// The key naming the thing (`name`, `port`, `host`...).
    pub id_key: &'static str,
    /// The attribute that defaults to `true` when no attribute is given.
    pub presence: Option<&'static str>,
    pub attributes: &'static [&'static str],
}

/// Every fact kind a spec may use, besides `file`.
pub const KINDS: &[KindInfo] = &[
    KindInfo {
        kind: "package",
        id_key: "name",
        presence: Some("installed"),
        attributes: &["installed", "versions"],
    },
    KindInfo {
        kind: "service",
        id_key: "name",
        presence: Some("running"),
        attributes: &["running", "enabled", "runlevels"],
    },
    KindInfo {
        kind: "process",
        id_key: "name",
        presence: Some("running"),
        attributes: &["running"],
    },
    KindInfo {
        kind: "port",
        id_key: "port",
        presence: Some("listening"),
        attributes: &["listening", "ip"],
    },
    KindInfo {
        kind: "user",
        id_key: "name",
        presence: Some("exists"),
        attributes: &["exists", "uid", "gid", "groups", "home", "shell"],
    },
    KindInfo {
        kind: "group",
        id_key: "name",
        presence: Some("exists"),
        attributes: &["exists", "gid"],
    },
    KindInfo {
        kind: "dns",
        id_key: "host",
        presence: Some("resolvable"),
        attributes: &["resolvable", "addrs"],
    },
    KindInfo {
        kind: "kernel-param",
        id_key: "key",
        presence: None,
        attributes: &["value"],
    },
    KindInfo {
        kind: "mount",
        id_key: "path",
        presence: Some("exists"),
        attributes: &[
            "exists",
            "source",
            "filesystem",
            "opts",
            "vfs-opts",
            "usage",
        ],
    },
    KindInfo {
        kind: "interface",
        id_key: "name",
        presence: Some("exists"),
        attributes: &["exists", "mtu", "addrs"],
    },
];

/// Attributes of the `file` kind.
pub const FILE_ATTRIBUTES: &[&str] = &[
    "exists", "filetype", "mode", "owner", "group", "size", "sha256", "contents",
];

/// The description of a kind by name (`kernel_param` and `kernel-param` both work).
pub fn kind_info(kind: &str) -> Option<&'static KindInfo> {
    let kind = kind.replace('_', "-");
    KINDS.iter().find(|k| k.kind == kind)
}

/// Builds the fact a kind's identifying value names.
///
/// # Errors
/// A message saying what a valid identifier looks like.
pub fn fact_for(kind: &str, id: &str) -> Result<Fact, String> {
    if id.trim().is_empty() {
        return Err(format!("the {kind} to check must not be empty"));
    }
    let id = id.to_string();
    Ok(match kind.replace('_', "-").as_str() {
        "package" => Fact::Package(id),
        "service" => Fact::Service(id),
        "process" => Fact::Process(id),
        "user" => Fact::User(id),
        "group" => Fact::Group(id),
        "dns" => Fact::Dns(id),
        "interface" => Fact::Interface(id),
        "port" => {
            let (proto, port) = parse_port(&id)?;
            Fact::Port { proto, port }
        }
        "kernel-param" => {
            if !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
                || id.contains("..")
            {
                return Err(format!(
                    "`{id}` is not a kernel parameter such as `net.ipv4.ip_forward`"
                ));
            }
            Fact::KernelParam(id)
        }
        "mount" => {
            if !id.starts_with('/') {
                return Err(format!("`{id}` must be an absolute path"));
            }
            Fact::Mount(id)
        }
        other => return Err(format!("unknown kind `{other}`")),
    })
}

/// `"tcp:80"`, `"tcp6:443"`, `"udp:53"` or `"80"` (tcp).
///
/// # Errors
/// A message with the accepted forms.
pub fn parse_port(text: &str) -> Result<(Proto, u16), String> {
    let (proto, port) = match text.split_once(':') {
        Some((p, n)) => (p, n),
        None => ("tcp", text),
    };
    let proto = match proto {
        "tcp" => Proto::Tcp,
        "tcp6" => Proto::Tcp6,
        "udp" => Proto::Udp,
        "udp6" => Proto::Udp6,
        other => {
            return Err(format!(
                "unknown protocol `{other}` in `{text}`; use tcp, tcp6, udp or udp6"
            ))
        }
    };
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("`{text}` is not a port such as \"tcp:80\""))?;
    Ok((proto, port))
}

/// `"0644"` or `"644"` as four octal digits.
///
/// # Errors
/// The text is not an octal mode.
pub fn normalize_mode(text: &str) -> Result<String, String> {
    match u32::from_str_radix(text, 8) {
        Ok(v) if v <= 0o7777 && !text.is_empty() => Ok(format!("{v:04o}")),
        _ => Err(format!(
            "`{text}` is not an octal file mode such as \"0644\""
        )),
    }
}

/// Compiles the attributes written for a `kind` into expectations; the kind's presence
/// attribute (`installed`, `exists`...) defaults to `true` when it is not written.
///
/// # Errors
/// The index of the offending attribute and a message (unknown attribute, bad matcher).
pub fn expectations(
    kind: &str,
    attributes: &[(String, serde_json::Value)],
) -> Result<Vec<Expectation>, (usize, String)> {
    let (known, presence): (&[&str], Option<&str>) = if kind == "file" {
        (FILE_ATTRIBUTES, Some("exists"))
    } else {
        let info = kind_info(kind).ok_or((0, format!("unknown kind `{kind}`")))?;
        (info.attributes, info.presence)
    };
    let mut out = Vec::new();
    for (i, (name, value)) in attributes.iter().enumerate() {
        let attribute = name.replace('_', "-");
        if !known.contains(&attribute.as_str()) {
            return Err((
                i,
                format!(
                    "unknown attribute `{name}` for {kind}; known: {}",
                    known.join(", ")
                ),
            ));
        }
        let value = match (attribute.as_str(), value) {
            ("mode", serde_json::Value::String(m)) if !m.starts_with(['!', '/']) => {
                serde_json::Value::String(normalize_mode(m).map_err(|e| (i, e))?)
            }
            ("mode", serde_json::Value::Number(n)) => {
                serde_json::Value::String(normalize_mode(&n.to_string()).map_err(|e| (i, e))?)
            }
            _ => value.clone(),
        };
        let matcher = match (attribute.as_str(), &value) {
            // Contents patterns hold over the whole text, as `contains` in `[[file]]`.
            ("contents", serde_json::Value::Array(items)) => Matcher::And(
                items
                    .iter()
                    .map(|p| match p {
                        serde_json::Value::String(p) => {
                            super::pattern::Pattern::parse(p).map(Matcher::Pattern)
                        }
                        other => Err(format!("a pattern is a string, not {other}")),
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| (i, format!("`{name}`: {e}")))?,
            ),
            _ => Matcher::toml(&value).map_err(|e| (i, format!("`{name}`: {e}")))?,
        };
        out.push(Expectation { attribute, matcher });
    }
    if kind == "kernel-param" && out.is_empty() {
        return Err((0, "a kernel-param assertion needs `value`".into()));
    }
    if let Some(p) = presence {
        // Presence first: when the thing is missing, that is the message.
        if let Some(i) = out.iter().position(|e| e.attribute == p) {
            let e = out.remove(i);
            out.insert(0, e);
        } else {
            out.insert(
                0,
                Expectation {
                    attribute: p.to_string(),
                    matcher: Matcher::Bool(true),
                },
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_name_protocol_and_number() {
        assert_eq!(parse_port("tcp:80"), Ok((Proto::Tcp, 80)));
        assert_eq!(parse_port("udp6:53"), Ok((Proto::Udp6, 53)));
        assert_eq!(parse_port("8080"), Ok((Proto::Tcp, 8080)));
        assert!(parse_port("sctp:1")
            .unwrap_err()
            .contains("unknown protocol"));
        assert!(parse_port("tcp:0").is_err());
    }

    #[test]
    fn kinds_and_identifiers() {
        assert_eq!(
            fact_for("kernel_param", "net.ipv4.ip_forward"),
            Ok(Fact::KernelParam("net.ipv4.ip_forward".into()))
        );
        assert!(fact_for("kernel-param", "../etc").is_err());
        assert!(fact_for("mount", "proc").is_err());
        assert!(kind_info("kernel_param").is_some());
        assert_eq!(normalize_mode("644"), Ok("0644".into()));
        assert!(normalize_mode("0999").is_err());
    }
}
