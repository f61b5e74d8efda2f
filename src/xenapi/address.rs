//! XenAPI endpoint URLs: validation, and swapping the host part for the bare master address
//! that `HOST_IS_SLAVE` names (keeping scheme, port and path).

use std::net::Ipv6Addr;

use url::Url;

use super::error::{Result, XenApiError};

/// Parses and checks a XenAPI URL: `https://` or `http://`, a host, and no credentials in it.
pub fn parse_url(input: &str) -> Result<Url> {
    let url = Url::parse(input)
        .map_err(|e| XenApiError::Config(format!("invalid XenAPI URL {input:?}: {e}")))?;
    check_url(&url)?;
    Ok(url)
}

/// Checks a parsed URL as [`parse_url`] does.
pub fn check_url(url: &Url) -> Result<()> {
    if !matches!(url.scheme(), "https" | "http") {
        return Err(XenApiError::Config(format!(
            "XenAPI URL {url} must start with https:// (or http:// for plain HTTP)"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(XenApiError::Config(format!("XenAPI URL {url} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(XenApiError::Config(
            "XenAPI URL must not contain credentials; pass the user name and password separately"
                .into(),
        ));
    }
    Ok(())
}

/// `url` with its host replaced by `address` (an IPv4 or IPv6 address without brackets, or a
/// name), keeping scheme, port and path.
pub fn swap_host(url: &Url, address: &str) -> Result<Url> {
    let address = address.trim();
    let bad = |why: &str| {
        XenApiError::Config(format!(
            "cannot use master address {address:?} from HOST_IS_SLAVE: {why}"
        ))
    };
    if address.is_empty() {
        return Err(bad("empty"));
    }
    let host = match address.parse::<Ipv6Addr>() {
        Ok(v6) => format!("[{v6}]"),
        Err(_) => address.to_owned(),
    };
    let mut swapped = url.clone();
    swapped
        .set_host(Some(&host))
        .map_err(|e| bad(&e.to_string()))?;
    if swapped
        .host_str()
        .is_none_or(|h| h.contains(['/', '@', '?', '#']))
    {
        return Err(bad("not a host"));
    }
    Ok(swapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swapping_keeps_scheme_port_and_path() {
        let url = Url::parse("https://10.0.0.1:8443/RPC2").unwrap();
        assert_eq!(
            swap_host(&url, "10.0.0.2").unwrap().as_str(),
            "https://10.0.0.2:8443/RPC2"
        );
        assert_eq!(
            swap_host(&url, "fd00::2").unwrap().as_str(),
            "https://[fd00::2]:8443/RPC2"
        );
        let plain = Url::parse("http://host-a/").unwrap();
        assert_eq!(
            swap_host(&plain, "master.example").unwrap().as_str(),
            "http://master.example/"
        );
    }

    #[test]
    fn bad_master_addresses_are_refused() {
        let url = Url::parse("https://10.0.0.1/").unwrap();
        assert!(swap_host(&url, "").is_err());
        assert!(swap_host(&url, "a b").is_err());
    }

    #[test]
    fn urls_are_checked() {
        assert!(parse_url("https://10.0.0.1/").is_ok());
        assert!(parse_url("ftp://10.0.0.1/").is_err());
        let creds = parse_url("https://root:pw@10.0.0.1/")
            .unwrap_err()
            .to_string();
        assert!(!creds.contains("pw@"), "{creds}");
        assert!(parse_url("not a url").is_err());
    }
}
