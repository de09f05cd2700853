//! Finding the API token a request presents (each configured token compared in constant
//! time) and the principal it acts as. The tokens themselves are `config::ApiToken`.

use sha2::{Digest, Sha256};

use crate::config::ApiToken;
use crate::domain::Actor;
use crate::ops::Principal;

/// The principal `token` acts as: `api:<name>` with its roles.
pub fn principal(token: &ApiToken) -> Principal {
    Principal::new(Actor::api(&token.name), token.roles.iter().cloned())
}

/// The token whose secret is `presented`, if any. Every configured token is compared, each in
/// constant time, so the answer's timing says nothing about which or how much matched.
pub fn find<'a>(tokens: &'a [ApiToken], presented: &str) -> Option<&'a ApiToken> {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    let mut found = None;
    for token in tokens {
        if let Some(expected) = token.digest() {
            let difference = expected
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if difference == 0 {
                found = Some(token);
            }
        }
    }
    found
}
