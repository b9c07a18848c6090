//! Listening addresses: the error a process prints when it cannot listen names the address, the
//! setting that chose it and the cause in words (`127.0.0.1:8642 is already in use`), for the
//! HTTP API and the embedded broker alike.

use std::io::ErrorKind;
use std::net::SocketAddr;

/// An address this process could not listen on, and why.
#[derive(Debug, thiserror::Error)]
#[error("{}", self.describe())]
pub struct ListenError {
    pub addr: SocketAddr,
    /// The configuration key that chose the address (`http.listen`, …).
    pub setting: &'static str,
    pub error: std::io::Error,
}

impl ListenError {
    pub fn new(addr: SocketAddr, setting: &'static str, error: std::io::Error) -> ListenError {
        ListenError { addr, setting, error }
    }

    /// The address is taken by another process (another ilot, most likely).
    pub fn in_use(&self) -> bool {
        self.error.kind() == ErrorKind::AddrInUse
    }

    fn describe(&self) -> String {
        let (addr, setting) = (self.addr, self.setting);
        match self.error.kind() {
            ErrorKind::AddrInUse => {
                format!("{addr} is already in use: another ilot or another program listens there; stop it, or set another address in {setting}")
            }
            ErrorKind::PermissionDenied => format!("cannot listen on {addr}: permission denied (ports below 1024 need privileges; {setting})"),
            ErrorKind::AddrNotAvailable => format!("cannot listen on {addr}: not an address of this machine ({setting})"),
            _ => format!("cannot listen on {addr}: {} ({setting})", self.error),
        }
    }
}

/// Fail now, with a [`ListenError`], if `addr` cannot be listened on: for a listener another
/// library binds later on its own thread (the embedded broker), where a failure would only be
/// logged.
pub fn check_free(addr: SocketAddr, setting: &'static str) -> Result<(), ListenError> {
    std::net::TcpListener::bind(addr).map(drop).map_err(|error| ListenError::new(addr, setting, error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named_with_its_setting() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = check_free(addr, "http.listen").unwrap_err();
        assert!(err.in_use());
        assert_eq!(
            err.to_string(),
            format!("{addr} is already in use: another ilot or another program listens there; stop it, or set another address in http.listen")
        );
        drop(taken);
        check_free(addr, "http.listen").unwrap();
    }
}
