//! Runtime configuration with its defaults in one place.

use std::time::Duration;

use crate::callback::UserData;
use crate::error::Failure;
use crate::ffi::api::{c_proxy, CTrust};
use crate::ffi::types::ws_config;
use crate::resolve::HostResolver;
use crate::tls::TlsOptions;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub max_connections_per_group: u32,
    pub max_message_size: usize,
    pub max_send_queue: usize,
    pub connect_timeout: Duration,
    pub close_timeout: Duration,
    pub tls: TlsOptions,
    /// Happy Eyeballs' Connection Attempt Delay (at least `eyeballs::MIN_DELAY`).
    pub attempt_delay: Duration,
    /// The host's resolver, if it gave one.
    pub resolver: Option<HostResolver>,
    /// The proxy every task goes through unless it says otherwise.
    pub proxy: Option<crate::proxy::Proxy>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_connections_per_group: 5,
            max_message_size: 64 << 20,
            max_send_queue: 64 << 20,
            connect_timeout: Duration::from_millis(60_000),
            close_timeout: Duration::from_millis(5_000),
            tls: TlsOptions::default(),
            attempt_delay: crate::eyeballs::DEFAULT_DELAY,
            resolver: None,
            proxy: None,
        }
    }
}

fn or_default<T: PartialEq + Default>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

impl Config {
    /// Reads a C config, zero fields meaning their defaults. Fails on a bad pin.
    ///
    /// # Safety
    ///
    /// `c.ca_pem`, `c.client_cert_pem`, `c.client_key_pem` are NULL or point to their
    /// `_len` readable bytes; `c.certificate_pins` is NULL or points to `c.certificate_pin_count`
    /// NULL or NUL-terminated strings; `c.proxy` is NULL or a NUL-terminated string.
    pub unsafe fn from_c(c: &ws_config) -> Result<Config, Failure> {
        let d = Config::default();
        let ms = |v: u32, d: Duration| if v == 0 { d } else { Duration::from_millis(v as u64) };
        let trust = CTrust {
            ca: (c.ca_pem, c.ca_pem_len),
            client_cert: (c.client_cert_pem, c.client_cert_pem_len),
            client_key: (c.client_key_pem, c.client_key_pem_len),
            pins: (c.certificate_pins, c.certificate_pin_count),
            skip_verification: c.dangerous_skip_certificate_verification,
            system_roots: c.use_system_roots,
        };
        // SAFETY: the PEM and pin pointers keep this function's contract.
        let tls = unsafe { trust.read("ws_config.certificate_pins") }?;
        // SAFETY: `proxy` is NULL or a NUL-terminated string (the contract).
        let proxy = unsafe { c_proxy(c.proxy, "ws_config.proxy") }?;
        Ok(Config {
            max_connections_per_group: or_default(c.max_connections_per_group, d.max_connections_per_group),
            max_message_size: or_default(usize::try_from(c.max_message_size).unwrap_or(usize::MAX), d.max_message_size),
            max_send_queue: or_default(usize::try_from(c.max_send_queue).unwrap_or(usize::MAX), d.max_send_queue),
            connect_timeout: ms(c.connect_timeout_ms, d.connect_timeout),
            close_timeout: ms(c.close_timeout_ms, d.close_timeout),
            tls,
            attempt_delay: ms(c.connection_attempt_delay_ms, d.attempt_delay).max(crate::eyeballs::MIN_DELAY),
            resolver: c.resolver.map(|_| HostResolver { cb: c.resolver, user_data: UserData(c.resolver_user_data) }),
            proxy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_fields_are_defaults() {
        let c = ws_config { struct_size: std::mem::size_of::<ws_config>() as u32, ..crate::ffi::versioned::zeroed() };
        assert_eq!(unsafe { Config::from_c(&c) }.ok(), Some(Config::default()));
        let c = ws_config { max_connections_per_group: 100, connect_timeout_ms: 10, ..c };
        let got = unsafe { Config::from_c(&c) }.unwrap();
        assert_eq!(got.max_connections_per_group, 100);
        assert_eq!(got.connect_timeout, Duration::from_millis(10));
        assert_eq!(got.max_message_size, 64 << 20);
        let got = unsafe { Config::from_c(&ws_config { connection_attempt_delay_ms: 3, ..c }) }.unwrap();
        assert_eq!(got.attempt_delay, Duration::from_millis(10), "the RFC's floor");
        let bad = [c"sha256/AAAA".as_ptr()];
        let f = unsafe { Config::from_c(&ws_config { certificate_pins: bad.as_ptr(), certificate_pin_count: 1, ..c }) };
        assert!(f.unwrap_err().detail.starts_with("ws_config.certificate_pins[0]: \"sha256/AAAA\" is not a pin"));
        let proxy = c"socks5://u:secret@h:1";
        let got = unsafe { Config::from_c(&ws_config { proxy: proxy.as_ptr(), ..c }) }.unwrap();
        assert_eq!(got.proxy.map(|p| p.to_string()).as_deref(), Some("socks5://h:1"));
        let bad = c"ftp://u:secret@h";
        let f = unsafe { Config::from_c(&ws_config { proxy: bad.as_ptr(), ..c }) }.unwrap_err();
        assert!(f.detail.starts_with("ws_config.proxy: scheme") && !f.detail.contains("secret"), "{}", f.detail);
    }
}
