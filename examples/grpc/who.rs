//! A small gRPC service, `tok.example.Who`, written without a `.proto` (prost derives the
//! messages, so no `protoc`): `WhoAmI` answers the subject and session of the caller's
//! verified access token, which [`tok::tower::BearerLayer`] put in the request.
//! Shared by the example server and the test that calls it with a tonic client.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde_json::{Map, Value};
use tonic::body::Body;
use tonic::codegen::http;
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

/// The claims the layer hands on: tok's registered claims and the application's own.
pub type Claims = Map<String, Value>;

/// `WhoAmI`'s (empty) request.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIRequest {}

/// `WhoAmI`'s answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WhoAmIReply {
    /// The token's subject.
    #[prost(string, tag = "1")]
    pub subject: String,
    /// The token's session (`sid`), empty for a token without one.
    #[prost(string, tag = "2")]
    pub session: String,
}

/// The method's path on the wire.
pub const WHO_AM_I: &str = "/tok.example.Who/WhoAmI";

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The server side of `tok.example.Who`.
#[derive(Clone, Default)]
pub struct WhoServer;

impl tonic::server::NamedService for WhoServer {
    const NAME: &'static str = "tok.example.Who";
}

impl tower::Service<http::Request<Body>> for WhoServer {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != WHO_AM_I {
            return Box::pin(async { Ok(Status::unimplemented("no such method").into_http()) });
        }
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(ProstCodec::default());
            Ok(grpc.unary(WhoAmI, request).await)
        })
    }
}

struct WhoAmI;

impl tonic::server::UnaryService<WhoAmIRequest> for WhoAmI {
    type Response = WhoAmIReply;
    type Future = BoxFuture<Result<Response<WhoAmIReply>, Status>>;

    fn call(&mut self, request: Request<WhoAmIRequest>) -> Self::Future {
        // Only a request the layer admitted reaches here, with its claims.
        let verified = request.extensions().get::<tok::Verified<Claims>>().cloned();
        Box::pin(async move {
            let verified = verified.ok_or_else(|| Status::unauthenticated("no verified token"))?;
            Ok(Response::new(WhoAmIReply {
                subject: verified
                    .claims
                    .sub
                    .as_deref()
                    .unwrap_or_default()
                    .to_owned(),
                session: verified
                    .claims
                    .custom
                    .get("sid")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            }))
        })
    }
}

/// Calls `WhoAmI` on `channel` with `token` (none: no credentials).
pub async fn who_am_i(
    channel: tonic::transport::Channel,
    token: Option<&str>,
) -> Result<WhoAmIReply, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = Request::new(WhoAmIRequest {});
    if let Some(token) = token {
        let value = format!("Bearer {token}")
            .parse()
            .map_err(|_| Status::invalid_argument("a token a header cannot carry"))?;
        request.metadata_mut().insert("authorization", value);
    }
    let path = http::uri::PathAndQuery::from_static(WHO_AM_I);
    grpc.unary(request, path, ProstCodec::default())
        .await
        .map(Response::into_inner)
}
