//! Arbitrary bytes as a client would send them to the metrics endpoint (`svctl daemon
//! --metrics-addr`): hyper's parser and svctl's routing, over memory, with a stand-in
//! supervisor. Nothing may panic; whatever the server answers is an HTTP/1.x response (hyper
//! answers a 1.0 request in 1.0) with one of the statuses the endpoint uses.
#![no_main]

use libfuzzer_sys::fuzz_target;

const STATUSES: &[&[u8]] = &[
    b"200", b"400", b"404", b"405", b"408", b"413", b"414", b"431", b"501", b"503", b"505",
];

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let out = rt.block_on(svctl::daemon::http::exchange(data));
    if !out.is_empty() {
        let version_ok = out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 ");
        assert!(version_ok, "{:?}", String::from_utf8_lossy(&out));
        let code = &out[9..12.min(out.len())];
        assert!(STATUSES.contains(&code), "{:?}", String::from_utf8_lossy(&out));
    }
});
