//! Images to and from `docker save` archives (the engine's export and load endpoints), for
//! caches that outlive an engine: a CI runner saves what its environment needs and the
//! next runner loads it.

use super::client::api;
use super::Docker;
use crate::backend::EngineError;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

impl Docker {
    /// Streams a `docker save` archive of `references` (names kept, shared layers once)
    /// into `out`.
    ///
    /// # Errors
    /// The engine refuses (an image is missing), or `out` cannot be written.
    pub async fn export_images(
        &self,
        references: &[String],
        out: &mut (impl AsyncWrite + Unpin),
    ) -> Result<(), EngineError> {
        let names: Vec<&str> = references.iter().map(String::as_str).collect();
        let long = self.long();
        let mut stream = long.export_images(&names);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(api("saving images"))?;
            out.write_all(&chunk)
                .await
                .map_err(|e| EngineError::Other(format!("writing the saved images: {e}")))?;
        }
        out.flush()
            .await
            .map_err(|e| EngineError::Other(format!("writing the saved images: {e}")))
    }

    /// Loads a `docker save` archive read from `file` (names included). Entries the
    /// engine does not know are ignored by it.
    ///
    /// # Errors
    /// The file cannot be read or the engine refuses it.
    pub async fn load_images(&self, file: tokio::fs::File) -> Result<(), EngineError> {
        let body = tokio_util::io::ReaderStream::new(file);
        let options = bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build();
        let mut progress = self.long().import_image_stream(options, body, None);
        while let Some(step) = progress.next().await {
            step.map_err(api("loading images"))?;
        }
        Ok(())
    }
}
