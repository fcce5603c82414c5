//! The one error type of the payload parsers (ARP, IPv4, UDP, IPv6,
//! ICMPv6, neighbour discovery, DHCP). Each variant says why a buffer was
//! not accepted; none of them is ever returned after a view was built.

/// Why a payload could not be read. A caller that only forwards frames
/// treats every variant alike: leave the frame as it is.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WireError {
    /// The buffer ends before a fixed header, or before the end a length
    /// field declares.
    #[error("buffer shorter than the header or the length it declares")]
    Truncated,
    /// A length field is smaller than the header it belongs to.
    #[error("length field smaller than its header")]
    BadLength,
    /// The IP version nibble is not the one the view reads.
    #[error("wrong IP version")]
    BadVersion,
    /// Well formed but of a variant moose does not read: ARP that is not
    /// Ethernet/IPv4, DHCP whose hardware address is not Ethernet.
    #[error("unsupported hardware or protocol type")]
    Unsupported,
    /// A message type the view does not read (an ICMPv6 message that is not
    /// neighbour discovery, or a neighbour discovery representation asked of
    /// a message type it does not cover).
    #[error("message of another type")]
    WrongType,
    /// An option with length 0, or one running past the end of the message.
    #[error("option with length 0 or running past the end")]
    BadOption,
    /// The DHCP magic cookie (99.130.83.99) is missing.
    #[error("no DHCP magic cookie")]
    BadMagic,
    /// An Ethernet header length other than 14, 18 or 22.
    #[error("Ethernet header length not 14, 18 or 22")]
    BadHeaderLen,
}
