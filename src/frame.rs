//! Frame-level helpers around tungstenite's frame header codec: building our (masked) outgoing
//! frames, masking, and checking a close frame's payload.

use std::io::Cursor;

use tungstenite::protocol::frame::coding::{Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

use crate::close_code::CloseCode;

/// The longest frame header: 2 bytes, 8 of length, 4 of mask.
pub const MAX_HEADER: usize = 14;

/// One frame on its way out: the header and the masked payload, written with one writev.
pub struct OutFrame {
    head: [u8; MAX_HEADER],
    head_len: u8,
    pub payload: Vec<u8>,
    /// Bytes of head + payload already written.
    written: usize,
}

/// A message's payload as `ws_send` copies it: masked while copied, one pass over the caller's
/// bytes instead of a copy and then a masking pass over the copy.
pub struct Masked {
    data: Vec<u8>,
    mask: [u8; 4],
}

impl Masked {
    /// Copies `src` masked with a fresh random mask.
    pub fn copy(src: &[u8]) -> Masked {
        let mask: [u8; 4] = rand::random();
        let mut data = Vec::with_capacity(src.len());
        let spare = &mut data.spare_capacity_mut()[..src.len()];
        let wide = wide_mask(mask);
        let mut to = spare.chunks_exact_mut(8);
        let mut from = src.chunks_exact(8);
        for (d, s) in (&mut to).zip(&mut from) {
            let v = u64::from_ne_bytes(s.try_into().expect("8 bytes")) ^ wide;
            for (d, b) in d.iter_mut().zip(v.to_ne_bytes()) {
                d.write(b);
            }
        }
        // Chunks of 8 keep the 4-byte mask's phase, so the tail starts at mask[0].
        for (i, (d, b)) in to.into_remainder().iter_mut().zip(from.remainder()).enumerate() {
            d.write(b ^ mask[i & 3]);
        }
        // SAFETY: every byte of the first `src.len()` of the spare capacity was written above.
        unsafe { data.set_len(src.len()) };
        Masked { data, mask }
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// A copy of the caller's bytes (tests).
    #[cfg(test)]
    pub fn clone_plain(&self) -> Vec<u8> {
        let mut data = self.data.clone();
        apply_mask(&mut data, self.mask);
        data
    }

    /// The caller's bytes again (to compress them).
    pub fn into_plain(mut self) -> Vec<u8> {
        apply_mask(&mut self.data, self.mask);
        self.data
    }
}

fn wide_mask(mask: [u8; 4]) -> u64 {
    u64::from_ne_bytes([mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3]])
}

impl OutFrame {
    /// A final frame (we never fragment) with a fresh random mask applied to `payload` in place.
    pub fn new(opcode: OpCode, rsv1: bool, mut payload: Vec<u8>) -> OutFrame {
        let mask: [u8; 4] = rand::random();
        apply_mask(&mut payload, mask);
        OutFrame::masked(opcode, rsv1, payload, mask)
    }

    /// A final data frame of a payload `ws_send` masked as it copied it.
    pub fn premasked(text: bool, payload: Masked) -> OutFrame {
        OutFrame::masked(OpCode::Data(if text { Data::Text } else { Data::Binary }), false, payload.data, payload.mask)
    }

    fn masked(opcode: OpCode, rsv1: bool, payload: Vec<u8>, mask: [u8; 4]) -> OutFrame {
        let header = FrameHeader { is_final: true, rsv1, rsv2: false, rsv3: false, opcode, mask: Some(mask) };
        let mut head = [0u8; MAX_HEADER];
        let mut cursor = Cursor::new(&mut head[..]);
        header.format(payload.len() as u64, &mut cursor).expect("a frame header fits in 14 bytes");
        let head_len = cursor.position() as u8;
        OutFrame { head, head_len, payload, written: 0 }
    }

    pub fn data(text: bool, rsv1: bool, payload: Vec<u8>) -> OutFrame {
        OutFrame::new(OpCode::Data(if text { Data::Text } else { Data::Binary }), rsv1, payload)
    }

    pub fn control(kind: Control, payload: Vec<u8>) -> OutFrame {
        OutFrame::new(OpCode::Control(kind), false, payload)
    }

    pub fn close(code: CloseCode, reason: &str) -> OutFrame {
        let payload = if code == CloseCode::NO_STATUS {
            Vec::new()
        } else {
            let mut p = code.to_be_bytes().to_vec();
            p.extend_from_slice(reason.as_bytes());
            p
        };
        OutFrame::control(Control::Close, payload)
    }

    /// Some of it was written: it must be finished before anything else goes out.
    pub fn started(&self) -> bool {
        self.written > 0
    }

    /// What is left to write, as up to two slices.
    pub fn remaining(&self) -> (&[u8], &[u8]) {
        let head_len = self.head_len as usize;
        if self.written < head_len {
            (&self.head[self.written..head_len], &self.payload)
        } else {
            (&[], &self.payload[self.written - head_len..])
        }
    }

    /// Records `n` more bytes written; returns the bytes `n` did not need (this frame is done
    /// when that is Some).
    pub fn advance(&mut self, n: usize) -> Option<usize> {
        let total = self.head_len as usize + self.payload.len();
        let left = total - self.written;
        if n >= left {
            self.written = total;
            Some(n - left)
        } else {
            self.written += n;
            None
        }
    }
}

/// XORs `data` with the 4-byte mask (RFC 6455 §5.3), eight bytes at a time.
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let wide = wide_mask(mask);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// Reads a received close frame's payload: (code, reason), or why it is invalid and the close
/// code that answers it.
pub fn parse_close(payload: &[u8]) -> Result<(CloseCode, String), (String, CloseCode)> {
    match payload.len() {
        0 => Ok((CloseCode::NO_STATUS, String::new())),
        1 => Err(("close frame with a 1-byte payload".into(), CloseCode::PROTOCOL_ERROR)),
        _ => {
            let code = u16::from_be_bytes([payload[0], payload[1]]);
            let Some(code) = CloseCode::from_wire(code) else {
                return Err((format!("close frame with invalid code {}", code), CloseCode::PROTOCOL_ERROR));
            };
            match std::str::from_utf8(&payload[2..]) {
                Ok(reason) => Ok((code, reason.to_string())),
                Err(_) => Err(("close frame reason is not valid UTF-8".into(), CloseCode::INVALID_PAYLOAD)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_copy_is_the_bytes_masked_bytewise() {
        for len in [0usize, 1, 3, 4, 7, 8, 9, 15, 16, 17, 1000, 65_537] {
            let src: Vec<u8> = (0..len).map(|i| (i * 7 % 256) as u8).collect();
            let m = Masked::copy(&src);
            assert_eq!(m.len(), len);
            let want: Vec<u8> = src.iter().enumerate().map(|(i, b)| b ^ m.mask[i % 4]).collect();
            assert_eq!(m.data, want, "{}", len);
            assert_eq!(m.clone_plain(), src);
            assert_eq!(m.into_plain(), src);
        }
    }

    #[test]
    fn mask_matches_the_bytewise_definition() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for len in 0..40 {
            let data: Vec<u8> = (0..len as u8).collect();
            let mut fast = data.clone();
            apply_mask(&mut fast, mask);
            let slow: Vec<u8> = data.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn frames_parse_back_with_tungstenite() {
        for len in [0usize, 125, 126, 65535, 65536] {
            let mut f = OutFrame::data(true, true, vec![b'a'; len]);
            let (head, payload) = f.remaining();
            let bytes = [head, payload].concat();
            let mut c = Cursor::new(&bytes);
            let (h, n) = FrameHeader::parse(&mut c).unwrap().unwrap();
            assert_eq!(n as usize, len);
            assert!(h.is_final && h.rsv1 && h.mask.is_some());
            let mut body = bytes[c.position() as usize..].to_vec();
            apply_mask(&mut body, h.mask.unwrap());
            assert!(body.iter().all(|&b| b == b'a'));
            assert_eq!(f.advance(bytes.len() + 3), Some(3));
        }
    }

    #[test]
    fn close_payload_rules() {
        assert_eq!(parse_close(&[]), Ok((CloseCode::NO_STATUS, String::new())));
        assert_eq!(parse_close(&[0x03, 0xe8, b'o', b'k']), Ok((CloseCode::NORMAL, "ok".into())));
        assert_eq!(parse_close(&[0x03]).unwrap_err().1, CloseCode::PROTOCOL_ERROR);
        assert_eq!(parse_close(&999u16.to_be_bytes()).unwrap_err().1, CloseCode::PROTOCOL_ERROR);
        assert_eq!(parse_close(&1005u16.to_be_bytes()).unwrap_err().1, CloseCode::PROTOCOL_ERROR);
        assert_eq!(parse_close(&[0x03, 0xe8, 0xff]).unwrap_err().1, CloseCode::INVALID_PAYLOAD);
        assert!(parse_close(&4999u16.to_be_bytes()).is_ok());
    }
}
