//! A DHCP server for tests, on the far end of a guest's `-netdev stream` link ([`Nic::Stream`]
//! with `listen: false`): QEMU connects to the Unix socket this listens on and exchanges
//! Ethernet frames, each preceded by its length (four bytes, big-endian). It answers
//! DHCPDISCOVER with an offer and DHCPREQUEST with an acknowledgement of one lease (RFC 2131,
//! options of RFC 2132), naming a DNS server and a domain, which QEMU's own DHCP server leaves
//! out under `restrict=on`. Everything else on the link is dropped: nothing leaves the test.
//!
//! [`Nic::Stream`]: crate::Nic::Stream

use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What the server hands out.
#[derive(Debug, Clone)]
pub struct Lease {
    pub server: Ipv4Addr,
    pub address: Ipv4Addr,
    pub prefix_length: u8,
    pub dns: Ipv4Addr,
    pub domain: String,
}

/// A running server; its thread ends when QEMU closes the link.
#[derive(Debug)]
pub struct DhcpServer {
    acks: Arc<AtomicUsize>,
}

impl DhcpServer {
    /// Listens on `socket` (before QEMU starts) and serves the first connection.
    pub fn start(socket: &Path, lease: Lease) -> io::Result<DhcpServer> {
        let _ = std::fs::remove_file(socket);
        let listener = UnixListener::bind(socket)?;
        let acks = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&acks);
        std::thread::spawn(move || {
            if let Ok((mut link, _)) = listener.accept() {
                let _ = serve(&mut link, &lease, &counted);
            }
        });
        Ok(DhcpServer { acks })
    }

    /// How many DHCPACKs it sent.
    pub fn acks(&self) -> usize {
        self.acks.load(Ordering::SeqCst)
    }
}

const SERVER_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x99, 0x99, 0x99];
const COOKIE: [u8; 4] = [99, 130, 83, 99];

fn serve(link: &mut (impl Read + Write), lease: &Lease, acks: &AtomicUsize) -> io::Result<()> {
    loop {
        let mut len = [0u8; 4];
        link.read_exact(&mut len)?;
        let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
        link.read_exact(&mut frame)?;
        let Some((kind, request)) = dhcp_request(&frame) else {
            continue;
        };
        let reply_kind = match kind {
            1 => 2, // DISCOVER → OFFER
            3 => 5, // REQUEST → ACK
            _ => continue,
        };
        let reply = reply_frame(request, reply_kind, lease);
        link.write_all(&(reply.len() as u32).to_be_bytes())?;
        link.write_all(&reply)?;
        if reply_kind == 5 {
            acks.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// A DHCP client message in an Ethernet frame: its message type and its BOOTP part.
fn dhcp_request(frame: &[u8]) -> Option<(u8, &[u8])> {
    if frame.len() < 14 + 20 + 8 + 240 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[0] >> 4 != 4 || ip[9] != 17 || ip.len() < ihl + 8 {
        return None;
    }
    let udp = &ip[ihl..];
    if udp[2..4] != [0, 67] {
        return None;
    }
    let bootp = &udp[8..];
    if bootp.len() < 240 || bootp[0] != 1 || bootp[236..240] != COOKIE {
        return None;
    }
    let mut opts = &bootp[240..];
    while let [code, rest @ ..] = opts {
        match code {
            0 => opts = rest,
            255 => break,
            _ => {
                let [len, rest @ ..] = rest else { break };
                let len = usize::from(*len);
                if rest.len() < len {
                    break;
                }
                if *code == 53 && len == 1 {
                    return Some((rest[0], bootp));
                }
                opts = &rest[len..];
            }
        }
    }
    None
}

fn reply_frame(request: &[u8], kind: u8, lease: &Lease) -> Vec<u8> {
    let mut bootp = vec![0u8; 236];
    bootp[0] = 2; // BOOTREPLY
    bootp[1] = 1;
    bootp[2] = 6;
    bootp[4..8].copy_from_slice(&request[4..8]); // xid
    bootp[10..12].copy_from_slice(&request[10..12]); // flags
    bootp[16..20].copy_from_slice(&lease.address.octets()); // yiaddr
    bootp[20..24].copy_from_slice(&lease.server.octets()); // siaddr
    bootp[28..44].copy_from_slice(&request[28..44]); // chaddr
    bootp.extend_from_slice(&COOKIE);
    let mask = u32::MAX
        .checked_shl(32 - u32::from(lease.prefix_length))
        .unwrap_or(0);
    let mut opt = |code: u8, data: &[u8]| {
        bootp.push(code);
        bootp.push(data.len() as u8);
        bootp.extend_from_slice(data);
    };
    opt(53, &[kind]);
    opt(54, &lease.server.octets());
    opt(51, &3600u32.to_be_bytes());
    opt(1, &mask.to_be_bytes());
    opt(6, &lease.dns.octets());
    opt(15, lease.domain.as_bytes());
    bootp.push(255);
    bootp.resize(bootp.len().max(300), 0);

    let mut udp = Vec::with_capacity(8 + bootp.len());
    udp.extend_from_slice(&67u16.to_be_bytes());
    udp.extend_from_slice(&68u16.to_be_bytes());
    udp.extend_from_slice(&((8 + bootp.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]); // no checksum (allowed over IPv4)
    udp.extend_from_slice(&bootp);

    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + udp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&lease.server.octets());
    ip.extend_from_slice(&[255, 255, 255, 255]);
    let sum = checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());

    let mut frame = vec![0xff; 6];
    frame.extend_from_slice(&SERVER_MAC);
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&ip);
    frame.extend_from_slice(&udp);
    frame
}

/// The Internet checksum (RFC 1071) of an IPv4 header.
fn checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn discover(xid: [u8; 4]) -> Vec<u8> {
        let mut bootp = vec![0u8; 236];
        bootp[0] = 1;
        bootp[4..8].copy_from_slice(&xid);
        bootp[28..34].copy_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        bootp.extend_from_slice(&COOKIE);
        bootp.extend_from_slice(&[53, 1, 1, 255]);
        let mut udp = vec![0, 68, 0, 67, 0, 0, 0, 0];
        udp.extend_from_slice(&bootp);
        let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17, 0, 0, 0, 0, 0, 0];
        ip.extend_from_slice(&[255, 255, 255, 255]);
        ip.extend_from_slice(&udp);
        let mut frame = vec![0xff; 6];
        frame.extend_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56, 0x08, 0x00]);
        frame.extend_from_slice(&ip);
        frame
    }

    #[test]
    fn offers_the_lease_with_its_dns_server_and_domain() {
        let lease = Lease {
            server: Ipv4Addr::new(192, 0, 2, 1),
            address: Ipv4Addr::new(192, 0, 2, 50),
            prefix_length: 24,
            dns: Ipv4Addr::new(192, 0, 2, 53),
            domain: "strata.test".into(),
        };
        let frame = discover([1, 2, 3, 4]);
        let (kind, req) = dhcp_request(&frame).unwrap();
        assert_eq!(kind, 1);
        let reply = reply_frame(req, 2, &lease);
        // The reply is itself a well-formed DHCP message (op 2, our xid, the address).
        let ip = &reply[14..];
        assert_eq!(checksum(&ip[..20]), 0, "header checksum");
        let bootp = &ip[28..];
        assert_eq!(bootp[0], 2);
        assert_eq!(&bootp[4..8], &[1, 2, 3, 4]);
        assert_eq!(&bootp[16..20], &[192, 0, 2, 50]);
        let opts = &bootp[240..];
        assert!(opts.windows(6).any(|w| w == [6, 4, 192, 0, 2, 53]));
        assert!(opts.windows(3).any(|w| w == [1, 4, 255]));
        assert!(opts.windows(2).any(|w| w == [53, 1]));
        // Not DHCP: ignored.
        assert!(dhcp_request(&frame[..100]).is_none());
    }
}
