//! A lint finding: a stable code, a severity, what it is about and where that was read.

use serde_json::json;
use std::fmt::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// The codes, each with its severity: stable, so scripts can filter on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Code {
    ConfigRefused,
    MtlsPermissive,
    MtlsDisabled,
    DenyWithoutRules,
    WorkloadDeniesAll,
    AllowShadowedByDeny,
    UnknownIssuer,
    PathNeverMatches,
    HostWithoutPort,
    NeverApplies,
    CustomWithoutProvider,
    CustomDenies,
    DryRun,
    Skipped,
    LiteralWildcard,
}

impl Code {
    pub fn id(self) -> &'static str {
        match self {
            Code::ConfigRefused => "MG001",
            Code::MtlsPermissive => "MG002",
            Code::MtlsDisabled => "MG003",
            Code::DenyWithoutRules => "MG004",
            Code::WorkloadDeniesAll => "MG005",
            Code::AllowShadowedByDeny => "MG006",
            Code::UnknownIssuer => "MG007",
            Code::PathNeverMatches => "MG008",
            Code::HostWithoutPort => "MG009",
            Code::NeverApplies => "MG010",
            Code::CustomWithoutProvider => "MG011",
            Code::CustomDenies => "MG012",
            Code::DryRun => "MG013",
            Code::Skipped => "MG014",
            Code::LiteralWildcard => "MG015",
        }
    }

    pub fn severity(self) -> Severity {
        match self {
            Code::ConfigRefused | Code::DenyWithoutRules | Code::CustomWithoutProvider => {
                Severity::Error
            }
            Code::CustomDenies | Code::DryRun | Code::Skipped => Severity::Info,
            _ => Severity::Warning,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub code: Code,
    /// What it is about: `Kind namespace/name`, `workload default/app=x`, `mesh`.
    pub subject: String,
    pub message: String,
    /// Where the resources it names were read.
    pub origins: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn add(
        &mut self,
        code: Code,
        subject: impl Into<String>,
        message: impl Into<String>,
        origins: Vec<String>,
    ) {
        let f = Finding {
            code,
            subject: subject.into(),
            message: message.into(),
            origins,
        };
        // Workloads and resources overlap: the same finding is reported once.
        if !self.0.contains(&f) {
            self.0.push(f);
        }
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|f| f.code.severity() == Severity::Error)
    }

    /// Errors first, then warnings, then info; the order found within each code.
    fn sorted(&self) -> Vec<&Finding> {
        let mut v: Vec<&Finding> = self.0.iter().collect();
        v.sort_by_key(|f| (f.code.severity(), f.code));
        v
    }

    fn count(&self, s: Severity) -> usize {
        self.0.iter().filter(|f| f.code.severity() == s).count()
    }

    pub fn text(&self) -> String {
        let mut out = String::new();
        for f in self.sorted() {
            let _ = writeln!(
                out,
                "{}[{}] {}: {}",
                f.code.severity().as_str(),
                f.code.id(),
                f.subject,
                f.message
            );
            for o in &f.origins {
                let _ = writeln!(out, "  --> {o}");
            }
        }
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("{n} {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        let _ = writeln!(
            out,
            "lint: {}, {}, {} info",
            plural(self.count(Severity::Error), "error"),
            plural(self.count(Severity::Warning), "warning"),
            self.count(Severity::Info)
        );
        out
    }

    pub fn json(&self) -> String {
        let findings: Vec<_> = self
            .sorted()
            .iter()
            .map(|f| {
                json!({"code": f.code.id(), "severity": f.code.severity().as_str(),
                       "subject": f.subject, "message": f.message, "origins": f.origins})
            })
            .collect();
        let out = json!({
            "findings": findings,
            "errors": self.count(Severity::Error),
            "warnings": self.count(Severity::Warning),
            "info": self.count(Severity::Info),
        });
        format!("{out:#}\n")
    }
}
