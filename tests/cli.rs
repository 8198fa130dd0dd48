//! The `meshguard` binary on the seeds' YAML (tests/cli/*.yaml): what it prints and how it
//! exits, for `check`, `lint` and `render`.

use base64ct::{Base64UrlUnpadded, Encoding};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use meshguard::config::{PluginConfig, Workload};
use meshguard::engine::Engine;
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/cli")
        .join(name)
        .display()
        .to_string()
}

fn meshguard_with_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshguard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    {
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("stdin written");
        }
    }
    let out = child.wait_with_output().expect("the binary ends");
    Run {
        code: out.status.code().expect("an exit code"),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(out.stderr).expect("UTF-8 stderr"),
    }
}

fn meshguard(args: &[&str]) -> Run {
    meshguard_with_stdin(args, None)
}

#[track_caller]
fn assert_has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

const FRONTEND_001: &str = "cluster.local/ns/default/sa/frontend";

/// `check` on a seed 001 fixture for the backend, from the frontend's service account.
fn check_001(file: &str, request: &str) -> Run {
    meshguard(&[
        "check",
        "-f",
        &fixture(file),
        "--workload",
        "default/app=backend",
        "--request",
        request,
        "--peer",
        FRONTEND_001,
    ])
}

// --- check: seed 001 ------------------------------------------------------------------------------

#[test]
fn check_reads_principals_with_the_mesh_trust_domain() {
    // seed 001 names cluster.local/ns/default/sa/frontend: with trustDomain corp.example istiod
    // rewrites it, so the frontend of corp.example is allowed and cluster.local's is not.
    let run = |peer: &str, extra: &[&str]| {
        let file = fixture("seed-001-deny-all.yaml");
        let mut args = vec![
            "check",
            "-f",
            &file,
            "--workload",
            "default/app=backend",
            "--request",
            "GET /api/v1/data",
            "--peer",
            peer,
        ];
        args.extend_from_slice(extra);
        meshguard(&args)
    };
    let td = ["--trust-domain", "corp.example"];
    assert_eq!(run("corp.example/ns/default/sa/frontend", &td).code, 0);
    assert_eq!(run(FRONTEND_001, &td).code, 1);
    assert_eq!(run("corp.example/ns/default/sa/frontend", &[]).code, 1);
    let aliased = [
        "--trust-domain",
        "corp.example",
        "--trust-domain-alias",
        "cluster.local",
    ];
    assert_eq!(run(FRONTEND_001, &aliased).code, 0);
    let bad = run(FRONTEND_001, &["--trust-domain", "Corp.Example"]);
    assert_eq!(bad.code, 2);
    assert_has(&bad.stderr, "trustDomain");
}

#[test]
fn seed_001_frontend_get_data_is_allowed_under_deny_all() {
    let r = check_001("seed-001-deny-all.yaml", "GET /api/v1/data");
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "decision: allow");
    assert_has(&r.stdout, "status:   forwarded upstream");
    assert_has(&r.stdout, "reason:   allow_matched");
    assert_has(
        &r.stdout,
        "policy:   default.allow-frontend-get-data rule 0 (ALLOW)",
    );
    assert_has(&r.stdout, "default.deny-all: no rules (matches no request)");
    assert_has(
        &r.stdout,
        "default.allow-frontend-get-data rule 0: matches (decided)",
    );
}

#[test]
fn seed_001_post_is_denied_with_the_failing_field() {
    let r = check_001("seed-001-deny-all.yaml", "POST /api/v1/data");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "decision: deny");
    assert_has(&r.stdout, "status:   403 RBAC: access denied");
    assert_has(&r.stdout, "reason:   no_allow_match");
    assert_has(
        &r.stdout,
        "default.allow-frontend-get-data rule 0: methods [GET] does not match POST",
    );
    let other = check_001("seed-001-deny-all.yaml", "GET /api/v1/other");
    assert_eq!(other.code, 1);
    assert_has(
        &other.stdout,
        "default.allow-frontend-get-data rule 0: paths [/api/v1/data] does not match /api/v1/other",
    );
}

#[test]
fn seed_001_other_services_are_denied() {
    let r = meshguard(&[
        "check",
        "-f",
        &fixture("seed-001-deny-all.yaml"),
        "--workload",
        "default/app=backend",
        "--request",
        "GET /api/v1/data",
        "--peer",
        "cluster.local/ns/default/sa/intruder",
    ]);
    assert_eq!(r.code, 1);
    assert_has(
        &r.stdout,
        "rule 0: principals [cluster.local/ns/default/sa/frontend] does not match cluster.local/ns/default/sa/intruder",
    );
}

#[test]
fn seed_001_walkthrough_deny_wins_over_allow() {
    // The walkthrough's Deployments are read and set aside; its DENY `{}` decides.
    let r = check_001("seed-001-walkthrough.yaml", "GET /api/v1/data");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "reason:   deny_matched");
    assert_has(
        &r.stdout,
        "policy:   default.deny-all-backend rule 0 (DENY)",
    );
    assert_has(
        &r.stdout,
        "default.deny-all-backend rule 0: matches (decided)",
    );
    assert_has(
        &r.stdout,
        "default.allow-frontend-get-data rule 0: matches (not consulted: DENY and CUSTOM are evaluated before ALLOW)",
    );
}

// --- check: seed 000 ------------------------------------------------------------------------------

fn check_000(extra: &[&str]) -> Run {
    let file = fixture("seed-000.yaml");
    let mut args = vec!["check", "-f", &file, "--workload", "production/app=api"];
    args.extend_from_slice(extra);
    meshguard(&args)
}

#[test]
fn seed_000_admin_from_another_namespace_is_denied() {
    let r = check_000(&[
        "--request",
        "GET /admin/users",
        "--peer",
        "cluster.local/ns/marketing/sa/frontend",
    ]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "reason:   deny_matched");
    assert_has(
        &r.stdout,
        "policy:   production.deny-external-to-admin rule 0 (DENY)",
    );
    // From production itself the DENY does not match, and says why.
    let inside = check_000(&[
        "--request",
        "GET /admin/users",
        "--peer",
        "cluster.local/ns/production/sa/frontend",
    ]);
    assert_has(
        &inside.stdout,
        "production.deny-external-to-admin rule 0: notNamespaces [production] matches production",
    );
    assert_has(
        &inside.stdout,
        "production.allow-frontend-to-api rule 0: paths [/api/v1/*, /healthz] does not match /admin/users",
    );
}

#[test]
fn seed_000_plaintext_is_refused_by_mesh_strict() {
    let r = check_000(&["--request", "GET /api/v1/items", "--plaintext"]);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "status:   403 RBAC: access denied");
    assert_has(&r.stdout, "reason:   mtls_required");
    assert_has(&r.stdout, "mtls:     STRICT: plaintext refused");
    assert_has(&r.stdout, "policies: not evaluated");
}

const AUTH: &str = "https://auth.example.com";

#[test]
fn seed_000_jwt_claims_pass_require_jwt() {
    let peer = "cluster.local/ns/marketing/sa/web";
    let anonymous = check_000(&["--request", "GET /api/v1/items", "--peer", peer]);
    assert_eq!(anonymous.code, 1);
    assert_has(
        &anonymous.stdout,
        "production.require-jwt rule 0: requestPrincipals [https://auth.example.com/*] does not match no verified JWT",
    );
    let claims = json!({"iss": AUTH, "sub": "alice"}).to_string();
    let r = check_000(&[
        "--request",
        "GET /api/v1/items",
        "--peer",
        peer,
        "--jwt-claims",
        &claims,
    ]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert_has(&r.stdout, "policy:   production.require-jwt rule 0 (ALLOW)");
    assert_has(
        &r.stdout,
        "jwt:      verified: https://auth.example.com/alice",
    );
    // outputPayloadToHeader, as the proxy adds it.
    assert_has(&r.stdout, "headers:  +x-jwt-payload");
}

#[test]
fn seed_000_jwt_claims_are_still_checked() {
    let run = |claims: Value| {
        check_000(&[
            "--request",
            "GET /api/v1/items",
            "--peer",
            "cluster.local/ns/marketing/sa/web",
            "--jwt-claims",
            &claims.to_string(),
        ])
    };
    let other = run(json!({"iss": "https://evil.example.com", "sub": "alice"}));
    assert_eq!(other.code, 1);
    assert_has(&other.stdout, "status:   401 Jwt issuer is not configured");
    assert_has(&other.stdout, "reason:   jwt_unknown_issuer");
    assert_has(&other.stdout, "header:   www-authenticate: Bearer realm=");
    let expired = run(json!({"iss": AUTH, "sub": "alice", "exp": 1_000_000_000}));
    assert_eq!(expired.code, 1);
    assert_has(&expired.stdout, "status:   401 Jwt is expired");
}

#[test]
fn seed_000_egress_and_the_gateway_redirect() {
    let file = fixture("seed-000.yaml");
    let egress = |host: &str| {
        meshguard(&[
            "check",
            "-f",
            &file,
            "--workload",
            "production/app=payment-service",
            "--direction",
            "outbound",
            "--outbound-traffic-policy",
            "REGISTRY_ONLY",
            "--request",
            "POST /v1/charges",
            "--host",
            host,
        ])
    };
    let stripe = egress("api.stripe.com:443");
    assert_eq!(stripe.code, 0, "{}{}", stripe.stdout, stripe.stderr);
    assert_has(
        &stripe.stdout,
        "policy:   production.restrict-egress-stripe rule 0 (ALLOW)",
    );
    assert_has(
        &stripe.stdout,
        "egress:   api.stripe.com:443 (production.allow-external-api)",
    );
    let other = egress("api.example.net");
    assert_eq!(other.code, 1);
    assert_has(&other.stdout, "status:   502 (empty body)");
    assert_has(&other.stdout, "reason:   egress_not_registered");
    let redirect = meshguard(&[
        "check",
        "-f",
        &file,
        "--workload",
        "istio-system/istio=ingressgateway",
        "--request",
        "GET /login?next=/",
        "--host",
        "app.example.com",
    ]);
    assert_eq!(redirect.code, 1);
    assert_has(&redirect.stdout, "status:   301 (empty body)");
    assert_has(
        &redirect.stdout,
        "header:   location: https://app.example.com/login?next=/",
    );
    assert_has(
        &redirect.stdout,
        "policy:   production.app-gateway server 1 (Gateway)",
    );
}

const SECRET: &[u8] = b"meshguard cli test secret, 32 b!";

fn hs256_token(claims: &Value, secret: &[u8]) -> String {
    let header = Base64UrlUnpadded::encode_string(br#"{"alg":"HS256","kid":"k1"}"#);
    let payload = Base64UrlUnpadded::encode_string(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let signature = Hs256.sign(&Hs256Key::new(secret), input.as_bytes());
    format!(
        "{input}.{}",
        Base64UrlUnpadded::encode_string(&signature.as_bytes())
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshguard-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn seed_000_real_jwt_verified_with_jwks() {
    let dir = temp_dir("jwks");
    let jwks = dir.join("jwks.json");
    let k = Base64UrlUnpadded::encode_string(SECRET);
    std::fs::write(
        &jwks,
        json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": k}]}).to_string(),
    )
    .unwrap();
    let jwks = jwks.display().to_string();
    let token = hs256_token(&json!({"iss": AUTH, "sub": "bob"}), SECRET);
    let peer = "cluster.local/ns/marketing/sa/web";
    let base = ["--request", "GET /api/v1/items", "--peer", peer];
    let ok = check_000(&[&base[..], &["--jwt", &token, "--jwks", &jwks]].concat());
    assert_eq!(ok.code, 0, "{}{}", ok.stdout, ok.stderr);
    assert_has(
        &ok.stdout,
        "jwt:      verified: https://auth.example.com/bob",
    );
    let forged = hs256_token(
        &json!({"iss": AUTH, "sub": "bob"}),
        b"not the issuer's secret",
    );
    let bad = check_000(&[&base[..], &["--jwt", &forged, "--jwks", &jwks]].concat());
    assert_eq!(bad.code, 1);
    assert_has(&bad.stdout, "status:   401 Jwt verification fails");
    // The seed's jwksUri is fetched by the proxy: offline its keys must be given.
    let no_keys = check_000(&[&base[..], &["--jwt", &token]].concat());
    assert_eq!(no_keys.code, 2);
    assert_has(
        &no_keys.stderr,
        "fetches its keys from https://auth.example.com/.well-known/jwks.json: pass --jwks",
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn check_json_output() {
    let r = meshguard(&[
        "check",
        "-f",
        &fixture("seed-001-deny-all.yaml"),
        "--workload",
        "default/app=backend",
        "--request",
        "POST /api/v1/data",
        "--peer",
        FRONTEND_001,
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["reason"], "no_allow_match");
    assert_eq!(v["reply"]["status"], 403);
    assert_eq!(v["reply"]["body"], "RBAC: access denied");
    let allow = &v["policies"][1];
    assert_eq!(allow["policy"], "default.allow-frontend-get-data");
    let failure = &allow["rules"][0]["failures"][0];
    assert_eq!(failure["field"], "methods");
    assert_eq!(failure["values"], json!(["GET"]));
    assert_eq!(failure["request"], "POST");
    assert_eq!(failure["at"], "to[0].operation");
}

#[test]
fn check_reads_stdin_and_directories() {
    let yaml = std::fs::read_to_string(fixture("seed-001-deny-all.yaml")).unwrap();
    let args = [
        "check",
        "-f",
        "-",
        "--workload",
        "default/app=backend",
        "--request",
        "GET /api/v1/data",
        "--peer",
        FRONTEND_001,
    ];
    let r = meshguard_with_stdin(&args, Some(&yaml));
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    let dir = temp_dir("dir");
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    std::fs::write(dir.join("nested/policies.yml"), &yaml).unwrap();
    std::fs::write(dir.join("README.md"), "not YAML: ignored").unwrap();
    let d = dir.display().to_string();
    let r = check_001_at(&d, "POST /api/v1/data");
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

fn check_001_at(path: &str, request: &str) -> Run {
    meshguard(&[
        "check",
        "-f",
        path,
        "--workload",
        "default/app=backend",
        "--request",
        request,
        "--peer",
        FRONTEND_001,
    ])
}

#[test]
fn a_bad_resource_is_refused_with_the_loaders_message() {
    let r = check_001("bad-unknown-field.yaml", "GET /");
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "");
    assert_has(
        &r.stderr,
        "meshguard: configuration refused: AuthorizationPolicy default/typo: spec.rules[0].from[0].source.principalz: unknown field `principalz`",
    );
    assert_has(&r.stderr, "bad-unknown-field.yaml:3");
    let render = meshguard(&[
        "render",
        "-f",
        &fixture("bad-unknown-field.yaml"),
        "--workload",
        "default/app=backend",
    ]);
    assert_eq!(render.code, 2);
    assert_eq!(render.stdout, "");
    assert_has(&render.stderr, "unknown field `principalz`");
}

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let r = meshguard(&[
        "check",
        "-f",
        &fixture("seed-000.yaml"),
        "--workload",
        "production",
    ]);
    assert_eq!(r.code, 2);
    assert_has(&r.stderr, "--request");
    let r = check_001("seed-001-deny-all.yaml", "GET api");
    assert_eq!(r.code, 2);
    assert_has(&r.stderr, "the path must start with /");
    let r = meshguard(&[
        "check",
        "-f",
        "/nonexistent.yaml",
        "--workload",
        "a",
        "--request",
        "GET /",
    ]);
    assert_eq!(r.code, 2);
    assert_has(&r.stderr, "meshguard: /nonexistent.yaml");
    for sub in [
        &["--help"][..],
        &["check", "--help"],
        &["lint", "--help"],
        &["render", "--help"],
    ] {
        let r = meshguard(sub);
        assert_eq!(r.code, 0, "{sub:?}");
        assert_has(&r.stdout, "Usage: meshguard");
    }
    assert_has(&meshguard(&["lint", "--help"]).stdout, "MG006");
}

// --- lint -----------------------------------------------------------------------------------------

fn lint_json(file: &str, extra: &[&str]) -> (i32, Vec<(String, String, String)>) {
    let file = fixture(file);
    let mut args = vec!["lint", "-f", &file, "-o", "json"];
    args.extend_from_slice(extra);
    let r = meshguard(&args);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    let findings = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap().to_string(),
                f["severity"].as_str().unwrap().to_string(),
                f["subject"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (r.code, findings)
}

fn has(findings: &[(String, String, String)], code: &str, severity: &str, subject: &str) -> bool {
    findings
        .iter()
        .any(|(c, s, x)| c == code && s == severity && x == subject)
}

#[test]
fn lint_seed_001_walkthrough_flags_the_deny_allow_conflict() {
    let r = meshguard(&["lint", "-f", &fixture("seed-001-walkthrough.yaml")]);
    assert_eq!(r.code, 0, "warnings only: {}", r.stdout);
    assert_has(
        &r.stdout,
        "warning[MG006] AuthorizationPolicy default/allow-frontend-get-data: can never allow a request to default/app=backend: DENY default.deny-all-backend rule 0 (`{}`) matches every request",
    );
    assert_has(
        &r.stdout,
        "warning[MG005] workload default/app=backend: every request is denied",
    );
    // No PeerAuthentication at all: unset means PERMISSIVE.
    assert_has(
        &r.stdout,
        "warning[MG002] mesh: no mesh-wide PeerAuthentication",
    );
    assert_has(&r.stdout, "info[MG014] Deployment frontend");
    assert_has(&r.stdout, "lint: 0 errors, 3 warnings, 2 info");
    // The intended version is clean but for the mesh's mTLS.
    let (code, f) = lint_json("seed-001-deny-all.yaml", &[]);
    assert_eq!(code, 0);
    assert_eq!(f, [("MG002".into(), "warning".into(), "mesh".into())]);
}

#[test]
fn lint_flags_permissive_left_in_place() {
    let (code, f) = lint_json("permissive.yaml", &[]);
    assert_eq!(code, 0);
    assert!(
        has(
            &f,
            "MG002",
            "warning",
            "PeerAuthentication istio-system/default"
        ),
        "{f:?}"
    );
    assert_eq!(f.len(), 1, "UNSET in a namespace inherits: {f:?}");
    // Seed 000 sets STRICT mesh-wide: no MG002.
    let (code, f) = lint_json("seed-000.yaml", &[]);
    assert_eq!(code, 0);
    assert!(!f.iter().any(|(c, _, _)| c == "MG002"), "{f:?}");
    assert!(has(
        &f,
        "MG009",
        "warning",
        "AuthorizationPolicy production/restrict-egress-stripe"
    ));
}

#[test]
fn lint_reports_every_mistake_with_its_code() {
    let (code, f) = lint_json("lint-mistakes.yaml", &[]);
    assert_eq!(code, 1, "errors found: {f:?}");
    for (c, s, subject) in [
        ("MG001", "error", "AuthorizationPolicy shop/allow-lan"),
        ("MG002", "warning", "PeerAuthentication legacy/default"),
        ("MG003", "warning", "PeerAuthentication shop/metrics"),
        ("MG004", "error", "AuthorizationPolicy shop/deny-nothing"),
        ("MG005", "warning", "workload shop/app=vault"),
        ("MG007", "warning", "AuthorizationPolicy shop/cart-api"),
        ("MG008", "warning", "AuthorizationPolicy shop/cart-api"),
        ("MG009", "warning", "AuthorizationPolicy shop/cart-api"),
        (
            "MG010",
            "warning",
            "PeerAuthentication istio-system/cart-strict",
        ),
        ("MG010", "warning", "AuthorizationPolicy shop/gateway-only"),
        (
            "MG011",
            "error",
            "AuthorizationPolicy shop/ext-authz-missing",
        ),
        ("MG012", "info", "AuthorizationPolicy shop/ext-authz"),
        ("MG013", "info", "AuthorizationPolicy shop/try-deny-admin"),
        ("MG014", "info", "ConfigMap shop/settings"),
        ("MG015", "warning", "AuthorizationPolicy shop/literal-star"),
    ] {
        assert!(has(&f, c, s, subject), "{c} {subject}: {f:?}");
    }
    // Three paths never match; the fourth is fine.
    assert_eq!(f.iter().filter(|(c, _, _)| c == "MG008").count(), 3);
    // With the workloads named, policies for others can never apply.
    let (_, f) = lint_json("lint-mistakes.yaml", &["--workload", "shop/app=cart"]);
    assert!(
        has(
            &f,
            "MG010",
            "warning",
            "AuthorizationPolicy shop/vault-locked"
        ),
        "{f:?}"
    );
    assert!(
        has(&f, "MG010", "warning", "PeerAuthentication legacy/default"),
        "{f:?}"
    );
}

#[test]
fn lint_text_names_the_loader_message_and_where() {
    let r = meshguard(&["lint", "-f", &fixture("bad-unknown-field.yaml")]);
    assert_eq!(r.code, 1);
    assert_has(
        &r.stdout,
        "error[MG001] AuthorizationPolicy default/typo: spec.rules[0].from[0].source.principalz: unknown field `principalz`",
    );
    assert_has(&r.stdout, "bad-unknown-field.yaml:3");
}

// --- render ---------------------------------------------------------------------------------------

fn resources_of(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(file)).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    docs.into_iter()
        .filter(|d| {
            d["apiVersion"]
                .as_str()
                .is_some_and(|a| a.contains("istio.io"))
        })
        .collect()
}

#[test]
fn render_wasmplugin_parses_back_and_loads() {
    let r = meshguard(&[
        "render",
        "-f",
        &fixture("seed-000.yaml"),
        "--workload",
        "production/app=api",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let plugin: Value = serde_saphyr::from_str(&r.stdout).expect("YAML");
    assert_eq!(plugin["apiVersion"], "extensions.istio.io/v1alpha1");
    assert_eq!(plugin["kind"], "WasmPlugin");
    assert_eq!(
        plugin["metadata"],
        json!({"name": "meshguard-api", "namespace": "production"})
    );
    let spec = &plugin["spec"];
    assert_eq!(spec["phase"], "AUTHZ");
    assert_eq!(spec["failStrategy"], "FAIL_CLOSE");
    assert_eq!(spec["selector"], json!({"matchLabels": {"app": "api"}}));
    assert_eq!(
        spec["url"],
        format!(
            "oci://ghcr.io/meshguard/meshguard:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
    // The resources as written (the seed's portLevelMtls key and quoted ports included).
    assert_eq!(
        spec["pluginConfig"]["resources"],
        Value::Array(resources_of("seed-000.yaml"))
    );
    // Istio gives the workload through the sidecar's node metadata: the plugin loads it so.
    let config = PluginConfig::parse(spec["pluginConfig"].to_string().as_bytes()).unwrap();
    let node = Workload {
        namespace: "production".into(),
        labels: [("app".to_string(), "api".to_string())].into(),
    };
    let engine = Engine::new(config, Some(node)).unwrap();
    assert!(engine.policy_ids().any(|p| p == "production.require-jwt"));
}

#[test]
fn render_envoy_configuration_loads_without_node_metadata() {
    let r = meshguard(&[
        "render",
        "-f",
        &fixture("seed-001-walkthrough.yaml"),
        "--workload",
        "default/app=backend",
        "--format",
        "envoy",
        "--strict-mtls",
        "report",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(
        v["workload"],
        json!({"namespace": "default", "labels": {"app": "backend"}})
    );
    assert_eq!(v["strictMtls"], "report");
    // The Deployments are not the plugin's: only the two policies are configured.
    assert_eq!(v["resources"].as_array().map(Vec::len), Some(2));
    let config = PluginConfig::parse(r.stdout.as_bytes()).unwrap();
    let engine = Engine::new(config, None).unwrap();
    assert_eq!(
        engine.policy_ids().collect::<Vec<_>>(),
        [
            "default.deny-all-backend",
            "default.allow-frontend-get-data"
        ]
    );
}
