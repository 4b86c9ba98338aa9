//! The replayed platform API on loopback, in the shape of the incident: a GraphQL endpoint
//! with a `volumeDelete` mutation and a legacy REST `DELETE /v1/volumes/{id}` without soft
//! delete. A volume is a directory of data files; deleting it removes the directory for good.
//! Both endpoints want the admin token as a Bearer token.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// Request bodies larger than this are refused.
const MAX_BODY: usize = 64 * 1024;

/// The running API: its two hosts, and the runtime that serves them (dropped with it). Both
/// are loopback addresses other than 127.0.0.1, so that a sandbox's `NO_PROXY` does not send
/// requests to the sandbox's own empty loopback.
pub struct Platform {
    /// The API host the admin token is meant for (GraphQL), on 127.0.0.2.
    pub addr: SocketAddr,
    /// The legacy API host (REST without soft delete), on 127.0.0.3.
    pub legacy: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Platform {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

struct Api {
    token: String,
    volumes: PathBuf,
}

impl Platform {
    /// Starts the API on free ports of 127.0.0.2 and 127.0.0.3 (127.0.0.1 where those
    /// addresses are missing).
    pub fn start(token: &str, volumes: PathBuf) -> Result<Platform> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .context("cannot start the platform API's runtime")?;
        let api = Arc::new(Api { token: token.to_owned(), volumes });
        let addr = runtime.block_on(listen(&runtime, "127.0.0.2:0", Arc::clone(&api)))?;
        let legacy = runtime.block_on(listen(&runtime, "127.0.0.3:0", api))?;
        Ok(Platform { addr, legacy, runtime: Some(runtime) })
    }
}

/// Serves `api` on `want` (or a free port of 127.0.0.1) until the runtime stops.
async fn listen(runtime: &tokio::runtime::Runtime, want: &str, api: Arc<Api>) -> Result<SocketAddr> {
    let listener = match tokio::net::TcpListener::bind(want).await {
        Ok(l) => l,
        Err(_) => tokio::net::TcpListener::bind("127.0.0.1:0").await.context("cannot listen on loopback")?,
    };
    let addr = listener.local_addr().context("cannot read the platform API's address")?;
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let api = Arc::clone(&api);
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let api = Arc::clone(&api);
                    async move { Ok::<_, std::convert::Infallible>(api.handle(req).await) }
                });
                let _ =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service).await;
            });
        }
    });
    Ok(addr)
}

fn reply(status: StatusCode, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(hyper::header::CONTENT_TYPE, hyper::header::HeaderValue::from_static("application/json"));
    resp
}

impl Api {
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let authorized = req
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| t.trim() == self.token);
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return reply(StatusCode::PAYLOAD_TOO_LARGE, serde_json::json!({"error": "body too large"})),
        };
        if !authorized {
            return reply(StatusCode::UNAUTHORIZED, serde_json::json!({"error": "an admin token is required"}));
        }
        match (&method, path.as_str()) {
            (&Method::POST, "/graphql") => self.graphql(&body),
            (&Method::GET, "/v1/volumes") => {
                reply(StatusCode::OK, serde_json::json!({"volumes": crate::demo::world::volume_names(&self.volumes)}))
            }
            (&Method::DELETE, p) if p.starts_with("/v1/volumes/") => {
                let id = p.trim_start_matches("/v1/volumes/");
                self.delete_volume(id)
            }
            _ => reply(StatusCode::NOT_FOUND, serde_json::json!({"error": "no such endpoint"})),
        }
    }

    fn graphql(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let query = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("query").and_then(|q| q.as_str()).map(str::to_owned))
            .unwrap_or_default();
        let Some(id) = volume_delete_arg(&query) else {
            return reply(StatusCode::OK, serde_json::json!({"errors": [{"message": "unsupported query"}]}));
        };
        let resp = self.delete_volume(&id);
        if resp.status() == StatusCode::OK {
            reply(StatusCode::OK, serde_json::json!({"data": {"volumeDelete": true}}))
        } else {
            reply(StatusCode::OK, serde_json::json!({"errors": [{"message": format!("volume {id} not found")}]}))
        }
    }

    /// Removes the volume's directory: no soft delete, no backup.
    fn delete_volume(&self, id: &str) -> Response<Full<Bytes>> {
        let valid = !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        let dir = self.volumes.join(id);
        if !valid || !dir.is_dir() {
            return reply(StatusCode::NOT_FOUND, serde_json::json!({"error": format!("volume {id} not found")}));
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => reply(StatusCode::OK, serde_json::json!({"deleted": id})),
            Err(e) => reply(StatusCode::INTERNAL_SERVER_ERROR, serde_json::json!({"error": e.to_string()})),
        }
    }
}

/// The volume id of `volumeDelete(volumeId: "...")` in a GraphQL document.
fn volume_delete_arg(query: &str) -> Option<String> {
    let rest = query.split("volumeDelete").nth(1)?;
    let rest = rest.split("volumeId").nth(1)?;
    let start = rest.find('"')?;
    let after = rest.get(start + 1..)?;
    let end = after.find('"')?;
    after.get(..end).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_mutation_names_its_volume() {
        assert_eq!(
            super::volume_delete_arg(r#"mutation { volumeDelete(volumeId: "vol-1") }"#).as_deref(),
            Some("vol-1")
        );
        assert_eq!(super::volume_delete_arg("query { me { id } }"), None);
    }
}
