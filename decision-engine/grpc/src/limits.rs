//! The server-wide call limit: a tower layer in front of every service.
//!
//! Every call but two kinds takes a permit from one server-wide budget for
//! as long as it runs; with none left it is answered at once with
//! `RESOURCE_EXHAUSTED` (load shedding: it never queues). The two kinds
//! outside it: `PreReview`, which has its own in-flight limit in the
//! decision service (so a flood of look-ups or registry calls cannot starve
//! the decisions a loan system is waiting for), and the health service
//! (probes must answer however busy the server is).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::sync::Semaphore;

/// Paths outside the server-wide budget.
fn exempt(path: &str) -> bool {
    path == "/decision.v1.DecisionService/PreReview" || path.starts_with("/grpc.health.v1.Health/")
}

/// The layer: one budget of `max` calls shared by every connection.
#[derive(Clone)]
pub struct CallLimitLayer {
    permits: Arc<Semaphore>,
    max: usize,
}

impl CallLimitLayer {
    pub fn new(max: usize) -> CallLimitLayer {
        CallLimitLayer::sharing(Arc::new(Semaphore::new(max)), max)
    }

    /// A layer over a budget of `max` permits shared with another front
    /// door (the REST one), so the limit is the server's, not each door's.
    pub fn sharing(permits: Arc<Semaphore>, max: usize) -> CallLimitLayer {
        CallLimitLayer { permits, max }
    }
}

impl<S> tower_layer::Layer<S> for CallLimitLayer {
    type Service = CallLimit<S>;

    fn layer(&self, inner: S) -> CallLimit<S> {
        CallLimit {
            inner,
            permits: self.permits.clone(),
            max: self.max,
        }
    }
}

/// A service behind the server-wide budget.
#[derive(Clone)]
pub struct CallLimit<S> {
    inner: S,
    permits: Arc<Semaphore>,
    max: usize,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> tower_service::Service<http::Request<B>> for CallLimit<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if exempt(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        match self.permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let call = self.inner.call(request);
                Box::pin(async move {
                    let reply = call.await;
                    drop(permit);
                    reply
                })
            }
            Err(_) => {
                let path = request.uri().path().to_string();
                metrics::counter!("calls_shed_total", "path" => path.clone()).increment(1);
                let status = tonic::Status::resource_exhausted(format!(
                    "the server is running its limit of {} calls at once (max_concurrent_calls); \
                     {path} was not started: retry with backoff",
                    self.max
                ));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pre_reviews_and_health_checks_are_outside_the_budget() {
        assert!(super::exempt("/decision.v1.DecisionService/PreReview"));
        assert!(super::exempt("/grpc.health.v1.Health/Check"));
        assert!(super::exempt("/grpc.health.v1.Health/Watch"));
        assert!(!super::exempt("/decision.v1.DecisionService/GetDecision"));
        assert!(!super::exempt("/decision.v1.PolicyRegistry/ListVersions"));
        assert!(!super::exempt("/decision.v1.DecisionService/PreReviewX"));
    }
}
