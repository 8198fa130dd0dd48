//! PeerAuthentication resolved for this workload at configure time: one effective mode for the
//! workload and one per listed port (Istio's ComposePeerAuthentication).

use crate::config::scope::{peer_level, PeerLevel};
use crate::config::spec::{MtlsMode, PeerAuthenticationSpec};
use crate::config::Workload;
use crate::map::SortedMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtlsPolicy {
    pub default: MtlsMode,
    pub ports: SortedMap<u16, MtlsMode>,
}

impl Default for MtlsPolicy {
    fn default() -> Self {
        MtlsPolicy {
            default: MtlsMode::Permissive,
            ports: SortedMap::new(),
        }
    }
}

impl MtlsPolicy {
    /// `policies`: (namespace, id, spec) of every PeerAuthentication in the configuration.
    /// Istio picks the oldest of several policies at one level; the configuration carries no
    /// creation times, so meshguard takes the strictest mode among them instead.
    pub fn resolve<'a, I>(policies: I, workload: &Workload, root: &str) -> Result<Self, String>
    where
        I: IntoIterator<Item = (&'a str, String, &'a PeerAuthenticationSpec)>,
    {
        let mut levels: SortedMap<PeerLevel, Vec<(String, &PeerAuthenticationSpec)>> =
            SortedMap::new();
        for (ns, id, spec) in policies {
            let has_selector = spec
                .selector
                .as_ref()
                .is_some_and(|s| !s.match_labels.is_empty());
            if !has_selector && spec.port_level_mtls.as_ref().is_some_and(|p| !p.is_empty()) {
                return Err(format!(
                    "{id}: spec.portLevelMtls: mesh and namespace PeerAuthentication cannot have port level mTLS (it needs a selector)"
                ));
            }
            for port in spec.port_level_mtls.iter().flat_map(|m| m.keys()) {
                match port.parse::<u16>() {
                    Ok(p) if p > 0 => {}
                    _ => {
                        return Err(format!(
                            "{id}: spec.portLevelMtls[{port}]: port must be in range 1..65535"
                        ))
                    }
                }
            }
            if let Some(level) = peer_level(ns, spec.selector.as_ref(), workload, root) {
                levels.update(level, Vec::new, |specs| specs.push((id, spec)));
            }
        }
        let mut out = MtlsPolicy::default();
        for (_, specs) in levels {
            // Levels ascend Mesh -> Namespace -> Workload: later ones override set modes.
            let mode = specs
                .iter()
                .filter_map(|(_, s)| s.mtls.as_ref().map(|m| m.mode))
                .filter(|m| *m != MtlsMode::Unset)
                .max_by_key(|m| strictness(*m));
            if let Some(m) = mode {
                out.default = m;
            }
            for (_, spec) in &specs {
                for (port, m) in spec.port_level_mtls.iter().flatten() {
                    if let Ok(p) = port.parse::<u16>() {
                        out.ports.update(
                            p,
                            || m.mode,
                            |mode| {
                                if strictness(m.mode) > strictness(*mode) {
                                    *mode = m.mode;
                                }
                            },
                        );
                    }
                }
            }
        }
        // A port entry that is UNSET inherits the workload's effective mode.
        let default = out.default;
        for m in out.ports.values_mut() {
            if *m == MtlsMode::Unset {
                *m = default;
            }
        }
        Ok(out)
    }

    /// The mode for a destination port; an unknown port gets the strictest mode in effect.
    pub fn mode_for(&self, port: Option<u16>) -> MtlsMode {
        match port {
            Some(p) => self.ports.get(&p).copied().unwrap_or(self.default),
            None => self
                .ports
                .values()
                .copied()
                .chain([self.default])
                .max_by_key(|m| strictness(*m))
                .unwrap_or(self.default),
        }
    }
}

fn strictness(m: MtlsMode) -> u8 {
    match m {
        MtlsMode::Unset => 0,
        MtlsMode::Disable => 1,
        MtlsMode::Permissive => 2,
        MtlsMode::Strict => 3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(v: serde_json::Value) -> PeerAuthenticationSpec {
        crate::config::read::from_value(&v).unwrap()
    }

    fn wl() -> Workload {
        Workload {
            namespace: "database".into(),
            labels: [("app".to_string(), "postgres".to_string())].into(),
        }
    }

    fn resolve(list: &[(&str, PeerAuthenticationSpec)]) -> Result<MtlsPolicy, String> {
        MtlsPolicy::resolve(
            list.iter()
                .map(|(ns, s)| (*ns, format!("PeerAuthentication {ns}/x"), s)),
            &wl(),
            "istio-system",
        )
    }

    #[test]
    fn precedence() {
        let mesh = spec(json!({"mtls": {"mode": "STRICT"}}));
        assert_eq!(
            resolve(&[("istio-system", mesh.clone())]).unwrap().default,
            MtlsMode::Strict
        );
        let ns_perm = spec(json!({"mtls": {"mode": "PERMISSIVE"}}));
        assert_eq!(
            resolve(&[
                ("istio-system", mesh.clone()),
                ("database", ns_perm.clone())
            ])
            .unwrap()
            .default,
            MtlsMode::Permissive
        );
        let wl_unset = spec(
            json!({"selector": {"matchLabels": {"app": "postgres"}}, "mtls": {"mode": "UNSET"}}),
        );
        assert_eq!(
            resolve(&[("istio-system", mesh.clone()), ("database", wl_unset)])
                .unwrap()
                .default,
            MtlsMode::Strict
        );
        let root_selector = spec(
            json!({"selector": {"matchLabels": {"app": "postgres"}}, "mtls": {"mode": "DISABLE"}}),
        );
        // A root-namespace policy with a selector is ignored.
        assert_eq!(
            resolve(&[("istio-system", mesh), ("istio-system", root_selector)])
                .unwrap()
                .default,
            MtlsMode::Strict
        );
        assert_eq!(resolve(&[]).unwrap().default, MtlsMode::Permissive);
        assert_eq!(
            resolve(&[("other", spec(json!({"mtls": {"mode": "STRICT"}})))])
                .unwrap()
                .default,
            MtlsMode::Permissive
        );
    }

    #[test]
    fn port_level() {
        let w = spec(
            json!({"selector": {"matchLabels": {"app": "postgres"}}, "mtls": {"mode": "PERMISSIVE"},
                            "portLevelMtls": {"5432": {"mode": "STRICT"}, "9000": {"mode": "UNSET"}}}),
        );
        let p = resolve(&[("database", w)]).unwrap();
        assert_eq!(p.mode_for(Some(5432)), MtlsMode::Strict);
        assert_eq!(p.mode_for(Some(9000)), MtlsMode::Permissive);
        assert_eq!(p.mode_for(Some(80)), MtlsMode::Permissive);
        assert_eq!(p.mode_for(None), MtlsMode::Strict);
        let ns_ports = spec(json!({"portLevelMtls": {"5432": {"mode": "STRICT"}}}));
        assert!(resolve(&[("database", ns_ports)])
            .unwrap_err()
            .contains("portLevelMtls"));
        let bad = spec(
            json!({"selector": {"matchLabels": {"app": "x"}}, "portLevelMtls": {"http": {"mode": "STRICT"}}}),
        );
        assert!(resolve(&[("database", bad)])
            .unwrap_err()
            .contains("portLevelMtls[http]"));
    }
}
