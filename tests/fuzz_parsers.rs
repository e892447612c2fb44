//! Property-based fuzzing of the file parsers: whatever the bytes, they return
//! a value or an error — never a panic, a hang or an unbounded allocation.
//! `PROPTEST_CASES=N` sets the number of inputs (256 by default, as in CI).

use std::io::Write;

use proptest::prelude::*;
use tchport::data::idx::{parse_idx, read_idx_file, MAX_PAYLOAD_BYTES};

fn header(rank: u8, dims: &[u32]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, rank];
    for d in dims {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

proptest! {
    #[test]
    fn idx_parser_survives_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_idx(&bytes[..]);
    }

    #[test]
    fn idx_parser_survives_plausible_headers(
        dims in proptest::collection::vec(any::<u32>(), 0..5),
        extra_rank in 0u8..3,
        payload in proptest::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut bytes = header(dims.len() as u8 + extra_rank, &dims);
        bytes.extend_from_slice(&payload);
        let claimed = dims.iter().fold(1u128, |acc, &d| acc * d as u128);
        match parse_idx(&bytes[..]) {
            Ok(a) => {
                // Only an exact, bounded payload is accepted.
                prop_assert_eq!(extra_rank, 0);
                prop_assert!(!dims.is_empty());
                prop_assert_eq!(a.data.len() as u128, claimed);
                prop_assert!(claimed <= MAX_PAYLOAD_BYTES as u128);
            }
            Err(e) => {
                let msg = format!("{e:#}");
                prop_assert!(!msg.is_empty());
            }
        }
    }

    #[test]
    fn gzipped_idx_files_survive_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512), gzip in any::<bool>()) {
        let dir = std::env::temp_dir().join(format!("tchport-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let path = dir.join("input");
        let content = if gzip {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&bytes).expect("gzip in memory");
            let mut z = e.finish().expect("gzip in memory");
            let cut = bytes.first().map_or(z.len(), |&b| z.len() * (b as usize % 4 + 1) / 4);
            z.truncate(cut.max(2));
            z
        } else {
            let mut z = vec![0x1f, 0x8b];
            z.extend_from_slice(&bytes);
            z
        };
        std::fs::write(&path, content).expect("write");
        if let Err(e) = read_idx_file(&path) {
            let msg = format!("{e:#}");
            prop_assert!(msg.contains("input"), "the error names the file: {}", msg);
        }
    }
}
