//! The host's resolver (`ws_config.resolver`): libws asks it for a task's host name on the
//! libws thread, and the host answers later, from any thread, with `ws_resolve_answer`. The
//! answer travels to the loop as `Command::Resolved` like a resolver thread's, marked as the
//! host's so that only a task that asked takes it.

use std::ffi::CString;
use std::net::SocketAddr;

use crate::callback::UserData;
use crate::ffi::types::ws_resolve_cb;
use crate::options::parse_address;

#[derive(Clone, Copy, Debug)]
pub struct HostResolver {
    pub cb: ws_resolve_cb,
    pub user_data: UserData,
}

impl PartialEq for HostResolver {
    fn eq(&self, other: &HostResolver) -> bool {
        self.cb.map(|f| f as usize) == other.cb.map(|f| f as usize) && self.user_data.0 == other.user_data.0
    }
}

impl Eq for HostResolver {}

impl HostResolver {
    /// Asks the host for `host`'s addresses (on the libws thread, no lock held).
    pub fn ask(&self, task_id: i64, host: &str, port: u16) {
        let Some(cb) = self.cb else { return };
        // A URL host holds no NUL.
        let host = CString::new(host).unwrap_or_default();
        // SAFETY: the host's function pointer with its own user_data; `host` lives during the call.
        unsafe { cb(task_id, host.as_ptr(), port, self.user_data.0) };
    }
}

/// Parses the host's answer. An address without a port gets port 0, which the task replaces
/// with its URL's (`parse_address` refuses an explicit port 0).
pub fn parse_answer<'a>(addresses: impl Iterator<Item = Option<&'a [u8]>>) -> Result<Vec<SocketAddr>, String> {
    let mut out = Vec::new();
    for (i, a) in addresses.enumerate() {
        let a = a.ok_or_else(|| format!("addresses[{}] is NULL", i))?;
        out.push(parse_address(a, 0).map_err(|why| format!("addresses[{}]: {}", i, why))?);
    }
    if out.is_empty() {
        return Err("no addresses".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_with_port_zero_for_none() {
        let got = parse_answer([Some(&b"::1"[..]), Some(b"1.2.3.4:9")].into_iter()).unwrap();
        assert_eq!(got, vec!["[::1]:0".parse().unwrap(), "1.2.3.4:9".parse().unwrap()]);
        assert_eq!(parse_answer(std::iter::empty()).unwrap_err(), "no addresses");
        assert!(parse_answer([Some(&b"1.2.3.4"[..]), None].into_iter()).unwrap_err().contains("addresses[1] is NULL"));
        assert!(parse_answer([Some(&b"x"[..])].into_iter()).unwrap_err().starts_with("addresses[0]: \"x\" is not"));
    }
}
