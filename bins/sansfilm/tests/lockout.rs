//! Connections that send nothing, and anonymous associations that sit idle,
//! cannot lock out the peers the practice configured: an allow-listed
//! modality's C-ECHO (DCMTK echoscu) and the RIS's HL7 order both succeed
//! under that load.

mod common;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use dicom_ul::ClientAssociationOptions;
use tokio::net::{TcpSocket, TcpStream};

/// Opens `n` TCP connections from `source` that never send anything.
async fn silent(n: usize, source: &str, to: SocketAddr) -> Vec<TcpStream> {
    let mut out = vec![];
    for _ in 0..n {
        let socket = TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        out.push(socket.connect(to).await.unwrap());
    }
    out
}

/// How many of `conns` the server has closed (read gives end of file).
async fn closed(conns: &mut [TcpStream]) -> usize {
    let mut n = 0;
    for c in conns {
        let mut b = [0u8; 1];
        if let Ok(Ok(0)) = tokio::time::timeout(
            Duration::from_millis(50),
            tokio::io::AsyncReadExt::read(c, &mut b),
        )
        .await
        {
            n += 1;
        }
    }
    n
}

fn orm(control_id: &str) -> Vec<u8> {
    let m = format!(
        "MSH|^~\\&|RIS|CABINET|SANSFILM|CABINET|20261123080100||ORM^O01|{control_id}|P|2.3.1\r\
         PID|||FR4711^^^CABINET||MARTIN^JEAN||19800214|M\r\
         ORC|NW|ACC{control_id}|ACC{control_id}||SC||^^^20261123093000\r\
         OBR|1|ACC{control_id}|ACC{control_id}|CT^Scanner^LOCAL||||||||||||||ACC{control_id}|RP1|SPS1|CT01|||CT|||^^^20261123093000\r"
    );
    let mut out = vec![0x0b];
    out.extend_from_slice(m.as_bytes());
    out.extend_from_slice(&[0x1c, 0x0d]);
    out
}

/// Sends one framed message from 127.0.0.1 and returns the ACK's MSA-1.
fn send_hl7(port: u16, message: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(message).unwrap();
    let mut got = vec![];
    let mut buf = [0u8; 4096];
    while !got.windows(2).any(|w| w == [0x1c, 0x0d]) {
        let n = s.read(&mut buf).unwrap_or(0);
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got).to_string();
    text.split('\r')
        .find(|seg| seg.starts_with("MSA|"))
        .and_then(|seg| seg.split('|').nth(1))
        .unwrap_or("no ACK")
        .to_string()
}

#[test]
fn configured_peers_get_through_connections_that_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::with_config(
        dir.path(),
        "[dicom]\nmax_associations = 8\n[dicom.access]\naccept_any = true\n\
         [[dicom.access.allow]]\nae_title = \"WS01\"\n\
         [hl7]\nmax_connections = 4\nris_hosts = [\"127.0.0.1\"]\n",
    );
    let dicom: SocketAddr = server.addr().parse().unwrap();
    let hl7: SocketAddr = format!("127.0.0.1:{}", server.hl7_port).parse().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // Silent connections, from the peers' own address and another one,
        // far more than every limit.
        let mut quiet = silent(40, "127.0.0.1", dicom).await;
        quiet.extend(silent(40, "127.0.0.2", dicom).await);
        quiet.extend(silent(40, "127.0.0.1", hl7).await);
        quiet.extend(silent(40, "127.0.0.2", hl7).await);
        // Anonymous associations filling every slot anonymous peers have.
        let mut anonymous = vec![];
        for _ in 0..8 {
            anonymous.push(
                ClientAssociationOptions::new()
                    .calling_ae_title("ANON")
                    .called_ae_title("SANSFILM")
                    .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2"])
                    .establish_async(server.addr())
                    .await
                    .expect("anonymous association within the limit"),
            );
        }
        let ninth = ClientAssociationOptions::new()
            .calling_ae_title("ANON")
            .called_ae_title("SANSFILM")
            .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2"])
            .establish_async(server.addr())
            .await;
        assert!(ninth.is_err(), "anonymous slots are full");

        // The allow-listed workstation and the RIS get through.
        let port = server.port.to_string();
        let echo = tokio::task::spawn_blocking(move || {
            dcmtk("echoscu")
                .args(["-aet", "WS01", "-aec", "SANSFILM", "127.0.0.1", &port])
                .output()
                .unwrap()
        })
        .await
        .unwrap();
        assert!(
            echo.status.success(),
            "echoscu: {}",
            String::from_utf8_lossy(&echo.stderr)
        );
        let hl7_port = server.hl7_port;
        let ack = tokio::task::spawn_blocking(move || send_hl7(hl7_port, &orm("LOCK1")))
            .await
            .unwrap();
        assert_eq!(ack, "AA");

        // The silent connections beyond the per-address allowance were
        // closed as newer ones came; the rest wait without holding a slot.
        let shut = closed(&mut quiet).await;
        assert!(shut >= 100, "{shut} of 160 silent connections closed");
        for a in anonymous {
            let _ = a.abort().await;
        }
    });
    let log = server.log_text();
    assert!(log.contains("connection that sent nothing closed"), "{log}");
}
