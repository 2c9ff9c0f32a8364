//! Images given to a model (`kiln predict --input digit.png`, `{"b64": ...}` in requests): the
//! input shape an image fills, and PNG decoding bounded before it allocates.

use image::DynamicImage;
use std::io::{BufRead, Seek};

/// The largest side kiln decodes or resizes an image to, in pixels.
pub const MAX_SIDE: usize = 8192;

/// The `(height, width, channels)` an image takes for a model input of `shape` (a sample's
/// shape): `[h, w, c]`, `[h, w]` (grey) or a flat square `[n]` (grey); an error for any other
/// shape, or sides over [`MAX_SIDE`].
pub fn image_dims(shape: &[usize]) -> Result<(usize, usize, usize), String> {
    let (h, w, c) = match *shape {
        [h, w, c] => (h, w, c),
        [h, w] => (h, w, 1),
        [n] => {
            let side = (n as f64).sqrt().round() as usize;
            if side.checked_mul(side) != Some(n) {
                return Err(format!("{shape:?} is not an image's shape"));
            }
            (side, side, 1)
        }
        _ => return Err(format!("{shape:?} is not an image's shape")),
    };
    if h > MAX_SIDE || w > MAX_SIDE {
        return Err(format!(
            "{shape:?} asks for images of {h}×{w} pixels; kiln takes at most {MAX_SIDE} a side"
        ));
    }
    if c != 1 && c != 3 {
        return Err(format!(
            "{shape:?} has {c} channels; images give 1 (grey) or 3 (RGB)"
        ));
    }
    Ok((h, w, c))
}

/// A PNG decoded from `reader`, refused before decoding when its header claims sides over
/// [`MAX_SIDE`] or more than 256 MiB of pixels.
pub fn decode_png(reader: impl BufRead + Seek) -> Result<DynamicImage, String> {
    let mut reader = image::io::Reader::with_format(reader, image::ImageFormat::Png);
    let mut limits = image::io::Limits::default();
    limits.max_image_width = Some(MAX_SIDE as u32);
    limits.max_image_height = Some(MAX_SIDE as u32);
    limits.max_alloc = Some(256 << 20);
    reader.limits(limits);
    reader
        .decode()
        .map_err(|e| format!("not a PNG image ({e})"))
}

/// `image` resized to `(h, w)` with `c` channels (from [`image_dims`]), as bytes row by row.
pub fn pixels(image: &DynamicImage, (h, w, c): (usize, usize, usize)) -> Vec<u8> {
    // image_dims bounds both sides by MAX_SIDE, which fits a u32
    let image = image.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    match c {
        1 => image.to_luma8().into_raw(),
        _ => image.to_rgb8().into_raw(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_shapes_and_their_refusals() {
        assert_eq!(image_dims(&[28, 28, 1]), Ok((28, 28, 1)));
        assert_eq!(image_dims(&[5, 7]), Ok((5, 7, 1)));
        assert_eq!(image_dims(&[784]), Ok((28, 28, 1)));
        assert!(image_dims(&[785]).unwrap_err().contains("not an image"));
        // a square root beyond u32: its square overflows, which is a refusal, not a panic
        assert!(image_dims(&[usize::MAX]).is_err());
        assert!(
            image_dims(&[100_000, 100_000])
                .unwrap_err()
                .contains("at most 8192")
        );
        assert!(image_dims(&[4, 4, 2]).unwrap_err().contains("2 channels"));
        assert!(image_dims(&[2, 2, 2, 2]).is_err());
    }

    #[test]
    fn a_png_claiming_a_huge_size_is_refused_before_decoding() {
        let mut png = Vec::new();
        DynamicImage::new_luma8(3, 2)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let image = decode_png(std::io::Cursor::new(&png)).unwrap();
        assert_eq!(pixels(&image, (4, 5, 3)).len(), 4 * 5 * 3);
        // IHDR's width (bytes 16..20) set to 100,000, its CRC left: refused either way
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(decode_png(std::io::Cursor::new(&png)).is_err());
    }
}
