//! The tower layer: takes the bearer token, verifies it, and puts the caller's `Identity` in
//! the request's extensions for the layers after it; a refused token answers at once.

use std::task::{Context, Poll};

use futures_util::future::{BoxFuture, Either};
use http::{Request, Response};
use tower::{Layer, Service};

use super::bearer::{bearer, presented};
use super::{LastToken, Verifier};
use crate::error::{Body, Error};

/// Authenticates every request with `verifier`.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    verifier: Verifier,
}

impl AuthLayer {
    pub fn new(verifier: Verifier) -> Self {
        Self { verifier }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            verifier: self.verifier.clone(),
            last: LastToken::default(),
        }
    }
}

/// The service `AuthLayer` makes: inserts `Arc<Identity>`, or fails with `Error::Auth`.
#[derive(Debug, Clone)]
pub struct Auth<S> {
    inner: S,
    verifier: Verifier,
    /// The token this connection presented last (each connection has its own copy of the stack).
    last: LastToken,
}

impl<S, B> Service<Request<B>> for Auth<S>
where
    S: Service<Request<B>, Response = Response<Body>, Error = Error> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response<Body>, Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // A remembered token (the same bytes as one verified before, not expired, its key
        // still current) goes straight on: no future of our own, no hashing beyond the memo's.
        let remembered = presented(request.headers())
            .ok()
            .and_then(|token| self.verifier.recall(&mut self.last, token));
        if let Some(identity) = remembered {
            request.extensions_mut().insert(identity);
            return Either::Left(self.inner.call(request));
        }
        // The service that was polled ready serves this request; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let verifier = self.verifier.clone();
        Either::Right(Box::pin(async move {
            let identity = verifier.verify(bearer(request.headers())?).await?;
            request.extensions_mut().insert(identity);
            inner.call(request).await
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::header::AUTHORIZATION;
    use tower::{service_fn, ServiceExt};

    use super::*;
    use crate::auth::tests::{claims, issuer_config, mint, Signer};
    use crate::auth::{AuthError, Identity};
    use crate::error::full_body;

    async fn layered() -> impl Service<Request<()>, Response = Response<Body>, Error = Error> {
        let verifier = Verifier::new(&issuer_config(
            &["RS256"],
            "pem_files = [{ path = \"rsa-public.pem\" }]",
        ))
        .await;
        AuthLayer::new(verifier).layer(service_fn(|request: Request<()>| async move {
            let identity = request.extensions().get::<Arc<Identity>>().unwrap();
            Ok::<_, Error>(Response::new(full_body(identity.subject.clone())))
        }))
    }

    #[tokio::test]
    async fn a_verified_caller_reaches_the_inner_service_with_its_identity() {
        let token = mint(Signer::Rsa, &claims());
        let request = Request::builder()
            .header(AUTHORIZATION, format!("Bearer {token}"))
            .body(())
            .unwrap();
        let response = layered().await.oneshot(request).await.unwrap();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap();
        assert_eq!(body.to_bytes(), "svc-reports");
    }

    #[tokio::test]
    async fn refusals_become_401_problems_with_a_bearer_challenge() {
        let response = |e: AuthError| Error::Auth(e).into_response("rid-1");
        let missing = response(AuthError::Missing);
        assert_eq!(missing.status(), 401);
        assert_eq!(
            missing.headers()["www-authenticate"],
            "Bearer realm=\"casegate\""
        );
        let expired = response(AuthError::Expired);
        assert_eq!(expired.status(), 401);
        assert_eq!(
            expired.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\", error_description=\"The token has expired\""
        );
        assert_eq!(
            expired.headers()["content-type"],
            "application/problem+json"
        );
        let body = http_body_util::BodyExt::collect(expired.into_body())
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body.to_bytes()).unwrap();
        assert_eq!(body["code"], "token_expired");
        assert_eq!(body["status"], 401);
        assert_eq!(body["request_id"], "rid-1");
        assert!(body["detail"].as_str().unwrap().contains("fresh token"));
        // The provider's keys are missing: the gateway's problem, not the caller's token.
        let unavailable = response(AuthError::KeysUnavailable);
        assert_eq!(unavailable.status(), 503);
        assert!(!unavailable.headers().contains_key("www-authenticate"));
    }

    #[tokio::test]
    async fn refusals_never_reach_the_inner_service() {
        let missing = layered().await.oneshot(Request::new(())).await.unwrap_err();
        assert!(matches!(missing, Error::Auth(AuthError::Missing)));
        let bad = Request::builder()
            .header(AUTHORIZATION, "Bearer a.b.c")
            .body(())
            .unwrap();
        let bad = layered().await.oneshot(bad).await.unwrap_err();
        assert!(matches!(bad, Error::Auth(AuthError::Malformed(_))));
    }
}
