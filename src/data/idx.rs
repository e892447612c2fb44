//! Reader for the IDX format of MNIST and Fashion-MNIST, gzipped or raw.
//!
//! An IDX file is `00 00 <type> <rank>`, then `rank` big-endian `u32`
//! dimensions, then the payload in row-major order. Only unsigned bytes
//! (`type = 0x08`) are accepted, the only type these data sets use. The payload
//! size the header claims is checked against a bound *before* anything is
//! allocated, and against the bytes actually present afterwards, so a corrupt
//! or hostile header can neither exhaust memory nor go unnoticed.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use anyhow::{bail, Context, Result};
use flate2::read::GzDecoder;

/// Largest payload accepted (1 GiB): MNIST's largest file holds 47 MB.
pub const MAX_PAYLOAD_BYTES: u64 = 1 << 30;

const UBYTE: u8 = 0x08;
/// The first two bytes of a gzip stream (RFC 1952), whatever the file name.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    /// Dimensions, outermost first (`[count, rows, cols]` for images).
    pub dims: Vec<usize>,
    /// Row-major payload, `dims.iter().product()` bytes.
    pub data: Vec<u8>,
}

impl IdxArray {
    /// Encodes the array as an (uncompressed) IDX file of unsigned bytes, the
    /// inverse of [`parse_idx`]: for writing one's own images in MNIST's
    /// format. Errors when the rank exceeds 255, a dimension exceeds
    /// `u32::MAX`, or `data` does not hold `dims.iter().product()` bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let Ok(rank) = u8::try_from(self.dims.len()) else {
            bail!(
                "IDX rank {} is more than the 255 the header can hold",
                self.dims.len()
            );
        };
        let want: usize = self.dims.iter().product();
        if want != self.data.len() {
            bail!(
                "dimensions {:?} need {want} bytes, the array holds {}",
                self.dims,
                self.data.len()
            );
        }
        let mut out = Vec::with_capacity(4 + 4 * self.dims.len() + self.data.len());
        out.extend_from_slice(&[0, 0, UBYTE, rank]);
        for &d in &self.dims {
            let Ok(d) = u32::try_from(d) else {
                bail!("IDX dimension {d} is more than the u32 the header can hold");
            };
            out.extend_from_slice(&d.to_be_bytes());
        }
        out.extend_from_slice(&self.data);
        Ok(out)
    }
}

/// Reads an IDX file, gunzipping it when it starts with the gzip magic bytes.
/// Errors name the file and what is wrong with it.
pub fn read_idx_file(path: &Path) -> Result<IdxArray> {
    let file =
        File::open(path).with_context(|| format!("cannot open IDX file {}", path.display()))?;
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut reader, &mut magic)
        .with_context(|| format!("cannot read IDX file {}", path.display()))?;
    let head = std::io::Cursor::new(magic[..n].to_vec()).chain(reader);
    let parsed = if n == 2 && magic == GZIP_MAGIC {
        parse_idx(GzDecoder::new(head))
    } else {
        parse_idx(head)
    };
    parsed.with_context(|| format!("invalid IDX file {}", path.display()))
}

/// Parses an IDX stream (already decompressed). Never panics and never
/// allocates more than the claimed payload, itself bounded by [`MAX_PAYLOAD_BYTES`].
pub fn parse_idx(mut reader: impl Read) -> Result<IdxArray> {
    let mut magic = [0u8; 4];
    let n = read_up_to(&mut reader, &mut magic).context("read error in the header")?;
    if n < 4 {
        bail!(
            "file too short: {n} bytes, an IDX header needs at least 4 (empty or truncated file?)"
        );
    }
    if magic[0] != 0 || magic[1] != 0 {
        bail!(
            "wrong magic number {:02x} {:02x} {:02x} {:02x}: an IDX file starts with 00 00 <type> <rank> \
             (is this an IDX file?)",
            magic[0], magic[1], magic[2], magic[3]
        );
    }
    if magic[2] != UBYTE {
        bail!(
            "unsupported IDX element type 0x{:02x}: only unsigned bytes (0x08) are supported",
            magic[2]
        );
    }
    let rank = magic[3] as usize;
    if rank == 0 {
        bail!("IDX rank is 0: expected 1 (labels) or 3 (images)");
    }
    let mut dims = Vec::with_capacity(rank);
    let mut payload: u64 = 1;
    for i in 0..rank {
        let mut b = [0u8; 4];
        let got = read_up_to(&mut reader, &mut b).context("read error in the header")?;
        if got < 4 {
            bail!("truncated header: dimension {i} of {rank} is missing");
        }
        let d = u32::from_be_bytes(b) as u64;
        payload = payload.saturating_mul(d);
        dims.push(d as usize);
    }
    if payload > MAX_PAYLOAD_BYTES {
        bail!(
            "header claims dimensions {dims:?} = {payload} bytes, more than the {} bytes this reader accepts",
            MAX_PAYLOAD_BYTES
        );
    }
    let mut data = Vec::with_capacity(payload as usize);
    (&mut reader)
        .take(payload + 1)
        .read_to_end(&mut data)
        .context("read error in the payload (corrupt gzip stream?)")?;
    if (data.len() as u64) < payload {
        bail!(
            "truncated payload: header dimensions {dims:?} need {payload} bytes, the file has {}",
            data.len()
        );
    }
    if data.len() as u64 > payload {
        bail!("trailing bytes after the {payload}-byte payload that header dimensions {dims:?} describe");
    }
    Ok(IdxArray { dims, data })
}

/// Fills `buf` as far as the stream allows; returns the number of bytes read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(dims: &[u32], payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 0, UBYTE, dims.len() as u8];
        for d in dims {
            v.extend_from_slice(&d.to_be_bytes());
        }
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn parses_a_small_array() {
        let a = parse_idx(&idx(&[2, 3], &[1, 2, 3, 4, 5, 6])[..]).unwrap();
        assert_eq!(a.dims, vec![2, 3]);
        assert_eq!(a.data, vec![1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn to_bytes_is_the_inverse_of_parse() {
        let a = IdxArray {
            dims: vec![2, 1, 3],
            data: vec![0, 1, 2, 253, 254, 255],
        };
        let bytes = a.to_bytes().unwrap();
        assert_eq!(bytes, idx(&[2, 1, 3], &a.data));
        assert_eq!(parse_idx(&bytes[..]).unwrap(), a);
        let short = IdxArray {
            dims: vec![2, 2],
            data: vec![0; 3],
        };
        assert!(format!("{:#}", short.to_bytes().unwrap_err()).contains("need 4 bytes"));
    }

    #[test]
    fn rejects_bad_inputs_with_reasons() {
        let err = |bytes: &[u8]| format!("{:#}", parse_idx(bytes).unwrap_err());
        assert!(err(&[]).contains("file too short: 0 bytes"));
        assert!(err(&[1, 2, 3, 4]).contains("wrong magic number"));
        assert!(err(&[0, 0, 0x0d, 1, 0, 0, 0, 1]).contains("unsupported IDX element type 0x0d"));
        assert!(err(&[0, 0, 8, 3, 0, 0]).contains("truncated header: dimension 0 of 3"));
        assert!(err(&idx(&[2, 3], &[1, 2])).contains("truncated payload"));
        assert!(err(&idx(&[1], &[1, 2])).contains("trailing bytes"));
        // 10^12 images are refused before any allocation.
        assert!(err(&idx(&[1_000_000, 1_000_000, 784], &[])).contains("more than the"));
    }
}
