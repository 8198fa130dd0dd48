//! Why a token was refused, and how Envoy answers it.
//!
//! Every variant is one of jwt_verify_lib's `Status` values, with the text of
//! `getStatusString` in google/jwt_verify_lib `src/status.cc` at b59e8075 (the revision
//! Envoy 1.40 builds, per its `bazel/repository_locations.bzl`). Envoy's `jwt_authn` filter
//! (`source/extensions/filters/http/jwt_authn/filter.cc`, `Filter::onComplete`) sends that text
//! as the body, with 403 for `JwtAudienceNotAllowed` and 401 for everything else, and a
//! `www-authenticate` header on every one of them.

use std::fmt;

/// A token that did not verify, one variant per jwt_verify_lib status a token can end in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtError {
    /// No token where one is required (never with Istio, which sets `allow_missing`).
    Missing,
    NotYetValid,
    Expired,
    BadFormat,
    HeaderBadBase64,
    HeaderBadJson,
    HeaderBadAlg,
    HeaderNotImplementedAlg,
    HeaderBadKid,
    PayloadBadBase64,
    PayloadBadJson,
    IssNotString,
    SubNotString,
    IatNotInteger,
    IatOutOfRange,
    NbfNotInteger,
    NbfOutOfRange,
    ExpNotInteger,
    ExpOutOfRange,
    JtiNotString,
    AudNotString,
    SignatureBadBase64,
    Ed25519SignatureWrongLength,
    /// The token's `iss` is not the provider's issuer.
    UnknownIssuer,
    /// The provider lists audiences and none is in `aud` (the one 403).
    AudienceNotAllowed,
    /// A key was eligible (kid and alg matched) but no signature check passed.
    VerificationFail,
    /// No key of the provider matches the token's `kid` and `alg`.
    KidAlgMismatch,
    /// The provider has no usable key (inline JWKS that did not parse).
    JwksNoValidKeys,
    /// The provider's `jwksUri` could not be fetched, or what came back is not a usable JWKS.
    JwksFetchFail,
    MultipleTokens,
}

impl JwtError {
    /// The response body, exactly as jwt_verify_lib words it.
    pub fn body(self) -> &'static str {
        use JwtError::*;
        match self {
            Missing => "Jwt is missing",
            NotYetValid => "Jwt not yet valid",
            Expired => "Jwt is expired",
            BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            HeaderBadBase64 => "Jwt header is an invalid Base64url encoded",
            HeaderBadJson => "Jwt header is an invalid JSON",
            HeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            HeaderNotImplementedAlg => "Jwt header [alg] is not supported",
            HeaderBadKid => "Jwt header [kid] field is not a string",
            PayloadBadBase64 => "Jwt payload is an invalid Base64url encoded",
            PayloadBadJson => "Jwt payload is an invalid JSON",
            IssNotString => "Jwt payload [iss] field is not a string",
            SubNotString => "Jwt payload [sub] field is not a string",
            IatNotInteger => "Jwt payload [iat] field is not an integer",
            IatOutOfRange => "Jwt payload [iat] field is not a positive 64 bit integer",
            NbfNotInteger => "Jwt payload [nbf] field is not an integer",
            NbfOutOfRange => "Jwt payload [nbf] field is not a positive 64 bit integer",
            ExpNotInteger => "Jwt payload [exp] field is not an integer",
            ExpOutOfRange => "Jwt payload [exp] field is not a positive 64 bit integer",
            JtiNotString => "Jwt payload [jti] field is not a string",
            AudNotString => "Jwt payload [aud] field is not a string or string list",
            SignatureBadBase64 => "Jwt signature is an invalid Base64url encoded",
            Ed25519SignatureWrongLength => "Jwt ED25519 signature is wrong length",
            UnknownIssuer => "Jwt issuer is not configured",
            AudienceNotAllowed => "Audiences in Jwt are not allowed",
            VerificationFail => "Jwt verification fails",
            KidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            JwksNoValidKeys => "Jwks doesn't have any valid public key",
            JwksFetchFail => "Jwks remote fetch is failed",
            MultipleTokens => "Found multiple Jwt tokens",
        }
    }

    /// The HTTP status Envoy answers with: only a disallowed audience is 403.
    pub fn status(self) -> u16 {
        match self {
            JwtError::AudienceNotAllowed => 403,
            _ => 401,
        }
    }

    /// The audit entry's short reason.
    pub fn code(self) -> &'static str {
        use JwtError::*;
        match self {
            Missing => "jwt_missing",
            NotYetValid => "jwt_not_yet_valid",
            Expired => "jwt_expired",
            UnknownIssuer => "jwt_unknown_issuer",
            AudienceNotAllowed => "jwt_audience",
            VerificationFail | Ed25519SignatureWrongLength => "jwt_bad_signature",
            KidAlgMismatch => "jwt_unknown_key",
            JwksNoValidKeys | JwksFetchFail => "jwks_unavailable",
            MultipleTokens => "jwt_multiple_tokens",
            BadFormat
            | HeaderBadBase64
            | HeaderBadJson
            | HeaderBadAlg
            | HeaderNotImplementedAlg
            | HeaderBadKid
            | PayloadBadBase64
            | PayloadBadJson
            | IssNotString
            | SubNotString
            | IatNotInteger
            | IatOutOfRange
            | NbfNotInteger
            | NbfOutOfRange
            | ExpNotInteger
            | ExpOutOfRange
            | JtiNotString
            | AudNotString
            | SignatureBadBase64 => "jwt_malformed",
        }
    }

    /// Envoy's response code details (`%RESPONSE_CODE_DETAILS%`), e.g.
    /// `jwt_authn_access_denied{Jwt_is_expired}`: the body with whitespace made `_`.
    pub fn details(self) -> String {
        let text: String = self
            .body()
            .chars()
            .map(|c| if c.is_whitespace() { '_' } else { c })
            .collect();
        format!("jwt_authn_access_denied{{{text}}}")
    }

    /// The `www-authenticate` value Envoy sets on every JWT failure (the 403 too);
    /// `error="invalid_token"` is left out only for a missing token. `uri` is what
    /// [`original_uri`] builds.
    pub fn www_authenticate(self, uri: &str) -> String {
        if self == JwtError::Missing {
            format!("Bearer realm=\"{uri}\"")
        } else {
            format!("Bearer realm=\"{uri}\", error=\"invalid_token\"")
        }
    }
}

/// Envoy's `Http::Utility::buildOriginalUri(headers, 256)`: `:scheme://:authority:path`, the
/// path (query included) cut to its first 256 bytes.
pub fn original_uri(scheme: &str, authority: &str, path: &str) -> String {
    const MAX_PATH: usize = 256;
    let mut end = path.len().min(MAX_PATH);
    // Cut on a character boundary: a header value is bytes, but ours is a &str.
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    format!("{scheme}://{authority}{}", path.get(..end).unwrap_or(path))
}

impl fmt::Display for JwtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.body())
    }
}

impl std::error::Error for JwtError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_bodies() {
        assert_eq!(JwtError::AudienceNotAllowed.status(), 403);
        assert_eq!(
            JwtError::AudienceNotAllowed.body(),
            "Audiences in Jwt are not allowed"
        );
        assert_eq!(JwtError::Expired.status(), 401);
        assert_eq!(JwtError::Expired.body(), "Jwt is expired");
        assert_eq!(
            JwtError::VerificationFail.details(),
            "jwt_authn_access_denied{Jwt_verification_fails}"
        );
        assert_eq!(JwtError::Expired.code(), "jwt_expired");
        assert_eq!(JwtError::PayloadBadJson.code(), "jwt_malformed");
    }

    #[test]
    fn www_authenticate() {
        let uri = original_uri("http", "example.com", "/a?b=c");
        assert_eq!(uri, "http://example.com/a?b=c");
        assert_eq!(
            JwtError::Expired.www_authenticate(&uri),
            "Bearer realm=\"http://example.com/a?b=c\", error=\"invalid_token\""
        );
        assert_eq!(
            JwtError::Missing.www_authenticate(&uri),
            "Bearer realm=\"http://example.com/a?b=c\""
        );
        let long = format!("/{}", "é".repeat(200));
        let uri = original_uri("https", "h", &long);
        assert!(uri.len() <= "https://h".len() + 256);
        assert!(uri.starts_with("https://h/é"));
    }
}
