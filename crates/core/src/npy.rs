//! Owns the numpy `.npy` format: headers written (format 1.0) and parsed (1.0 to 3.0).

/// A `.npy` (format 1.0) header for a C-order array of `descr` (e.g. `|u1`, `<u4`) and `shape`.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_text = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // magic (6) + version (2) + length (2) + dict + '\n' is a multiple of 64.
    while (10 + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Parses a `.npy` (format 1.0/2.0) header: returns (descr, shape, data offset).
pub fn parse_npy(bytes: &[u8]) -> Result<(String, Vec<usize>, usize), String> {
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err("not a .npy array".into());
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        ),
        v => return Err(format!("unsupported .npy version {v}")),
    };
    let header = std::str::from_utf8(
        bytes
            .get(start..start + len)
            .ok_or("truncated .npy header")?,
    )
    .map_err(|_| "non-UTF-8 .npy header")?;
    let field = |key: &str| -> Result<&str, String> {
        let at = header
            .find(key)
            .ok_or(format!("{key} missing in .npy header"))?
            + key.len();
        Ok(header[at..].trim_start_matches([':', ' ', '\'']))
    };
    let descr = field("'descr'")?;
    let descr = descr[..descr.find('\'').ok_or("bad descr")?].to_string();
    if field("'fortran_order'")?.starts_with("True") {
        return Err("Fortran-order arrays are not supported".into());
    }
    let shape = field("'shape'")?;
    let shape =
        &shape[shape.find('(').ok_or("bad shape")? + 1..shape.find(')').ok_or("bad shape")?];
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.parse::<usize>()
                .map_err(|_| format!("bad dimension {d:?}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((descr, shape, start + len))
}

/// A whole `.npy` file (format 1.0) for a C-order array: the header, then `data` (already in
/// the byte order `descr` names).
pub fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = npy_header(descr, shape);
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_is_padded_to_64_bytes() {
        let bytes = npy_bytes("<f4", &[3, 2], &[0u8; 24]);
        let (descr, shape, offset) = parse_npy(&bytes).unwrap();
        assert_eq!((descr.as_str(), shape), ("<f4", vec![3, 2]));
        assert_eq!(offset % 64, 0);
        assert_eq!(bytes.len(), offset + 24);
        let (_, shape, _) = parse_npy(&npy_header("|u1", &[5])).unwrap();
        assert_eq!(shape, vec![5]);
    }
}
