//! Reading one IDX file (raw or gzip-compressed): header check, then exactly the announced bytes.

use std::{
    fs::File,
    io::{self, BufRead, BufReader, Read},
    path::{Path, PathBuf},
};

use flate2::bufread::GzDecoder;

use crate::data::DataError;

/// Magic number of an IDX file of unsigned bytes with one dimension (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;
/// Magic number of an IDX file of unsigned bytes with three dimensions (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Images read from an IDX file: `count` images of `rows × cols` bytes, one after the other.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxImages {
    /// Number of images.
    pub count: usize,
    /// Rows per image.
    pub rows: usize,
    /// Columns per image.
    pub cols: usize,
    /// `count × rows × cols` pixels, row-major.
    pub pixels: Vec<u8>,
}

/// Reads an IDX image file (magic `0x00000803`, dimensions count, rows, cols as big-endian `u32`).
///
/// The file may be raw or gzip-compressed (recognised by its first bytes, whatever its name).
/// Errors on a wrong magic number, a file shorter or longer than its header announces, zero
/// dimensions, and I/O failures; each error names the file.
pub fn read_idx_images(path: impl AsRef<Path>) -> Result<IdxImages, DataError> {
    let path = path.as_ref();
    let (dims, pixels) = read_idx(path, "images", IDX_IMAGES_MAGIC, 3)?;
    Ok(IdxImages { count: dims[0] as usize, rows: dims[1] as usize, cols: dims[2] as usize, pixels })
}

/// Reads an IDX label file (magic `0x00000801`, one big-endian `u32` count): one byte per label.
///
/// Same checks as [`read_idx_images`]; the labels' range is checked by the caller, who knows the
/// number of classes.
pub fn read_idx_labels(path: impl AsRef<Path>) -> Result<Vec<u8>, DataError> {
    Ok(read_idx(path.as_ref(), "labels", IDX_LABELS_MAGIC, 1)?.1)
}

/// Reads the header (magic + `ndims` big-endian dimensions) and exactly the payload it announces.
fn read_idx(
    path: &Path,
    kind: &'static str,
    magic: u32,
    ndims: usize,
) -> Result<(Vec<u32>, Vec<u8>), DataError> {
    let io_err = |source: io::Error| DataError::Io { path: path.to_path_buf(), source };
    let mut reader = open(path).map_err(io_err)?;

    let header_len = 4 + 4 * ndims;
    let mut header = vec![0u8; header_len];
    let got = read_up_to(&mut reader, &mut header).map_err(io_err)?;
    let truncated = |found: usize| DataError::Truncated {
        path: path.to_path_buf(),
        expected: header_len as u64,
        found: found as u64,
    };
    if got < 4 {
        return Err(truncated(got));
    }
    let found_magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    if found_magic != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            kind,
            found: found_magic,
            expected: magic,
        });
    }
    if got < header_len {
        return Err(truncated(got));
    }
    let dims: Vec<u32> =
        header[4..].chunks_exact(4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect();
    if dims.contains(&0) {
        return Err(DataError::EmptyFile { path: path.to_path_buf(), dims });
    }
    let payload_len = dims.iter().fold(1u64, |acc, &d| acc.saturating_mul(u64::from(d)));
    let expected = payload_len.saturating_add(header_len as u64);

    // Read one byte more than announced to detect trailing data; never trust the header for the
    // allocation size beyond a sane bound (a corrupt header must not reserve terabytes).
    let mut payload = Vec::with_capacity(payload_len.min(1 << 28) as usize);
    (&mut reader).take(payload_len.saturating_add(1)).read_to_end(&mut payload).map_err(io_err)?;
    let found = header_len as u64 + payload.len() as u64;
    if (payload.len() as u64) < payload_len {
        return Err(DataError::Truncated { path: path.to_path_buf(), expected, found });
    }
    if payload.len() as u64 > payload_len {
        let rest = io::copy(&mut reader, &mut io::sink()).map_err(io_err)?;
        return Err(DataError::TrailingBytes { path: path.to_path_buf(), expected, found: found + rest });
    }
    Ok((dims, payload))
}

/// Opens `path`, decompressing on the fly when it starts with the gzip magic bytes.
fn open(path: &Path) -> io::Result<Box<dyn Read>> {
    let mut file = BufReader::new(File::open(path)?);
    let starts_gzip = file.fill_buf()?.starts_with(&GZIP_MAGIC);
    Ok(if starts_gzip { Box::new(GzDecoder::new(file)) } else { Box::new(file) })
}

/// Fills `buf` as far as the stream allows; returns the number of bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// `dir/stem` if it exists, else `dir/stem.gz`, else [`DataError::MissingFile`].
pub(super) fn find_idx_file(dir: &Path, stem: &'static str) -> Result<PathBuf, DataError> {
    let raw = dir.join(stem);
    if raw.is_file() {
        return Ok(raw);
    }
    let gz = dir.join(format!("{stem}.gz"));
    if gz.is_file() {
        return Ok(gz);
    }
    Err(DataError::MissingFile { dir: dir.to_path_buf(), stem })
}
