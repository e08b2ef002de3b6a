//! Proxies never see a credential: loopback and plain `http` token requests go directly,
//! `https` to other hosts goes through the proxy as a `CONNECT` tunnel.
//!
//! The attack this pins: with `HTTP_PROXY`/`ALL_PROXY` set, a plain-http loopback token URL
//! sent the client's Basic credentials to the proxy, and the proxy's token was used.
#![cfg(feature = "default-http-client")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use grantkit_core::{ClientSecret, ErrorKind, HttpClient, ReqwestHttpClient, TokenRequest};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server that records the head of every request and answers `answer`.
async fn server(answer: &'static str) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = socket.read(&mut buf).await.unwrap_or(0);
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), seen)
}

const TOKEN_FROM_SERVER: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
    content-length: 32\r\nconnection: close\r\n\r\n{\"access_token\":\"from-server\"}  ";
const TOKEN_FROM_PROXY: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
    content-length: 31\r\nconnection: close\r\n\r\n{\"access_token\":\"from-proxy\"}  ";

fn request(url: &str) -> grantkit_core::HttpRequest {
    TokenRequest::post(url)
        .basic_auth("client", &ClientSecret::new("proxy-must-not-see-this"))
        .form([("grant_type", "client_credentials")])
        .build()
        .unwrap()
}

#[tokio::test]
async fn loopback_token_requests_never_go_through_a_configured_proxy() {
    let (proxy, proxy_seen) = server(TOKEN_FROM_PROXY).await;
    let (token_server, server_seen) = server(TOKEN_FROM_SERVER).await;
    let port = token_server.rsplit(':').next().unwrap();
    let http = ReqwestHttpClient::with_proxy(&format!("http://{proxy}")).unwrap();
    for url in [
        format!("http://{token_server}/token"),
        format!("http://localhost:{port}/token"),
    ] {
        let response = http.execute(request(&url)).await.unwrap();
        let body = String::from_utf8(response.into_body()).unwrap();
        assert!(body.contains("from-server"), "{url}: {body}");
    }
    assert_eq!(server_seen.lock().unwrap().len(), 2);
    assert!(
        proxy_seen.lock().unwrap().is_empty(),
        "the proxy received: {:?}",
        proxy_seen.lock().unwrap()
    );
}

#[tokio::test]
async fn https_to_a_remote_host_goes_through_the_proxy_as_a_tunnel_only() {
    let (proxy, proxy_seen) = server("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").await;
    let http = ReqwestHttpClient::with_proxy(&format!("http://{proxy}")).unwrap();
    let error = http
        .execute(request("https://auth.example.test/token"))
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Connect, "{}", error.report());
    let seen = proxy_seen.lock().unwrap();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].starts_with("CONNECT auth.example.test:443 HTTP/1.1\r\n"),
        "{:?}",
        seen[0]
    );
    // The tunnel request carries no credential and no body: TLS would start after it.
    assert!(
        !seen[0].contains("proxy-must-not-see-this"),
        "{:?}",
        seen[0]
    );
    assert!(
        !seen[0].to_ascii_lowercase().contains("authorization"),
        "{:?}",
        seen[0]
    );
    assert!(!seen[0].contains("grant_type"), "{:?}", seen[0]);
}

#[test]
fn an_invalid_proxy_is_a_config_error_without_its_password() {
    let e = ReqwestHttpClient::with_proxy("http://user:pw@[bad").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(!e.to_string().contains("pw"), "{e}");
}
