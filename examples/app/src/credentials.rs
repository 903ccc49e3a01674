//! Who may call: passwords hashed with argon2, and signed tokens (JWT, HS256) that name a
//! session. The login route checks a password and opens a session; every other route
//! reads the caller's tenant, user and role from the session its token names.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The password of every seeded user (the README lists them): a demo, not a secret.
pub const DEMO_PASSWORD: &str = "fmpa-demo";

/// The platform role that may use the operations routes (`/metrics`, `/api/cache/stats`,
/// `/api/admin/cache`), which act on every tenant. A tenant's `ADMIN` role administers
/// that tenant only, and gets 403 there.
pub const OPERATOR: &str = "OPERATOR";

/// The seeded user who is the platform's operator (tools outside the repository log in
/// with it).
pub const DEMO_OPERATOR: &str = "user1@example.org";

/// The tokens' issuer, checked on every token.
const ISSUER: &str = "fmpa-app";

/// The shortest secret accepted: 256 bits, HS256's key size.
const MIN_SECRET: usize = 32;

/// How tokens are signed and how long they and their sessions last.
#[derive(Clone)]
pub struct AuthConfig {
    secret: Arc<[u8]>,
    /// How long a token (and the session it names) is valid.
    pub token_ttl: Duration,
    /// Whether the secret was made up by this process (no `AUTH_SECRET`).
    pub ephemeral: bool,
}

impl fmt::Debug for AuthConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("secret", &"<redacted>")
            .field("token_ttl", &self.token_ttl)
            .field("ephemeral", &self.ephemeral)
            .finish()
    }
}

impl AuthConfig {
    /// Signs with `secret` (at least 32 bytes); tokens last an hour, as the seed's
    /// sessions do.
    pub fn new(secret: impl AsRef<[u8]>) -> Result<AuthConfig, String> {
        let secret = secret.as_ref();
        if secret.len() < MIN_SECRET {
            return Err(format!(
                "AUTH_SECRET must be at least {MIN_SECRET} bytes (it has {})",
                secret.len()
            ));
        }
        Ok(AuthConfig {
            secret: secret.into(),
            token_ttl: crate::ttl::SESSION,
            ephemeral: false,
        })
    }

    /// A random secret of this process's own: its tokens end with it, and other
    /// instances refuse them.
    pub fn ephemeral() -> AuthConfig {
        AuthConfig {
            ephemeral: true,
            ..AuthConfig::new(random_bytes::<32>()).expect("32 bytes are enough")
        }
    }

    /// `AUTH_SECRET` (shared by every instance; at least 32 bytes; without it, an
    /// [`AuthConfig::ephemeral`] one) and `AUTH_TOKEN_TTL` (`90s`, `30m`, `1h`, or
    /// seconds; default 1 h).
    pub fn from_env() -> Result<AuthConfig, String> {
        let mut config = match std::env::var("AUTH_SECRET") {
            Ok(secret) if !secret.is_empty() => AuthConfig::new(secret)?,
            _ => AuthConfig::ephemeral(),
        };
        if let Ok(ttl) = std::env::var("AUTH_TOKEN_TTL") {
            config.token_ttl = parse_ttl(&ttl)
                .ok_or_else(|| format!("AUTH_TOKEN_TTL={ttl}: use 90s, 30m, 1h or seconds"))?;
        }
        Ok(config)
    }

    /// The signer and checker of tokens with this secret.
    pub fn tokens(&self) -> Tokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        Tokens(Arc::new(TokenKeys {
            encoding: EncodingKey::from_secret(&self.secret),
            decoding: DecodingKey::from_secret(&self.secret),
            validation,
            ttl: self.token_ttl,
        }))
    }
}

/// `90s`, `30m`, `1h`, or a number of seconds; never zero.
fn parse_ttl(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => return None,
    };
    let seconds = number.parse::<u64>().ok()?.checked_mul(scale)?;
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// What a token says: the user (`sub`), their tenant and role, the session, and when it
/// was issued and ends (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant: String,
    pub role: String,
    pub sid: String,
    pub iss: String,
    pub iat: u64,
    pub exp: u64,
}

/// Signs and checks tokens. Cloned with the app's state on every request: one shared
/// set of keys.
#[derive(Clone)]
pub struct Tokens(Arc<TokenKeys>);

struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// Why a token was refused (never shown to the caller beyond "invalid token").
#[derive(Debug)]
pub struct BadToken(jsonwebtoken::errors::Error);

impl fmt::Display for BadToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused token: {}", self.0)
    }
}

impl Tokens {
    /// The claims of a new session of `user` (in `tenant`, with `role`), valid from now.
    pub fn claims(&self, user: i64, tenant: &str, role: &str, sid: &str) -> Claims {
        let now = unix_now();
        Claims {
            sub: user.to_string(),
            tenant: tenant.to_owned(),
            role: role.to_owned(),
            sid: sid.to_owned(),
            iss: ISSUER.to_owned(),
            iat: now,
            exp: now + self.0.ttl.as_secs(),
        }
    }

    /// The signed token of `claims`.
    pub fn sign(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.0.encoding)
            .expect("HS256 signs any claims that serialize")
    }

    /// The claims of `token` if this secret signed it with HS256, it names this issuer
    /// and it has not expired.
    pub fn verify(&self, token: &str) -> Result<Claims, BadToken> {
        jsonwebtoken::decode::<Claims>(token, &self.0.decoding, &self.0.validation)
            .map(|data| data.claims)
            .map_err(BadToken)
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A new session id: 256 random bits, hex.
pub fn new_session_id() -> String {
    random_bytes::<32>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `N` bytes from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the operating system's random source");
    bytes
}

/// The argon2id hash of `password` (PHC string, a fresh salt). Slow on purpose: call it
/// off the async workers.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a salt");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashes any password with default parameters")
        .to_string()
}

/// Whether `password` matches `hash`; a hash that does not parse matches nothing.
pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(error) => {
            tracing::warn!(%error, "a stored password hash does not parse");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        AuthConfig::new([7u8; 32]).unwrap().tokens()
    }

    #[test]
    fn a_signed_token_verifies_and_a_changed_one_does_not() {
        let tokens = tokens();
        let claims = tokens.claims(1, "tenant-1", "MEMBER", "abc");
        let token = tokens.sign(&claims);
        assert_eq!(tokens.verify(&token).unwrap(), claims);
        // Another tenant in the payload, the signature kept.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let forged = tokens.claims(1, "tenant-2", "MEMBER", "abc");
        let forged = tokens.sign(&forged);
        parts[1] = forged.split('.').nth(1).unwrap().to_owned();
        assert!(tokens.verify(&parts.join(".")).is_err());
        // Another secret.
        let other = AuthConfig::new([8u8; 32]).unwrap().tokens();
        assert!(other.verify(&token).is_err());
    }

    #[test]
    fn an_expired_token_is_refused() {
        let tokens = tokens();
        let mut claims = tokens.claims(1, "tenant-1", "MEMBER", "abc");
        claims.exp = unix_now() - 1;
        assert!(tokens.verify(&tokens.sign(&claims)).is_err());
    }

    #[test]
    fn an_unsigned_token_is_refused() {
        let tokens = tokens();
        let claims = tokens.claims(1, "tenant-1", "ADMIN", "abc");
        let token = tokens.sign(&claims);
        let payload = token.split('.').nth(1).unwrap();
        // {"alg":"none","typ":"JWT"}
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert!(tokens.verify(&none).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(AuthConfig::new("short").is_err());
    }

    #[test]
    fn ttls_parse() {
        assert_eq!(parse_ttl("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_ttl("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_ttl("120"), Some(Duration::from_secs(120)));
        assert_eq!(parse_ttl("0"), None);
        assert_eq!(parse_ttl("1d"), None);
        assert_eq!(parse_ttl("h"), None);
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let hash = hash_password("right");
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("right", &hash));
        assert!(!verify_password("wrong", &hash));
        assert!(!verify_password("right", "not a hash"));
    }
}
