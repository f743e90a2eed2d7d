//! Authentication and authorization of metrics scrapes, as controller-runtime's
//! `filters.WithAuthenticationAndAuthorization` does: the bearer token is checked with a
//! `TokenReview`, then the user is checked with a `SubjectAccessReview` for the non-resource URL.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// How long a decision is reused for the same token, path and verb.
pub const DECISION_TTL: Duration = Duration::from_secs(60);
const MAX_CACHED: usize = 1024;

/// Outcome of checking one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated and allowed.
    Allowed,
    /// The token is missing or was not accepted (401).
    Unauthenticated,
    /// Authenticated as `user` but not allowed (403).
    Forbidden {
        /// Username from the TokenReview.
        user: String,
    },
}

/// Checks tokens against the API server and caches the decisions.
#[derive(Clone)]
pub struct Authorizer {
    client: kube::Client,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<CacheKey, (Decision, Instant)>>>,
}

impl std::fmt::Debug for Authorizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorizer")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    token: String,
    path: String,
    verb: String,
}

impl Authorizer {
    /// Uses `client` for TokenReviews and SubjectAccessReviews, caching for [`DECISION_TTL`].
    pub fn new(client: kube::Client) -> Self {
        Self::with_ttl(client, DECISION_TTL)
    }

    /// Like [`Authorizer::new`] with another cache lifetime.
    pub fn with_ttl(client: kube::Client, ttl: Duration) -> Self {
        Self {
            client,
            ttl,
            cache: Arc::default(),
        }
    }

    /// Decides whether `token` may `verb` the non-resource URL `path`. API errors are not cached.
    pub async fn authorize(
        &self,
        token: &str,
        path: &str,
        verb: &str,
    ) -> Result<Decision, kube::Error> {
        let key = CacheKey {
            token: token.to_owned(),
            path: path.to_owned(),
            verb: verb.to_owned(),
        };
        if let Some(decision) = self.cached(&key) {
            return Ok(decision);
        }
        let decision = self.review(token, path, verb).await?;
        self.remember(key, decision.clone());
        Ok(decision)
    }

    fn cached(&self, key: &CacheKey) -> Option<Decision> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(decision, _)| decision.clone())
    }

    fn remember(&self, key: CacheKey, decision: Decision) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED {
            let ttl = self.ttl;
            cache.retain(|_, (_, at)| at.elapsed() < ttl);
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
        }
        cache.insert(key, (decision, Instant::now()));
    }

    async fn review(&self, token: &str, path: &str, verb: &str) -> Result<Decision, kube::Error> {
        let Some(user) = self.authenticate(token).await? else {
            return Ok(Decision::Unauthenticated);
        };
        let username = user.username.clone().unwrap_or_default();
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some(path.to_owned()),
                    verb: Some(verb.to_owned()),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        let allowed = answer
            .status
            .is_some_and(|s| s.allowed && !s.denied.unwrap_or(false));
        Ok(if allowed {
            Decision::Allowed
        } else {
            Decision::Forbidden { user: username }
        })
    }

    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, kube::Error> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &review)
            .await?;
        Ok(answer
            .status
            .filter(|s| s.authenticated == Some(true))
            .and_then(|s| s.user))
    }
}

fn bearer_token(request: &Request) -> Option<&str> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Middleware rejecting requests that are not authenticated (401) or not authorized (403).
pub async fn require_authorization(
    State(authorizer): State<Authorizer>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = bearer_token(&request) else {
        return (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response();
    };
    let verb = request.method().as_str().to_ascii_lowercase();
    let decision = authorizer
        .authorize(token, request.uri().path(), &verb)
        .await;
    match decision {
        Ok(Decision::Allowed) => next.run(request).await,
        Ok(Decision::Unauthenticated) => {
            (StatusCode::UNAUTHORIZED, "Unauthorized\n").into_response()
        }
        Ok(Decision::Forbidden { user }) => {
            tracing::debug!(%user, path = request.uri().path(), "metrics scrape forbidden");
            (
                StatusCode::FORBIDDEN,
                format!(
                    "Authorization denied for user {user} to {verb} {}\n",
                    request.uri().path()
                ),
            )
                .into_response()
        }
        Err(error) => {
            tracing::warn!(%error, "metrics scrape authorization failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Authorization check failed\n",
            )
                .into_response()
        }
    }
}
