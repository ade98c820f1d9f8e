//! A minimal Matroska writer for uncompressed RGB24 frames with their own timestamps: how
//! frames reach the encoder (`ffmpeg -f matroska -i pipe:0`).
//!
//! Why not `-f rawvideo`: a raw pipe has no timestamps, so ffmpeg would stamp frames at a fixed
//! rate and a variable-frame-rate input would come out with different timing. Matroska carries
//! a timestamp per frame, ffmpeg reads `V_UNCOMPRESSED` with an `RGB\x18` colour-space FourCC as
//! RGB24, and the framing is a few dozen bytes per frame (one cluster per frame, because a
//! block's time is a 16-bit offset from its cluster's).

use std::io::{self, Write};

/// Timestamps are in microseconds (`TimestampScale` is in nanoseconds).
const TIMESTAMP_SCALE_NS: u64 = 1_000;

/// An EBML element: ID bytes (with their length marker, as in the specification) and payload.
fn element(id: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(id.len() + 8 + payload.len());
    out.extend_from_slice(id);
    out.extend_from_slice(&size_vint(payload.len() as u64));
    out.extend_from_slice(payload);
    out
}

/// An 8-byte EBML size (always 8 bytes: simple, and valid for any size below 2^56 - 1).
fn size_vint(size: u64) -> [u8; 8] {
    let v = size | (1u64 << 56);
    v.to_be_bytes()
}

fn uint(id: &[u8], v: u64) -> Vec<u8> {
    element(id, &v.to_be_bytes())
}

fn string(id: &[u8], s: &str) -> Vec<u8> {
    element(id, s.as_bytes())
}

/// The stream header: EBML header, a segment of unknown size, segment info and one video track.
/// `frame_duration_ns` (the source's nominal frame duration) is each frame's duration unless
/// the next timestamp says otherwise; without it the last frame would last no time at all.
pub fn header(width: u32, height: u32, frame_duration_ns: Option<u64>) -> Vec<u8> {
    let ebml = [
        uint(&[0x42, 0x86], 1),            // EBMLVersion
        uint(&[0x42, 0xF7], 1),            // EBMLReadVersion
        uint(&[0x42, 0xF2], 4),            // EBMLMaxIDLength
        uint(&[0x42, 0xF3], 8),            // EBMLMaxSizeLength
        string(&[0x42, 0x82], "matroska"), // DocType
        uint(&[0x42, 0x87], 4),            // DocTypeVersion
        uint(&[0x42, 0x85], 2),            // DocTypeReadVersion
    ]
    .concat();
    let info = [
        uint(&[0x2A, 0xD7, 0xB1], TIMESTAMP_SCALE_NS), // TimestampScale
        string(&[0x4D, 0x80], "centerscope"),          // MuxingApp
        string(&[0x57, 0x41], "centerscope"),          // WritingApp
    ]
    .concat();
    let video = [
        uint(&[0xB0], width.into()),              // PixelWidth
        uint(&[0xBA], height.into()),             // PixelHeight
        element(&[0x2E, 0xB5, 0x24], b"RGB\x18"), // ColourSpace (FourCC)
    ]
    .concat();
    let default_duration = frame_duration_ns
        .filter(|d| *d > 0)
        .map(|d| uint(&[0x23, 0xE3, 0x83], d)) // DefaultDuration
        .unwrap_or_default();
    let track = [
        uint(&[0xD7], 1),                  // TrackNumber
        uint(&[0x73, 0xC5], 1),            // TrackUID
        uint(&[0x83], 1),                  // TrackType: video
        uint(&[0x9C], 0),                  // FlagLacing
        string(&[0x86], "V_UNCOMPRESSED"), // CodecID
        default_duration,
        element(&[0xE0], &video), // Video
    ]
    .concat();
    let tracks = element(&[0xAE], &track); // TrackEntry
    let mut out = element(&[0x1A, 0x45, 0xDF, 0xA3], &ebml);
    // Segment with unknown size: the stream is written once, front to back.
    out.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    out.extend_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
    out.extend(element(&[0x15, 0x49, 0xA9, 0x66], &info)); // Info
    out.extend(element(&[0x16, 0x54, 0xAE, 0x6B], &tracks)); // Tracks
    out
}

/// Write one frame (a cluster holding one key-frame `SimpleBlock`) at `pts_us` microseconds.
pub fn write_frame(out: &mut impl Write, pts_us: u64, rgb: &[u8]) -> io::Result<()> {
    let timestamp = uint(&[0xE7], pts_us); // Cluster Timestamp
                                           // SimpleBlock: track number 1 as a 1-byte vint, relative time 0, flags: key frame.
    let block_head = [0x81, 0x00, 0x00, 0x80];
    let block_size = (block_head.len() + rgb.len()) as u64;
    let mut simple_block_head = vec![0xA3];
    simple_block_head.extend_from_slice(&size_vint(block_size));
    simple_block_head.extend_from_slice(&block_head);
    let cluster_size = (timestamp.len() + simple_block_head.len()) as u64 + rgb.len() as u64;
    let mut head = vec![0x1F, 0x43, 0xB6, 0x75]; // Cluster
    head.extend_from_slice(&size_vint(cluster_size));
    head.extend_from_slice(&timestamp);
    head.extend_from_slice(&simple_block_head);
    out.write_all(&head)?;
    out.write_all(rgb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_eight_byte_vints() {
        assert_eq!(size_vint(5), [0x01, 0, 0, 0, 0, 0, 0, 5]);
        assert_eq!(
            element(&[0xE7], &[7]),
            vec![0xE7, 1, 0, 0, 0, 0, 0, 0, 1, 7]
        );
    }

    #[test]
    fn a_frame_is_one_cluster_with_its_timestamp() {
        let mut out = Vec::new();
        write_frame(&mut out, 40_000, &[1, 2, 3]).unwrap();
        assert_eq!(&out[..4], &[0x1F, 0x43, 0xB6, 0x75]);
        // Cluster size covers the timestamp element, the block header and the pixels.
        let size = u64::from_be_bytes(out[4..12].try_into().unwrap()) & !(1u64 << 56);
        assert_eq!(size as usize, out.len() - 12);
        assert_eq!(&out[out.len() - 3..], &[1, 2, 3]);
    }
}
