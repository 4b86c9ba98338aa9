//! `holdpoint ca export`: the certificate of the local CA the egress proxy intercepts TLS
//! with, for agents' trust stores.

use anyhow::Result;
use holdpoint_proxy::Ca;

use crate::home::Home;

pub fn export(home: &Home) -> Result<u8> {
    let ca = Ca::load(&home.state)?;
    print!("{}", ca.cert_pem());
    Ok(0)
}
