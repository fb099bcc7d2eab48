//! The maximum file size, enforced as an upload's bytes arrive: a
//! [`SpaceMeter`] that refuses the chunk that would make the file larger
//! than the cap ([`StorageError::TooLarge`], 552), so the upload is undone
//! and leaves nothing, like an upload over quota. It wraps the quota meter
//! (if any), which it asks only for chunks within the cap.

use crate::storage::upload::SpaceMeter;
use crate::storage::StorageError;

/// See the module documentation.
#[derive(Debug)]
pub struct SizeCap {
    inner: Option<Box<dyn SpaceMeter>>,
    /// The file's size so far (an append starts at the old size).
    size: u64,
    max: u64,
}

impl SizeCap {
    /// Caps a file that holds `start` bytes before the upload's own.
    pub fn new(inner: Option<Box<dyn SpaceMeter>>, start: u64, max: u64) -> Self {
        SizeCap {
            inner,
            size: start,
            max,
        }
    }
}

#[async_trait::async_trait]
impl SpaceMeter for SizeCap {
    async fn take(&mut self, bytes: u64) -> Result<(), StorageError> {
        let size = self.size.saturating_add(bytes);
        if size > self.max {
            return Err(StorageError::TooLarge(self.max));
        }
        if let Some(inner) = &mut self.inner {
            inner.take(bytes).await?;
        }
        self.size = size;
        Ok(())
    }

    async fn record(&mut self, delta: i64) -> Result<(), StorageError> {
        match &mut self.inner {
            Some(inner) => inner.record(delta).await,
            None => Ok(()),
        }
    }

    async fn unrecord(&mut self, delta: i64) {
        if let Some(inner) = &mut self.inner {
            inner.unrecord(delta).await;
        }
    }

    fn release(&mut self) {
        if let Some(inner) = &mut self.inner {
            inner.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_the_chunk_that_passes_the_cap() {
        let mut cap = SizeCap::new(None, 0, 10);
        cap.take(6).await.unwrap();
        cap.take(4).await.unwrap();
        assert!(matches!(cap.take(1).await, Err(StorageError::TooLarge(10))));
        // An append counts the bytes the file already has.
        let mut cap = SizeCap::new(None, 8, 10);
        assert!(cap.take(3).await.is_err());
        cap.take(2).await.unwrap();
    }
}
