//! Published ports: `"80"` publishes container port 80 on a free 127.0.0.1 port,
//! `"8080:80"` fixes the host port, and `/udp` selects UDP.

use serde::{de, Deserialize, Deserializer};
use std::fmt;

/// Transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

/// One entry of a node's `ports` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct PortMapping {
    /// Fixed host port on 127.0.0.1, or `None` for a free one chosen by the engine.
    pub host: Option<u16>,
    pub container: u16,
    pub protocol: Protocol,
}

impl PortMapping {
    /// Parses `"80"`, `"8080:80"` or `"53/udp"`.
    ///
    /// # Errors
    /// A message saying what is wrong with the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (ports, protocol) = match text.split_once('/') {
            Some((p, "tcp")) => (p, Protocol::Tcp),
            Some((p, "udp")) => (p, Protocol::Udp),
            Some((_, other)) => {
                return Err(format!(
                    "unknown protocol `{other}` in `{text}`; use tcp or udp"
                ))
            }
            None => (text, Protocol::Tcp),
        };
        let (host, container) = match ports.split_once(':') {
            Some((h, c)) => (Some(parse_port(h, text)?), parse_port(c, text)?),
            None => (None, parse_port(ports, text)?),
        };
        Ok(PortMapping {
            host,
            container,
            protocol,
        })
    }
}

fn parse_port(part: &str, whole: &str) -> Result<u16, String> {
    match part.trim().parse::<u32>() {
        Ok(0) => Err(format!("port 0 in `{whole}` is not a port")),
        Ok(p) if p <= 65535 => Ok(p as u16),
        Ok(p) => Err(format!("port {p} in `{whole}` is out of range (1-65535)")),
        Err(_) => Err(format!(
            "`{whole}` is not a port; write \"80\" or \"8080:80\""
        )),
    }
}

impl fmt::Display for PortMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(h) = self.host {
            write!(f, "{h}:")?;
        }
        write!(f, "{}", self.container)?;
        if self.protocol == Protocol::Udp {
            write!(f, "/udp")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for PortMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = PortMapping;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a port such as \"80\" or \"8080:80\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                PortMapping::parse(v).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                PortMapping::parse(&v.to_string()).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lone_fixed_and_udp_ports() {
        assert_eq!(
            PortMapping::parse("80").unwrap(),
            PortMapping {
                host: None,
                container: 80,
                protocol: Protocol::Tcp
            }
        );
        assert_eq!(PortMapping::parse("8080:80").unwrap().host, Some(8080));
        assert_eq!(
            PortMapping::parse("53/udp").unwrap().protocol,
            Protocol::Udp
        );
    }

    #[test]
    fn rejects_out_of_range_zero_and_garbage() {
        assert!(PortMapping::parse("70000")
            .unwrap_err()
            .contains("out of range"));
        assert!(PortMapping::parse("0").is_err());
        assert!(PortMapping::parse("http").is_err());
        assert!(PortMapping::parse("80/sctp").is_err());
    }
}
