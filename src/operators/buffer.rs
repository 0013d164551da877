//! Checks on caller-described buffers: null, alignment, extent overflow, overlap.

use std::ops::Range;

use crate::status::{Result, Status};

/// Bytes spanned by `rows` rows of `cols` elements of `T`, `stride` elements apart:
/// `((rows - 1) * stride + cols) * size_of::<T>()`, 0 if `rows` or `cols` is 0.
/// Overflow, or a span above `isize::MAX`, is [`Status::InvalidParameter`].
pub fn extent_bytes<T>(rows: usize, cols: usize, stride: usize) -> Result<usize> {
    if rows == 0 || cols == 0 {
        return Ok(0);
    }
    (rows - 1)
        .checked_mul(stride)
        .and_then(|e| e.checked_add(cols))
        .and_then(|e| e.checked_mul(size_of::<T>()))
        .filter(|&b| b <= isize::MAX as usize)
        .ok_or(Status::InvalidParameter)
}

/// The address range a strided buffer covers; `None` when it covers nothing (then the pointer
/// may be anything, including NULL). A NULL or misaligned pointer, or a range that wraps the
/// address space, is [`Status::InvalidParameter`].
pub fn region<T>(
    ptr: *const T,
    rows: usize,
    cols: usize,
    stride: usize,
) -> Result<Option<Range<usize>>> {
    let bytes = extent_bytes::<T>(rows, cols, stride)?;
    if bytes == 0 {
        return Ok(None);
    }
    let addr = ptr as usize;
    if ptr.is_null() || !addr.is_multiple_of(align_of::<T>()) {
        return Err(Status::InvalidParameter);
    }
    let end = addr.checked_add(bytes).ok_or(Status::InvalidParameter)?;
    Ok(Some(addr..end))
}

/// [`Status::InvalidParameter`] if the two regions share a byte.
pub fn disjoint(a: &Option<Range<usize>>, b: &Option<Range<usize>>) -> Result<()> {
    match (a, b) {
        (Some(a), Some(b)) if a.start < b.end && b.start < a.end => Err(Status::InvalidParameter),
        _ => Ok(()),
    }
}

/// [`Status::InvalidParameter`] if any two of the regions share a byte.
pub fn pairwise_disjoint(regions: &[&Option<Range<usize>>]) -> Result<()> {
    for (i, a) in regions.iter().enumerate() {
        for b in &regions[i + 1..] {
            disjoint(a, b)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extents() {
        assert_eq!(extent_bytes::<f32>(0, 5, 5), Ok(0));
        assert_eq!(extent_bytes::<f32>(3, 5, 8), Ok((2 * 8 + 5) * 4));
        assert_eq!(
            extent_bytes::<f32>(usize::MAX, 1, 2),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            extent_bytes::<u16>(1, isize::MAX as usize, isize::MAX as usize),
            Err(Status::InvalidParameter)
        );
    }

    #[test]
    fn regions() {
        assert_eq!(region::<f32>(std::ptr::null(), 0, 4, 4), Ok(None));
        assert_eq!(
            region::<f32>(std::ptr::null(), 1, 4, 4),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            region::<f32>(std::ptr::without_provenance(2), 1, 4, 4),
            Err(Status::InvalidParameter)
        );
        assert_eq!(
            region::<f32>((usize::MAX - 7) as *const f32, 1, 4, 4),
            Err(Status::InvalidParameter)
        );
        let a = region::<f32>(64 as *const f32, 1, 4, 4).unwrap();
        let b = region::<u16>(80 as *const u16, 1, 4, 4).unwrap();
        let c = region::<u16>(78 as *const u16, 1, 4, 4).unwrap();
        assert_eq!(disjoint(&a, &b), Ok(()));
        assert_eq!(disjoint(&a, &c), Err(Status::InvalidParameter));
    }
}
