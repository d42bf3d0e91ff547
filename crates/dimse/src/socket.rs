//! Socket options that keep DICOM exchanges from waiting on TCP timers.

use tokio::net::TcpStream;

/// Sets TCP_NODELAY (our small PDUs leave at once) and, on Linux, asks for
/// immediate ACKs. Many DICOM clients (DCMTK's tools among them) leave Nagle's
/// algorithm on and send a command and its data set as two writes: the second
/// waits for the ACK of the first, which a delayed ACK holds for 40 ms. Quick
/// ACK is reset by the kernel, so it is set again before each read.
pub fn tune(stream: &TcpStream) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    quick_ack(stream);
}

/// Re-arms immediate ACKs (Linux); does nothing elsewhere.
pub fn quick_ack(stream: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = stream;
    }
}
