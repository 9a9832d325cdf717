//! The safetensors shard codec (`shard-NNNNN.safetensors`): written by hand, streaming, and
//! read with the `safetensors` crate.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::codec::{Dtype, ShardCodec, ShardData, ShardRows, Tensor};
use crate::CollectError;

/// safetensors shards: an 8-byte little-endian header length, a JSON header (tensors in
/// file order, padded with spaces so the data starts 8-byte aligned), then the tensors' data
/// back to back.
pub(crate) struct Safetensors;

impl ShardCodec for Safetensors {
    fn name(&self) -> &'static str {
        "safetensors"
    }

    // Written by hand rather than with the `safetensors` crate's serializer, for two reasons.
    // Memory: the rows of a shard are scattered over the frame store's slots, and here they
    // stream from the store through a 1 MiB buffer to the file (the sha256 is computed on the
    // way), so writing never holds more than one label row besides the buffer; the crate's
    // `serialize_to_file` takes each tensor as one contiguous `View::data()` slice, which for
    // `frames` means first gathering the whole shard's frame data (up to
    // `DEFAULT_SHARD_BYTES`) into memory. Bytes: the crate orders tensors by dtype, then
    // name, while this format's files are frozen with the tensors in `shard_layout` order.
    fn write_shard(
        &self,
        path: &Path,
        rows: &ShardRows<'_>,
    ) -> Result<(u64, String), CollectError> {
        let layout = rows.layout();
        let file = File::create(path).map_err(|e| CollectError::io("create", path, e))?;
        let mut w = HashingWriter {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            written: 0,
        };
        let io = |e| CollectError::io("write", path, e);
        w.write_all(&header(&layout)).map_err(io)?;
        for tensor in &layout {
            rows.write_column(tensor.column, &mut w).map_err(io)?;
        }
        w.flush().map_err(io)?;
        let written = w.written;
        let digest = w.hasher.finalize();
        let file = w.inner.into_inner().map_err(|e| io(e.into_error()))?;
        file.sync_all().map_err(io)?;
        Ok((written, hex::encode(digest)))
    }

    fn read_shard(&self, bytes: &[u8], layout: &[Tensor; 5]) -> Result<ShardData, String> {
        let st = ::safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| format!("not a valid safetensors file: {e}"))?;
        ShardData::decode(layout, |expected| {
            let name = expected.column.name();
            let dtype = match expected.dtype {
                Dtype::U8 => ::safetensors::Dtype::U8,
                Dtype::U32 => ::safetensors::Dtype::U32,
            };
            let shape = &expected.shape;
            let t = st
                .tensor(name)
                .map_err(|_| format!("tensor {name:?} missing"))?;
            if t.dtype() != dtype || t.shape() != shape.as_slice() {
                return Err(format!(
                    "tensor {name:?} is {:?} {:?}, expected {dtype:?} {shape:?}",
                    t.dtype(),
                    t.shape()
                ));
            }
            Ok(t.data().to_vec())
        })
    }
}

/// Dtype name in a safetensors header.
fn dtype_name(dtype: Dtype) -> &'static str {
    match dtype {
        Dtype::U8 => "U8",
        Dtype::U32 => "U32",
    }
}

/// Serialises a safetensors header (tensors in the given order; deterministic).
fn header(tensors: &[Tensor]) -> Vec<u8> {
    let mut json = String::from("{");
    let mut offset = 0usize;
    for (i, t) in tensors.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let shape: Vec<String> = t.shape.iter().map(|d| d.to_string()).collect();
        json.push_str(&format!(
            "\"{}\":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
            t.column.name(),
            dtype_name(t.dtype),
            shape.join(","),
            offset,
            offset + t.bytes()
        ));
        offset += t.bytes();
    }
    json.push('}');
    let mut bytes = json.into_bytes();
    // The data section starts 8-byte aligned; the format pads the header with spaces.
    while (8 + bytes.len()) % 8 != 0 {
        bytes.push(b' ');
    }
    let mut out = (bytes.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&bytes);
    out
}

/// A writer that hashes everything it writes.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
