//! The machine's MQTT broker for tests and demos: Mosquitto on 127.0.0.1:1883. When nothing
//! answers there, a Mosquitto daemon is started on that loopback port (the `mosquitto` binary,
//! Debian package `mosquitto`, must be installed), so the test suite needs no running service.

use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Port of the machine's broker.
pub const MACHINE_BROKER_PORT: u16 = 1883;

fn answering(port: u16) -> bool {
    TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(300)).is_ok()
}

/// Make sure a broker answers on 127.0.0.1:1883, starting Mosquitto there if needed; returns the
/// port. Panics with a clear message when it cannot (tests only).
pub fn ensure_machine_broker() -> u16 {
    if answering(MACHINE_BROKER_PORT) {
        return MACHINE_BROKER_PORT;
    }
    let conf = std::env::temp_dir().join("ilot-machine-mosquitto.conf");
    std::fs::write(&conf, "listener 1883 127.0.0.1\nallow_anonymous true\n").expect("write a mosquitto config");
    // Several test processes may race to start it: only one binds, the others just wait.
    let _ = Command::new("mosquitto").args(["-d", "-c"]).arg(&conf).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if answering(MACHINE_BROKER_PORT) {
            return MACHINE_BROKER_PORT;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no MQTT broker on 127.0.0.1:1883 and Mosquitto could not be started (apt-get install mosquitto)");
}
