//! Walking one protobuf message's fields in wire order, by prost's rules for what it skips and
//! what it refuses.

use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};

use super::Error;

/// The length-delimited fields of one message, in wire order, as their bytes. Fields of other
/// wire types are skipped by prost's own rules (groups included), unless they are among the
/// `delimited` ones: the fields the message is read for, and its maps (which prost would read
/// on as if length-delimited, so skipping them by their stated type would read otherwise).
pub(super) struct Fields<'a> {
    buf: &'a [u8],
    message: &'static str,
    delimited: &'static [u32],
}

impl<'a> Fields<'a> {
    pub(super) fn new(
        buf: &'a [u8],
        message: &'static str,
        delimited: &'static [u32],
    ) -> Fields<'a> {
        Fields {
            buf,
            message,
            delimited,
        }
    }

    pub(super) fn next(&mut self) -> Result<Option<(u32, &'a [u8])>, Error> {
        while !self.buf.is_empty() {
            let (tag, wire_type) = decode_key(&mut self.buf)?;
            if wire_type == WireType::LengthDelimited {
                let len = decode_varint(&mut self.buf)?;
                let len = usize::try_from(len).map_err(|_| Error::Truncated)?;
                if len > self.buf.len() {
                    return Err(Error::Truncated);
                }
                let (value, rest) = self.buf.split_at(len);
                self.buf = rest;
                return Ok(Some((tag, value)));
            }
            if self.delimited.contains(&tag) {
                return Err(Error::WireType {
                    message: self.message,
                    field: tag,
                    wire_type,
                });
            }
            // A fresh context allows at least the depth prost has left here, so nothing prost
            // accepts is refused.
            skip_field(wire_type, tag, &mut self.buf, DecodeContext::default())?;
        }
        Ok(None)
    }
}
