//! `meshguard check`: one request through `Engine::decide`, then why each policy that applies
//! matched or not.

use super::args::{CheckArgs, DirectionArg, Output};
use super::input;
use super::plugin::{self, workload_name};
use super::report::{self, PolicyReport, Report};
use super::{token, Failure};
use crate::authn::request_authn::{AuthnState, HeaderOps};
use crate::config::DirectionSetting;
use crate::engine::{Decision, Engine, Reason, Step};
use crate::policy::explain::explain;
use crate::request::{Direction, Request};

/// Exit codes.
pub const ALLOWED: u8 = 0;
pub const DENIED: u8 = 1;

/// How often a request may be held for keys before `check` gives up: the first fetch, and the
/// refetch an unknown `kid` triggers.
const MAX_WAITS: usize = 3;

pub fn run(args: &CheckArgs) -> Result<(u8, String), Failure> {
    let inputs = input::read(&args.inputs.files)?;
    let workload = plugin::parse_workload(&args.workload)?;
    let config = plugin::configuration(
        &inputs.resources,
        Some(&workload),
        args.inputs.mesh(),
        Some(&args.settings),
    );
    let (_, engine) = plugin::load(&config, &inputs.resources)?;
    // No listener offline: `auto` (Istio's sidecar inbound side) is inbound.
    let direction = match (args.settings.direction, engine.direction) {
        (Some(DirectionArg::Outbound), _) | (None, DirectionSetting::Outbound) => {
            Direction::Outbound
        }
        _ => Direction::Inbound,
    };
    let mut r = super::request::build(args, &workload, direction)?;
    let now_ms = now_ms();
    let mut state = engine.authn.new_state();
    let (jwks, notes) = tokens(args, &engine, &mut state, &mut r, now_ms)?;
    let sent: Vec<String> = r
        .headers
        .iter()
        .map(|(n, _)| String::from_utf8_lossy(n).into_owned())
        .collect();
    let (decision, ops) = decide(&engine, &mut r, &mut state, jwks.as_deref(), now_ms)?;
    // Authorization ran (and so can be explained) unless the request was refused before it.
    let authorized = matches!(decision.reason, Reason::Authz(_) | Reason::HttpsRedirect);
    let policies = authorized.then(|| {
        let host = r.policy_host();
        engine
            .policies()
            .iter()
            .map(|p| PolicyReport {
                id: p.id.clone(),
                action: p.action,
                dry_run: p.dry_run,
                rules: explain(p, &r, &host),
            })
            .collect()
    });
    let reply = decision.reply(&r);
    let report = Report {
        workload: workload_name(&engine.workload),
        request: &r,
        decision: &decision,
        reply: reply.as_ref(),
        ops: &ops,
        sent,
        policies,
        notes,
    };
    let out = match args.output {
        Output::Text => report::text(&report),
        Output::Json => report::json(&report),
    };
    Ok((if decision.allow { ALLOWED } else { DENIED }, out))
}

/// Puts `--jwt-claims` or `--jwt` in the request and `--jwks` in the key state. Returns the
/// JWKS (for refetches) and notes for the operator.
fn tokens(
    args: &CheckArgs,
    engine: &Engine,
    state: &mut AuthnState,
    r: &mut Request,
    now_ms: u64,
) -> Result<(Option<Vec<u8>>, Vec<String>), Failure> {
    let mut notes = Vec::new();
    if let Some(claims) = &args.jwt_claims {
        notes.extend(token::add_claims(engine, state, r, claims, now_ms)?);
        notes.push("--jwt-claims: the token's signature is taken as valid".to_string());
    }
    if let Some(t) = &args.jwt {
        notes.extend(token::add_token(engine, r, t));
    }
    let Some(path) = &args.jwks else {
        return Ok((None, notes));
    };
    let failed = |e: &dyn std::fmt::Display| Failure(format!("--jwks {}: {e}", path.display()));
    let jwks = std::fs::read(path).map_err(|e| failed(&e))?;
    if !token::feed_jwks(state, &jwks, now_ms).map_err(|e| failed(&e))? {
        notes.push(format!(
            "--jwks {}: not used: the workload's RequestAuthentications carry their keys inline",
            path.display()
        ));
    }
    Ok((Some(jwks), notes))
}

/// `Engine::decide`, answering its requests for keys with `jwks` as the proxy answers them
/// with what it fetched.
fn decide(
    engine: &Engine,
    r: &mut Request,
    state: &mut AuthnState,
    jwks: Option<&[u8]>,
    now_ms: u64,
) -> Result<(Decision, HeaderOps), Failure> {
    for _ in 0..=MAX_WAITS {
        let remote = match engine.decide(r, state, now_ms) {
            Step::Done(d, ops) => return Ok((d, ops)),
            Step::Wait(remote) => remote,
        };
        let Some(x) = state.remotes.get_mut(remote) else {
            break;
        };
        let Some(keys) = jwks else {
            return Err(Failure(format!(
                "the token's provider fetches its keys from {}: pass --jwks <file> with the JWKS it serves",
                x.source.uri
            )));
        };
        x.started(now_ms);
        x.completed(Some(200), Some(keys), now_ms)
            .map_err(|e| Failure(format!("--jwks: {e}")))?;
    }
    Err(Failure(
        "the request is still waiting for keys: the --jwks file does not satisfy its provider"
            .into(),
    ))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
