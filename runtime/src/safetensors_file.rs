//! Saying in words why a file is not readable safetensors: the `safetensors` crate reports only a
//! variant name (`MetadataIncompleteBuffer`, `HeaderTooLarge`), which does not tell a user whether
//! the file is cut short, not a safetensors file at all, or corrupt.
//!
//! A safetensors file is an 8-byte little-endian header length `n`, `n` bytes of JSON header, then
//! the tensor data, whose extent the header's `data_offsets` give.

use safetensors::SafeTensorError;

/// The largest header the `safetensors` crate reads (100 MB).
const MAX_HEADER: u64 = 100_000_000;

/// What is wrong with `bytes`, which `SafeTensors::deserialize` refused with `error`, in words
/// (no path, no advice: the caller adds both).
pub(crate) fn describe(bytes: &[u8], error: &SafeTensorError) -> String {
    let len = bytes.len();
    if len < 8 {
        return format!(
            "the file holds only {len} byte(s); a safetensors file starts with an 8-byte header length, so it is \
             empty, truncated or not a safetensors file"
        );
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if n > MAX_HEADER {
        return format!(
            "it is not a safetensors file (or it is corrupt): its first 8 bytes announce a header of {n} bytes, \
             more than the 100 MB a safetensors header may have{}",
            looks_like(bytes)
        );
    }
    let header_end = 8 + n;
    if len > 8 && bytes[8] != b'{' {
        return format!(
            "it is not a safetensors file (or it is corrupt): after the 8-byte header length comes no JSON \
             header{}",
            looks_like(bytes)
        );
    }
    if header_end > len as u64 {
        return format!(
            "it is truncated: its header announces {n} bytes of JSON header, but the file holds only {len} bytes \
             (header length included)"
        );
    }
    let header = &bytes[8..header_end as usize];
    let json = match std::str::from_utf8(header) {
        Ok(text) if text.starts_with('{') => serde_json::from_str::<serde_json::Value>(text).ok(),
        _ => None,
    };
    let Some(json) = json else {
        return format!(
            "it is not a safetensors file (or it is corrupt): the {n} bytes after the header length are not a \
             JSON object{}",
            looks_like(bytes)
        );
    };
    let data_end = json
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| name.as_str() != "__metadata__")
        .filter_map(|(_, info)| info.get("data_offsets")?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    let expected = header_end + data_end;
    match error {
        SafeTensorError::MetadataIncompleteBuffer if (len as u64) < expected => format!(
            "it is truncated: its header says the file is {expected} bytes long, but it holds {len} bytes"
        ),
        SafeTensorError::MetadataIncompleteBuffer => format!(
            "it holds {} bytes more than its header describes ({expected} bytes); it is corrupt",
            len as u64 - expected
        ),
        SafeTensorError::InvalidOffset(name) => format!(
            "it is corrupt: the header gives tensor `{name}` data offsets that do not follow the tensor before it"
        ),
        SafeTensorError::TensorInvalidInfo | SafeTensorError::ValidationOverflow => {
            "it is corrupt: a tensor's shape and dtype do not match the bytes its header gives it".to_string()
        }
        other => format!("it is not a valid safetensors file ({other:?})"),
    }
}

/// A hint at what the file is when it is not safetensors (text, or a gzip or zip archive).
fn looks_like(bytes: &[u8]) -> &'static str {
    match bytes {
        [0x1f, 0x8b, ..] => " (it starts like a gzip file)",
        [b'P', b'K', 3, 4, ..] => " (it starts like a zip archive, e.g. a PyTorch .pt/.pth checkpoint)",
        [0x80, 2..=5, ..] => " (it starts like a Python pickle, e.g. a PyTorch checkpoint)",
        _ if bytes.iter().take(64).all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace()) => {
            " (it starts like a text file)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use safetensors::tensor::{serialize, Dtype, TensorView};
    use safetensors::SafeTensors;

    fn valid() -> Vec<u8> {
        let data: Vec<u8> = (0..24u8).collect();
        let view = TensorView::new(Dtype::F32, vec![2, 3], &data).unwrap();
        serialize([("weight", view)], &None).unwrap()
    }

    fn message(bytes: &[u8]) -> String {
        let error = SafeTensors::deserialize(bytes).err().expect("the bytes are not readable");
        describe(bytes, &error)
    }

    #[test]
    fn each_kind_of_damage_is_described() {
        let full = valid();
        let len = full.len();
        let cases: Vec<(Vec<u8>, String)> = vec![
            (vec![1, 2, 3], "holds only 3 byte(s)".into()),
            (full[..len - 5].to_vec(), format!("truncated: its header says the file is {len} bytes long, but it holds {}", len - 5)),
            (full[..20].to_vec(), "truncated: its header announces".into()),
            ([full.clone(), vec![0; 4]].concat(), "4 bytes more than its header describes".into()),
            (b"hello, this is a text file and certainly not safetensors".to_vec(), "not a safetensors file (or it is corrupt)".into()),
            (vec![0x50, 0x4b, 3, 4, 0, 0, 0, 0, 0, 0], "zip archive".into()),
            ([16u64.to_le_bytes().to_vec(), vec![0xff; 16]].concat(), "after the 8-byte header length comes no JSON header".into()),
            ([10u64.to_le_bytes().to_vec(), b"{not json}".to_vec()].concat(), "the 10 bytes after the header length are not a JSON object".into()),
        ];
        for (bytes, needle) in cases {
            let text = message(&bytes);
            assert!(text.contains(&needle), "{text}\n(wanted {needle})");
        }
        assert!(SafeTensors::deserialize(&full).is_ok());
    }
}
