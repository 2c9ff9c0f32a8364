//! The few protobuf encodings an event file needs, written by hand: varints, and fields of
//! doubles, floats, integers, bytes and nested messages.

/// A protobuf message being written.
#[derive(Default)]
pub(crate) struct Message(Vec<u8>);

impl Message {
    pub fn new() -> Self {
        Message(Vec::new())
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn key(&mut self, field: u32, wire: u8) {
        self.varint(u64::from(field) << 3 | u64::from(wire));
    }

    /// A `double` field (wire type 1).
    pub fn double(mut self, field: u32, v: f64) -> Self {
        self.key(field, 1);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `float` field (wire type 5).
    pub fn float(mut self, field: u32, v: f32) -> Self {
        self.key(field, 5);
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// An `int64` or enum field (a varint; negative values as ten bytes, as protobuf does).
    pub fn int(mut self, field: u32, v: i64) -> Self {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }

    /// A `bytes` or `string` field.
    pub fn bytes(mut self, field: u32, v: &[u8]) -> Self {
        self.key(field, 2);
        self.varint(v.len() as u64);
        self.0.extend_from_slice(v);
        self
    }

    /// A nested message field.
    pub fn message(self, field: u32, m: Message) -> Self {
        self.bytes(field, &m.0)
    }

    /// A packed `repeated double` field.
    pub fn doubles(self, field: u32, vs: &[f64]) -> Self {
        let packed: Vec<u8> = vs.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.bytes(field, &packed)
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes checked against protobuf's encoding rules by hand.
    #[test]
    fn fields_encode_as_protobuf_does() {
        let m = Message::new()
            .int(2, 300)
            .bytes(1, b"hi")
            .float(2, 1.0)
            .message(5, Message::new().int(1, 1))
            .int(3, -1);
        let mut expected = vec![
            0x10, 0xac, 0x02, 0x0a, 2, b'h', b'i', 0x15, 0, 0, 0x80, 0x3f,
        ];
        expected.extend([0x2a, 2, 0x08, 1]);
        expected.extend([
            0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert_eq!(m.into_bytes(), expected);
        let d = Message::new().doubles(6, &[1.0]).into_bytes();
        assert_eq!(d[..2], [0x32, 8]);
        assert_eq!(d[2..], 1.0f64.to_le_bytes());
    }
}
