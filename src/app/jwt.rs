//! Signed tokens (SIGN-3): HS256 with a secret, RS256 or ES256 with a PEM public key or a
//! JWKS file, through the `jsonwebtoken` crate. `sub` names the user; `exp` is required and
//! enforced; `subscribe` and `publish`, lists of channel patterns, narrow what the user may
//! do (RUL-4).

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use super::rules::Grants;
use crate::config::file::{ConfigError, JwtSection, Source};
use crate::protocol::{ChannelPattern, SignInError};

/// A verified token's user and grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `sub`.
    pub user: String,
    /// `subscribe` and `publish`.
    pub grants: Grants,
}

/// Checks tokens against the configured key.
pub struct JwtVerifier {
    keys: Keys,
    validation: Validation,
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

enum Keys {
    One(DecodingKey),
    /// A JWKS: by `kid`; a token without one may use a set of one key.
    Set(Vec<(Option<String>, DecodingKey)>),
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    subscribe: Option<Vec<String>>,
    publish: Option<Vec<String>>,
}

impl JwtVerifier {
    /// The verifier `[sign_in.jwt]` describes; its key files are read now.
    pub fn from_file(section: &JwtSection, source: &Source) -> Result<Self, ConfigError> {
        let algorithm = match section.algorithm.get_ref().as_str() {
            "HS256" => Algorithm::HS256,
            "RS256" => Algorithm::RS256,
            "ES256" => Algorithm::ES256,
            _ => return Err(source.at(&section.algorithm, "use HS256, RS256 or ES256")),
        };
        let read = |path: &toml::Spanned<String>| {
            std::fs::read(source.path(path.get_ref()))
                .map_err(|error| source.at(path, format!("cannot read the file: {error}")))
        };
        let invalid =
            |path: &toml::Spanned<String>, what: &str| source.at(path, format!("not {what}"));
        let keys = match (algorithm, section) {
            (
                Algorithm::HS256,
                JwtSection {
                    secret: Some(secret),
                    ..
                },
            ) => {
                let secret = secret.get_ref().expose().as_bytes();
                Keys::One(
                    DecodingKey::from_secret(secret)
                        .map_err(|_| source.at(&section.algorithm, "an unusable secret"))?,
                )
            }
            (
                Algorithm::HS256,
                JwtSection {
                    secret_file: Some(path),
                    ..
                },
            ) => {
                let secret = read(path)?;
                Keys::One(
                    DecodingKey::from_secret(secret.trim_ascii())
                        .map_err(|_| invalid(path, "a usable secret"))?,
                )
            }
            (Algorithm::HS256, _) => {
                return Err(source.at(&section.algorithm, "HS256 needs `secret` or `secret_file`"))
            }
            (
                _,
                JwtSection {
                    public_key_file: Some(path),
                    ..
                },
            ) => {
                let pem = read(path)?;
                Keys::One(match algorithm {
                    Algorithm::RS256 => DecodingKey::from_rsa_pem(&pem)
                        .map_err(|_| invalid(path, "an RSA public key in PEM"))?,
                    _ => DecodingKey::from_ec_pem(&pem)
                        .map_err(|_| invalid(path, "an EC public key in PEM"))?,
                })
            }
            (
                _,
                JwtSection {
                    jwks_file: Some(path),
                    ..
                },
            ) => {
                let set: JwkSet = serde_json::from_slice(&read(path)?)
                    .map_err(|_| invalid(path, "a JWKS (JSON Web Key Set)"))?;
                let keys = set
                    .keys
                    .iter()
                    .map(|jwk| {
                        let key = DecodingKey::from_jwk(jwk)
                            .map_err(|_| invalid(path, "a JWKS of usable keys"))?;
                        Ok((jwk.common.key_id.clone(), key))
                    })
                    .collect::<Result<_, ConfigError>>()?;
                Keys::Set(keys)
            }
            _ => {
                return Err(source.at(
                    &section.algorithm,
                    "RS256 and ES256 need `public_key_file` or `jwks_file`",
                ))
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.leeway = section.leeway;
        validation.set_required_spec_claims(&["exp", "sub"]);
        if let Some(issuer) = &section.issuer {
            validation.set_issuer(&[issuer]);
        }
        match &section.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(Self { keys, validation })
    }

    /// The user and grants `token` carries, if it is genuine and current.
    pub fn verify(&self, token: &str) -> Result<Verified, SignInError> {
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => {
                let kid = decode_header(token).map_err(|_| SignInError::Invalid)?.kid;
                let found = match kid {
                    Some(kid) => keys.iter().find(|(id, _)| id.as_deref() == Some(&kid)),
                    None if keys.len() == 1 => keys.first(),
                    None => None,
                };
                &found.ok_or(SignInError::Invalid)?.1
            }
        };
        let claims = decode::<Claims>(token, key, &self.validation)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => SignInError::Expired,
                _ => SignInError::Invalid,
            })?
            .claims;
        if claims.sub.is_empty() {
            return Err(SignInError::Invalid);
        }
        let patterns = |list: Option<Vec<String>>| {
            list.map(|list| {
                list.iter()
                    .map(|p| ChannelPattern::parse(p).ok_or(SignInError::Invalid))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()
        };
        Ok(Verified {
            user: claims.sub,
            grants: Grants {
                subscribe: patterns(claims.subscribe)?,
                publish: patterns(claims.publish)?,
            },
        })
    }
}
