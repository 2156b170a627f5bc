//! What callers on any thread share with the loop thread of one runtime: its configuration,
//! command queue and registry, the stopping flag, the count of calls holding a handle, and the
//! TLS configurations. `runtime` creates it and starts the loop; `event_loop` runs on it; neither
//! needs the other's module for it.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::command::Queue;
use crate::config::Config;
use crate::error::Failure;
use crate::registry::Registry;
use crate::tls::TlsOptions;

/// What callers on any thread share with the loop thread.
pub struct Shared {
    pub config: Config,
    pub queue: Arc<Queue>,
    pub registry: Registry,
    /// Set when `ws_shutdown` begins: calls are refused (`WS_ERR_SHUTTING_DOWN`, reported by the
    /// loop like any failure).
    pub stopping: AtomicBool,
    /// Calls holding a `Handle`: the loop does not close its queue while there are any.
    pub calls: AtomicUsize,
    /// TLS client configurations by their options (the runtime's, and each task's own merged with
    /// them), most recently used last. Sharing one is what lets a later connection resume a
    /// session: rustls keeps its session cache in the `ClientConfig`.
    pub tls: Mutex<Vec<(TlsOptions, Arc<rustls::ClientConfig>)>>,
}

/// TLS configurations kept (each with its session cache of up to 256 servers, about 11 KiB
/// before any session).
const TLS_CONFIGS: usize = 16;

impl Shared {
    /// The TLS configuration for the runtime's options, or with `extra` (a task's own) for both
    /// merged. Configurations are cached by content, so tasks with the same options share one
    /// (and its session cache: a reconnect resumes).
    pub fn tls_config(&self, extra: Option<TlsOptions>) -> Result<Arc<rustls::ClientConfig>, Failure> {
        let mut options = self.config.tls.clone();
        if let Some(extra) = extra {
            if !options.extra_ca_pem.is_empty() {
                options.extra_ca_pem.push(b'\n');
            }
            options.extra_ca_pem.extend_from_slice(&extra.extra_ca_pem);
            options.skip_verification |= extra.skip_verification;
            options.add_pins(extra.pins);
            // One identity is presented: the task's replaces the runtime's.
            if !extra.client_cert_pem.is_empty() || !extra.client_key_pem.is_empty() {
                options.client_cert_pem = extra.client_cert_pem;
                options.client_key_pem = extra.client_key_pem;
            }
        }
        let mut cache = self.tls.lock();
        if let Some(i) = cache.iter().position(|(o, _)| *o == options) {
            let entry = cache.remove(i);
            let config = Arc::clone(&entry.1);
            cache.push(entry);
            return Ok(config);
        }
        drop(cache); // building parses PEM and roots: not under the lock
        let config = crate::tls::client_config(&options)?;
        let mut cache = self.tls.lock();
        if cache.len() >= TLS_CONFIGS {
            cache.remove(0);
        }
        cache.push((options, Arc::clone(&config)));
        Ok(config)
    }
}
