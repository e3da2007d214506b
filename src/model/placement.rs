//! Where a node may run on a swarm: `place = ["node.hostname == m2", "node.labels.zone != b"]`.
//! Every constraint must hold for a machine to take the node, as in a swarm service's
//! `--constraint`; without any, envctl spreads the nodes over the machines.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

/// What a machine of a swarm is, as its manager lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Machine {
    pub id: String,
    pub hostname: String,
    /// `manager` or `worker`.
    pub role: String,
    /// The node's labels (`docker node update --label-add`).
    pub labels: HashMap<String, String>,
    /// The engine's own labels (dockerd `--label`).
    pub engine_labels: HashMap<String, String>,
    pub os: String,
    pub arch: String,
}

/// The attribute a constraint compares.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Attribute {
    Id,
    Hostname,
    Role,
    Label(String),
    EngineLabel(String),
    Os,
    Arch,
}

/// One `ATTRIBUTE == VALUE` or `ATTRIBUTE != VALUE`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    pub attribute: Attribute,
    pub equal: bool,
    pub value: String,
}

const FORMS: &str = "node.id, node.hostname, node.role, node.labels.KEY, engine.labels.KEY, node.platform.os or node.platform.arch, then == or !=, then a value (\"node.hostname == m2\")";

impl FromStr for Constraint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (left, equal, right) = if let Some((l, r)) = s.split_once("!=") {
            (l, false, r)
        } else if let Some((l, r)) = s.split_once("==") {
            (l, true, r)
        } else {
            return Err(format!("`{s}` is not a constraint: use {FORMS}"));
        };
        let (left, value) = (left.trim(), right.trim());
        if value.is_empty() || value.contains("==") || value.contains("!=") {
            return Err(format!("`{s}` compares with no single value: use {FORMS}"));
        }
        let attribute = match left {
            "node.id" => Attribute::Id,
            "node.hostname" => Attribute::Hostname,
            "node.role" => {
                if !matches!(value, "manager" | "worker") {
                    return Err(format!(
                        "`{s}`: a machine's role is \"manager\" or \"worker\""
                    ));
                }
                Attribute::Role
            }
            "node.platform.os" => Attribute::Os,
            "node.platform.arch" => Attribute::Arch,
            other => match (
                other.strip_prefix("node.labels."),
                other.strip_prefix("engine.labels."),
            ) {
                (Some(key), _) if !key.is_empty() => Attribute::Label(key.to_string()),
                (_, Some(key)) if !key.is_empty() => Attribute::EngineLabel(key.to_string()),
                _ => {
                    return Err(format!(
                        "`{left}` is not an attribute of a machine: use {FORMS}"
                    ))
                }
            },
        };
        Ok(Constraint {
            attribute,
            equal,
            value: value.to_string(),
        })
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let left = match &self.attribute {
            Attribute::Id => "node.id".to_string(),
            Attribute::Hostname => "node.hostname".to_string(),
            Attribute::Role => "node.role".to_string(),
            Attribute::Label(k) => format!("node.labels.{k}"),
            Attribute::EngineLabel(k) => format!("engine.labels.{k}"),
            Attribute::Os => "node.platform.os".to_string(),
            Attribute::Arch => "node.platform.arch".to_string(),
        };
        let op = if self.equal { "==" } else { "!=" };
        write!(f, "{left} {op} {}", self.value)
    }
}

impl Constraint {
    /// Whether `machine` meets this constraint. A label the machine lacks equals nothing.
    pub fn holds(&self, machine: &Machine) -> bool {
        let actual = match &self.attribute {
            Attribute::Id => Some(machine.id.as_str()),
            Attribute::Hostname => Some(machine.hostname.as_str()),
            Attribute::Role => Some(machine.role.as_str()),
            Attribute::Label(k) => machine.labels.get(k).map(String::as_str),
            Attribute::EngineLabel(k) => machine.engine_labels.get(k).map(String::as_str),
            Attribute::Os => Some(machine.os.as_str()),
            Attribute::Arch => Some(machine.arch.as_str()),
        };
        (actual == Some(self.value.as_str())) == self.equal
    }
}

/// Whether `machine` meets every constraint of `place`.
pub fn fits(place: &[Constraint], machine: &Machine) -> bool {
    place.iter().all(|c| c.holds(machine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine() -> Machine {
        Machine {
            id: "abc".into(),
            hostname: "m2".into(),
            role: "worker".into(),
            labels: HashMap::from([("zone".to_string(), "a".to_string())]),
            engine_labels: HashMap::from([("disk".to_string(), "ssd".to_string())]),
            os: "linux".into(),
            arch: "x86_64".into(),
        }
    }

    fn holds(s: &str) -> bool {
        s.parse::<Constraint>().unwrap().holds(&machine())
    }

    #[test]
    fn each_attribute_holds_when_equal_and_fails_when_not() {
        for (attr, value) in [
            ("node.id", "abc"),
            ("node.hostname", "m2"),
            ("node.role", "worker"),
            ("node.labels.zone", "a"),
            ("engine.labels.disk", "ssd"),
            ("node.platform.os", "linux"),
            ("node.platform.arch", "x86_64"),
        ] {
            assert!(holds(&format!("{attr} == {value}")), "{attr}");
            assert!(!holds(&format!("{attr} != {value}")), "{attr}");
            let other = if attr == "node.role" { "manager" } else { "zz" };
            assert!(!holds(&format!("{attr}=={other}")), "{attr}");
            assert!(holds(&format!("{attr} != {other}")), "{attr}");
        }
    }

    #[test]
    fn a_label_the_machine_lacks_equals_nothing() {
        assert!(!holds("node.labels.rack == 1"));
        assert!(holds("node.labels.rack != 1"));
    }

    #[test]
    fn every_constraint_must_hold() {
        let place: Vec<Constraint> = ["node.role == worker", "node.labels.zone == b"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert!(!fits(&place, &machine()));
        assert!(fits(&place[..1], &machine()));
        assert!(fits(&[], &machine()));
    }

    #[test]
    fn malformed_constraints_say_what_is_accepted() {
        for bad in [
            "node.hostname = m2",
            "node.hostname ==",
            "host == m2",
            "node.labels. == x",
            "node.role == boss",
            "node.id == a == b",
        ] {
            let e = bad.parse::<Constraint>().unwrap_err();
            assert!(
                e.contains(bad.split_whitespace().next().unwrap()),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "node.hostname == m2",
            "node.labels.zone != a",
            "engine.labels.x == y",
        ] {
            let c: Constraint = s.parse().unwrap();
            assert_eq!(c.to_string(), s);
            assert_eq!(c.to_string().parse::<Constraint>().unwrap(), c);
        }
    }
}
