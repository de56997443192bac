//! The protobuf wire primitives the `CheckResponse` writer is built from: field numbers, and
//! each field's length and bytes as prost writes them (proto3's rules for what is left off).

use prost::bytes::BufMut;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, key_len};

/// Field numbers from `proto/envoy/service/auth/v3/external_auth.proto`,
/// `proto/envoy/config/core/v3/header_value.proto`, `proto/envoy/type/v3/http_status.proto`,
/// `proto/google/rpc/status.proto` and protobuf's `struct.proto`.
pub(super) mod field {
    /// `CheckResponse.status`, `.denied_response`, `.ok_response`, `.dynamic_metadata`
    pub const STATUS: u32 = 1;
    pub const DENIED: u32 = 2;
    pub const OK: u32 = 3;
    pub const DYNAMIC_METADATA: u32 = 4;
    /// `google.rpc.Status.code` and `envoy.type.v3.HttpStatus.code`
    pub const CODE: u32 = 1;
    /// `DeniedHttpResponse.status`, `.headers`, `.body`
    pub const DENIED_STATUS: u32 = 1;
    pub const DENIED_HEADERS: u32 = 2;
    pub const BODY: u32 = 3;
    /// `OkHttpResponse.headers`, `.headers_to_remove`, `.query_parameters_to_remove`
    pub const OK_HEADERS: u32 = 2;
    pub const HEADERS_TO_REMOVE: u32 = 5;
    pub const QUERY_TO_REMOVE: u32 = 8;
    /// `HeaderValueOption.header`, `.append_action`
    pub const HEADER: u32 = 1;
    pub const APPEND_ACTION: u32 = 3;
    /// `HeaderValue.key`, `.value`
    pub const KEY: u32 = 1;
    pub const VALUE: u32 = 2;
    /// `Struct.fields`, and its entries' key and value
    pub const FIELDS: u32 = 1;
    pub const ENTRY_KEY: u32 = 1;
    pub const ENTRY_VALUE: u32 = 2;
    /// `Value.string_value`, `.struct_value`
    pub const STRING_VALUE: u32 = 3;
    pub const STRUCT_VALUE: u32 = 5;
}

/// `HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD`
pub(super) const OVERWRITE_IF_EXISTS_OR_ADD: u64 = 2;
/// `google.rpc.Code.OK`
pub(super) const GRPC_OK: i32 = 0;

/// protobuf writes a negative `int32` as its 64-bit two's complement.
pub(super) fn int32(v: i32) -> u64 {
    i64::from(v) as u64
}

pub(super) fn status_len(code: i32) -> usize {
    delimited_len(field::STATUS, varint_len(field::CODE, int32(code)))
}

/// `status` is always sent, even when its code is OK and the message is empty.
pub(super) fn put_status(code: i32, out: &mut impl BufMut) {
    put_delimited(field::STATUS, varint_len(field::CODE, int32(code)), out);
    put_varint(field::CODE, int32(code), out);
}

/// A singular varint field: proto3 leaves zero off the wire.
pub(super) fn varint_len(tag: u32, v: u64) -> usize {
    if v == 0 {
        0
    } else {
        key_len(tag) + encoded_len_varint(v)
    }
}

pub(super) fn put_varint(tag: u32, v: u64, out: &mut impl BufMut) {
    if v != 0 {
        encode_key(tag, WireType::Varint, out);
        encode_varint(v, out);
    }
}

pub(super) fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

pub(super) fn put_delimited(tag: u32, len: usize, out: &mut impl BufMut) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(len as u64, out);
}

/// A repeated or oneof string: written even when empty.
pub(super) fn put_bytes(tag: u32, bytes: &[u8], out: &mut impl BufMut) {
    put_delimited(tag, bytes.len(), out);
    out.put_slice(bytes);
}

/// A singular string: proto3 leaves the empty string off the wire.
pub(super) fn optional_len(tag: u32, bytes: &[u8]) -> usize {
    if bytes.is_empty() {
        0
    } else {
        delimited_len(tag, bytes.len())
    }
}

pub(super) fn put_optional(tag: u32, bytes: &[u8], out: &mut impl BufMut) {
    if !bytes.is_empty() {
        put_bytes(tag, bytes, out);
    }
}

/// A `HeaderValueOption` that overwrites: its length, without its own key and length.
pub(super) fn header_option_len(key: &str, value: &str) -> usize {
    let header =
        optional_len(field::KEY, key.as_bytes()) + optional_len(field::VALUE, value.as_bytes());
    delimited_len(field::HEADER, header)
        + varint_len(field::APPEND_ACTION, OVERWRITE_IF_EXISTS_OR_ADD)
}

pub(super) fn put_header_option(tag: u32, key: &str, value: &str, out: &mut impl BufMut) {
    let header =
        optional_len(field::KEY, key.as_bytes()) + optional_len(field::VALUE, value.as_bytes());
    put_delimited(tag, header_option_len(key, value), out);
    put_delimited(field::HEADER, header, out);
    put_optional(field::KEY, key.as_bytes(), out);
    put_optional(field::VALUE, value.as_bytes(), out);
    put_varint(field::APPEND_ACTION, OVERWRITE_IF_EXISTS_OR_ADD, out);
}

/// One `Struct.fields` entry whose `Value` is `kind` holding `value_len` bytes, with its key.
pub(super) fn entry_len(key: &str, kind: u32, value_len: usize) -> usize {
    let value = delimited_len(kind, value_len);
    let entry =
        optional_len(field::ENTRY_KEY, key.as_bytes()) + delimited_len(field::ENTRY_VALUE, value);
    delimited_len(field::FIELDS, entry)
}

pub(super) fn put_entry(key: &str, kind: u32, value: &[u8], out: &mut impl BufMut) {
    let value_len = delimited_len(kind, value.len());
    let entry = optional_len(field::ENTRY_KEY, key.as_bytes())
        + delimited_len(field::ENTRY_VALUE, value_len);
    put_delimited(field::FIELDS, entry, out);
    put_optional(field::ENTRY_KEY, key.as_bytes(), out);
    put_delimited(field::ENTRY_VALUE, value_len, out);
    // A oneof member is written even when empty.
    put_bytes(kind, value, out);
}
