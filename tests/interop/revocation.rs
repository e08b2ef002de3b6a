//! `TokenManager::revoke` against DOT's RFC 7009 endpoint with the password grant: the
//! refresh token and the access token are both revoked (DOT's API refuses the access
//! token afterwards, its token endpoint the refresh token), and the next `token()` logs
//! in anew.

use grantkit::grant::Grant as _;
use grantkit::time::ManualClock;
use grantkit::{ClientGrant, ErrorKind, RefreshTokenGrant, TokenManager};

use super::{PW_ID, PW_SECRET, dot, password_grant, refresh_secret};

#[tokio::test]
async fn revoke_ends_the_refresh_and_the_access_token_at_the_server() {
    let dot = dot();
    let clock = ManualClock::at_fixed_epoch();
    let grant = password_grant(dot);
    let revocation = grant.revocation(format!("{}/o/revoke_token/", dot.base));
    let manager = TokenManager::builder()
        .grant(grant.with_refresh())
        .revoker(revocation)
        .clock(clock.clone())
        .build()
        .unwrap();
    let first = manager.token().await.unwrap();
    dot.accepted(&first).await;
    let refresh = refresh_secret(&first);

    if let Err(e) = manager.revoke().await {
        panic!("{}\n{}", e.report(), dot.log());
    }
    assert!(manager.cached().is_none());
    let (status, _) = dot.me(&first).await;
    assert_eq!(status, 401, "the access token still works\n{}", dot.log());
    // The revoked refresh token no longer redeems.
    let cx = grantkit::grant::GrantContext::new(
        std::sync::Arc::new(grantkit::transport::ReqwestHttpClient::new().unwrap()),
        std::sync::Arc::new(clock.clone()),
    );
    let e = RefreshTokenGrant::new(
        dot.token_url(),
        grantkit::ClientOptions::form(PW_ID, PW_SECRET),
    )
    .refresh_token(refresh)
    .fetch_token(&cx)
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OAuth, "{}", e.report());
    assert!(e.is_invalid_grant(), "{}", e.report());

    let second = manager.token().await.unwrap();
    assert_eq!(
        dot.accepted(&second).await["issued_by_refresh_token"],
        false
    );
}
